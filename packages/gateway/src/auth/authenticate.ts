import { hash, randomBytes, timingSafeEqual } from 'node:crypto'
import { signAlbToken } from '@portcullis/verify/mint'
import * as oidc from 'openid-client'
import type { Logger } from 'pino'
import type { ActionHandler, ActionOutcome, RequestContext } from '../actions/types.js'
import type { AuthenticateCognitoAction, AuthenticateOidcAction, ListenerModel, RuleModel } from '../config/model.js'
import { sendError } from '../listeners/responses.js'
import { AuthError, sendRedirect } from './errors.js'
import { IdpClient } from './idp-client.js'
import { Lru } from './lru.js'
import type { Outbound } from './outbound.js'
import { requestHost, safeRedirectPath } from './redirects.js'
import type { SecretRing } from './secret-ring.js'
import {
  type CookieAttributes,
  clearCookie,
  clearSessionCookies,
  hasAnyShard,
  parseSealedObject,
  parseSessionData,
  readShards,
  SHARD_SIZE,
  setSessionCookies,
  shardNames,
} from './session-cookie.js'
import type { SigningKey } from './signing-keys.js'
import type { AuthMetrics, SessionData, StateData } from './types.js'

/** ALB's login-nonce cookie, checked against the nonce sealed in `state`. */
export const NONCE_COOKIE = 'AWSALBAuthNonce'
/** The user must finish logging in within 15 minutes (ALB, fixed). */
export const LOGIN_WINDOW_SECONDS = 900
/** User claims plus access token above this fail the login with 500 (ALB). */
export const MAX_CLAIMS_BYTES = 11 * 1024
/** Callback path on every HTTPS listener. */
export const CALLBACK_PATH = '/oauth2/idpresponse'

const STATE_AAD = Buffer.from('portcullis state')
const SESSION_CACHE_ENTRIES = 10_000
/** How long requests still carrying a just-refreshed cookie get the refreshed session. */
const REPLACEMENT_WINDOW_SECONDS = 60
const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'

/** State shared by every authenticate action of one runtime. */
export interface AuthShared {
  readonly logger: Logger
  readonly metrics: AuthMetrics | undefined
  readonly ring: SecretRing
  /** `LoadBalancer.Arn`: the `signer` of identity tokens. */
  readonly signer: string
  readonly allowInsecureHttp: boolean
  readonly outbound: Outbound
  /** Bound on every call to an IdP, in milliseconds. */
  readonly idpTimeoutMs: number
  /** The key that signs identity tokens now (changes on rotation). */
  signingKey(): SigningKey
  /** Compiled OIDC actions by `{rule ARN}#{order}`, for the callback. */
  readonly oidcActions: Map<string, OidcAuthenticateAction>
  /** Nonces of states already used at the callback (per process: replay protection). */
  readonly usedStates: Lru<string, true>
}

type OidcAction = AuthenticateOidcAction | AuthenticateCognitoAction

/** An opened session as cached per process, keyed by a hash of its cookie value. */
interface CachedSession {
  readonly session: SessionData
  /** Set when this cookie was refreshed: the new sealed value to hand back… */
  readonly replacement?: string
  /** …until this time (seconds); after it the old cookie is on its own again. */
  readonly replacedUntil?: number
  /** The session the old cookie carries, for when the replacement window has passed. */
  readonly previous?: SessionData
  /** Set when refreshing this cookie failed: no retry, the session is over. */
  readonly refreshFailed?: boolean
  /** The last identity token minted for this session. */
  identity?: { readonly token: string; readonly exp: number; readonly kid: string }
}

// Four variants, built once: HTTPS or opted-in HTTP, CORS or not.
const ATTRS = {
  secureLax: { secure: true, sameSite: 'Lax' },
  secureNone: { secure: true, sameSite: 'None' },
  plainLax: { secure: false, sameSite: 'Lax' },
} as const satisfies Record<string, CookieAttributes>

/**
 * Cookie attributes for this request: `Secure` except on the development
 * HTTP listener; `SameSite=None` for a CORS request (an `Origin` other than
 * the request's own, as ALB does), which browsers accept only with `Secure`.
 */
export function cookieAttributes(ctx: RequestContext): CookieAttributes {
  if (ctx.protocol !== 'https') return ATTRS.plainLax
  const origin = ctx.req.headers.origin
  if (origin === undefined) return ATTRS.secureLax
  return origin === `https://${requestHost(ctx.req) ?? ''}` ? ATTRS.secureLax : ATTRS.secureNone
}

/** Cache key of a sealed session: a digest, so the cache never holds the (up to 16 KB) cookie values. */
function sessionKey(sealed: string): string {
  return hash('sha256', sealed, 'base64url')
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000)
}

function randomAlphanumeric(length: number): string {
  // 62 does not divide 256: reject bytes >= 248 to stay unbiased.
  let out = ''
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248 && out.length < length) out += ALPHANUMERIC[byte % 62]
    }
  }
  return out
}

function claimsSize(claims: Record<string, unknown>, accessToken: string): number {
  return Buffer.byteLength(JSON.stringify(claims)) + Buffer.byteLength(accessToken)
}

function equalStrings(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

/** Records a refused or failed step, counts it and answers with its status. */
function fail(shared: AuthShared, ctx: RequestContext, err: AuthError): void {
  // ALB logs no error_reason for an IdP error (561); the metric still needs a label.
  if (err.reason !== '') ctx.record.errorReason = err.reason
  const label = err.reason === '' ? 'IdpError' : err.reason
  if (err.fault) shared.metrics?.authError(label)
  else shared.metrics?.authFailure(label)
  if (err.reason === 'AuthUserClaimsSizeExceeded') shared.metrics?.claimsSizeExceeded()
  if (!ctx.res.headersSent) sendError(ctx.res, err.status, ctx)
}

/**
 * The associated data a session cookie is sealed with: the cookie name, the
 * issuer and the client id of the action that created it.
 */
export function sessionAad(action: Pick<OidcAction, 'sessionCookieName' | 'issuer' | 'clientId'>): Buffer {
  return Buffer.from(`portcullis session\0${action.sessionCookieName}\0${action.issuer}\0${action.clientId}`)
}

/**
 * One compiled `authenticate-oidc` / `authenticate-cognito` action: checks the
 * session cookie, refreshes it, adds the identity headers, or starts a login,
 * following `OnUnauthenticatedRequest` (contract §5).
 */
export class OidcAuthenticateAction implements ActionHandler {
  readonly #shared: AuthShared
  readonly #rule: RuleModel
  readonly #action: OidcAction
  readonly #idp: IdpClient
  readonly #names: readonly string[]
  readonly #aad: Buffer
  readonly #sessions = new Lru<string, CachedSession>(SESSION_CACHE_ENTRIES)
  readonly #refreshes = new Map<string, Promise<CachedSession | undefined>>()
  readonly #reuseMargin: number
  readonly #extraParams: Readonly<Record<string, string>>
  readonly #log: Logger

  constructor(shared: AuthShared, rule: RuleModel, action: OidcAction, listener: ListenerModel) {
    if (listener.protocol !== 'HTTPS' && !shared.allowInsecureHttp) {
      throw new Error(`${action.type} on HTTP listener ${listener.id} needs the development opt-in`)
    }
    this.#shared = shared
    this.#rule = rule
    this.#action = action
    this.#log = shared.logger.child({ rule: rule.arn, cookie: action.sessionCookieName })
    this.#idp = new IdpClient(action, shared.outbound, {
      allowInsecureHttp: shared.allowInsecureHttp,
      logger: this.#log,
      timeoutMs: shared.idpTimeoutMs,
    })
    this.#names = shardNames(action.sessionCookieName)
    // The cookie name, the issuer and the client id are authenticated with the
    // value: a session is only ever opened by an action of the same IdP and
    // client that created it, whatever cookie name, rule or listener it is
    // replayed under (two IdPs on the default cookie name share the cookie,
    // and cookies are not separated by port). A mismatch is simply no session.
    this.#aad = sessionAad(action)
    this.#reuseMargin = Math.min(30, Math.floor(action.identityTokenLifetimeSeconds / 2))
    this.#extraParams = action.authenticationRequestExtraParams
  }

  /** `{rule ARN}#{order}`: how the callback finds this action from `state`. */
  get key(): string {
    return `${this.#rule.arn}#${this.#action.order}`
  }

  async run(ctx: RequestContext): Promise<ActionOutcome> {
    const cookies = ctx.cookies
    const raw = readShards(cookies, this.#names)
    let entry: CachedSession | undefined
    let cacheKey: string | undefined
    if (raw !== undefined) {
      cacheKey = sessionKey(raw)
      entry = this.#sessions.get(cacheKey) ?? (await this.#open(raw, cacheKey))
    }
    const mode = this.#action.onUnauthenticatedRequest
    if (entry === undefined) {
      // No cookie, or one that does not open (tampered, truncated, foreign): no session.
      const present = raw !== undefined || hasAnyShard(cookies, this.#names)
      if (present) ctx.responseCookies.push(...clearSessionCookies(this.#names, cookies, cookieAttributes(ctx)))
      if (mode === 'allow') return 'continue'
      if (mode === 'deny') {
        sendError(ctx.res, 401, ctx)
        return 'responded'
      }
      return this.#startLogin(ctx)
    }

    const now = nowSeconds()
    if (now >= entry.session.se) {
      // The session timeout is a hard stop, whatever the tokens say.
      ctx.responseCookies.push(...clearSessionCookies(this.#names, cookies, cookieAttributes(ctx)))
      if (mode === 'allow') return 'continue'
      return this.#startLogin(ctx)
    }

    if (entry.replacement !== undefined && now > entry.replacedUntil!) {
      // A client still sending the pre-refresh cookie long after the refresh
      // (it ignored the new one) does not ride on the new tokens forever.
      entry = { session: entry.previous! }
      this.#sessions.set(cacheKey!, entry)
    }
    if (entry.replacement === undefined && this.#needsRefresh(entry, now)) {
      entry = entry.refreshFailed ? undefined : await this.#refresh(cacheKey!, entry.session)
      if (entry === undefined) {
        ctx.responseCookies.push(...clearSessionCookies(this.#names, cookies, cookieAttributes(ctx)))
        if (mode === 'allow') return 'continue'
        if (mode === 'deny') {
          sendError(ctx.res, 401, ctx)
          return 'responded'
        }
        return this.#startLogin(ctx)
      }
    }
    if (entry.replacement !== undefined) {
      const set = setSessionCookies(entry.replacement, this.#names, cookies, cookieAttributes(ctx), now)
      if (set !== undefined) ctx.responseCookies.push(...set)
    }
    this.#addIdentityHeaders(ctx, entry, now)
    return 'continue'
  }

  #needsRefresh(entry: CachedSession, now: number): boolean {
    const { ae, rt } = entry.session
    // Without a refresh token the session simply lasts until its timeout (ALB).
    return ae !== undefined && rt !== undefined && now >= ae
  }

  async #open(raw: string, cacheKey: string): Promise<CachedSession | undefined> {
    const opened = await this.#shared.ring.openFresh('session', raw, this.#aad)
    const session = opened === undefined ? undefined : parseSessionData(opened)
    if (session === undefined) return undefined
    const entry: CachedSession = { session }
    this.#sessions.set(cacheKey, entry)
    return entry
  }

  /** Single-flight per session: concurrent requests share one refresh at the token endpoint. */
  #refresh(cacheKey: string, session: SessionData): Promise<CachedSession | undefined> {
    let flight = this.#refreshes.get(cacheKey)
    if (flight === undefined) {
      flight = this.#doRefresh(cacheKey, session).finally(() => this.#refreshes.delete(cacheKey))
      this.#refreshes.set(cacheKey, flight)
    }
    return flight
  }

  async #doRefresh(cacheKey: string, session: SessionData): Promise<CachedSession | undefined> {
    try {
      const tokens = await this.#idp.refresh(session.rt!)
      const subject = typeof session.c['sub'] === 'string' ? session.c['sub'] : ''
      if (tokens.subject !== undefined && tokens.subject !== subject) throw new AuthError(401, 'AuthInvalidIdToken')
      const claims = await this.#idp.userinfo(tokens.accessToken, subject)
      if (claimsSize(claims, tokens.accessToken) > MAX_CLAIMS_BYTES) {
        this.#shared.metrics?.claimsSizeExceeded()
        throw new AuthError(500, 'AuthUserClaimsSizeExceeded')
      }
      const now = nowSeconds()
      const next: SessionData = {
        v: 1,
        c: claims,
        at: tokens.accessToken,
        ...(tokens.refreshToken === undefined ? {} : { rt: tokens.refreshToken }),
        ...(tokens.expiresIn === undefined ? {} : { ae: now + tokens.expiresIn }),
        se: session.se,
      }
      const sealed = this.#seal(next)
      if (sealed.length > SHARD_SIZE * this.#names.length) {
        this.#shared.metrics?.claimsSizeExceeded()
        throw new AuthError(500, 'AuthUserClaimsSizeExceeded')
      }
      // Requests still carrying the old cookie (sent before the browser saw
      // the new one) reuse this result instead of refreshing again, which a
      // rotating refresh token would not survive.
      const refreshed: CachedSession = {
        session: next,
        replacement: sealed,
        replacedUntil: now + REPLACEMENT_WINDOW_SECONDS,
        previous: session,
      }
      this.#sessions.set(cacheKey, refreshed)
      this.#sessions.set(sessionKey(sealed), { session: next })
      this.#shared.metrics?.refreshSuccess()
      return refreshed
    } catch (err) {
      const reason = err instanceof AuthError ? err.reason : 'AuthUnhandledException'
      this.#log.info({ reason }, 'token refresh failed; the session ends')
      this.#sessions.set(cacheKey, { session, refreshFailed: true })
      return undefined
    }
  }

  #seal(session: SessionData): string {
    return this.#shared.ring.seal('session', Buffer.from(JSON.stringify(session)), this.#aad)
  }

  #addIdentityHeaders(ctx: RequestContext, entry: CachedSession, now: number): void {
    const key = this.#shared.signingKey()
    const session = entry.session
    let identity = entry.identity
    // Reuse the token until it nears expiry (unless it already ends with the
    // session and cannot last longer), so a busy session does not sign per request.
    if (
      identity === undefined ||
      identity.kid !== key.kid ||
      (identity.exp - now < this.#reuseMargin && identity.exp < session.se)
    ) {
      const lifetime = Math.min(this.#action.identityTokenLifetimeSeconds, session.se - now)
      const token = signAlbToken({
        claims: session.c,
        key,
        signer: this.#shared.signer,
        issuer: this.#action.issuer,
        clientId: this.#action.clientId,
        expiresInSeconds: lifetime,
        now,
      })
      identity = { token, exp: now + lifetime, kid: key.kid }
      entry.identity = identity
    }
    const headers = ctx.upstreamHeaders
    headers['x-amzn-oidc-accesstoken'] = session.at
    headers['x-amzn-oidc-identity'] = typeof session.c['sub'] === 'string' ? session.c['sub'] : ''
    headers['x-amzn-oidc-data'] = identity.token
  }

  /** 302 to the IdP's authorization endpoint with a sealed `state` and the nonce cookie (contract §2). */
  async #startLogin(ctx: RequestContext): Promise<ActionOutcome> {
    const host = requestHost(ctx.req)
    if (host === undefined) {
      fail(this.#shared, ctx, new AuthError(401, 'AuthMissingHostHeader'))
      return 'responded'
    }
    const action = this.#action
    const nonceCookie = randomAlphanumeric(24)
    const verifier = action.pkce ? oidc.randomPKCECodeVerifier() : undefined
    const idTokenNonce = action.nonce ? oidc.randomNonce() : undefined
    const state: StateData = {
      v: 1,
      n: nonceCookie,
      u: safeRedirectPath(ctx.req.url ?? '/'),
      r: this.#rule.arn,
      o: action.order,
      t: nowSeconds(),
      ...(verifier === undefined ? {} : { p: verifier }),
      ...(idTokenNonce === undefined ? {} : { on: idTokenNonce }),
    }
    // Extra parameters first: they can never override the protocol's own.
    const params: Record<string, string> = {
      ...this.#extraParams,
      response_type: 'code',
      client_id: action.clientId,
      redirect_uri: `${ctx.protocol}://${host}${CALLBACK_PATH}`,
      scope: action.scope,
      state: this.#shared.ring.seal('state', Buffer.from(JSON.stringify(state)), STATE_AAD),
    }
    if (idTokenNonce !== undefined) params['nonce'] = idTokenNonce
    if (verifier !== undefined) {
      params['code_challenge'] = await oidc.calculatePKCECodeChallenge(verifier)
      params['code_challenge_method'] = 'S256'
    }
    const attrs = cookieAttributes(ctx)
    // Lax is enough: the IdP sends the browser back with a top-level GET.
    ctx.responseCookies.push(
      `${NONCE_COOKIE}=${nonceCookie}; Max-Age=${LOGIN_WINDOW_SECONDS}; Path=/; HttpOnly${attrs.secure ? '; Secure' : ''}; SameSite=Lax`,
    )
    sendRedirect(ctx, this.#idp.authorizationUrl(params))
    return 'responded'
  }

  /** The second half of the login, called by the callback once `state` and the nonce cookie checked out. */
  async completeLogin(ctx: RequestContext, state: StateData, stateParam: string, host: string): Promise<void> {
    const shared = this.#shared
    const response = authorizationResponse(new URLSearchParams(ctx.query), this.#action.issuer)
    const callbackUrl = new URL(`${ctx.protocol}://${host}${CALLBACK_PATH}?${response}`)
    const started = performance.now()
    const tokens = await this.#idp.exchangeCode(callbackUrl, {
      pkceCodeVerifier: state.p,
      expectedNonce: state.on,
      expectedState: stateParam,
    })
    const claims = await this.#idp.userinfo(tokens.accessToken, tokens.subject ?? '')
    shared.metrics?.authLatency((performance.now() - started) / 1000)
    if (claimsSize(claims, tokens.accessToken) > MAX_CLAIMS_BYTES) {
      throw new AuthError(500, 'AuthUserClaimsSizeExceeded')
    }
    const now = nowSeconds()
    const session: SessionData = {
      v: 1,
      c: claims,
      at: tokens.accessToken,
      ...(tokens.refreshToken === undefined ? {} : { rt: tokens.refreshToken }),
      ...(tokens.expiresIn === undefined ? {} : { ae: now + tokens.expiresIn }),
      se: now + this.#action.sessionTimeoutSeconds,
    }
    const sealed = this.#seal(session)
    const set = setSessionCookies(sealed, this.#names, ctx.cookies, cookieAttributes(ctx), now)
    if (set === undefined) throw new AuthError(500, 'AuthUserClaimsSizeExceeded')
    ctx.responseCookies.push(...set)
    this.#sessions.set(sessionKey(sealed), { session })
    shared.metrics?.authSuccess()
    sendRedirect(ctx, safeRedirectPath(state.u))
  }
}

/**
 * The parameters of the IdP's authorization response that the code exchange
 * gets (RFC 6749 §4.1.2, RFC 9207 `iss`), checked first, so that a client's
 * malformed callback is a 401 and never reaches the OIDC client as a 500:
 * `code` exactly once (else AuthMissingCodeParam / AuthInvalidGrantError),
 * `iss` at most once and equal to the action's issuer (a mix-up:
 * AuthInvalidStateParam), and no `response` (JARM, which Portcullis never
 * asks for: AuthInvalidGrantError). Parameters the IdP may add (such as
 * `session_state`) are left out.
 */
function authorizationResponse(params: URLSearchParams, issuer: string): URLSearchParams {
  const codes = params.getAll('code')
  if (codes.length === 0 || codes[0] === '') throw new AuthError(401, 'AuthMissingCodeParam')
  if (codes.length > 1 || params.has('response')) throw new AuthError(401, 'AuthInvalidGrantError')
  const issuers = params.getAll('iss')
  if (issuers.length > 1 || (issuers.length === 1 && issuers[0] !== issuer)) {
    throw new AuthError(401, 'AuthInvalidStateParam')
  }
  const out = new URLSearchParams({ code: codes[0]!, state: params.get('state') ?? '' })
  if (issuers.length === 1) out.set('iss', issuers[0]!)
  return out
}

function parseState(json: Buffer): StateData | undefined {
  const s = parseSealedObject(json)
  if (s === undefined) return undefined
  const ok =
    s['v'] === 1 &&
    typeof s['n'] === 'string' &&
    typeof s['u'] === 'string' &&
    typeof s['r'] === 'string' &&
    typeof s['o'] === 'number' &&
    typeof s['t'] === 'number' &&
    (s['p'] === undefined || typeof s['p'] === 'string') &&
    (s['on'] === undefined || typeof s['on'] === 'string')
  return ok ? (s as unknown as StateData) : undefined
}

/**
 * `GET /oauth2/idpresponse`: checks `state` (sealed, fresh, unused), the
 * nonce cookie, the IdP's answer, then lets the action named in `state`
 * finish the login. Every refusal is a short error page with ALB's status and
 * `error_reason`; the nonce cookie is cleared whatever the outcome.
 */
export async function handleCallback(shared: AuthShared, ctx: RequestContext): Promise<void> {
  const nonceCookie = ctx.cookies.get(NONCE_COOKIE)
  if (nonceCookie !== undefined) ctx.responseCookies.push(clearCookie(NONCE_COOKIE, cookieAttributes(ctx)))
  try {
    const params = new URLSearchParams(ctx.query)
    const states = params.getAll('state')
    const stateParam = states[0]
    if (stateParam === undefined || stateParam === '') throw new AuthError(401, 'AuthMissingStateParam')
    if (states.length > 1) throw new AuthError(401, 'AuthInvalidStateParam')
    const opened = stateParam.length > 4096 ? undefined : await shared.ring.openFresh('state', stateParam, STATE_AAD)
    const state = opened === undefined ? undefined : parseState(opened)
    const now = nowSeconds()
    if (state === undefined || now - state.t > LOGIN_WINDOW_SECONDS || state.t > now + 60) {
      throw new AuthError(401, 'AuthInvalidStateParam')
    }
    if (nonceCookie === undefined) throw new AuthError(401, 'AuthMissingAWSALBAuthNonce')
    if (!equalStrings(nonceCookie, state.n)) throw new AuthError(401, 'AuthInvalidAWSALBAuthNonce')
    const action = shared.oidcActions.get(`${state.r}#${state.o}`)
    if (action === undefined) throw new AuthError(401, 'AuthInvalidStateParam')
    // One use per state in this process; across instances the IdP's single-use code is the guard.
    if (shared.usedStates.get(state.n) !== undefined) throw new AuthError(401, 'AuthInvalidStateParam')
    shared.usedStates.set(state.n, true)
    const error = params.get('error')
    if (error !== null) {
      shared.logger.info({ idpError: error.slice(0, 64) }, 'the IdP answered the login with an error')
      throw new AuthError(561, '')
    }
    const host = requestHost(ctx.req)
    if (host === undefined) throw new AuthError(401, 'AuthMissingHostHeader')
    await action.completeLogin(ctx, state, stateParam, host)
  } catch (err) {
    const authError = err instanceof AuthError ? err : new AuthError(500, 'AuthUnhandledException', { cause: err })
    const logged = { reason: authError.reason, status: authError.status }
    if (authError.fault) shared.logger.warn({ ...logged, cause: describeCause(err) }, 'login failed')
    else shared.logger.info(logged, 'login refused')
    fail(shared, ctx, authError)
  }
}

/** A short, token-free description of what went wrong, for the log. */
function describeCause(err: unknown): string {
  const parts: string[] = []
  let current: unknown = err
  while (current instanceof Error && parts.length < 4) {
    parts.push(`${current.name}: ${current.message}`.slice(0, 200))
    current = current.cause
  }
  return parts.join(' <- ')
}
