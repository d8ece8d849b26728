import assert from 'node:assert/strict'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { connect } from 'node:net'
import { after, before, describe, test } from 'node:test'
import type { StateData } from '../../src/auth/types.js'
import { loadSealingRing } from '../fixtures/keys.js'
import { freePort, listen } from '../fixtures/ports.js'
import { Browser } from './fixtures/browser.js'
import { callbackUrlOf, listenFront, oidcAction, startTestGateway, type TestGateway } from './fixtures/gateway.js'
import { startTestProvider, type TestProvider } from './fixtures/provider.js'

/** An ad-hoc peer standing in for an IdP endpoint that misbehaves. */
async function startFaultServer(
  handler: (req: IncomingMessage, res: ServerResponse, body: string) => void,
): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => handler(req, res, Buffer.concat(chunks).toString('utf8')))
  })
  return { url: `http://127.0.0.1:${await listen(server)}`, server }
}

/** Forwards a request to the real provider and hands back status, headers and body. */
async function relay(target: string, req: IncomingMessage, body: string): Promise<Response> {
  const headers: Record<string, string> = {}
  for (const name of ['authorization', 'content-type', 'accept', 'dpop']) {
    const value = req.headers[name]
    if (typeof value === 'string') headers[name] = value
  }
  return fetch(target, { method: req.method ?? 'GET', headers, body: req.method === 'POST' ? body : undefined })
}

function stopServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve())
    server.closeAllConnections()
  })
}

describe('the /oauth2/idpresponse callback: every error of contract §7', () => {
  let idp: TestProvider
  let gw: TestGateway
  const faults: Server[] = []
  let refusedPort = 0

  before(async () => {
    const server = await listenFront()
    idp = await startTestProvider({ redirectUris: [callbackUrlOf(server)] })
    const base = { issuer: idp.issuer, clientId: idp.clientId, clientSecret: idp.clientSecret }

    // A port that refuses connections: nobody listens on it.
    refusedPort = await freePort()

    const token500 = await startFaultServer((_req, res) => {
      res.writeHead(500, { 'content-type': 'text/plain' })
      res.end('boom')
    })
    const tokenSlow = await startFaultServer(() => undefined) // never answers
    const tokenBadJson = await startFaultServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end('{"access_token": "abc", ')
    })
    // Relays the real token response but breaks the ID token's signature.
    const tokenBadSignature = await startFaultServer(async (req, res, body) => {
      const answer = await relay(idp.endpoints.token, req, body)
      const json = (await answer.json()) as Record<string, string>
      if (json['id_token']) {
        const [h, p, s] = json['id_token'].split('.')
        json['id_token'] = `${h}.${p}.${s!.slice(0, -4)}AAAA`
      }
      res.writeHead(answer.status, { 'content-type': 'application/json' })
      res.end(JSON.stringify(json))
    })
    // Relays the real token response without its ID token (scope gave none).
    const tokenNoIdToken = await startFaultServer(async (req, res, body) => {
      const answer = await relay(idp.endpoints.token, req, body)
      const json = (await answer.json()) as Record<string, string>
      delete json['id_token']
      res.writeHead(answer.status, { 'content-type': 'application/json' })
      res.end(JSON.stringify(json))
    })
    // Relays the real token response with an access token that cannot be a header value.
    const tokenBadAccessToken = await startFaultServer(async (req, res, body) => {
      const answer = await relay(idp.endpoints.token, req, body)
      const json = (await answer.json()) as Record<string, string>
      json['access_token'] = 'abc\r\nx-injected: 1'
      res.writeHead(answer.status, { 'content-type': 'application/json' })
      res.end(JSON.stringify(json))
    })
    const userinfo500 = await startFaultServer((_req, res) => {
      res.writeHead(502)
      res.end()
    })
    const userinfoSlow = await startFaultServer(() => undefined)
    const userinfoBadJson = await startFaultServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end('not json')
    })
    const userinfoWrongSub = await startFaultServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ sub: 'mallory' }))
    })
    faults.push(
      token500.server,
      tokenSlow.server,
      tokenBadJson.server,
      tokenBadSignature.server,
      tokenNoIdToken.server,
      tokenBadAccessToken.server,
      userinfo500.server,
      userinfoSlow.server,
      userinfoBadJson.server,
      userinfoWrongSub.server,
    )

    const route = (
      prefix: string,
      order: number,
      extra: Parameters<typeof oidcAction>[0] extends infer T ? Partial<T> : never,
    ) => ({
      prefix,
      action: oidcAction({ ...base, order, ...extra }),
    })
    gw = await startTestGateway({
      server,
      idpTimeoutMs: 3000,
      routes: [
        route('/app', 1, {}),
        route('/tok-refused', 2, { tokenEndpoint: `http://127.0.0.1:${refusedPort}/token` }),
        route('/tok-500', 3, { tokenEndpoint: `${token500.url}/token` }),
        route('/tok-slow', 4, { tokenEndpoint: `${tokenSlow.url}/token` }),
        route('/tok-badjson', 5, { tokenEndpoint: `${tokenBadJson.url}/token` }),
        route('/tok-badsig', 6, { tokenEndpoint: `${tokenBadSignature.url}/token` }),
        route('/tok-noid', 7, { tokenEndpoint: `${tokenNoIdToken.url}/token` }),
        route('/tok-badat', 13, { tokenEndpoint: `${tokenBadAccessToken.url}/token` }),
        route('/ui-500', 8, { userInfoEndpoint: `${userinfo500.url}/me` }),
        route('/ui-slow', 9, { userInfoEndpoint: `${userinfoSlow.url}/me` }),
        route('/ui-badjson', 10, { userInfoEndpoint: `${userinfoBadJson.url}/me` }),
        route('/ui-wrongsub', 11, { userInfoEndpoint: `${userinfoWrongSub.url}/me` }),
        route('/ui-refused', 12, { userInfoEndpoint: `http://127.0.0.1:${refusedPort}/me` }),
      ],
    })
  })
  after(async () => {
    await gw.close()
    await idp.close()
    await Promise.all(faults.map(stopServer))
  })

  /** Starts a login at `path`: the IdP URL, its `state`, and the browser holding the nonce cookie. */
  async function start(path = '/app/x') {
    const browser = new Browser()
    const res = await browser.fetch(`${gw.url}${path}`)
    assert.equal(res.status, 302)
    const location = res.headers.get('location')!
    return { browser, location, state: new URL(location).searchParams.get('state')! }
  }

  async function expectError(res: Response, status: number, reason: string | undefined) {
    const body = await res.text()
    assert.equal(res.status, status, body)
    assert.equal(gw.lastErrorReason, reason)
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/)
    assert.doesNotMatch(body, /at .*\.ts|Error:/, 'no stack or error detail in the body')
  }

  test('missing state → 401 AuthMissingStateParam', async () => {
    const { browser } = await start()
    await expectError(await browser.fetch(`${gw.url}/oauth2/idpresponse?code=abc`), 401, 'AuthMissingStateParam')
  })

  test('tampered state → 401 AuthInvalidStateParam', async () => {
    const { browser, state } = await start()
    const flipped = state.slice(0, 40) + (state[40] === 'A' ? 'B' : 'A') + state.slice(41)
    await expectError(
      await browser.fetch(`${gw.url}/oauth2/idpresponse?code=abc&state=${flipped}`),
      401,
      'AuthInvalidStateParam',
    )
    await expectError(
      await browser.fetch(`${gw.url}/oauth2/idpresponse?code=abc&state=${state.slice(0, -10)}`),
      401,
      'AuthInvalidStateParam',
    )
    await expectError(
      await browser.fetch(`${gw.url}/oauth2/idpresponse?code=abc&state=%00%01`),
      401,
      'AuthInvalidStateParam',
    )
  })

  test('state sealed by another gateway (foreign key) → 401 AuthInvalidStateParam', async () => {
    const other = await startTestGateway({
      routes: [{ prefix: '/app', action: oidcAction({ issuer: idp.issuer, clientId: idp.clientId }) }],
    })
    try {
      const browser = new Browser()
      const res = await browser.fetch(`${other.url}/app/x`)
      const state = new URL(res.headers.get('location')!).searchParams.get('state')!
      const nonce = browser.cookies(other.url).get('AWSALBAuthNonce')!
      const callback = await fetch(`${gw.url}/oauth2/idpresponse?code=abc&state=${state}`, {
        headers: { cookie: `AWSALBAuthNonce=${nonce}` },
        redirect: 'manual',
      })
      await expectError(callback, 401, 'AuthInvalidStateParam')
    } finally {
      await other.close()
    }
  })

  async function forgeState(overrides: Partial<StateData>): Promise<string> {
    const ring = await loadSealingRing(gw.stateDirectory)
    const state: StateData = {
      v: 1,
      n: 'NonceNonceNonceNonce0123',
      u: '/app/x',
      r: gw.config.listeners[0]!.rules[0]!.arn,
      o: 1,
      t: Math.floor(Date.now() / 1000),
      ...overrides,
    }
    return ring.seal('state', Buffer.from(JSON.stringify(state)), Buffer.from('portcullis state'))
  }

  test('a login that took over 15 minutes → 401 AuthInvalidStateParam', async () => {
    const state = await forgeState({ t: Math.floor(Date.now() / 1000) - 901 })
    const res = await fetch(`${gw.url}/oauth2/idpresponse?code=abc&state=${state}`, {
      headers: { cookie: 'AWSALBAuthNonce=NonceNonceNonceNonce0123' },
      redirect: 'manual',
    })
    await expectError(res, 401, 'AuthInvalidStateParam')
  })

  test('state naming a rule this gateway does not have → 401 AuthInvalidStateParam', async () => {
    const state = await forgeState({
      r: 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener-rule/app/x/y/z/9',
    })
    const res = await fetch(`${gw.url}/oauth2/idpresponse?code=abc&state=${state}`, {
      headers: { cookie: 'AWSALBAuthNonce=NonceNonceNonceNonce0123' },
      redirect: 'manual',
    })
    await expectError(res, 401, 'AuthInvalidStateParam')
  })

  test('nonce cookie missing → 401 AuthMissingAWSALBAuthNonce; mismatched → 401 AuthInvalidAWSALBAuthNonce', async () => {
    const { location, browser } = await start()
    const callback = await browser.loginAtIdp(location, 'alice')
    const missing = await fetch(callback, { redirect: 'manual' })
    await expectError(missing, 401, 'AuthMissingAWSALBAuthNonce')
    const wrong = await fetch(callback, {
      redirect: 'manual',
      headers: { cookie: 'AWSALBAuthNonce=AAAAAAAAAAAAAAAAAAAAAAAA' },
    })
    await expectError(wrong, 401, 'AuthInvalidAWSALBAuthNonce')
  })

  test('the IdP answers with error= → 561, and the nonce cookie is cleared', async () => {
    const { location, browser } = await start()
    idp.denyWith = 'access_denied'
    try {
      const callback = await browser.loginAtIdp(location, 'alice')
      assert.equal(new URL(callback).searchParams.get('error'), 'access_denied')
      const res = await browser.fetch(callback)
      await expectError(res, 561, undefined)
      assert.ok(res.headers.getSetCookie().some((c) => c.startsWith('AWSALBAuthNonce=; Max-Age=0')))
    } finally {
      idp.denyWith = undefined
    }
  })

  test('missing code → 401 AuthMissingCodeParam', async () => {
    const { browser, state } = await start()
    await expectError(await browser.fetch(`${gw.url}/oauth2/idpresponse?state=${state}`), 401, 'AuthMissingCodeParam')
  })

  test('an unknown code → 401 AuthInvalidGrantError', async () => {
    const { browser, state } = await start()
    await expectError(
      await browser.fetch(`${gw.url}/oauth2/idpresponse?code=not-a-code&state=${state}`),
      401,
      'AuthInvalidGrantError',
    )
  })

  test('replaying a successful callback → 401, even with the nonce cookie, and after a reload (code is single-use)', async () => {
    const { browser, location } = await start()
    const nonce = browser.cookies(gw.url).get('AWSALBAuthNonce')!
    const callback = await browser.loginAtIdp(location, 'alice')
    const ok = await browser.fetch(callback)
    assert.equal(ok.status, 302)
    // Same URL, nonce cookie cleared by the success: refused.
    await expectError(await browser.fetch(callback), 401, 'AuthMissingAWSALBAuthNonce')
    // Same URL with the old nonce cookie put back: the state was used.
    const replay = await fetch(callback, { redirect: 'manual', headers: { cookie: `AWSALBAuthNonce=${nonce}` } })
    await expectError(replay, 401, 'AuthInvalidStateParam')
    // A new runtime (reload) does not remember used states; the IdP refuses the used code.
    await gw.reload()
    const afterReload = await fetch(callback, { redirect: 'manual', headers: { cookie: `AWSALBAuthNonce=${nonce}` } })
    await expectError(afterReload, 401, 'AuthInvalidGrantError')
  })

  /** A real login up to the IdP's redirect back: a callback URL with a valid code, state and nonce cookie. */
  async function realCallback() {
    const { browser, location } = await start()
    const callback = new URL(await browser.loginAtIdp(location, 'alice'))
    assert.ok(callback.searchParams.get('code'))
    return { browser, callback }
  }

  const malformedCallbacks: [string, (u: URL) => void, string][] = [
    ['a duplicated code', (u) => u.searchParams.append('code', 'second-code'), 'AuthInvalidGrantError'],
    [
      'a duplicated state',
      (u) => u.searchParams.append('state', u.searchParams.get('state')!),
      'AuthInvalidStateParam',
    ],
    ['an unexpected iss (mix-up)', (u) => u.searchParams.set('iss', 'https://evil.example'), 'AuthInvalidStateParam'],
    [
      'a duplicated iss',
      (u) => u.searchParams.append('iss', u.searchParams.get('iss') ?? idp.issuer),
      'AuthInvalidStateParam',
    ],
    [
      'a response= (JARM) parameter',
      (u) => u.searchParams.set('response', 'eyJhbGciOiJub25lIn0.e30.'),
      'AuthInvalidGrantError',
    ],
  ]
  for (const [what, mutate, reason] of malformedCallbacks) {
    test(`a callback with ${what}, valid state and nonce cookie → 401 ${reason}, no session`, async () => {
      const { browser, callback } = await realCallback()
      mutate(callback)
      await expectError(await browser.fetch(callback.href), 401, reason)
      assert.equal(browser.cookies(gw.url).has('AWSELBAuthSessionCookie-0'), false)
    })
  }

  test('parameters the IdP may add (session_state, junk, repeated) do not disturb a valid callback', async () => {
    const { browser, callback } = await realCallback()
    callback.searchParams.append('session_state', 'a')
    callback.searchParams.append('session_state', 'b')
    const res = await browser.fetch(callback.href)
    assert.equal(res.status, 302, await res.text())
    assert.equal(res.headers.get('location'), '/app/x')
  })

  test('no Host header (HTTP/1.0) → 401 AuthMissingHostHeader', async () => {
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect(gw.port, '127.0.0.1', () => socket.end('GET /app/x HTTP/1.0\r\n\r\n'))
      let data = ''
      socket.on('data', (chunk) => {
        data += chunk.toString('latin1')
      })
      socket.on('end', () => resolve(data))
      socket.on('error', reject)
    })
    assert.match(raw, /^HTTP\/1\.1 401 /)
    assert.equal(gw.lastErrorReason, 'AuthMissingHostHeader')
  })

  const idpFaults: [string, number, string][] = [
    ['/tok-refused', 500, 'AuthTokenEpRequestFailed'],
    ['/tok-500', 500, 'AuthTokenEpRequestFailed'],
    ['/tok-slow', 500, 'AuthTokenEpRequestTimeout'],
    ['/tok-badjson', 500, 'AuthInvalidTokenResponse'],
    ['/tok-badsig', 401, 'AuthInvalidIdToken'],
    ['/tok-noid', 401, 'AuthInvalidIdToken'],
    ['/tok-badat', 500, 'AuthInvalidTokenResponse'],
    ['/ui-500', 500, 'AuthUserinfoEpRequestFailed'],
    ['/ui-refused', 500, 'AuthUserinfoEpRequestFailed'],
    ['/ui-slow', 500, 'AuthUserinfoEpRequestTimeout'],
    ['/ui-badjson', 500, 'AuthInvalidUserinfoResponse'],
    ['/ui-wrongsub', 500, 'AuthInvalidUserinfoResponse'],
  ]
  for (const [path, status, reason] of idpFaults) {
    test(`IdP fault at ${path.slice(1)} → ${status} ${reason}`, async () => {
      const browser = new Browser()
      const res = await browser.login(`${gw.url}${path}/x`)
      await expectError(res, status, reason)
      assert.equal(browser.cookies(gw.url).has('AWSELBAuthSessionCookie-0'), false)
    })
  }

  test('a sub that cannot be sent as a header (non-ASCII) → 500 AuthInvalidUserinfoResponse', async () => {
    await expectError(await new Browser().login(`${gw.url}/app/x`, 'jürgen'), 500, 'AuthInvalidUserinfoResponse')
  })

  test('userinfo answer over 16 KB → 500 AuthUserinfoResponseSizeExceeded', async () => {
    await expectError(await new Browser().login(`${gw.url}/app/x`, 'huge'), 500, 'AuthUserinfoResponseSizeExceeded')
  })

  test('claims plus access token over 11 KB → 500 and ELBAuthUserClaimsSizeExceeded', async () => {
    const before = gw.metrics.counts.get('claimsSizeExceeded') ?? 0
    await expectError(await new Browser().login(`${gw.url}/app/x`, 'big'), 500, 'AuthUserClaimsSizeExceeded')
    assert.equal(gw.metrics.counts.get('claimsSizeExceeded'), before + 1)
  })
})
