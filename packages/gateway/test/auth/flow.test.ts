import assert from 'node:assert/strict'
import { PassThrough } from 'node:stream'
import { after, before, describe, test } from 'node:test'
import { createAlbVerifier } from '@portcullis/verify'
import type {
  LoginCompletedMessage,
  LoginFailedMessage,
  SessionRefreshedMessage,
} from '../../src/observability/diagnostics.js'
import { nextMessage } from '../fixtures/diagnostics.js'
import { Browser } from './fixtures/browser.js'
import {
  callbackUrlOf,
  clientOf,
  type EchoBody,
  LB_ARN,
  listenFront,
  oidcAction,
  startIdpAndGateway,
  startKeyServer,
  startTestGateway,
  type TestGateway,
} from './fixtures/gateway.js'
import { startTestProvider, type TestProvider } from './fixtures/provider.js'

describe('authenticate-oidc: the login flow against a real OpenID provider', () => {
  let idp: TestProvider
  let gw: TestGateway

  before(async () => {
    ;({ idp, gw } = await startIdpAndGateway({
      routes: (idp) => [{ prefix: '/app', action: oidcAction(clientOf(idp)) }],
    }))
  })
  after(async () => {
    await gw.close()
    await idp.close()
  })

  test('lands on the original path and query, and the target gets verifiable identity headers', async () => {
    const browser = new Browser()
    const first = await browser.fetch(`${gw.url}/app/page?x=1&y=two`)
    assert.equal(first.status, 302)
    const location = new URL(first.headers.get('location')!)
    assert.equal(location.origin + location.pathname, idp.endpoints.authorization)
    assert.equal(location.searchParams.get('response_type'), 'code')
    assert.equal(location.searchParams.get('client_id'), idp.clientId)
    assert.equal(location.searchParams.get('redirect_uri'), `${gw.url}/oauth2/idpresponse`)
    assert.equal(location.searchParams.get('scope'), 'openid email profile')
    assert.equal(location.searchParams.get('code_challenge_method'), 'S256')
    assert.ok(location.searchParams.get('nonce'))
    assert.ok(location.searchParams.get('state'))
    const nonceCookie = first.headers.getSetCookie().find((c) => c.startsWith('AWSALBAuthNonce='))
    assert.match(nonceCookie ?? '', /^AWSALBAuthNonce=[A-Za-z0-9]{24}; Max-Age=900; HttpOnly; Path=\/; SameSite=Lax$/)

    const callback = await browser.loginAtIdp(location.href, 'alice')
    const back = await browser.fetch(callback)
    assert.equal(back.status, 302, await back.text())
    assert.equal(back.headers.get('location'), '/app/page?x=1&y=two')
    const setCookies = back.headers.getSetCookie()
    assert.ok(setCookies.some((c) => /^AWSELBAuthSessionCookie-0=[A-Za-z0-9_-]+; Expires=/.test(c)))
    assert.ok(setCookies.some((c) => c.startsWith('AWSALBAuthNonce=; Max-Age=0')))
    assert.equal(browser.cookies(gw.url).has('AWSALBAuthNonce'), false)

    const page = await browser.fetch(`${gw.url}/app/page?x=1&y=two`)
    assert.equal(page.status, 200)
    const body = (await page.json()) as EchoBody
    assert.equal(body.headers['x-amzn-oidc-identity'], 'alice')
    assert.ok(body.headers['x-amzn-oidc-accesstoken'])
    const keys = await startKeyServer(gw.auth)
    try {
      const verifier = createAlbVerifier({
        signer: LB_ARN,
        issuer: idp.issuer,
        clientId: idp.clientId,
        keyEndpoint: keys.url,
      })
      const claims = await verifier.verify(body.headers['x-amzn-oidc-data']!)
      assert.equal(claims.sub, 'alice')
      assert.equal(claims['email'], 'alice@example.test')
      assert.deepEqual(claims['groups'], ['admins', 'dev'])
    } finally {
      await keys.close()
    }
    assert.equal(gw.metrics.counts.get('success'), 1)
  })

  test('a login is published on portcullis:login:completed, a replayed callback on portcullis:login:failed', async () => {
    const browser = new Browser()
    const first = await browser.fetch(`${gw.url}/app/x`)
    const callback = await browser.loginAtIdp(first.headers.get('location')!, 'bob')
    const completed = nextMessage<LoginCompletedMessage>('portcullis:login:completed', (m) => m.subject === 'bob')
    assert.equal((await browser.fetch(callback)).status, 302)
    const login = await completed
    assert.equal(login.issuer, idp.issuer)
    assert.equal(login.clientId, idp.clientId)
    assert.equal(login.ctx.path, '/oauth2/idpresponse')

    const failed = nextMessage<LoginFailedMessage>('portcullis:login:failed')
    assert.equal((await fetch(callback, { redirect: 'manual' })).status, 401)
    const refusal = await failed
    assert.equal(refusal.status, 401)
    assert.equal(refusal.reason, 'AuthMissingAWSALBAuthNonce')
    assert.equal(refusal.error.name, 'AuthError')
  })
})

describe('authenticate actions: options of contract §6 and the Portcullis extensions', () => {
  let idp: TestProvider
  let postIdp: TestProvider
  let gw: TestGateway
  // The gateway's clock, which the test moves past an access token's expiry instead of waiting for it.
  let offset = 0

  before(async () => {
    const server = await listenFront()
    idp = await startTestProvider({ redirectUris: [callbackUrlOf(server)], accessTokenTtlSeconds: 60 })
    postIdp = await startTestProvider({
      redirectUris: [callbackUrlOf(server)],
      tokenEndpointAuthMethod: 'client_secret_post',
    })
    const base = { issuer: idp.issuer, clientId: idp.clientId, clientSecret: idp.clientSecret }
    gw = await startTestGateway({
      server,
      clock: () => Math.floor(Date.now() / 1000) + offset,
      routes: [
        {
          prefix: '/extra',
          action: oidcAction({
            ...base,
            sessionCookieName: 'Extra',
            authenticationRequestExtraParams: {
              prompt: 'login',
              ui_locales: 'fr',
              client_id: 'spoofed',
              state: 'spoofed',
            },
          }),
        },
        { prefix: '/plain', action: oidcAction({ ...base, sessionCookieName: 'Plain', pkce: false, nonce: false }) },
        {
          prefix: '/post',
          action: oidcAction({
            issuer: postIdp.issuer,
            clientId: postIdp.clientId,
            clientSecret: postIdp.clientSecret,
            sessionCookieName: 'Post',
            tokenEndpointAuthMethod: 'client_secret_post',
          }),
        },
        {
          prefix: '/cognito',
          action: {
            ...oidcAction({ ...base, sessionCookieName: 'Cognito' }),
            type: 'authenticate-cognito',
            userPoolArn: 'arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_example',
            userPoolDomain: 'example',
          } as never,
        },
        { prefix: '/jwks', action: oidcAction({ ...base, sessionCookieName: 'Jwks', jwksUri: idp.endpoints.jwks }) },
      ],
    })
  })
  after(async () => {
    await gw.close()
    await idp.close()
    await postIdp.close()
  })

  test('extra parameters are sent but never override the protocol’s own', async () => {
    const res = await fetch(`${gw.url}/extra/x`, { redirect: 'manual' })
    const url = new URL(res.headers.get('location')!)
    assert.equal(url.searchParams.get('prompt'), 'login')
    assert.equal(url.searchParams.get('ui_locales'), 'fr')
    assert.equal(url.searchParams.get('client_id'), idp.clientId)
    assert.notEqual(url.searchParams.get('state'), 'spoofed')
    assert.equal((await new Browser().login(`${gw.url}/extra/x`)).status, 302)
  })

  test('PKCE and nonce switched off: neither is sent, and the login still works', async () => {
    const res = await fetch(`${gw.url}/plain/x`, { redirect: 'manual' })
    const url = new URL(res.headers.get('location')!)
    assert.equal(url.searchParams.has('code_challenge'), false)
    assert.equal(url.searchParams.has('nonce'), false)
    const browser = new Browser()
    const back = await browser.login(`${gw.url}/plain/x`)
    assert.equal(back.status, 302)
    assert.equal(
      ((await (await browser.fetch(`${gw.url}/plain/x`)).json()) as EchoBody).headers['x-amzn-oidc-identity'],
      'alice',
    )
  })

  test('client_secret_post, authenticate-cognito and a configured JWKS URI all complete the login', async () => {
    for (const path of ['/post/x', '/cognito/x', '/jwks/x']) {
      const browser = new Browser()
      const back = await browser.login(`${gw.url}${path}`)
      assert.equal(back.status, 302, path)
      const body = (await (await browser.fetch(`${gw.url}${path}`)).json()) as EchoBody
      assert.equal(body.headers['x-amzn-oidc-identity'], 'alice', path)
    }
  })

  test("the provider's access-token expiry is refreshed transparently, and published on portcullis:session:refreshed", async () => {
    const browser = new Browser()
    await browser.login(`${gw.url}/plain/x`)
    const first = (await (await browser.fetch(`${gw.url}/plain/x`)).json()) as EchoBody
    const refreshes = idp.grants.refresh_token
    // Past the provider's 60-second access token, on the gateway's clock.
    offset += 61
    const refreshed = nextMessage<SessionRefreshedMessage>('portcullis:session:refreshed')
    const res = await browser.fetch(`${gw.url}/plain/x`)
    assert.ok(res.headers.getSetCookie().some((c) => c.startsWith('Plain-0=') && !c.includes('Max-Age=0')))
    const second = (await res.json()) as EchoBody
    assert.equal(idp.grants.refresh_token, refreshes + 1)
    assert.notEqual(second.headers['x-amzn-oidc-accesstoken'], first.headers['x-amzn-oidc-accesstoken'])
    assert.equal(second.headers['x-amzn-oidc-identity'], 'alice')
    assert.deepEqual(await refreshed, { issuer: idp.issuer, clientId: idp.clientId, subject: 'alice', store: 'cookie' })
  })
})

describe('logging', () => {
  test('no token, code, secret or cookie value ever reaches the log, through logins, refreshes and failures', async () => {
    const server = await listenFront()
    const idp = await startTestProvider({ redirectUris: [callbackUrlOf(server)], accessTokenTtlSeconds: 60 })
    let offset = 0
    const stream = new PassThrough()
    let log = ''
    stream.on('data', (chunk: Buffer) => {
      log += chunk.toString()
    })
    const gw = await startTestGateway({
      server,
      logStream: stream,
      clock: () => Math.floor(Date.now() / 1000) + offset,
      routes: [
        {
          prefix: '/app',
          action: oidcAction({ issuer: idp.issuer, clientId: idp.clientId, clientSecret: idp.clientSecret }),
        },
      ],
    })
    try {
      const browser = new Browser()
      const first = await browser.fetch(`${gw.url}/app/x`)
      const state = new URL(first.headers.get('location')!).searchParams.get('state')!
      const callback = await browser.loginAtIdp(first.headers.get('location')!, 'alice')
      const code = new URL(callback).searchParams.get('code')!
      assert.equal((await browser.fetch(callback)).status, 302)
      const body = (await (await browser.fetch(`${gw.url}/app/x`)).json()) as EchoBody
      // A failure that logs (a replayed callback), then a refresh once the access token expired on the gateway's clock.
      await fetch(callback, { redirect: 'manual' })
      offset += 61
      const refreshed = nextMessage<SessionRefreshedMessage>('portcullis:session:refreshed')
      assert.equal((await browser.fetch(`${gw.url}/app/x`)).status, 200)
      await refreshed
      const secrets = [
        idp.clientSecret,
        code,
        state,
        body.headers['x-amzn-oidc-accesstoken']!,
        body.headers['x-amzn-oidc-data']!,
        browser.cookies(gw.url).get('AWSELBAuthSessionCookie-0')!,
      ]
      assert.ok(log.length > 0, 'something was logged')
      for (const secret of secrets) assert.equal(log.includes(secret), false)
    } finally {
      await gw.close()
      await idp.close()
    }
  })
})
