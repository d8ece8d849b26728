import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import { after, before, describe, test } from 'node:test'
import { createKeyHandler, generateSigningKey, signAlbToken } from '@portcullis/verify/mint'
import { type DemoTarget, expireSessionCookies, startDemoTarget } from '../../src/demo/target-app.js'
import { listen } from '../fixtures/ports.js'

const SIGNER = 'arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/portcullis-demo/50dc6c495c0c9188'
const ISSUER = 'https://127.0.0.1:9443'
const CLIENT_ID = 'portcullis-demo'
const END_SESSION = 'https://127.0.0.1:9443/session/end'
const POST_LOGOUT = 'https://localhost:8443/public'

describe('demo target application', () => {
  const key = generateSigningKey()
  const strangerKey = generateSigningKey()
  let keyServer: Server
  let target: DemoTarget

  const claims = { sub: 'user-1', email: 'alice@example.com', name: 'Alice <script>alert(1)</script>' }
  const mint = (overrides: Partial<Parameters<typeof signAlbToken>[0]> = {}) =>
    signAlbToken({ claims, key, signer: SIGNER, issuer: ISSUER, clientId: CLIENT_ID, ...overrides })

  before(async () => {
    // Only `key` is published; `strangerKey` signs tokens nobody can verify.
    keyServer = createServer(createKeyHandler([key]))
    const keyPort = await listen(keyServer)
    target = await startDemoTarget({
      signer: SIGNER,
      issuer: ISSUER,
      clientId: CLIENT_ID,
      keyEndpoint: `http://127.0.0.1:${keyPort}`,
      endSessionEndpoint: END_SESSION,
      postLogoutRedirectUri: POST_LOGOUT,
      sessionCookieNames: ['AWSELBAuthSessionCookie', 'AdminSession'],
    })
  })
  after(async () => {
    await target.close()
    keyServer.close()
  })

  const get = (path: string, headers: Record<string, string> = {}) => fetch(`${target.url}${path}`, { headers })

  test('without identity headers it shows an anonymous visitor, and /api/whoami answers 401', async () => {
    const response = await get('/public')
    assert.equal(response.status, 200)
    assert.equal(response.headers.get('content-type'), 'text/html; charset=utf-8')
    const html = await response.text()
    assert.match(html, /Not authenticated/)
    assert.match(html, /anonymous/)
    assert.doesNotMatch(html, /action="\/logout"/)
    const api = await get('/api/whoami')
    assert.equal(api.status, 401)
    assert.deepEqual(await api.json(), { authenticated: false })
  })

  test('with a valid token it shows the verified claims, escaped, and the raw headers', async () => {
    const token = mint()
    const response = await get('/hello?x=1', { 'x-amzn-oidc-data': token, 'x-amzn-oidc-identity': 'user-1' })
    assert.equal(response.status, 200)
    const html = await response.text()
    assert.match(html, /x-amzn-oidc-data verified/)
    assert.match(html, /alice@example\.com/)
    assert.match(html, /Alice &lt;script&gt;alert\(1\)&lt;\/script&gt;/)
    assert.doesNotMatch(html, /<script>/)
    assert.ok(html.includes(token), 'the raw token is shown, padding and all')
    assert.match(html, new RegExp(SIGNER.replaceAll('/', '\\/')))
    assert.match(html, /<code>\/hello\?x=1<\/code>/)
    assert.match(html, /action="\/logout"/)
    assert.equal(response.headers.get('content-security-policy')?.includes("default-src 'none'"), true)

    const api = await get('/api/whoami', { 'x-amzn-oidc-data': token, 'x-amzn-oidc-identity': 'user-1' })
    assert.equal(api.status, 200)
    const body = (await api.json()) as { authenticated: boolean; claims: Record<string, unknown> }
    assert.equal(body.authenticated, true)
    assert.equal(body.claims.email, 'alice@example.com')
    assert.equal(body.claims.iss, ISSUER)
  })

  test('forged or stale tokens are shown as rejected, with the verifier error code', async () => {
    const cases: [string, Record<string, string>][] = [
      [
        'ERR_SIGNER',
        {
          'x-amzn-oidc-data': mint({ signer: SIGNER.replace('123456789012', '999999999999') }),
          'x-amzn-oidc-identity': 'user-1',
        },
      ],
      ['ERR_CLIENT', { 'x-amzn-oidc-data': mint({ clientId: 'other-client' }), 'x-amzn-oidc-identity': 'user-1' }],
      ['ERR_KID', { 'x-amzn-oidc-data': mint({ key: strangerKey }), 'x-amzn-oidc-identity': 'user-1' }],
      [
        'ERR_EXPIRED',
        {
          'x-amzn-oidc-data': mint({ now: Math.floor(Date.now() / 1000) - 600 }),
          'x-amzn-oidc-identity': 'user-1',
        },
      ],
      ['ERR_IDENTITY_MISMATCH', { 'x-amzn-oidc-data': mint(), 'x-amzn-oidc-identity': 'someone-else' }],
      ['ERR_MALFORMED', { 'x-amzn-oidc-data': 'not.a.token', 'x-amzn-oidc-identity': 'user-1' }],
      ['ERR_MISSING_HEADER', { 'x-amzn-oidc-identity': 'user-1' }],
    ]
    for (const [code, headers] of cases) {
      const response = await get('/', headers)
      assert.equal(response.status, 401, code)
      const html = await response.text()
      assert.match(html, new RegExp(`rejected: <code>${code}</code>`), code)
      assert.doesNotMatch(html, /Verified claims/, code)
      const api = await get('/api/whoami', headers)
      assert.deepEqual(await api.json(), { authenticated: false, error: code })
    }
    // A tampered signature fails the signature check itself. The character changed sits well inside the
    // signature segment, where every base64url character carries six significant bits.
    const token = mint()
    const at = token.length - 10
    const tampered = `${token.slice(0, at)}${token[at] === 'A' ? 'B' : 'A'}${token.slice(at + 1)}`
    const response = await get('/api/whoami', { 'x-amzn-oidc-data': tampered, 'x-amzn-oidc-identity': 'user-1' })
    assert.equal(((await response.json()) as { error: string }).error, 'ERR_SIGNATURE')
  })

  test('logout expires every shard of every session cookie and goes to the IdP end-session endpoint', async () => {
    const response = await fetch(`${target.url}/logout`, { method: 'POST', redirect: 'manual' })
    assert.equal(response.status, 303)
    const location = new URL(response.headers.get('location')!)
    assert.equal(`${location.origin}${location.pathname}`, END_SESSION)
    assert.equal(location.searchParams.get('client_id'), CLIENT_ID)
    assert.equal(location.searchParams.get('post_logout_redirect_uri'), POST_LOGOUT)
    const cookies = response.headers.getSetCookie()
    assert.equal(cookies.length, 8)
    for (const name of ['AWSELBAuthSessionCookie', 'AdminSession']) {
      for (let shard = 0; shard < 4; shard++) {
        const cookie = cookies.find((line) => line.startsWith(`${name}-${shard}=;`))
        assert.ok(cookie, `${name}-${shard}`)
        assert.match(cookie, /Max-Age=0/)
        assert.match(cookie, /Path=\//)
        assert.match(cookie, /Secure/)
      }
    }
    assert.deepEqual(expireSessionCookies(['A']).length, 4)
  })

  test('refuses methods it does not serve', async () => {
    const logoutGet = await get('/logout')
    assert.equal(logoutGet.status, 405)
    assert.equal(logoutGet.headers.get('allow'), 'POST')
    const put = await fetch(`${target.url}/`, { method: 'PUT', body: 'x' })
    assert.equal(put.status, 405)
    assert.equal(put.headers.get('allow'), 'GET, HEAD')
  })
})
