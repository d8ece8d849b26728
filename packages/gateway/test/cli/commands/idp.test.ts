import assert from 'node:assert/strict'
import { once } from 'node:events'
import { describe, test } from 'node:test'
import { freePort } from '../../fixtures/ports.js'
import { portcullis, waitFor } from '../../fixtures/process.js'
import { stateDirectory } from '../../fixtures/servers.js'

describe('portcullis idp (the real CLI)', () => {
  test('--redirect-uri is repeatable and adds to the default', async () => {
    const dir = stateDirectory()
    const child = portcullis(
      [
        'idp',
        '--port',
        String(await freePort()),
        '--state-dir',
        dir,
        '--redirect-uri',
        'https://a.localhost:9001/oauth2/idpresponse',
        '--redirect-uri',
        'https://b.localhost:9002/oauth2/idpresponse',
      ],
      dir,
    )
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
    })
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    try {
      await waitFor(() => stdout.includes('Press Ctrl-C to stop.') || child.exitCode !== null, 'the provider')
      assert.ok(child.exitCode === null, stderr)
      const allowed = stdout.slice(stdout.indexOf('may redirect to:'), stdout.indexOf('Users:'))
      assert.deepEqual(
        allowed.split('\n').filter((line) => line.startsWith('  https://')),
        [
          '  https://localhost:8443/oauth2/idpresponse',
          '  https://a.localhost:9001/oauth2/idpresponse',
          '  https://b.localhost:9002/oauth2/idpresponse',
        ],
      )
    } finally {
      child.kill('SIGTERM')
      await once(child, 'exit')
    }
  })
})
