/**
 * The development OpenID provider: `oidc-provider` (a certified OpenID
 * Connect implementation) configured for local use, with its own
 * server-rendered login form, consent granted automatically to the
 * configured clients, and a couple of demo users.
 *
 * Everything it knows lives in memory: signing keys, sessions, codes and
 * tokens are new on every start. Relying parties re-read the JWKS when they
 * meet an unknown key id, and a refresh token from before a restart simply
 * fails, which sends the user through the login again.
 */
import { randomBytes } from 'node:crypto'
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { exportJWK, generateKeyPair } from 'jose'
import type { Configuration, KoaContextWithOIDC, default as Provider } from 'oidc-provider'
import { createMemoryAdapter } from 'oidc-provider/lib/adapters/memory_adapter.js'
import type { Logger } from 'pino'
import { isLoopbackHost } from '../values/loopback.js'
import { escapeHtml, PAGE_CSP, page, sendHtml } from './html.js'
import { DEFAULT_DEV_USERS, type DevUser, DevUserDirectory, SCOPE_CLAIMS, userClaims } from './users.js'

let oidcProvider: Promise<typeof import('oidc-provider')> | undefined

/**
 * oidc-provider, loaded on first use (so that `demo --print-config` never
 * loads it). Loading it on Node 20 prints "Unsupported runtime. Use Node.js
 * v22.x LTS": Portcullis says what that means for its users itself, once
 * (`cli/runtime.ts`), so that one line is held back while the module loads;
 * anything else it prints passes.
 */
function loadOidcProvider(): Promise<typeof import('oidc-provider')> {
  oidcProvider ??= (async () => {
    const warn = console.warn
    console.warn = (...args: unknown[]) => {
      if (!String(args[0]).includes('oidc-provider WARNING: Unsupported runtime')) warn(...args)
    }
    try {
      return await import('oidc-provider')
    } finally {
      console.warn = warn
    }
  })()
  return oidcProvider
}

/** A relying party registered with the development provider (a confidential web client). */
export interface DevClient {
  readonly clientId: string
  readonly clientSecret: string
  /** Exact redirect URIs, e.g. `https://localhost:8443/oauth2/idpresponse`. */
  readonly redirectUris: readonly string[]
  /**
   * Where `/session/end` may send the user afterwards. Default: the origin of
   * each redirect URI followed by `/`.
   */
  readonly postLogoutRedirectUris?: readonly string[]
  /** Default `client_secret_basic`, as ALB uses. */
  readonly tokenEndpointAuthMethod?: 'client_secret_basic' | 'client_secret_post'
}

/** What {@link createDevIdentityProvider} serves: its clients, users, address and issuer. */
export interface DevIdentityProviderOptions {
  /** The issuer identifier; default the URL it listens on. Must be an origin (no path). */
  readonly issuer?: string
  /** Address to bind; default `127.0.0.1`. */
  readonly host?: string
  /** Port to bind; default 0 (an ephemeral port). */
  readonly port?: number
  readonly clients: readonly DevClient[]
  /** Default {@link DEFAULT_DEV_USERS}. */
  readonly users?: readonly DevUser[]
  /** Access-token lifetime, default 600 s. Short values exercise the relying party's refresh. */
  readonly accessTokenTtlSeconds?: number
  /** ID-token lifetime, default 3600 s. */
  readonly idTokenTtlSeconds?: number
  /** Refresh-token lifetime, default 86400 s. */
  readonly refreshTokenTtlSeconds?: number
  /**
   * Issue a refresh token with every code exchange (without requiring the
   * `offline_access` scope, which ALB's default `openid` scope lacks). Default true.
   */
  readonly refreshTokens?: boolean
  /** Replace the refresh token on every use (and revoke the grant when an old one is replayed). Default false. */
  readonly rotateRefreshTokens?: boolean
  /** Refuse authorization requests without PKCE. Default false. */
  readonly requirePkce?: boolean
  /** Serve HTTPS with this certificate chain and key; plain HTTP (loopback addresses only) otherwise. */
  readonly tls?: { readonly certPem: string; readonly keyPem: string }
  /** Where unexpected server errors are logged; silent when absent. */
  readonly logger?: Logger
}

/** The endpoints of a running provider, as its discovery document lists them. */
export interface DevIdentityProviderEndpoints {
  readonly discovery: string
  readonly authorization: string
  readonly token: string
  readonly userinfo: string
  readonly jwks: string
  readonly endSession: string
}

/** A running development OpenID provider: its endpoints, users, and how to stop it. */
export interface DevIdentityProvider {
  /** The issuer identifier (`iss` of its ID tokens). */
  readonly issuer: string
  /** The URL it listens on. */
  readonly url: string
  readonly endpoints: DevIdentityProviderEndpoints
  readonly users: readonly DevUser[]
  /** Stops listening and closes every open connection. */
  close(): Promise<void>
}

/** `/interaction/{uid}` and its two form targets. */
const INTERACTION_ROUTE = /^\/interaction\/([A-Za-z0-9_-]{1,64})(\/login|\/abort)?$/
const MAX_FORM_BYTES = 8 * 1024

/**
 * The endpoints a development provider with this issuer serves, known before it starts
 * (`portcullis demo --print-config` prints them without starting one).
 *
 * @example
 * ```ts
 * devProviderEndpoints('https://localhost:9443').token // 'https://localhost:9443/token'
 * ```
 */
export function devProviderEndpoints(issuer: string): DevIdentityProviderEndpoints {
  return {
    discovery: `${issuer}/.well-known/openid-configuration`,
    authorization: `${issuer}/auth`,
    token: `${issuer}/token`,
    userinfo: `${issuer}/me`,
    jwks: `${issuer}/jwks`,
    endSession: `${issuer}/session/end`,
  }
}

function originIssuer(issuer: string): string {
  const url = new URL(issuer)
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new TypeError(`issuer must be http(s): ${issuer}`)
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '' || url.username !== '') {
    throw new TypeError(`issuer must be an origin without path, query or credentials: ${issuer}`)
  }
  return url.origin
}

function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host
}

function defaultPostLogoutUris(client: DevClient): string[] {
  return [...new Set(client.redirectUris.map((uri) => `${new URL(uri).origin}/`))]
}

/** Reads an `application/x-www-form-urlencoded` body of at most {@link MAX_FORM_BYTES}. */
async function readForm(req: IncomingMessage): Promise<URLSearchParams | 413 | 415> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
  if (type !== 'application/x-www-form-urlencoded') return 415
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_FORM_BYTES) return 413
    chunks.push(chunk)
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'))
}

function loginPage(uid: string, clientId: string, users: readonly DevUser[], username: string, error?: string): string {
  const hints = users
    .map((user) => `<code>${escapeHtml(user.username)}</code> / <code>${escapeHtml(user.password)}</code>`)
    .join(', ')
  return page(
    'Sign in · Portcullis development IdP',
    `<div class="card narrow">
<h1>Sign in</h1>
<p class="muted">to continue to <strong>${escapeHtml(clientId)}</strong></p>
${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/interaction/${escapeHtml(uid)}/login" autocomplete="off">
<label for="username">Username</label>
<input id="username" name="username" type="text" value="${escapeHtml(username)}" autocomplete="username" autofocus required>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<div class="actions"><button type="submit">Sign in</button><button type="submit" form="abort" class="secondary">Cancel</button></div>
</form>
<form id="abort" method="post" action="/interaction/${escapeHtml(uid)}/abort"></form>
<p class="muted hint">Portcullis development identity provider. Demo users: ${hints}.</p>
</div>`,
  )
}

function messagePage(title: string, message: string, more = ''): string {
  return page(
    `${title} · Portcullis development IdP`,
    `<div class="card narrow"><h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p>${more}</div>`,
  )
}

/** The error page for a redirect URI the client did not register: what arrived, and how to allow it. */
function unregisteredRedirectPage(ctx: KoaContextWithOIDC, description: string): string {
  const received = ctx.oidc?.params?.redirect_uri ?? ctx.query.redirect_uri
  const uri = typeof received === 'string' ? received : '(none)'
  const clientId = ctx.oidc?.client?.clientId ?? ctx.query.client_id
  return messagePage(
    'invalid_redirect_uri',
    description,
    `<p>Received: <code>${escapeHtml(uri)}</code>${typeof clientId === 'string' ? ` for client <code>${escapeHtml(clientId)}</code>` : ''}.</p>
<p>To allow it, start the provider with <code>portcullis idp --redirect-uri ${escapeHtml(shellQuote(uri))}</code> (repeat the option for several; they add to the defaults), or add it to the client's <code>redirectUris</code>. A gateway sends <code>https://HOST:PORT/oauth2/idpresponse</code> with the host name the browser used; <code>portcullis start</code> and <code>portcullis validate</code> print it.</p>`,
  )
}

/** Single-quotes a value for a POSIX shell. */
function shellQuote(value: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(value) ? value : `'${value.replace(/'/g, "'\\''")}'`
}

/**
 * The logout page. A request that names a registered client and one of its
 * registered post-logout URIs comes from the application's own logout button,
 * so it is confirmed at once (a script with a nonce submits the form; without
 * scripts the button remains). Anything else asks first. The cost, someone
 * else's page signing a user out of an in-memory development provider, is
 * accepted for a demo that otherwise asks "Sign out?" after every logout.
 */
function logoutPage(ctx: KoaContextWithOIDC, form: string): void {
  const params = ctx.oidc.params as { post_logout_redirect_uri?: unknown } | undefined
  const automatic = ctx.oidc.client !== undefined && typeof params?.post_logout_redirect_uri === 'string'
  const nonce = randomBytes(16).toString('base64')
  ctx.set('content-security-policy', automatic ? `${PAGE_CSP}; script-src 'nonce-${nonce}'` : PAGE_CSP)
  ctx.type = 'html'
  const script = automatic
    ? `<script nonce="${nonce}">document.getElementById('op.logoutForm').requestSubmit(document.getElementById('op.logoutYes'))</script>`
    : ''
  ctx.body = page(
    'Sign out · Portcullis development IdP',
    `<div class="card narrow"><h1>${automatic ? 'Signing out…' : 'Sign out?'}</h1>
<p>You are signed in to the Portcullis development identity provider at <code>${escapeHtml(ctx.host)}</code>.</p>
${form}
<button autofocus type="submit" form="op.logoutForm" value="yes" name="logout" id="op.logoutYes">Yes, sign me out</button>
<button type="submit" form="op.logoutForm" class="secondary">No, stay signed in</button></div>${script}`,
  )
}

/**
 * Starts the development OpenID provider and resolves once it is listening.
 *
 * Endpoints (under the issuer): discovery at `/.well-known/openid-configuration`,
 * `/auth`, `/token`, `/me` (userinfo), `/jwks`, `/session/end`. Scopes
 * `openid`, `email`, `profile`, `groups`, `offline_access`.
 *
 * @example
 * ```ts
 * const idp = await createDevIdentityProvider({
 *   clients: [{ clientId: 'app', clientSecret: 's3cret', redirectUris: ['https://localhost:8443/oauth2/idpresponse'] }],
 * })
 * console.log(idp.endpoints.authorization) // http://127.0.0.1:PORT/auth
 * await idp.close()
 * ```
 */
export async function createDevIdentityProvider(options: DevIdentityProviderOptions): Promise<DevIdentityProvider> {
  if (options.clients.length === 0) throw new TypeError('the development provider needs at least one client')
  const users = options.users ?? DEFAULT_DEV_USERS
  const directory = new DevUserDirectory(users)
  const host = options.host ?? '127.0.0.1'
  if (!options.tls && !isLoopbackHost(host)) {
    throw new TypeError(`plain HTTP is for loopback addresses only; give tls to listen on ${host}`)
  }
  const logger = options.logger

  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => {
    res.statusCode = 503
    res.end()
  }
  const listener = (req: IncomingMessage, res: ServerResponse) => handler(req, res)
  const server: Server = options.tls
    ? createHttpsServer({ cert: options.tls.certPem, key: options.tls.keyPem, minVersion: 'TLSv1.2' }, listener)
    : createHttpServer(listener)
  server.headersTimeout = 10_000
  server.requestTimeout = 30_000
  server.keepAliveTimeout = 5_000

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const { port } = server.address() as AddressInfo
  const url = `${options.tls ? 'https' : 'http'}://${urlHost(host)}:${port}`
  const close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    })

  try {
    const issuer = originIssuer(options.issuer ?? url)
    const provider = await buildProvider(issuer, options, directory)
    provider.on('server_error', (_ctx: unknown, error: Error) => logger?.error({ err: error }, 'development IdP error'))
    const providerHandler = provider.callback()
    handler = (req, res) => {
      const match = INTERACTION_ROUTE.exec((req.url ?? '/').split('?')[0]!)
      if (match) {
        interaction(provider, directory, users, match[1]!, match[2], req, res).catch((error: unknown) => {
          logger?.error({ err: error }, 'development IdP interaction error')
          if (!res.headersSent) sendHtml(res, 500, messagePage('Something went wrong', 'Please try again.'))
          else res.destroy()
        })
        return
      }
      void providerHandler(req, res)
    }
    return { issuer, url, endpoints: devProviderEndpoints(issuer), users, close }
  } catch (error) {
    await close()
    throw error
  }
}

async function buildProvider(
  issuer: string,
  options: DevIdentityProviderOptions,
  directory: DevUserDirectory,
): Promise<Provider> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true })
  const signingKey = { ...(await exportJWK(privateKey)), kid: randomBytes(8).toString('hex'), alg: 'RS256', use: 'sig' }
  const refreshTokens = options.refreshTokens ?? true
  const rotate = options.rotateRefreshTokens ?? false
  const requirePkce = options.requirePkce ?? false

  const configuration: Configuration = {
    adapter: createMemoryAdapter(),
    clients: options.clients.map((client) => ({
      client_id: client.clientId,
      client_secret: client.clientSecret,
      redirect_uris: [...client.redirectUris],
      post_logout_redirect_uris: [...(client.postLogoutRedirectUris ?? defaultPostLogoutUris(client))],
      grant_types: refreshTokens ? ['authorization_code', 'refresh_token'] : ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: client.tokenEndpointAuthMethod ?? 'client_secret_basic',
    })),
    jwks: { keys: [signingKey as never] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    claims: Object.fromEntries(Object.entries(SCOPE_CLAIMS).map(([scope, claims]) => [scope, [...claims]])),
    scopes: ['openid', 'offline_access', ...Object.keys(SCOPE_CLAIMS).filter((scope) => scope !== 'openid')],
    responseTypes: ['code'],
    pkce: { required: () => requirePkce },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx: KoaContextWithOIDC, form: string) => logoutPage(ctx, form),
        postLogoutSuccessSource: async (ctx: KoaContextWithOIDC) => {
          ctx.set('content-security-policy', PAGE_CSP)
          ctx.type = 'html'
          ctx.body = messagePage('Signed out', 'You have signed out of the development identity provider.')
        },
      },
    },
    renderError: async (ctx: KoaContextWithOIDC, out: { error: string; error_description?: string }) => {
      ctx.set('content-security-policy', PAGE_CSP)
      ctx.type = 'html'
      const description = out.error_description ?? 'The request could not be processed.'
      ctx.body =
        out.error === 'invalid_redirect_uri'
          ? unregisteredRedirectPage(ctx, description)
          : messagePage(out.error, description)
    },
    findAccount: async (_ctx: KoaContextWithOIDC, sub: string) => {
      const user = directory.bySub(sub)
      if (!user) return undefined
      const claims = userClaims(user)
      return { accountId: sub, claims: async () => ({ ...claims, sub }) }
    },
    interactions: {
      url: async (_ctx: KoaContextWithOIDC, interaction: { uid: string }) => `/interaction/${interaction.uid}`,
    },
    // The dev clients are first-party: grant whatever scopes and claims they ask for, so no consent screen appears.
    loadExistingGrant: async (ctx: KoaContextWithOIDC) => {
      const { oidc } = ctx
      const clientId = oidc.client!.clientId
      const accountId = oidc.account!.accountId
      const existingId = oidc.result?.consent?.grantId ?? oidc.session!.grantIdFor(clientId)
      const grant =
        (existingId ? await oidc.provider.Grant.find(existingId) : undefined) ??
        new oidc.provider.Grant({ clientId, accountId })
      grant.addOIDCScope([...oidc.requestParamOIDCScopes].join(' '))
      const claims = [...oidc.requestParamClaims]
      if (claims.length > 0) grant.addOIDCClaims(claims)
      await grant.save()
      return grant
    },
    issueRefreshToken: async (_ctx: KoaContextWithOIDC, client: { grantTypeAllowed(type: string): boolean }) =>
      refreshTokens && client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: () => rotate,
    ttl: {
      AccessToken: options.accessTokenTtlSeconds ?? 600,
      AuthorizationCode: 60,
      IdToken: options.idTokenTtlSeconds ?? 3600,
      RefreshToken: options.refreshTokenTtlSeconds ?? 86_400,
      Interaction: 900,
      Session: 86_400,
      Grant: 86_400,
    },
  }
  const { default: OidcProvider } = await loadOidcProvider()
  const provider = new OidcProvider(issuer, configuration)
  // Koa would print every error to stderr; oidc-provider reports them through `server_error` instead.
  provider.silent = true
  return provider
}

async function interaction(
  provider: Provider,
  directory: DevUserDirectory,
  users: readonly DevUser[],
  uid: string,
  action: string | undefined,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const expectedMethod = action ? 'POST' : 'GET'
  if (req.method !== expectedMethod) {
    res.setHeader('allow', expectedMethod)
    sendHtml(res, 405, messagePage('Method not allowed', `Use ${expectedMethod} here.`))
    return
  }
  let details: Awaited<ReturnType<Provider['interactionDetails']>>
  try {
    details = await provider.interactionDetails(req, res)
  } catch {
    sendHtml(
      res,
      400,
      messagePage(
        'This sign-in has expired',
        'Go back to the application and start again; sign-in links work once, for 15 minutes.',
      ),
    )
    return
  }
  if (details.uid !== uid) {
    sendHtml(res, 400, messagePage('This sign-in does not match', 'Go back to the application and start again.'))
    return
  }
  const clientId = String(details.params.client_id ?? '')
  if (details.prompt.name !== 'login') {
    // loadExistingGrant grants every request of a dev client, so only the login prompt ever reaches this page.
    await provider.interactionFinished(
      req,
      res,
      { error: 'interaction_required', error_description: `unsupported prompt ${details.prompt.name}` },
      { mergeWithLastSubmission: false },
    )
    return
  }
  if (action === undefined) {
    sendHtml(res, 200, loginPage(uid, clientId, users, ''))
    return
  }
  if (action === '/abort') {
    await provider.interactionFinished(
      req,
      res,
      { error: 'access_denied', error_description: 'The user cancelled the sign-in.' },
      { mergeWithLastSubmission: false },
    )
    return
  }
  const form = await readForm(req)
  if (form === 413) {
    sendHtml(res, 413, messagePage('Too large', 'The form was larger than a sign-in form can be.'))
    return
  }
  if (form === 415) {
    sendHtml(res, 415, messagePage('Unsupported form', 'Submit the sign-in form from its page.'))
    return
  }
  const username = form.get('username') ?? ''
  const user = directory.authenticate(username, form.get('password') ?? '')
  if (!user) {
    sendHtml(res, 200, loginPage(uid, clientId, users, username, 'Wrong username or password.'))
    return
  }
  await provider.interactionFinished(
    req,
    res,
    { login: { accountId: user.sub, amr: ['pwd'] } },
    { mergeWithLastSubmission: false },
  )
}
