import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import * as oidc from 'openid-client'
import { Agent, fetch as undiciFetch } from 'undici'
import { createDevIdentityProvider, type DevIdentityProvider } from '../../src/idp/provider.js'
import { DEFAULT_DEV_USERS } from '../../src/idp/users.js'
import { ensureLeafCertificate, ensureLocalCa } from '../../src/tls/local-ca.js'
import { CookieJar } from '../fixtures/cookie-jar.js'
import { listen } from '../fixtures/ports.js'

const REDIRECT_URI = 'https://rp.example.test/oauth2/idpresponse'
const CLIENT = { clientId: 'demo-app', clientSecret: 'demo-secret', redirectUris: [REDIRECT_URI] }
const FORM = { 'content-type': 'application/x-www-form-urlencoded' }

function basic(clientId: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`
}

function authorizationUrl(idp: DevIdentityProvider, extra: Record<string, string> = {}): string {
  const url = new URL(idp.endpoints.authorization)
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: CLIENT.clientId,
    redirect_uri: REDIRECT_URI,
    scope: 'openid email profile groups',
    state: 'state-1',
    nonce: 'nonce-1',
    ...extra,
  }).toString()
  return url.href
}

/** Starts an authorization request and returns the login page's interaction URL. */
async function startLogin(idp: DevIdentityProvider, jar: CookieJar, extra: Record<string, string> = {}) {
  const response = await jar.fetch(authorizationUrl(idp, extra))
  assert.equal(response.status, 303)
  const interaction = new URL(response.headers.get('location')!, idp.url).href
  assert.match(interaction, /\/interaction\/[A-Za-z0-9_-]+$/)
  return interaction
}

async function submitLogin(jar: CookieJar, interaction: string, username: string, password: string) {
  return jar.fetch(`${interaction}/login`, {
    method: 'POST',
    headers: FORM,
    body: new URLSearchParams({ username, password }).toString(),
  })
}

/** Logs in through the real form and returns the callback URL the provider redirects to. */
async function loginToCallback(idp: DevIdentityProvider, jar: CookieJar, extra: Record<string, string> = {}) {
  const interaction = await startLogin(idp, jar, extra)
  const form = await jar.fetch(interaction)
  assert.equal(form.status, 200)
  assert.match(await form.text(), /<form method="post" action="\/interaction\/[^"]+\/login"/)
  const submitted = await submitLogin(jar, interaction, 'alice', 'alice-password')
  assert.equal(submitted.status, 303)
  const resumed = await jar.fetch(new URL(submitted.headers.get('location')!, idp.url).href)
  assert.equal(resumed.status, 303)
  return new URL(resumed.headers.get('location')!)
}

async function exchange(idp: DevIdentityProvider, code: string, extra: Record<string, string> = {}) {
  const response = await fetch(idp.endpoints.token, {
    method: 'POST',
    headers: { ...FORM, authorization: basic(CLIENT.clientId, CLIENT.clientSecret) },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, ...extra }),
  })
  return { status: response.status, body: (await response.json()) as Record<string, unknown> }
}

async function refresh(idp: DevIdentityProvider, refreshToken: string) {
  const response = await fetch(idp.endpoints.token, {
    method: 'POST',
    headers: { ...FORM, authorization: basic(CLIENT.clientId, CLIENT.clientSecret) },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }),
  })
  return { status: response.status, body: (await response.json()) as Record<string, unknown> }
}

describe('development OpenID provider over HTTP', () => {
  let idp: DevIdentityProvider
  before(async () => {
    idp = await createDevIdentityProvider({ clients: [CLIENT], accessTokenTtlSeconds: 120, idTokenTtlSeconds: 90 })
  })
  after(() => idp.close())

  test('publishes a discovery document for the authorization code flow with PKCE', async () => {
    assert.match(idp.url, /^http:\/\/127\.0\.0\.1:\d+$/)
    assert.equal(idp.issuer, idp.url)
    const response = await fetch(idp.endpoints.discovery)
    assert.equal(response.status, 200)
    const discovery = (await response.json()) as Record<string, unknown>
    assert.equal(discovery.issuer, idp.issuer)
    assert.equal(discovery.authorization_endpoint, idp.endpoints.authorization)
    assert.equal(discovery.token_endpoint, idp.endpoints.token)
    assert.equal(discovery.userinfo_endpoint, idp.endpoints.userinfo)
    assert.equal(discovery.jwks_uri, idp.endpoints.jwks)
    assert.equal(discovery.end_session_endpoint, idp.endpoints.endSession)
    assert.deepEqual(discovery.response_types_supported, ['code'])
    assert.deepEqual(discovery.code_challenge_methods_supported, ['S256'])
    for (const scope of ['openid', 'email', 'profile', 'groups', 'offline_access']) {
      assert.ok((discovery.scopes_supported as string[]).includes(scope), scope)
    }
    for (const method of ['client_secret_basic', 'client_secret_post']) {
      assert.ok((discovery.token_endpoint_auth_methods_supported as string[]).includes(method), method)
    }
    const jwks = (await (await fetch(idp.endpoints.jwks)).json()) as { keys: Record<string, unknown>[] }
    assert.equal(jwks.keys.length, 1)
    assert.equal(jwks.keys[0]!.alg, 'RS256')
    assert.equal(jwks.keys[0]!.d, undefined, 'the JWKS must not leak the private key')
  })

  test('a full code flow through the login form: ID token, userinfo claims, refresh', async () => {
    const jar = new CookieJar()
    const callback = await loginToCallback(idp, jar)
    assert.equal(`${callback.origin}${callback.pathname}`, REDIRECT_URI)
    assert.equal(callback.searchParams.get('state'), 'state-1')
    assert.equal(callback.searchParams.get('iss'), idp.issuer)
    const code = callback.searchParams.get('code')!

    const tokens = await exchange(idp, code)
    assert.equal(tokens.status, 200)
    assert.equal(tokens.body.token_type, 'Bearer')
    assert.equal(tokens.body.expires_in, 120)
    assert.equal(typeof tokens.body.refresh_token, 'string', 'refresh tokens are issued without offline_access')
    const { payload } = await jwtVerify(String(tokens.body.id_token), createRemoteJWKSet(new URL(idp.endpoints.jwks)), {
      issuer: idp.issuer,
      audience: CLIENT.clientId,
    })
    assert.equal(payload.sub, DEFAULT_DEV_USERS[0]!.sub)
    assert.equal(payload.nonce, 'nonce-1')
    assert.equal(payload.exp! - payload.iat!, 90)

    const userinfo = await fetch(idp.endpoints.userinfo, {
      headers: { authorization: `Bearer ${tokens.body.access_token}` },
    })
    assert.equal(userinfo.status, 200)
    assert.deepEqual(await userinfo.json(), {
      sub: '6f1c3b0e-7d2a-4c55-9e4b-2a9f1d3c8b71',
      email: 'alice@example.com',
      email_verified: true,
      name: 'Alice Example',
      given_name: 'Alice',
      family_name: 'Example',
      preferred_username: 'alice',
      groups: ['admins', 'developers'],
    })

    const refreshed = await refresh(idp, String(tokens.body.refresh_token))
    assert.equal(refreshed.status, 200)
    assert.notEqual(refreshed.body.access_token, tokens.body.access_token)
    // Without rotation the same refresh token keeps working.
    assert.equal(refreshed.body.refresh_token, tokens.body.refresh_token)
    const again = await fetch(idp.endpoints.userinfo, {
      headers: { authorization: `Bearer ${refreshed.body.access_token}` },
    })
    assert.equal(((await again.json()) as { email: string }).email, 'alice@example.com')

    assert.equal((await refresh(idp, 'not-a-refresh-token')).body.error, 'invalid_grant')

    // Codes are single-use, and a replayed code revokes what it had issued, as OAuth's security BCP asks.
    assert.equal((await exchange(idp, code)).body.error, 'invalid_grant')
    const revoked = await fetch(idp.endpoints.userinfo, {
      headers: { authorization: `Bearer ${refreshed.body.access_token}` },
    })
    assert.equal(revoked.status, 401)
    assert.equal((await refresh(idp, String(tokens.body.refresh_token))).body.error, 'invalid_grant')
  })

  test('scope openid alone releases only sub', async () => {
    const jar = new CookieJar()
    const callback = await loginToCallback(idp, jar, { scope: 'openid' })
    const tokens = await exchange(idp, callback.searchParams.get('code')!)
    const userinfo = await fetch(idp.endpoints.userinfo, {
      headers: { authorization: `Bearer ${tokens.body.access_token}` },
    })
    assert.deepEqual(await userinfo.json(), { sub: DEFAULT_DEV_USERS[0]!.sub })
  })

  test('a wrong password shows the form again with an error, and escapes what was typed', async () => {
    const jar = new CookieJar()
    const interaction = await startLogin(idp, jar)
    for (const [username, password] of [
      ['alice', 'wrong'],
      ['nobody', 'alice-password'],
      ['<script>alert(1)</script>', 'x'],
    ] as const) {
      const response = await submitLogin(jar, interaction, username, password)
      assert.equal(response.status, 200)
      const html = await response.text()
      assert.match(html, /Wrong username or password\./)
      assert.doesNotMatch(html, /<script>/)
      if (username.startsWith('<')) assert.match(html, /value="&lt;script&gt;alert\(1\)&lt;\/script&gt;"/)
    }
    // The same interaction still accepts the right password afterwards.
    const ok = await submitLogin(jar, interaction, 'bob', 'bob-password')
    assert.equal(ok.status, 303)
  })

  test('cancelling the login returns access_denied to the client', async () => {
    const jar = new CookieJar()
    const interaction = await startLogin(idp, jar)
    const cancelled = await jar.fetch(`${interaction}/abort`, { method: 'POST', headers: FORM, body: '' })
    assert.equal(cancelled.status, 303)
    const resumed = await jar.fetch(new URL(cancelled.headers.get('location')!, idp.url).href)
    const callback = new URL(resumed.headers.get('location')!)
    assert.equal(callback.searchParams.get('error'), 'access_denied')
    assert.equal(callback.searchParams.get('state'), 'state-1')
  })

  test('rejects malformed interactions with clear client errors', async () => {
    const jar = new CookieJar()
    const interaction = await startLogin(idp, jar)
    // Without the interaction cookie (another browser, or an expired login).
    const stranger = await fetch(interaction)
    assert.equal(stranger.status, 400)
    assert.match(await stranger.text(), /This sign-in has expired/)
    assert.equal((await jar.fetch(`${idp.url}/interaction/another-uid`)).status, 400)
    const wrongMethod = await jar.fetch(`${interaction}/login`)
    assert.equal(wrongMethod.status, 405)
    assert.equal(wrongMethod.headers.get('allow'), 'POST')
    const json = await jar.fetch(`${interaction}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"username":"alice"}',
    })
    assert.equal(json.status, 415)
    const huge = await jar.fetch(`${interaction}/login`, {
      method: 'POST',
      headers: FORM,
      body: `username=alice&password=${'x'.repeat(9000)}`,
    })
    assert.equal(huge.status, 413)
    const page = await jar.fetch(interaction)
    assert.equal(page.headers.get('content-security-policy')?.includes("default-src 'none'"), true)
    assert.equal(page.headers.get('cache-control'), 'no-store')
  })

  test('refuses a redirect URI that is not registered (400, no redirect)', async () => {
    const response = await fetch(authorizationUrl(idp, { redirect_uri: 'https://evil.example.test/cb' }), {
      redirect: 'manual',
    })
    assert.equal(response.status, 400)
    assert.match(await response.text(), /redirect_uri/)
  })

  test('ends the session at /session/end and redirects to the registered post-logout URI', async () => {
    const jar = new CookieJar()
    await loginToCallback(idp, jar)
    // Signed in: a new authorization request goes straight back to the client.
    const silent = await jar.fetch(authorizationUrl(idp))
    assert.equal(silent.status, 303)
    assert.ok(silent.headers.get('location')!.startsWith(REDIRECT_URI))

    const postLogout = 'https://rp.example.test/'
    const logout = await jar.fetch(
      `${idp.endpoints.endSession}?${new URLSearchParams({ client_id: CLIENT.clientId, post_logout_redirect_uri: postLogout })}`,
    )
    assert.equal(logout.status, 200)
    const html = await logout.text()
    const action = /<form id="op.logoutForm" method="post" action="([^"]+)">/.exec(html)?.[1]
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)?.[1]
    assert.ok(action && xsrf)
    const confirmed = await jar.fetch(action, {
      method: 'POST',
      headers: FORM,
      body: new URLSearchParams({ xsrf, logout: 'yes' }).toString(),
    })
    assert.equal(confirmed.status, 303)
    assert.equal(confirmed.headers.get('location'), postLogout)

    // Signed out: the next authorization request asks for a login again.
    const next = await jar.fetch(authorizationUrl(idp))
    assert.match(next.headers.get('location')!, /^\/interaction\//)

    const unregistered = await jar.fetch(
      `${idp.endpoints.endSession}?${new URLSearchParams({ client_id: CLIENT.clientId, post_logout_redirect_uri: 'https://evil.example.test/' })}`,
    )
    assert.equal(unregistered.status, 400)
  })
})

describe('development OpenID provider options', () => {
  test('refreshTokens: false issues no refresh token', async () => {
    const idp = await createDevIdentityProvider({ clients: [CLIENT], refreshTokens: false })
    try {
      const callback = await loginToCallback(idp, new CookieJar())
      const tokens = await exchange(idp, callback.searchParams.get('code')!)
      assert.equal(tokens.status, 200)
      assert.equal(tokens.body.refresh_token, undefined)
    } finally {
      await idp.close()
    }
  })

  test('rotateRefreshTokens replaces the refresh token and treats replay of the old one as theft', async () => {
    const idp = await createDevIdentityProvider({ clients: [CLIENT], rotateRefreshTokens: true })
    try {
      const callback = await loginToCallback(idp, new CookieJar())
      const tokens = await exchange(idp, callback.searchParams.get('code')!)
      const first = await refresh(idp, String(tokens.body.refresh_token))
      assert.equal(first.status, 200)
      assert.notEqual(first.body.refresh_token, tokens.body.refresh_token)
      assert.equal((await refresh(idp, String(tokens.body.refresh_token))).body.error, 'invalid_grant')
      // Replay revoked the whole grant, including the rotated token.
      assert.equal((await refresh(idp, String(first.body.refresh_token))).body.error, 'invalid_grant')
    } finally {
      await idp.close()
    }
  })

  test('requirePkce refuses authorization requests without a code challenge', async () => {
    const idp = await createDevIdentityProvider({ clients: [CLIENT], requirePkce: true })
    try {
      const response = await fetch(authorizationUrl(idp), { redirect: 'manual' })
      assert.equal(response.status, 303)
      const location = new URL(response.headers.get('location')!)
      assert.equal(location.searchParams.get('error'), 'invalid_request')
    } finally {
      await idp.close()
    }
  })

  test('a client_secret_post client authenticates with its secret in the body', async () => {
    const idp = await createDevIdentityProvider({
      clients: [{ ...CLIENT, tokenEndpointAuthMethod: 'client_secret_post' }],
    })
    try {
      const callback = await loginToCallback(idp, new CookieJar())
      const code = callback.searchParams.get('code')!
      const response = await fetch(idp.endpoints.token, {
        method: 'POST',
        headers: FORM,
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code,
          redirect_uri: REDIRECT_URI,
          client_id: CLIENT.clientId,
          client_secret: CLIENT.clientSecret,
        }),
      })
      assert.equal(response.status, 200)
    } finally {
      await idp.close()
    }
  })

  test('refuses bad options: no clients, an issuer with a path, a port in use', async () => {
    await assert.rejects(createDevIdentityProvider({ clients: [] }), TypeError)
    await assert.rejects(
      createDevIdentityProvider({ clients: [CLIENT], issuer: 'https://idp.example.test/tenant' }),
      TypeError,
    )
    await assert.rejects(createDevIdentityProvider({ clients: [CLIENT], host: '0.0.0.0' }), /loopback addresses only/)
    await assert.rejects(
      createDevIdentityProvider({ clients: [CLIENT], users: [DEFAULT_DEV_USERS[0]!, DEFAULT_DEV_USERS[0]!] }),
      TypeError,
    )
    const blocker = createServer()
    const port = await listen(blocker)
    try {
      await assert.rejects(createDevIdentityProvider({ clients: [CLIENT], port }), { code: 'EADDRINUSE' })
    } finally {
      blocker.close()
    }
  })
})

describe('development OpenID provider over HTTPS with the local CA', () => {
  let state: string
  let idp: DevIdentityProvider
  let agent: Agent
  before(async () => {
    state = await mkdtemp(join(tmpdir(), 'portcullis-idp-'))
    const leaf = await ensureLeafCertificate(state)
    agent = new Agent({ connect: { ca: (await ensureLocalCa(state)).caCertPem } })
    idp = await createDevIdentityProvider({ clients: [CLIENT], tls: leaf, accessTokenTtlSeconds: 60 })
  })
  after(async () => {
    await idp.close()
    await agent.close()
    await rm(state, { recursive: true, force: true })
  })

  test('an openid-client relying party completes the flow, trusting only the local CA', async () => {
    assert.match(idp.issuer, /^https:\/\/127\.0\.0\.1:\d+$/)
    const trustingFetch = ((url: string, init: Record<string, unknown>) =>
      undiciFetch(url, { ...init, dispatcher: agent } as never)) as unknown as oidc.CustomFetch
    const config = await oidc.discovery(
      new URL(idp.issuer),
      CLIENT.clientId,
      { redirect_uris: [REDIRECT_URI] },
      oidc.ClientSecretBasic(CLIENT.clientSecret),
      { [oidc.customFetch]: trustingFetch },
    )
    config[oidc.customFetch] = trustingFetch
    const verifier = oidc.randomPKCECodeVerifier()
    const nonce = oidc.randomNonce()
    const state = oidc.randomState()
    const authorization = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid email profile',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      nonce,
      state,
    })

    // The browser part, through the real login form over TLS.
    const jar = new CookieJar()
    const tlsFetch = (url: string, init: RequestInit = {}) => {
      const headers = new Headers(init.headers)
      const cookie = jar.header(url)
      if (cookie) headers.set('cookie', cookie)
      return undiciFetch(url, { ...init, headers, redirect: 'manual', dispatcher: agent } as never).then((response) => {
        jar.store(url, response as unknown as Response)
        return response
      })
    }
    const started = await tlsFetch(authorization.href)
    const interaction = new URL(started.headers.get('location')!, idp.url).href
    const submitted = await tlsFetch(`${interaction}/login`, {
      method: 'POST',
      headers: FORM,
      body: 'username=bob&password=bob-password',
    })
    const resumed = await tlsFetch(new URL(submitted.headers.get('location')!, idp.url).href)
    const callback = new URL(resumed.headers.get('location')!)

    const tokens = await oidc.authorizationCodeGrant(config, callback, {
      pkceCodeVerifier: verifier,
      expectedNonce: nonce,
      expectedState: state,
      idTokenExpected: true,
    })
    const claims = tokens.claims()!
    assert.equal(claims.sub, DEFAULT_DEV_USERS[1]!.sub)
    assert.equal(tokens.expires_in, 60)
    const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub)
    assert.equal(userinfo.email, 'bob@example.com')
    assert.equal(userinfo.groups, undefined, 'groups are released only under the groups scope')

    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!)
    assert.equal((await oidc.fetchUserInfo(config, refreshed.access_token, claims.sub)).name, 'Bob Example')
  })
})
