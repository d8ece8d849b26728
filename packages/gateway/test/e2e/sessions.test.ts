import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { pino } from 'pino'
import type { Browser, Page } from 'playwright-core'
import { parseConfig } from '../../src/config/load.js'
import { DEMO_LOAD_BALANCER_ARN } from '../../src/demo/demo.js'
import { type DemoTarget, startDemoTarget } from '../../src/demo/target-app.js'
import { createDevIdentityProvider, type DevIdentityProvider } from '../../src/idp/provider.js'
import { type RunningGateway, startGateway } from '../../src/server/gateway.js'
import { ensureLeafCertificate, ensureLocalCa } from '../../src/tls/local-ca.js'
import { freePort } from '../fixtures/ports.js'
import { cookieNames, launchBrowser, newSession, submitLoginForm } from './browser.js'

const CLIENT_ID = 'e2e-sessions'
const CLIENT_SECRET = 'e2e-sessions-secret'
/** Short enough to pass during a test, long enough to survive one page load on a busy machine. */
const ACCESS_TOKEN_TTL = 3
const SHORT_SESSION = 4

/** The access token the gateway forwarded, as the demo target displays it. */
async function forwardedAccessToken(page: Page): Promise<string> {
  const cell = page.locator('tr', { hasText: 'x-amzn-oidc-accesstoken' }).locator('pre')
  return ((await cell.textContent()) ?? '').trim()
}

async function assertVerified(page: Page): Promise<void> {
  assert.match((await page.locator('main').textContent()) ?? '', /x-amzn-oidc-data verified/, page.url())
}

/**
 * Lifetimes and independent sessions: an IdP with short access tokens (so the
 * gateway must refresh), a rule with a short SessionTimeout, and two rules
 * with their own cookie names.
 */
describe('sessions in a real browser', () => {
  let state: string
  let idp: DevIdentityProvider
  let target: DemoTarget
  let gateway: RunningGateway
  let browser: Browser
  let url: string

  before(async () => {
    state = await mkdtemp(join(tmpdir(), 'portcullis-e2e-sessions-'))
    const ca = await ensureLocalCa(state)
    const leaf = await ensureLeafCertificate(state)
    const port = await freePort()
    const adminPort = await freePort()
    url = `https://localhost:${port}/`
    idp = await createDevIdentityProvider({
      tls: leaf,
      accessTokenTtlSeconds: ACCESS_TOKEN_TTL,
      clients: [
        {
          clientId: CLIENT_ID,
          clientSecret: CLIENT_SECRET,
          redirectUris: [`https://localhost:${port}/oauth2/idpresponse`],
        },
      ],
    })
    target = await startDemoTarget({
      signer: DEMO_LOAD_BALANCER_ARN,
      issuer: idp.issuer,
      clientId: CLIENT_ID,
      keyEndpoint: `http://127.0.0.1:${adminPort}/keys`,
      endSessionEndpoint: idp.endpoints.endSession,
      postLogoutRedirectUri: `https://localhost:${port}/`,
    })
    const rule = (
      priority: number,
      path: string,
      cookie: string,
      sessionTimeout: number,
      onUnauthenticated: 'authenticate' | 'deny' = 'authenticate',
    ) => `
      - Priority: ${priority}
        Conditions: [{ Field: path-pattern, PathPatternConfig: { Values: ["${path}"] } }]
        Actions:
          - Type: authenticate-oidc
            AuthenticateOidcConfig:
              Issuer: "${idp.issuer}"
              AuthorizationEndpoint: "${idp.endpoints.authorization}"
              TokenEndpoint: "${idp.endpoints.token}"
              UserInfoEndpoint: "${idp.endpoints.userinfo}"
              ClientId: ${CLIENT_ID}
              ClientSecret: ${CLIENT_SECRET}
              Scope: openid email profile
              SessionCookieName: ${cookie}
              SessionTimeout: ${sessionTimeout}
              OnUnauthenticatedRequest: ${onUnauthenticated}
          - Type: forward
            TargetGroupArn: target`
    const yaml = `
LoadBalancer: { Arn: "${DEMO_LOAD_BALANCER_ARN}" }
Listeners:
  - Port: ${port}
    Protocol: HTTPS
    Certificates: [{ CertificateFile: "${leaf.certPath}", PrivateKeyFile: "${leaf.keyPath}" }]
    Portcullis: { Address: 127.0.0.1 }
    Rules:${rule(5, '/short-api/*', 'ShortSession', SHORT_SESSION, 'deny')}${rule(10, '/short/*', 'ShortSession', SHORT_SESSION)}${rule(20, '/app-a/*', 'AppASession', 3600)}${rule(30, '/app-b/*', 'AppBSession', 3600)}
    DefaultActions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: 404, ContentType: text/plain, MessageBody: no such app } }]
TargetGroups:
  - { TargetGroupName: target, Protocol: HTTP, Targets: [{ Id: 127.0.0.1, Port: ${target.port} }], HealthCheckPath: /public }
Portcullis:
  StateDirectory: "${state}"
  Admin: { Address: 127.0.0.1, Port: ${adminPort} }
  CaFile: "${ca.caCertPath}"
`
    const { config } = parseConfig(yaml, { baseDir: state })
    gateway = await startGateway(config, { logger: pino({ level: 'warn' }), accessLog: false })
    browser = await launchBrowser([leaf.certPem])
  })
  after(async () => {
    await browser?.close()
    await gateway?.close({ deadlineMs: 1000 })
    await target?.close()
    await idp?.close()
    await rm(state, { recursive: true, force: true })
  })

  test('an expired access token is refreshed silently; an expired session goes back to the IdP, also under deny', async () => {
    const { context, page, requests } = await newSession(browser)
    try {
      await page.goto(`${url}app-a/home`)
      await submitLoginForm(page, 'alice', 'alice-password', idp.issuer)
      assert.equal(page.url(), `${url}app-a/home`)
      await assertVerified(page)
      const firstToken = await forwardedAccessToken(page)
      assert.notEqual(firstToken, '')

      await page.goto(`${url}short/home`)
      assert.equal(page.url(), `${url}short/home`, 'the provider session signs in to the second rule silently')
      await assertVerified(page)
      // The same cookie under a deny rule: a valid session is forwarded.
      assert.equal(await page.evaluate(async () => (await fetch('/short-api/me')).status), 200)

      // Measures the short session's timeout (and the access token's lifetime) on the gateway's real clock.
      await sleep(Math.max(ACCESS_TOKEN_TTL, SHORT_SESSION) * 1000 + 500)
      requests.length = 0
      await page.goto(`${url}app-a/home`)
      assert.equal(page.url(), `${url}app-a/home`)
      await assertVerified(page)
      assert.ok(!requests.some((request) => request.startsWith(idp.issuer)), 'refresh happens without the browser')
      assert.notEqual(await forwardedAccessToken(page), firstToken, 'the target receives the refreshed access token')

      // deny with an expired session redirects to the provider (ALB documents this), it does not answer 401.
      const expired = await page.evaluate(async () => {
        const response = await fetch('/short-api/me', { redirect: 'manual' })
        return response.type
      })
      assert.equal(expired, 'opaqueredirect')

      requests.length = 0
      await page.goto(`${url}short/home`)
      assert.equal(page.url(), `${url}short/home`)
      await assertVerified(page)
      assert.ok(
        requests.some((request) => request.startsWith(idp.endpoints.authorization)),
        'the timed-out session went through the provider again',
      )
      assert.ok((await cookieNames(context, 'localhost')).includes('ShortSession-0'))
    } finally {
      await context.close()
    }
  })

  test('two rules with separate cookie names are independent sessions', async () => {
    const { context, page, requests } = await newSession(browser)
    try {
      await page.goto(`${url}app-a/`)
      await submitLoginForm(page, 'bob', 'bob-password', idp.issuer)
      await assertVerified(page)
      let names = await cookieNames(context, 'localhost')
      assert.ok(names.includes('AppASession-0'))
      assert.ok(!names.some((name) => name.startsWith('AppBSession')), 'app A’s login gives app B no session')

      // App B needs its own round trip to the provider (silent: the provider session exists).
      requests.length = 0
      await page.goto(`${url}app-b/`)
      assert.equal(page.url(), `${url}app-b/`)
      assert.ok(requests.some((request) => request.startsWith(idp.endpoints.authorization)))
      await assertVerified(page)
      names = await cookieNames(context, 'localhost')
      assert.ok(names.includes('AppBSession-0'))

      // Dropping app A's session leaves app B's alone.
      await context.clearCookies({ name: /^AppASession-\d$/ })
      requests.length = 0
      await page.goto(`${url}app-b/`)
      await assertVerified(page)
      assert.ok(!requests.some((request) => request.startsWith(idp.issuer)), 'app B still has its session')
      await page.goto(`${url}app-a/`)
      assert.ok(
        requests.some((request) => request.startsWith(idp.endpoints.authorization)),
        'app A signs in again',
      )
      await assertVerified(page)
    } finally {
      await context.close()
    }
  })
})
