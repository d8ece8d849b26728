/**
 * The admin API for operators only, through the real `portcullis start`
 * process: `/sessions` (which reveals and ends users' sessions) needs the
 * operator's bearer token when one is configured, `/healthz`, `/metrics` and
 * `/keys` stay readable, and `start` refuses an admin listener beyond
 * loopback whose operator endpoints would need no credential.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { authenticateOidcYaml, startTestProvider, type TestProvider } from '../auth/fixtures/provider.js'
import { freePort } from '../fixtures/ports.js'
import { type RunningCli, runPortcullis, startGatewayCli } from '../fixtures/process.js'

const TOKEN = 'operator-token-0123456789abcdef'

describe('the admin API for operators only, through portcullis start', { timeout: 120_000 }, () => {
  let dir: string
  let idp: TestProvider
  const running: RunningCli[] = []
  let n = 0

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-admin-'))
    idp = await startTestProvider({ redirectUris: ['http://127.0.0.1:1/oauth2/idpresponse'] })
    await writeFile(join(dir, 'token'), `${TOKEN}\n`)
    await writeFile(join(dir, 'short-token'), 'short\n')
  })

  after(async () => {
    for (const cli of running) {
      if (cli.child.exitCode === null) {
        cli.child.kill('SIGTERM')
        await once(cli.child, 'exit')
      }
    }
    await idp?.close()
    await rm(dir, { recursive: true, force: true })
  })

  /** A file with one authenticating listener and the admin listener as `admin` says. */
  async function config(admin: string): Promise<{ file: string; adminPort: number }> {
    const adminPort = await freePort()
    const file = join(dir, `case-${++n}.yaml`)
    await writeFile(
      file,
      `Listeners:
  - Port: 0
    Protocol: HTTP
    Portcullis: { Address: 127.0.0.1 }
    DefaultActions:
${authenticateOidcYaml(idp, 6)}
      - { Type: fixed-response, Order: 2, FixedResponseConfig: { StatusCode: "200" } }
Portcullis:
  StateDirectory: ./state-${n}
  AllowInsecureHttpAuthentication: true
  Admin: { ${admin.replace('PORT', String(adminPort))} }
`,
    )
    return { file, adminPort }
  }

  test('start refuses an admin listener beyond loopback with no operator credential, naming the setting', async () => {
    const { file } = await config('Address: 0.0.0.0, Port: PORT')
    const { code, stderr } = await runPortcullis(['start', '--config', file, '--workers', '1'], dir, {
      env: { PORTCULLIS_ADMIN_TOKEN: '' },
    })
    assert.notEqual(code, 0)
    assert.match(
      stderr,
      /case-\d+\.yaml:\d+:\d+ Portcullis\.Admin\.Address: the admin listener binds 0\.0\.0\.0, beyond loopback, .*set Portcullis\.Admin\.TokenFile \(or PORTCULLIS_ADMIN_TOKEN\)/,
    )
    assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace')
  })

  test('start refuses a token shorter than 16 characters', async () => {
    const { file } = await config('Address: 0.0.0.0, Port: PORT, TokenFile: ./short-token')
    const { code, stderr } = await runPortcullis(['start', '--config', file, '--workers', '1'], dir)
    assert.notEqual(code, 0)
    assert.match(stderr, /must be at least 16 characters/)
  })

  for (const [how, admin, env] of [
    ['Portcullis.Admin.TokenFile', 'Address: 0.0.0.0, Port: PORT, TokenFile: ./token', {}],
    ['PORTCULLIS_ADMIN_TOKEN', 'Address: 0.0.0.0, Port: PORT', { PORTCULLIS_ADMIN_TOKEN: TOKEN }],
  ] as const) {
    test(`with ${how}: /sessions needs the bearer token; /healthz, /metrics and /keys do not`, async () => {
      const { file, adminPort } = await config(admin)
      const cli = await startGatewayCli(file, dir, { env })
      running.push(cli)
      const base = `http://127.0.0.1:${adminPort}`
      for (const [method, path] of [
        ['GET', '/sessions?sub=alice'],
        ['POST', '/sessions/revoke?sub=alice'],
      ] as const) {
        const none = await fetch(`${base}${path}`, { method })
        assert.equal(none.status, 401, `${method} ${path} without a token`)
        assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="portcullis-admin"')
        const wrong = await fetch(`${base}${path}`, { method, headers: { authorization: `Bearer ${TOKEN}x` } })
        assert.equal(wrong.status, 401, `${method} ${path} with a wrong token`)
        const basic = await fetch(`${base}${path}`, { method, headers: { authorization: `Basic ${TOKEN}` } })
        assert.equal(basic.status, 401)
        // With the token the request reaches the endpoint (409: these sessions live in cookies, not Redis).
        const right = await fetch(`${base}${path}`, { method, headers: { authorization: `Bearer ${TOKEN}` } })
        assert.notEqual(right.status, 401, `${method} ${path} with the token`)
        assert.equal(right.status, 409)
      }
      assert.equal((await fetch(`${base}/healthz`)).status, 200)
      assert.match(await (await fetch(`${base}/metrics`)).text(), /RequestCount/)
      // An unknown key id: the endpoint answers, not the guard.
      assert.equal((await fetch(`${base}/keys/unknown-kid`)).status, 404)
    })
  }
})
