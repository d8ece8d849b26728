/**
 * `Portcullis.ConnectionLog` checked by the real `portcullis validate`:
 * each mistake named with its file, line and column.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { runPortcullis } from '../fixtures/process.js'

describe('Portcullis.ConnectionLog, checked by portcullis validate', { timeout: 180_000 }, () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-connlog-config-'))
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  const yaml = (block: string) => `Listeners:
  - Port: 8080
    Protocol: HTTP
    DefaultActions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: "200" } }]
Portcullis:
  AccessLog: { Path: ./access.log }
${block}`

  let n = 0
  async function validate(text: string) {
    const file = join(dir, `case-${++n}.yaml`)
    await writeFile(file, text)
    const r = await runPortcullis(['validate', file], dir)
    return { code: r.code, output: r.stdout + r.stderr }
  }

  test('a connection log of its own, in either format, validates', async () => {
    for (const block of [
      '  ConnectionLog: { Format: alb, Path: ./connection.log }\n',
      '  ConnectionLog: { Format: json }\n',
      '  ConnectionLog: {}\n',
    ]) {
      const r = await validate(yaml(block))
      assert.equal(r.code, 0, r.output)
    }
  })

  const cases: [string, string, RegExp][] = [
    [
      "the access log's file",
      '  ConnectionLog:\n    Format: alb\n    Path: ./access.log\n',
      /:9:\d+ .*ConnectionLog\.Path.*the connection log needs a file of its own: \.\/access\.log is Portcullis\.AccessLog\.Path too/,
    ],
    ['an unknown format', '  ConnectionLog:\n    Format: csv\n', /:8:\d+ .*ConnectionLog\.Format/],
    ['an unknown key', '  ConnectionLog:\n    Directory: ./logs\n', /:8:\d+ .*Directory/],
  ]
  for (const [what, block, expected] of cases) {
    test(`refused: ${what}`, async () => {
      const r = await validate(yaml(block))
      assert.notEqual(r.code, 0, r.output)
      assert.match(r.output, expected)
      assert.doesNotMatch(r.output, /\n\s+at /, 'no stack trace')
    })
  }
})
