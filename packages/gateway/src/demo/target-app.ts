/**
 * The demo target: a small node:http application that does what the seed
 * article asks of every application behind ALB. It verifies
 * `x-amzn-oidc-data` with `@portcullis/verify` (signer, client and issuer
 * pinned, key fetched from the gateway's key endpoint by `kid`), shows the
 * verified claims and the raw identity headers, and logs out the way the
 * contract describes: expire every shard of the session cookie, then send
 * the user to the IdP's end-session endpoint.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import {
  type AlbClaims,
  type AlbVerifier,
  createAlbVerifier,
  isAlbVerifyError,
  parseAlbToken,
} from '@portcullis/verify'
import { expiredCookie } from '../headers/set-cookie.js'
import { escapeHtml, page, sendHtml } from '../idp/html.js'

/** Options of {@link startDemoTarget}. */
export interface DemoTargetOptions {
  /** Address to bind; default `127.0.0.1`. */
  readonly host?: string
  /** Port; default 0 (ephemeral). */
  readonly port?: number
  /** The gateway's load balancer ARN: the only `signer` accepted. */
  readonly signer: string
  /** The IdP issuer configured on the gateway's rules. */
  readonly issuer: string
  /** The OIDC client id configured on the gateway's rules. */
  readonly clientId: string
  /** Base URL the signing keys are fetched from (`{keyEndpoint}/{kid}`), e.g. `http://127.0.0.1:9800/keys`. */
  readonly keyEndpoint: string
  /** The IdP's end-session (logout) endpoint. */
  readonly endSessionEndpoint: string
  /** Where the IdP sends the user after logout (the gateway's origin and {@link SIGNED_OUT_PATH}); must be registered with the IdP. */
  readonly postLogoutRedirectUri: string
  /** Session cookie names whose shards logout expires. Default `['AWSELBAuthSessionCookie']`. */
  readonly sessionCookieNames?: readonly string[]
}

/** A running demo target. */
export interface DemoTarget {
  /** `http://127.0.0.1:PORT` */
  readonly url: string
  readonly port: number
  close(): Promise<void>
}

/** Outcome of checking one request's identity headers. */
type Identity =
  | { readonly kind: 'anonymous' }
  | { readonly kind: 'verified'; readonly claims: AlbClaims }
  | { readonly kind: 'rejected'; readonly code: string; readonly message: string }

/** ALB shards a session cookie into at most four cookies, `NAME-0` … `NAME-3`. */
const SHARDS = 4
const IDENTITY_HEADERS = ['x-amzn-oidc-data', 'x-amzn-oidc-identity', 'x-amzn-oidc-accesstoken'] as const

async function identify(verifier: AlbVerifier, req: IncomingMessage): Promise<Identity> {
  if (IDENTITY_HEADERS.every((name) => req.headers[name] === undefined)) return { kind: 'anonymous' }
  try {
    const { claims } = await verifier.verifyRequest(req.headers)
    return { kind: 'verified', claims }
  } catch (error) {
    if (isAlbVerifyError(error)) return { kind: 'rejected', code: error.code, message: error.message }
    throw error
  }
}

function claimValue(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value)
}

function displayName(claims: AlbClaims): string {
  for (const name of ['name', 'preferred_username', 'email', 'sub']) {
    const value = claims[name]
    if (typeof value === 'string' && value !== '') return value
  }
  return 'unknown user'
}

function statusSection(identity: Identity): string {
  switch (identity.kind) {
    case 'verified':
      return `<p class="ok">✔ x-amzn-oidc-data verified: signature, signer, client, issuer and expiry all check out.</p>
<p>Signed in as <strong>${escapeHtml(displayName(identity.claims))}</strong>.</p>`
    case 'rejected':
      return `<p class="error">✘ Identity headers present but rejected: <code>${escapeHtml(identity.code)}</code></p>
<p class="muted">${escapeHtml(identity.message)}</p>`
    case 'anonymous':
      return '<p>Not authenticated: no identity headers on this request (<strong>anonymous</strong>).</p>'
  }
}

function claimsTable(identity: Identity): string {
  if (identity.kind !== 'verified') return ''
  const rows = Object.entries(identity.claims)
    .map(
      ([name, value]) => `<tr><th>${escapeHtml(name)}</th><td><code>${escapeHtml(claimValue(value))}</code></td></tr>`,
    )
    .join('')
  return `<div class="card"><h2>Verified claims</h2><table>${rows}</table></div>`
}

function tokenHeaderTable(token: string | undefined): string {
  if (token === undefined) return ''
  try {
    const { header } = parseAlbToken(token)
    const rows = Object.entries(header)
      .map(
        ([name, value]) =>
          `<tr><th>${escapeHtml(name)}</th><td><code>${escapeHtml(claimValue(value))}</code></td></tr>`,
      )
      .join('')
    return `<h2>Token header (decoded)</h2><table>${rows}</table>`
  } catch {
    return ''
  }
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name]
  return Array.isArray(value) ? value.join(', ') : value
}

function headersSection(req: IncomingMessage): string {
  const rows = [...IDENTITY_HEADERS, 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-port', 'x-amzn-trace-id']
    .map((name) => {
      const value = headerValue(req, name)
      return `<tr><th>${escapeHtml(name)}</th><td>${value === undefined ? '<span class="muted">(absent)</span>' : `<pre>${escapeHtml(value)}</pre>`}</td></tr>`
    })
    .join('')
  return `<div class="card"><h2>What the gateway sent</h2><table>${rows}</table>${tokenHeaderTable(headerValue(req, 'x-amzn-oidc-data'))}</div>`
}

/** Where the provider sends the browser after logout; under `/public` so that no login is needed to see it. */
export const SIGNED_OUT_PATH = '/public/signed-out'

function signedOutPage(): string {
  return page(
    'Signed out · Portcullis demo target',
    `<div class="card narrow"><h1>You are signed out</h1>
<p>Your session at the gateway and at the identity provider has ended.</p>
<p><a class="button" href="/">Sign in again</a></p></div>`,
  )
}

const NAV = `<nav><a href="/">Home</a><a href="/public">/public</a><a href="/api/whoami">/api/whoami</a></nav>`

function homePage(req: IncomingMessage, identity: Identity, path: string): string {
  const logout =
    identity.kind === 'verified'
      ? '<form method="post" action="/logout" class="inline"><button type="submit">Log out</button></form>'
      : ''
  return page(
    'Portcullis demo target',
    `<div class="card"><h1>Portcullis demo target</h1>
<p class="muted">You asked for <code>${escapeHtml(path)}</code>. This application sits behind the Portcullis gateway and verifies what it is told with <code>@portcullis/verify</code>.</p>
${statusSection(identity)}
${NAV}
${logout}</div>
${claimsTable(identity)}
${headersSection(req)}
<div class="card"><h2>The rules in front of this page</h2>
<p><code>/api/*</code>: authenticate-oidc with <code>OnUnauthenticatedRequest: deny</code>, so a request without a session gets 401 instead of a login redirect.</p>
<p><code>/public*</code>: <code>allow</code>, so it is served with or without a session.</p>
<p>Everything else: <code>authenticate</code>, so you are sent to the identity provider to sign in.</p></div>`,
  )
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const data = Buffer.from(`${JSON.stringify(body, null, 2)}\n`, 'utf8')
  res.statusCode = status
  res.setHeader('content-type', 'application/json; charset=utf-8')
  res.setHeader('content-length', data.length)
  res.setHeader('cache-control', 'no-store')
  res.end(data)
}

/** `Set-Cookie` values that expire every shard of each session cookie (contract §3, Logout). */
export function expireSessionCookies(names: readonly string[]): string[] {
  const cookies: string[] = []
  for (const name of names) {
    for (let shard = 0; shard < SHARDS; shard++) {
      cookies.push(expiredCookie(`${name}-${shard}`, { secure: true, httpOnly: true, sameSite: 'Lax' }))
    }
  }
  return cookies
}

/**
 * Starts the demo target application.
 *
 * Routes: `GET /api/whoami` (JSON), `POST /logout`, `GET /public/signed-out`
 * (where logout ends), and an HTML page for
 * every other `GET` path (`/public…` included) showing the verification
 * result, the verified claims and the raw identity headers.
 *
 * @example
 * ```ts
 * const target = await startDemoTarget({
 *   signer: config.loadBalancer.arn, issuer: idp.issuer, clientId: 'portcullis-demo',
 *   keyEndpoint: 'http://127.0.0.1:9800/keys', endSessionEndpoint: idp.endpoints.endSession,
 *   postLogoutRedirectUri: 'https://localhost:8443/public/signed-out',
 * })
 * ```
 */
export async function startDemoTarget(options: DemoTargetOptions): Promise<DemoTarget> {
  const verifier = createAlbVerifier({
    signer: options.signer,
    issuer: options.issuer,
    clientId: options.clientId,
    keyEndpoint: options.keyEndpoint,
  })
  const logoutCookies = expireSessionCookies(options.sessionCookieNames ?? ['AWSELBAuthSessionCookie'])
  const logoutUrl = new URL(options.endSessionEndpoint)
  logoutUrl.searchParams.set('client_id', options.clientId)
  logoutUrl.searchParams.set('post_logout_redirect_uri', options.postLogoutRedirectUri)
  const logoutLocation = logoutUrl.href

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0]!
    if (path === '/logout') {
      if (req.method !== 'POST') {
        res.setHeader('allow', 'POST')
        sendHtml(res, 405, page('Method not allowed', '<p>Log out with the button on the home page.</p>'))
        return
      }
      req.resume()
      res.statusCode = 303
      res.setHeader('set-cookie', logoutCookies)
      res.setHeader('location', logoutLocation)
      res.setHeader('cache-control', 'no-store')
      res.end()
      return
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD')
      sendJson(res, 405, { error: 'method not allowed' })
      return
    }
    if (path === SIGNED_OUT_PATH) {
      sendHtml(res, 200, signedOutPage())
      return
    }
    const identity = await identify(verifier, req)
    if (path === '/api/whoami') {
      if (identity.kind === 'verified') sendJson(res, 200, { authenticated: true, claims: identity.claims })
      else if (identity.kind === 'rejected') sendJson(res, 401, { authenticated: false, error: identity.code })
      else sendJson(res, 401, { authenticated: false })
      return
    }
    sendHtml(res, identity.kind === 'rejected' ? 401 : 200, homePage(req, identity, req.url ?? '/'))
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error' })
      else res.destroy()
    })
  })
  server.headersTimeout = 10_000
  server.requestTimeout = 30_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  const { port, address } = server.address() as AddressInfo
  return {
    url: `http://${address.includes(':') ? `[${address}]` : address}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
