/**
 * Three real `portcullis start` processes sharing one real redis-server,
 * behind examples/ha/haproxy.cfg (Debian's haproxy), with the test IdP: the
 * deployment of the README's "Running several gateways", exercised end to end.
 */
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { Browser } from '../auth/fixtures/browser.js'
import { startTestProvider, type TestProvider } from '../auth/fixtures/provider.js'
import { testClock } from '../e2e/attributes.js'
import { freePort, listen } from '../fixtures/ports.js'
import { runPortcullis, waitFor } from '../fixtures/process.js'
import { startRedis, type TestRedis } from '../fixtures/redis.js'
import { type Instance, identity, planGateways, redirectUris, startGateways, stop } from './fixtures.js'

const HAPROXY_CFG = fileURLToPath(new URL('../../../../examples/ha/haproxy.cfg', import.meta.url))
const ACCESS_TOKEN_TTL = 60

describe('three gateways behind HAProxy, state in Redis', { timeout: 180_000 }, () => {
  let dir: string
  let redis: TestRedis
  let idp: TestProvider
  let target: Server
  let haproxy: ChildProcess | undefined
  let front: string
  /** The gateways' clock: moved on past cache and token lifetimes instead of waiting for them. */
  let clock: Awaited<ReturnType<typeof testClock>>
  const instances: Instance[] = []

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-ha-'))
    redis = await startRedis()
    target = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ data: req.headers['x-amzn-oidc-data'] ?? null }))
    })
    const targetPort = await listen(target)
    // HAProxy binds it.
    const frontPort = await freePort()
    front = `http://127.0.0.1:${frontPort}`
    const plan = await planGateways(3)
    idp = await startTestProvider({
      redirectUris: [`${front}/oauth2/idpresponse`, ...redirectUris(plan)],
      accessTokenTtlSeconds: ACCESS_TOKEN_TTL,
      rotateRefreshTokens: true,
    })
    clock = await testClock(join(dir, 'clock'))
    instances.push(...(await startGateways(plan, { redis: redis.url, idp, target: targetPort, dir, env: clock.env })))
    haproxy = spawn('haproxy', ['-db', '-f', HAPROXY_CFG], {
      env: {
        ...process.env,
        HA_BIND: `127.0.0.1:${frontPort}`,
        GATEWAY_1: instances[0]!.url.slice(7),
        GATEWAY_2: instances[1]!.url.slice(7),
        GATEWAY_3: instances[2]!.url.slice(7),
      },
      stdio: 'ignore',
    })
    await waitFor(
      async () => (await fetch(front, { redirect: 'manual' }).catch(() => undefined)) !== undefined,
      'haproxy',
      10_000,
    )
  })

  after(async () => {
    await stop(haproxy)
    await Promise.all(instances.map((i) => stop(i.process)))
    await idp?.close()
    target?.close()
    await redis?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  /** A browser logged in through HAProxy, with its cookies also set for each gateway's own address. */
  async function loggedIn(): Promise<Browser> {
    const browser = new Browser()
    const callback = await browser.login(`${front}/app`)
    assert.equal(callback.status, 302)
    for (const i of instances) for (const [k, v] of browser.cookies(front)) browser.cookies(i.url).set(k, v)
    return browser
  }

  test('log in through HAProxy, use the session through every gateway; any /keys verifies any token', async () => {
    const browser = await loggedIn()
    const tokens = []
    for (const i of instances) tokens.push(await identity(await browser.fetch(`${i.url}/app`)))
    for (let n = 0; n < 6; n++)
      tokens.push(await identity(await browser.fetch(`${front}/app`, { headers: { connection: 'close' } })))
    for (const { kid } of tokens) {
      for (const i of instances) assert.equal((await fetch(`${i.admin}/keys/${kid}`)).status, 200)
    }
  })

  test('keys rotated on one gateway: every gateway signs with the new key and every /keys serves it', async () => {
    const browser = await loggedIn()
    const before = (await identity(await browser.fetch(`${instances[0]!.url}/app`))).kid
    const rotated = await runPortcullis(['keys', 'rotate', '--config', instances[0]!.config], dir)
    assert.equal(rotated.code, 0, rotated.stderr)
    const kid = /signing key ([0-9a-f-]{36}) is now active/.exec(rotated.stdout)![1]!
    assert.notEqual(kid, before)
    for (const i of instances) {
      await waitFor(async () => (await fetch(`${i.admin}/keys/${kid}`)).status === 200, `${kid} at ${i.admin}`, 15_000)
      assert.equal((await fetch(`${i.admin}/keys/${before}`)).status, 200, 'the old key stays published')
    }
  })

  test('a login state used on one gateway is refused on another', async () => {
    const browser = new Browser()
    const first = await browser.fetch(`${instances[0]!.url}/app`)
    assert.equal(first.status, 302)
    const nonce = browser.cookies(instances[0]!.url).get('AWSALBAuthNonce')!
    const callback = await browser.loginAtIdp(first.headers.get('location')!, 'alice')
    assert.equal((await browser.fetch(callback)).status, 302)
    const replay = callback.replace(instances[0]!.url, instances[1]!.url)
    browser.cookies(instances[1]!.url).set('AWSALBAuthNonce', nonce)
    const refused = await browser.fetch(replay)
    assert.equal(refused.status, 401)
  })

  test('logged out through one gateway, refused by every gateway and through HAProxy', async () => {
    const browser = await loggedIn()
    const cookie = [...browser.cookies(front)].map(([k, v]) => `${k}=${v}`).join('; ')
    const use = (url: string) => fetch(`${url}/app`, { headers: { cookie, connection: 'close' }, redirect: 'manual' })
    for (const i of instances) assert.equal((await use(i.url)).status, 200)
    const out = await browser.fetch(`${instances[1]!.url}/logout`)
    assert.equal(out.status, 302)
    assert.ok(out.headers.get('location')!.startsWith(`${idp.issuer}/session/end?`))
    // Each gateway trusts a session it read from Redis for up to a second.
    await clock.advance(1)
    for (const url of [...instances.map((i) => i.url), front, front, front]) {
      const refused = await use(url)
      assert.equal(refused.status, 302, `${url} still accepts the session`)
      assert.ok(refused.headers.get('location')!.startsWith(idp.endpoints.authorization))
    }
  })

  test('three gateways refreshing one session at once spend the refresh token once', async () => {
    const browser = await loggedIn()
    // Past the access token's lifetime: the next request on each gateway needs a refresh.
    await clock.advance(ACCESS_TOKEN_TTL + 1)
    const grantsBefore = idp.grants.refresh_token
    const answers = await Promise.all(instances.map((i) => browser.fetch(`${i.url}/app`)))
    for (const a of answers) await identity(a)
    assert.equal(idp.grants.refresh_token - grantsBefore, 1)
  })
})
