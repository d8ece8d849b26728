/**
 * Logout that logs out, end to end on the real listener pipeline and admin
 * listener (`startGateway`), a real redis-server and the test OpenID
 * provider: the application's logout path (shared and cookie sessions),
 * operator revocation on the admin listener, and OIDC Back-Channel Logout
 * from the provider — plus forged, replayed and malformed logout tokens.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { decodeJwt, generateKeyPair, SignJWT } from 'jose'
import { parseConfig } from '../../src/config/load.js'
import type { SessionsRevokedMessage } from '../../src/observability/diagnostics.js'
import { type RunningGateway, startGateway } from '../../src/server/gateway.js'
import { nextMessage } from '../fixtures/diagnostics.js'
import { freePort, listen } from '../fixtures/ports.js'
import { waitFor } from '../fixtures/process.js'
import { startRedis, type TestRedis } from '../fixtures/redis.js'
import { silentLogger } from '../fixtures/servers.js'
import { Browser } from './fixtures/browser.js'
import { authenticateOidcYaml, startTestProvider, type TestProvider } from './fixtures/provider.js'

const EVENT = 'http://schemas.openid.net/event/backchannel-logout'

interface Running {
  readonly gateway: RunningGateway
  readonly url: string
  readonly admin: string
  readonly accessLog: string
}

/** One gateway: `/app*` authenticates against `idp` with `/app/logout` as its logout path. */
async function start(o: {
  port: number
  idp: TestProvider
  target: number
  dir: string
  redis?: TestRedis
  extraRules?: string
}): Promise<Running> {
  const accessLog = join(o.dir, `access-${o.port}.log`)
  const shared =
    o.redis === undefined
      ? ''
      : `\n  SharedState: { Url: "${o.redis.url}", KeyPrefix: "t${randomBytes(3).toString('hex')}:" }\n  SessionStore: shared`
  const yaml = `LoadBalancer: { Name: logout-test }
Listeners:
  - Port: ${o.port}
    Protocol: HTTP
    Portcullis: { Address: 127.0.0.1 }
    DefaultActions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: "404", ContentType: text/plain, MessageBody: none } }]
    Rules:
      - Priority: 10
        Conditions: [{ Field: path-pattern, Values: ["/app*"] }]
        Actions:
${authenticateOidcYaml(o.idp, 10, '{ LogoutPath: /app/logout }')}
          - { Type: forward, Order: 2, TargetGroupArn: app }${o.extraRules ?? ''}
TargetGroups:
  - { TargetGroupName: app, Protocol: HTTP, HealthCheckEnabled: false, Targets: [{ Id: 127.0.0.1, Port: ${o.target} }] }
Portcullis:
  StateDirectory: ${join(o.dir, `state-${o.port}`)}
  AllowInsecureHttpAuthentication: true
  Admin: { Address: 127.0.0.1, Port: 0 }
  AccessLog: { Format: json, Path: ${accessLog} }${shared}
`
  const { config } = parseConfig(yaml, { format: 'yaml', baseDir: o.dir })
  // A revoked session is refused at once: no per-process trust in a session read from Redis.
  const gateway = await startGateway(config, { logger: silentLogger, sessionCacheMs: 0 })
  return { gateway, url: `http://127.0.0.1:${o.port}`, admin: new URL(gateway.adminUrl!).origin, accessLog }
}

/** A user agent that marks one test's requests in the access log. */
const marker = () => `logout-test-${randomBytes(4).toString('hex')}`

/** The error_reason of the access-log lines of requests sent with user agent `agent`, once `count` are written. */
async function reasonsOf(gw: Running, agent: string, count: number): Promise<string[]> {
  let reasons: string[] = []
  // Flushed on demand; polled as well because a request is logged when the gateway sees it close.
  await waitFor(
    async () => {
      await gw.gateway.flushAccessLog()
      const text = await readFile(gw.accessLog, 'utf8')
      reasons = text
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as { user_agent: string; error_reason: string })
        .filter((l) => l.user_agent === agent)
        .map((l) => l.error_reason)
      return reasons.length >= count
    },
    `${count} access log lines of ${agent}`,
    5000,
  )
  return reasons
}

/** The next revocation published by `by`. */
const revocation = (by: SessionsRevokedMessage['by']) =>
  nextMessage<SessionsRevokedMessage>('portcullis:sessions:revoked', (m) => m.by === by)

/** Signs out at the provider itself (its end-session page and confirmation form), as a user would elsewhere. */
async function signOutAtIdp(browser: Browser, idp: TestProvider, query = ''): Promise<Response> {
  const page = await browser.fetch(`${idp.issuer}/session/end${query}`)
  const form = await page.text()
  const xsrf = /name="xsrf" value="([^"]+)"/.exec(form)?.[1]
  assert.ok(xsrf, `no logout form at the IdP: ${page.status} ${form}`)
  return browser.fetch(`${idp.issuer}/session/end/confirm`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ xsrf, logout: 'yes' }).toString(),
  })
}

/** Whether `cookie` (the session cookie header of some browser) still reaches the target. */
async function reachesTarget(url: string, cookie: string): Promise<boolean> {
  const res = await fetch(`${url}/app`, { headers: { cookie }, redirect: 'manual' })
  await res.arrayBuffer()
  if (res.status !== 200 && res.status !== 302) assert.fail(`unexpected ${res.status}`)
  return res.status === 200
}

function sessionCookie(browser: Browser, url: string): string {
  return [...browser.cookies(url)]
    .filter(([k]) => k.startsWith('AWSELBAuthSessionCookie-'))
    .map(([k, v]) => `${k}=${v}`)
    .join('; ')
}

describe('logout that logs out', { timeout: 120_000 }, () => {
  let dir: string
  let redis: TestRedis
  let idp: TestProvider
  let target: Server
  let shared: Running
  let cookie: Running
  let noDiscovery: Server

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-logout-'))
    redis = await startRedis()
    target = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ sub: req.headers['x-amzn-oidc-identity'] ?? null }))
    })
    const targetPort = await listen(target)
    // An issuer that publishes no discovery document (so no end_session_endpoint).
    noDiscovery = createServer((_req, res) => {
      res.writeHead(404)
      res.end()
    })
    const bare = `http://127.0.0.1:${await listen(noDiscovery)}`
    // Named before the gateways bind them: the provider registers their redirect URIs first.
    const [sharedPort, cookiePort] = [await freePort(), await freePort()]
    const urls = [sharedPort, cookiePort].map((p) => `http://127.0.0.1:${p}`)
    idp = await startTestProvider({
      redirectUris: urls.map((u) => `${u}/oauth2/idpresponse`),
      postLogoutRedirectUris: urls.map((u) => `${u}/`),
      backchannelLogoutUri: `${urls[0]}/oauth2/backchannel-logout`,
    })
    shared = await start({ port: sharedPort, idp, target: targetPort, dir, redis })
    cookie = await start({
      port: cookiePort,
      idp,
      target: targetPort,
      dir,
      extraRules: `
      - Priority: 20
        Conditions: [{ Field: path-pattern, Values: ["/bare*"] }]
        Actions:
          - Type: authenticate-oidc
            Order: 1
            AuthenticateOidcConfig:
              Issuer: ${bare}
              AuthorizationEndpoint: ${bare}/auth
              TokenEndpoint: ${bare}/token
              UserInfoEndpoint: ${bare}/me
              ClientId: bare
              ClientSecret: bare-secret
              Portcullis: { LogoutPath: /bare/logout, PostLogoutRedirectUri: /bye }
          - { Type: forward, Order: 2, TargetGroupArn: app }`,
    })
  })

  after(async () => {
    await shared?.gateway.close({ deadlineMs: 0 })
    await cookie?.gateway.close({ deadlineMs: 0 })
    await idp?.close()
    target?.close()
    noDiscovery?.close()
    await redis?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  test('shared sessions: the logout path deletes the session everywhere and goes to end_session_endpoint with id_token_hint', async () => {
    const browser = new Browser()
    assert.equal((await browser.login(`${shared.url}/app`)).status, 302)
    const copy = sessionCookie(browser, shared.url)
    assert.equal(await reachesTarget(shared.url, copy), true)

    const out = await browser.fetch(`${shared.url}/app/logout`)
    assert.equal(out.status, 302)
    assert.equal(out.headers.get('cache-control'), 'no-store')
    const location = new URL(out.headers.get('location')!)
    assert.equal(`${location.origin}${location.pathname}`, `${idp.issuer}/session/end`)
    assert.equal(location.searchParams.get('client_id'), idp.clientId)
    assert.equal(location.searchParams.get('post_logout_redirect_uri'), `${shared.url}/`)
    const hint = decodeJwt(location.searchParams.get('id_token_hint')!)
    assert.equal(hint.sub, 'alice')
    assert.equal(hint.aud, idp.clientId)
    assert.ok(out.headers.getSetCookie().some((c) => /^AWSELBAuthSessionCookie-0=; .*Max-Age=0/.test(c)))
    assert.equal(browser.cookies(shared.url).size, 0)
    // A copy of the cookie taken before logout is no session any more.
    assert.equal(await reachesTarget(shared.url, copy), false)

    // The IdP accepts the hint and the post-logout URI, ends its session and sends the browser back.
    const done = await signOutAtIdp(browser, idp, location.search)
    assert.equal(done.status, 303)
    assert.equal(done.headers.get('location'), `${shared.url}/`)
  })

  test('cookie sessions: the logout path clears the shards; a copied cookie stays valid (documented)', async () => {
    const browser = new Browser()
    assert.equal((await browser.login(`${cookie.url}/app`)).status, 302)
    const copy = sessionCookie(browser, cookie.url)
    const out = await browser.fetch(`${cookie.url}/app/logout`)
    assert.equal(out.status, 302)
    const location = new URL(out.headers.get('location')!)
    assert.equal(`${location.origin}${location.pathname}`, `${idp.issuer}/session/end`)
    assert.equal(location.searchParams.get('id_token_hint'), null, 'a cookie keeps no ID token')
    assert.equal(location.searchParams.get('client_id'), idp.clientId)
    assert.equal(location.searchParams.get('post_logout_redirect_uri'), `${cookie.url}/`)
    assert.equal(browser.cookies(cookie.url).size, 0)
    assert.equal(await reachesTarget(cookie.url, copy), true)
  })

  test('an IdP without end_session_endpoint: straight to the post-logout URI', async () => {
    const out = await fetch(`${cookie.url}/bare/logout`, { redirect: 'manual' })
    assert.equal(out.status, 302)
    assert.equal(out.headers.get('location'), '/bye')
  })

  test('operator: list and revoke one session, then every session of a user, on the admin listener', async () => {
    const login = async (account: string) => {
      const b = new Browser()
      assert.equal((await b.login(`${shared.url}/app`, account)).status, 302)
      return sessionCookie(b, shared.url)
    }
    const [alice1, alice2, bob] = [await login('alice'), await login('alice'), await login('bob')]
    const listed = (await (await fetch(`${shared.admin}/sessions?sub=alice`)).json()) as {
      sessions: { session: string; clientId: string; expires: number }[]
    }
    assert.equal(listed.sessions.length, 2)
    assert.ok(listed.sessions.every((s) => s.clientId === idp.clientId && s.expires > Date.now() / 1000))

    const name = listed.sessions[0]!.session
    let revoked = revocation('operator')
    const one = await fetch(`${shared.admin}/sessions/revoke?session=${name}`, { method: 'POST' })
    assert.equal(one.status, 200)
    assert.deepEqual(await one.json(), { revoked: 1 })
    assert.deepEqual(await revoked, {
      by: 'operator',
      revoked: 1,
      session: name,
      subject: undefined,
      idpSession: undefined,
      issuer: undefined,
      clientId: undefined,
    })
    const alive = [await reachesTarget(shared.url, alice1), await reachesTarget(shared.url, alice2)]
    assert.deepEqual(alive.sort(), [false, true])

    revoked = revocation('operator')
    const all = await fetch(`${shared.admin}/sessions/revoke?sub=alice`, { method: 'POST' })
    assert.deepEqual(await all.json(), { revoked: 1 })
    assert.equal((await revoked).subject, 'alice')
    assert.equal(await reachesTarget(shared.url, alice1), false)
    assert.equal(await reachesTarget(shared.url, alice2), false)
    assert.equal(await reachesTarget(shared.url, bob), true, "another user's session is untouched")

    assert.equal((await fetch(`${shared.admin}/sessions/revoke?sub=alice`)).status, 405)
    assert.equal((await fetch(`${shared.admin}/sessions/revoke`, { method: 'POST' })).status, 400)
    assert.equal((await fetch(`${shared.admin}/sessions/revoke?session=nope`, { method: 'POST' })).status, 400)
    assert.equal((await fetch(`${cookie.admin}/sessions/revoke?sub=alice`, { method: 'POST' })).status, 409)
  })

  test('back-channel: signing out at the IdP ends the gateway session', async () => {
    const browser = new Browser()
    assert.equal((await browser.login(`${shared.url}/app`)).status, 302)
    const copy = sessionCookie(browser, shared.url)
    assert.equal(await reachesTarget(shared.url, copy), true)
    const sent = idp.backchannel.length
    const revoked = revocation('backchannel-logout')
    const done = await signOutAtIdp(browser, idp)
    assert.equal(done.status, 303, await done.text())
    const message = await revoked
    assert.equal(message.revoked, 1)
    assert.equal(message.subject, 'alice')
    assert.ok(message.idpSession, 'the provider names its session (sid)')
    assert.deepEqual([message.issuer, message.clientId], [idp.issuer, idp.clientId])
    assert.equal(await reachesTarget(shared.url, copy), false)
    await waitFor(() => idp.backchannel.length > sent, 'the provider to record its back-channel request', 5000)
    assert.deepEqual(idp.backchannel.at(-1), { status: 200, error: undefined })
  })

  describe('logout tokens', () => {
    const now = () => Math.floor(Date.now() / 1000)
    async function token(claims: Record<string, unknown>, key?: TestProvider['signingKey']['key']): Promise<string> {
      // `claims` override the valid defaults; an undefined value leaves the claim out.
      return new SignJWT({
        iss: idp.issuer,
        aud: idp.clientId,
        iat: now(),
        exp: now() + 120,
        events: { [EVENT]: {} },
        sid: 'sid-1',
        jti: randomBytes(8).toString('hex'),
        ...claims,
      })
        .setProtectedHeader({ alg: 'RS256', kid: idp.signingKey.kid, typ: 'logout+jwt' })
        .sign(key ?? idp.signingKey.key)
    }
    async function post(
      body: string,
      { url = shared.url, contentType = 'application/x-www-form-urlencoded', agent = 'logout-test' } = {},
    ) {
      const res = await fetch(`${url}/oauth2/backchannel-logout`, {
        method: 'POST',
        headers: { 'content-type': contentType, 'user-agent': agent },
        body,
      })
      const text = await res.text()
      assert.equal(res.headers.get('cache-control'), 'no-store')
      return { status: res.status, body: text }
    }
    const form = (t: string) => new URLSearchParams({ logout_token: t }).toString()

    test('a valid token is accepted once; its replay is refused', async () => {
      const t = await token({})
      const agent = marker()
      assert.equal((await post(form(t), { agent })).status, 200)
      const replay = await post(form(t), { agent })
      assert.equal(replay.status, 400)
      assert.equal((JSON.parse(replay.body) as { error: string }).error, 'invalid_request')
      assert.deepEqual(await reasonsOf(shared, agent, 2), ['-', 'LogoutTokenReplayed'])
    })

    test('forged and malformed tokens are refused with 400', async () => {
      const { privateKey: other } = await generateKeyPair('RS256')
      const cases: [string, string][] = [
        ['wrong signature', form(await token({}, other))],
        ['wrong aud', form(await token({ aud: 'someone-else' }))],
        ['wrong iss', form(await token({ iss: 'https://evil.example' }))],
        ['with nonce', form(await token({ nonce: 'n-0' }))],
        ['no events', form(await token({ events: undefined }))],
        ['other event', form(await token({ events: { 'https://example/other': {} } }))],
        ['future iat', form(await token({ iat: now() + 600 }))],
        ['too old', form(await token({ iat: now() - 3600, exp: now() + 60 }))],
        ['expired', form(await token({ exp: now() - 120 }))],
        ['neither sid nor sub', form(await token({ sid: undefined }))],
        ['no jti', form(await token({ jti: undefined }))],
        ['not a JWT', form('not-a-jwt')],
        ['no logout_token', 'foo=bar'],
        ['two logout_tokens', `${form(await token({}))}&${form(await token({}))}`],
      ]
      const agent = marker()
      for (const [name, body] of cases) {
        const res = await post(body, { agent })
        assert.equal(res.status, 400, `${name}: ${res.body}`)
      }
      const reasons = await reasonsOf(shared, agent, cases.length)
      assert.deepEqual(reasons, Array(cases.length).fill('InvalidLogoutToken'))
      assert.equal((await post(form(await token({})), { contentType: 'application/json' })).status, 400)
      const get = await fetch(`${shared.url}/oauth2/backchannel-logout`)
      assert.equal(get.status, 400)
    })

    test('a token naming only sub ends every session of that user at that client', async () => {
      const b = new Browser()
      assert.equal((await b.login(`${shared.url}/app`, 'bob')).status, 302)
      const copy = sessionCookie(b, shared.url)
      const revoked = revocation('backchannel-logout')
      assert.equal((await post(form(await token({ sid: undefined, sub: 'bob' })))).status, 200)
      const message = await revoked
      assert.deepEqual([message.subject, message.idpSession], ['bob', undefined])
      assert.ok(message.revoked >= 1)
      assert.equal(await reachesTarget(shared.url, copy), false)
    })

    test('a gateway whose sessions live in cookies answers 501', async () => {
      const agent = marker()
      const res = await post(form(await token({})), { url: cookie.url, agent })
      assert.equal(res.status, 501)
      assert.deepEqual(await reasonsOf(cookie, agent, 1), ['BackchannelLogoutUnsupported'])
    })
  })
})
