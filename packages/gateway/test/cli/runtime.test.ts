/**
 * The first screen on every Node line: no dependency's runtime warning, and
 * on an end-of-life Node one line of ours, for a person at a terminal.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { runtimeNotice, SUPPORTED_NODE_MAJORS } from '../../src/cli/runtime.js'
import { runPortcullis, startPortcullis } from '../fixtures/process.js'
import { stateDirectory } from '../fixtures/servers.js'

const supported = SUPPORTED_NODE_MAJORS.includes(Number(process.versions.node.split('.')[0]))

test('runtimeNotice: nothing on the maintained lines, one line naming them on an older Node', () => {
  assert.equal(runtimeNotice('22.12.0'), undefined)
  assert.equal(runtimeNotice('24.1.0'), undefined)
  assert.equal(
    runtimeNotice('20.19.1'),
    'portcullis: Node.js 20.19.1 is past its end of life; Portcullis runs and is tested on it, but use Node.js 22 or 24 (the maintained LTS lines)\n',
  )
})

test("the development IdP starts without oidc-provider's runtime warning", async () => {
  const dir = stateDirectory()
  const { child, stdout, stderr } = startPortcullis(['idp', '--port', '0', '--state-dir', dir], dir)
  const exited = once(child, 'exit')
  try {
    while (!stdout().includes('Press Ctrl-C to stop.') && child.exitCode === null) {
      await Promise.race([once(child.stdout, 'data'), exited])
    }
    assert.equal(child.exitCode, null, stderr())
    assert.doesNotMatch(stderr(), /WARNING|Unsupported runtime/, stderr())
  } finally {
    child.kill('SIGTERM')
    await exited
  }
})

test('demo --print-config prints no runtime warning', async () => {
  const dir = stateDirectory()
  const printed = await runPortcullis(['demo', '--print-config'], dir)
  assert.equal(printed.code, 0)
  assert.equal(printed.stderr, '')
})

test('on a terminal, the notice is printed once on an end-of-life Node and never on a supported one', () => {
  // script(1) gives the CLI a terminal, as a person's shell would.
  const main = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url))
  const tsx = import.meta.resolve('tsx')
  const command = [process.execPath, '--conditions=@portcullis/source', '--import', tsx, main, '--version']
    .map((a) => `'${a}'`)
    .join(' ')
  const run = spawnSync('script', ['-qec', command, '/dev/null'], { encoding: 'utf8' })
  assert.equal(run.status, 0, run.stderr)
  const notices = run.stdout.split(/\r?\n/).filter((l) => l.startsWith('portcullis: Node.js'))
  assert.equal(notices.length, supported ? 0 : 1, run.stdout)
})
