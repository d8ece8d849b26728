/**
 * Real-browser helpers: Debian's Chromium driven by playwright-core (never a
 * downloaded browser build).
 *
 * Trust: instead of `ignoreHTTPSErrors` (which would accept any certificate,
 * hiding real TLS mistakes), the browser is told to accept exactly the public
 * keys of the local-CA leaf certificates the demo serves, with
 * `--ignore-certificate-errors-spki-list`. Everything else is still verified
 * as usual, and certificate names are still checked against the URL.
 */
import { createHash, X509Certificate } from 'node:crypto'
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core'

/** Debian's chromium; `PORTCULLIS_CHROMIUM` points elsewhere when needed. */
export const CHROMIUM_PATH = process.env.PORTCULLIS_CHROMIUM ?? '/usr/bin/chromium'

function spkiHash(certPem: string): string {
  const der = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' })
  return createHash('sha256').update(der).digest('base64')
}

/** Launches headless Chromium that trusts the given leaf certificates' keys and nothing extra. */
export function launchBrowser(trustedLeafPems: readonly string[]): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--ignore-certificate-errors-spki-list=${trustedLeafPems.map(spkiHash).join(',')}`,
    ],
  })
}

/** A fresh browser profile (no cookies) that records every URL its pages navigate or fetch. */
export async function newSession(
  browser: Browser,
): Promise<{ context: BrowserContext; page: Page; requests: string[] }> {
  const context = await browser.newContext({ ignoreHTTPSErrors: false })
  const page = await context.newPage()
  const requests: string[] = []
  page.on('request', (request) => requests.push(request.url()))
  return { context, page, requests }
}

/** On the provider's login form: fills it in and submits; resolves once the browser has left the provider. */
export async function submitLoginForm(page: Page, username: string, password: string, issuer: string): Promise<void> {
  await page.locator('#username').fill(username)
  await page.locator('#password').fill(password)
  await Promise.all([
    page.waitForURL((url) => !url.href.startsWith(issuer)),
    page.locator('button[type=submit]', { hasText: 'Sign in' }).click(),
  ])
}

/** Names of the cookies the browser holds for `host`. */
export async function cookieNames(context: BrowserContext, host: string): Promise<string[]> {
  return (await context.cookies()).filter((cookie) => cookie.domain === host).map((cookie) => cookie.name)
}
