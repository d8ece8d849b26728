/**
 * Messages a user meets first, through the real CLI: a misspelt enum value
 * gets "did you mean" as a misspelt key does, one tab gives one error, a
 * missing configuration file says where to get one.
 */
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { runPortcullis } from '../../fixtures/process.js'
import { stateDirectory } from '../../fixtures/servers.js'

const CONFIG = `LoadBalancer: { Name: messages }
Listeners:
  - Port: 8080
    Protocol: HTTP
    DefaultActions:
      - Type: forward
        TargetGroupArn: app
TargetGroups:
  - TargetGroupName: app
    Protocol: HTTP
    Targets: [{ Id: 127.0.0.1, Port: 3000 }]
`

describe('first messages (the real CLI)', () => {
  test('an enum value a couple of edits from an allowed one: did you mean', async () => {
    const dir = stateDirectory()
    writeFileSync(
      join(dir, 'p.yaml'),
      CONFIG.replace('Type: forward', 'Type: foward').replace(
        'Protocol: HTTP\n    Targets',
        'Protocol: http\n    Targets',
      ),
    )
    const { code, stderr } = await runPortcullis(['validate', 'p.yaml'], dir)
    assert.equal(code, 2)
    assert.equal(
      stderr,
      [
        'p.yaml:6:15 Listeners[0].DefaultActions[0].Type: got "foward"; did you mean forward? (expected one of forward, redirect, fixed-response, authenticate-oidc, authenticate-cognito, jwt-validation)',
        'p.yaml:10:15 TargetGroups[0].Protocol: got "http"; did you mean HTTP? (expected one of HTTP, HTTPS)',
        'p.yaml: invalid (2 errors)',
        '',
      ].join('\n'),
    )
    // Far from every allowed value, or another number: no guess.
    writeFileSync(join(dir, 'q.yaml'), CONFIG.replace('Type: forward', 'Type: proxy'))
    const far = await runPortcullis(['validate', 'q.yaml'], dir)
    assert.match(far.stderr, /Type: expected one of forward, .*; got "proxy"\n/)
  })

  test('one tab used as indentation is one error, on its line', async () => {
    const dir = stateDirectory()
    writeFileSync(join(dir, 'tab.yaml'), CONFIG.replace('      - Type: forward', '\t- Type: forward'))
    const { code, stderr } = await runPortcullis(['validate', 'tab.yaml'], dir)
    assert.equal(code, 2)
    assert.equal(
      stderr,
      'tab.yaml:6:1 YAML syntax: Tabs are not allowed as indentation; indent with spaces\ntab.yaml: invalid (1 error)\n',
    )
  })

  for (const command of ['start', 'validate', 'audit']) {
    test(`${command} without a configuration file names it, with a colon, and where to get one`, async () => {
      const dir = stateDirectory()
      const { code, stderr } = await runPortcullis(command === 'audit' ? [command, 'portcullis.yaml'] : [command], dir)
      assert.equal(code, 2)
      assert.equal(
        stderr.split('\n')[0],
        `portcullis.yaml: configuration file not found: ${join(dir, 'portcullis.yaml')} (\`portcullis demo --print-config > portcullis.yaml\` writes one to start from)`,
      )
    })
  }
})
