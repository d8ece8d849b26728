import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { pino } from 'pino'
import type { Browser } from 'playwright-core'
import { type RunningDemo, startDemo } from '../../src/demo/demo.js'
import { cookieNames, launchBrowser, newSession, submitLoginForm } from './browser.js'

/**
 * The demo as a person uses it: Chromium, the provider's real login form,
 * the gateway's real cookies, the target's real verification.
 */
describe('portcullis demo in a real browser', () => {
  let state: string
  let demo: RunningDemo
  let browser: Browser

  before(async () => {
    state = await mkdtemp(join(tmpdir(), 'portcullis-e2e-'))
    demo = await startDemo({
      logger: pino({ level: 'warn' }),
      stateDirectory: state,
      port: 0,
      idpPort: 0,
      adminPort: 0,
    })
    browser = await launchBrowser([await readFile(demo.config.listeners[0]!.certificates[0]!.certificateFile, 'utf8')])
  })
  after(async () => {
    await browser?.close()
    await demo?.close()
    await rm(state, { recursive: true, force: true })
  })

  test('login through the provider form lands on the original path and query, with verified claims', async () => {
    const { context, page, requests } = await newSession(browser)
    try {
      await page.goto(`${demo.url}reports/2024?team=a%20b&sort=desc`)
      assert.ok(page.url().startsWith(`${demo.idp.issuer}/interaction/`), page.url())
      assert.equal(await page.title(), 'Sign in · Portcullis development IdP')
      await submitLoginForm(page, 'alice', 'alice-password', demo.idp.issuer)

      assert.equal(page.url(), `${demo.url}reports/2024?team=a%20b&sort=desc`)
      assert.ok(requests.some((url) => url.startsWith(`${demo.url}oauth2/idpresponse?`)))
      const main = page.locator('main')
      await assert.doesNotReject(main.getByText('x-amzn-oidc-data verified').waitFor())
      const text = (await main.textContent()) ?? ''
      assert.match(text, /Signed in as Alice Example/)
      assert.match(text, /alice@example\.com/)
      assert.match(text, /6f1c3b0e-7d2a-4c55-9e4b-2a9f1d3c8b71/)
      assert.ok((await cookieNames(context, 'localhost')).includes('AWSELBAuthSessionCookie-0'))
      // The nonce cookie of the login round trip is gone once it is used.
      assert.ok(!(await cookieNames(context, 'localhost')).includes('AWSALBAuthNonce'))
    } finally {
      await context.close()
    }
  })

  test('a wrong password keeps the user on the provider form with an error', async () => {
    const { context, page } = await newSession(browser)
    try {
      await page.goto(demo.url)
      await page.locator('#username').fill('alice')
      await page.locator('#password').fill('not-her-password')
      await page.locator('button[type=submit]', { hasText: 'Sign in' }).click()
      await page.getByRole('alert').waitFor()
      assert.equal((await page.getByRole('alert').textContent()) ?? '', 'Wrong username or password.')
      assert.ok(page.url().startsWith(demo.idp.issuer))
      await submitLoginForm(page, 'alice', 'alice-password', demo.idp.issuer)
      assert.equal(page.url(), demo.url)
    } finally {
      await context.close()
    }
  })

  test('cancelling at the provider ends at the gateway with status 561 and no session', async () => {
    const { context, page } = await newSession(browser)
    try {
      await page.goto(`${demo.url}private`)
      const [response] = await Promise.all([
        page.waitForResponse((candidate) => candidate.url().startsWith(`${demo.url}oauth2/idpresponse?`)),
        page.getByRole('button', { name: 'Cancel' }).click(),
      ])
      assert.equal(response.status(), 561)
      assert.ok(new URL(response.url()).searchParams.get('error') === 'access_denied')
      assert.deepEqual(
        (await cookieNames(context, 'localhost')).filter((name) => name.startsWith('AWSELBAuthSessionCookie')),
        [],
      )
    } finally {
      await context.close()
    }
  })

  test('deny: /api/whoami answers fetch() with 401 without a session and with claims with one', async () => {
    const { context, page } = await newSession(browser)
    try {
      await page.goto(`${demo.url}public`)
      const anonymous = await page.evaluate(async () => {
        const response = await fetch('/api/whoami')
        return { status: response.status, redirected: response.redirected }
      })
      assert.deepEqual(anonymous, { status: 401, redirected: false })

      await page.goto(demo.url)
      await submitLoginForm(page, 'bob', 'bob-password', demo.idp.issuer)
      const signedIn = await page.evaluate(async () => {
        const response = await fetch('/api/whoami')
        return { status: response.status, body: (await response.json()) as { claims: { email: string } } }
      })
      assert.equal(signedIn.status, 200)
      assert.equal(signedIn.body.claims.email, 'bob@example.com')
    } finally {
      await context.close()
    }
  })

  test('allow: /public is served anonymously without a session and shows the user with one', async () => {
    const { context, page, requests } = await newSession(browser)
    try {
      await page.goto(`${demo.url}public`)
      assert.equal(page.url(), `${demo.url}public`)
      assert.match((await page.locator('main').textContent()) ?? '', /anonymous/)
      assert.ok(!requests.some((url) => url.startsWith(demo.idp.issuer)), 'allow never redirects to the provider')
      // Identity headers a page tries to send itself never reach the target.
      const spoofed = await page.evaluate(async () => {
        const response = await fetch('/public', {
          headers: { 'X-Amzn-Oidc-Data': 'e30=.e30=.AAAA', 'x-amzn-oidc-identity': 'admin' },
        })
        return response.text()
      })
      assert.match(spoofed, /anonymous/)
      assert.doesNotMatch(spoofed, /rejected/)

      await page.goto(demo.url)
      await submitLoginForm(page, 'alice', 'alice-password', demo.idp.issuer)
      await page.goto(`${demo.url}public`)
      const text = (await page.locator('main').textContent()) ?? ''
      assert.match(text, /Signed in as Alice Example/)
      assert.match(text, /x-amzn-oidc-data verified/)
    } finally {
      await context.close()
    }
  })

  test('logout expires every shard, ends the provider session without asking again, and offers to sign in again', async () => {
    const { context, page, requests } = await newSession(browser)
    try {
      await page.goto(demo.url)
      await submitLoginForm(page, 'alice', 'alice-password', demo.idp.issuer)
      assert.ok((await cookieNames(context, 'localhost')).some((name) => name.startsWith('AWSELBAuthSessionCookie-')))

      // One click: the provider confirms on its own (no "Sign out?" question) and sends the browser back.
      await Promise.all([
        page.waitForURL(`${demo.url}public/signed-out`),
        page.getByRole('button', { name: 'Log out' }).click(),
      ])
      assert.ok(requests.some((url) => url.startsWith(`${demo.idp.issuer}/session/end`)))
      assert.deepEqual(
        (await cookieNames(context, 'localhost')).filter((name) => name.startsWith('AWSELBAuthSessionCookie')),
        [],
      )
      assert.equal(await page.getByRole('heading').textContent(), 'You are signed out')

      // The provider session ended too, so signing in again shows the form instead of signing in silently.
      await page.getByRole('link', { name: 'Sign in again' }).click()
      await page.waitForURL((url) => url.href.startsWith(`${demo.idp.issuer}/interaction/`))
      await page.locator('#username').waitFor()
      await submitLoginForm(page, 'bob', 'bob-password', demo.idp.issuer)
      assert.equal(page.url(), demo.url)
    } finally {
      await context.close()
    }
  })
})
