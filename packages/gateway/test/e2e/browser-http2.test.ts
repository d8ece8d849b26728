/**
 * A browser logs in over HTTP/2: Debian's Chromium, the development IdP's
 * real login form, `authenticate-oidc` on an HTTPS listener of the real
 * `portcullis start` process. Chromium negotiates h2 by ALPN as it does with
 * ALB; the pages, the login redirect and the callback must all travel over
 * h2 (the page's own navigation timing and ALB's access-log `type` say so),
 * the session cookie is set, the target (HTTP/1.1) receives the identity
 * headers, and `Portcullis.LogoutPath` ends the session at the gateway and
 * at the IdP.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import type { Browser } from 'playwright-core'
import { createDevIdentityProvider, type DevIdentityProvider } from '../../src/idp/provider.js'
import { ensureLeafCertificate, ensureLocalCa } from '../../src/tls/local-ca.js'
import { freePort } from '../fixtures/ports.js'
import { type RunningCli, startGatewayCli, waitFor } from '../fixtures/process.js'
import { startUpstream } from '../fixtures/servers.js'
import { cookieNames, launchBrowser, newSession, submitLoginForm } from './browser.js'

const CLIENT_ID = 'h2-browser'
const CLIENT_SECRET = 'h2-browser-secret'
const ALICE_SUB = '6f1c3b0e-7d2a-4c55-9e4b-2a9f1d3c8b71'

interface LogLine {
  type: string
  request: string
  elb_status_code: number
}

describe('a browser logs in over HTTP/2, through portcullis start', { timeout: 120_000 }, () => {
  let dir: string
  let idp: DevIdentityProvider
  let target: Awaited<ReturnType<typeof startUpstream>>
  let gateway: RunningCli
  let browser: Browser
  let port: number
  let log: string

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-h2-browser-'))
    const ca = await ensureLocalCa(join(dir, 'state'))
    const leaf = await ensureLeafCertificate(join(dir, 'state'))
    port = await freePort()
    idp = await createDevIdentityProvider({
      tls: leaf,
      clients: [
        {
          clientId: CLIENT_ID,
          clientSecret: CLIENT_SECRET,
          redirectUris: [`https://localhost:${port}/oauth2/idpresponse`],
          postLogoutRedirectUris: [`https://localhost:${port}/bye`],
        },
      ],
    })
    // The target: a page showing what the gateway told it.
    target = await startUpstream((req: IncomingMessage, res: ServerResponse) => {
      const data = req.headers['x-amzn-oidc-data']
      const parts = typeof data === 'string' ? data.split('.').length : 0
      res.writeHead(200, { 'content-type': 'text/html' })
      res.end(
        `<!doctype html><title>app</title><main>identity=${req.headers['x-amzn-oidc-identity'] ?? '-'} ` +
          `data-parts=${parts} access-token=${req.headers['x-amzn-oidc-accesstoken'] ? 'yes' : 'no'} ` +
          `target-http=${req.httpVersion}</main>`,
      )
    })
    log = join(dir, 'access.log')
    const file = join(dir, 'portcullis.yaml')
    await writeFile(
      file,
      `
LoadBalancer: { Name: h2-browser, Region: us-east-1, AccountId: "123456789012" }
Listeners:
  - Port: ${port}
    Protocol: HTTPS
    Certificates: [{ CertificateFile: "${leaf.certPath}", PrivateKeyFile: "${leaf.keyPath}" }]
    Portcullis: { Address: 127.0.0.1 }
    DefaultActions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: "404", ContentType: text/plain, MessageBody: not found } }]
    Rules:
      - Priority: 10
        Conditions: [{ Field: path-pattern, Values: ["/app/*"] }]
        Actions:
          - Type: authenticate-oidc
            AuthenticateOidcConfig:
              Issuer: ${idp.issuer}
              AuthorizationEndpoint: ${idp.endpoints.authorization}
              TokenEndpoint: ${idp.endpoints.token}
              UserInfoEndpoint: ${idp.endpoints.userinfo}
              ClientId: ${CLIENT_ID}
              ClientSecret: ${CLIENT_SECRET}
              Scope: openid email profile
              Portcullis: { LogoutPath: /app/logout, PostLogoutRedirectUri: /bye }
          - Type: forward
            TargetGroupArn: app
      - Priority: 20
        Conditions: [{ Field: path-pattern, Values: ["/bye"] }]
        Actions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: "200", ContentType: text/html, MessageBody: "<main>signed out</main>" } }]
TargetGroups:
  - { TargetGroupName: app, Protocol: HTTP, Targets: [{ Id: 127.0.0.1, Port: ${target.port} }] }
Portcullis:
  StateDirectory: ./state
  CaFile: "${ca.caCertPath}"
  AccessLog: { Format: json, Path: "${log}" }
`,
    )
    gateway = await startGatewayCli(file, dir)
    browser = await launchBrowser([leaf.certPem])
  })

  after(async () => {
    await browser?.close()
    if (gateway?.child.exitCode === null) {
      gateway.child.kill('SIGTERM')
      await once(gateway.child, 'exit')
    }
    await target?.close()
    await idp?.close()
    await rm(dir, { recursive: true, force: true })
  })

  const readLog = async (): Promise<LogLine[]> =>
    (await readFile(log, 'utf8').catch(() => ''))
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as LogLine)

  test('authenticate-oidc login, identity headers at the target, logout: every gateway response over h2', async () => {
    const origin = `https://localhost:${port}`
    const { context, page, requests } = await newSession(browser)
    try {
      await page.goto(`${origin}/app/reports?team=a%20b`)
      assert.ok(page.url().startsWith(`${idp.issuer}/interaction/`), page.url())
      await submitLoginForm(page, 'alice', 'alice-password', idp.issuer)

      assert.equal(page.url(), `${origin}/app/reports?team=a%20b`)
      assert.ok(
        requests.some((url) => url.startsWith(`${origin}/oauth2/idpresponse?`)),
        'the callback went through',
      )
      // Evaluated in the page (DOM types, which this Node project does not compile against).
      const protocol = await page.evaluate<string>("performance.getEntriesByType('navigation')[0].nextHopProtocol")
      assert.equal(protocol, 'h2', 'the page was loaded over HTTP/2')
      assert.equal(
        await page.locator('main').textContent(),
        `identity=${ALICE_SUB} data-parts=3 access-token=yes target-http=1.1`,
      )
      assert.ok((await cookieNames(context, 'localhost')).includes('AWSELBAuthSessionCookie-0'))

      // A fetch from the page rides the same h2 connection, with the session.
      const fetched = await page.evaluate<{ status: number; text: string; protocol: string }>(`(async () => {
        const response = await fetch('/app/again')
        const text = await response.text()
        const entry = performance.getEntriesByType('resource').at(-1)
        return { status: response.status, text, protocol: entry.nextHopProtocol }
      })()`)
      assert.equal(fetched.status, 200)
      assert.equal(fetched.protocol, 'h2')
      assert.match(fetched.text, new RegExp(`identity=${ALICE_SUB}`))

      // Logout: the gateway ends the session and sends the browser through the IdP's end_session back to /bye.
      await Promise.all([page.waitForURL(`${origin}/bye`), page.goto(`${origin}/app/logout`)])
      assert.equal(await page.locator('main').textContent(), 'signed out')
      assert.ok(
        requests.some((url) => url.startsWith(`${idp.issuer}/session/end`)),
        'the IdP session was ended',
      )
      assert.ok(!(await cookieNames(context, 'localhost')).includes('AWSELBAuthSessionCookie-0'))
      const afterLogout = await page.evaluate(async () => (await fetch('/app/again', { redirect: 'manual' })).type)
      assert.equal(afterLogout, 'opaqueredirect', 'without the session the gateway redirects to the IdP again')

      // ALB's access log: each of those requests, and the login's redirect and callback, as `h2` / `HTTP/2.0`.
      // first visit (302), callback (302), page, fetch, logout (302), /bye, fetch after logout (302)
      const expected = 7
      const flowLines = async () => (await readLog()).filter((l) => !l.request.includes('/favicon.ico')).length
      await waitFor(async () => (await flowLines()) >= expected, 'the access log lines')
      // Chromium may ask for /favicon.ico on its own (the default rule's 404): not part of the flow.
      const lines = (await readLog()).filter((l) => !l.request.includes('/favicon.ico'))
      assert.deepEqual(
        lines.map((l) => [l.type, l.elb_status_code, l.request.replace(/\?.*? /, '?… ')]),
        [
          ['h2', 302, `GET ${origin}/app/reports?… HTTP/2.0`],
          ['h2', 302, `GET ${origin}/oauth2/idpresponse?… HTTP/2.0`],
          ['h2', 200, `GET ${origin}/app/reports?… HTTP/2.0`],
          ['h2', 200, `GET ${origin}/app/again HTTP/2.0`],
          ['h2', 302, `GET ${origin}/app/logout HTTP/2.0`],
          ['h2', 200, `GET ${origin}/bye HTTP/2.0`],
          ['h2', 302, `GET ${origin}/app/again HTTP/2.0`],
        ],
      )
    } finally {
      await context.close()
    }
  })
})
