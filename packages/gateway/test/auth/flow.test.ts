import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { createAlbVerifier } from '@portcullis/verify'
import { Browser } from './fixtures/browser.js'
import {
  callbackUrlOf,
  type EchoBody,
  LB_ARN,
  listenFront,
  oidcAction,
  startKeyServer,
  startTestGateway,
  type TestGateway,
} from './fixtures/gateway.js'
import { startTestProvider, type TestProvider } from './fixtures/provider.js'

describe('authenticate-oidc: the login flow against a real OpenID provider', () => {
  let idp: TestProvider
  let gw: TestGateway

  before(async () => {
    const server = await listenFront()
    idp = await startTestProvider({ redirectUris: [callbackUrlOf(server)] })
    gw = await startTestGateway({
      server,
      routes: [
        {
          prefix: '/app',
          action: oidcAction({ issuer: idp.issuer, clientId: idp.clientId, clientSecret: idp.clientSecret }),
        },
      ],
    })
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
    assert.match(nonceCookie ?? '', /^AWSALBAuthNonce=[A-Za-z0-9]{24}; Max-Age=900; Path=\/; HttpOnly; SameSite=Lax$/)

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
})
