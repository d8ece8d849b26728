import { randomBytes, timingSafeEqual } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import * as oidc from 'openid-client'
import type { Logger } from 'pino'
import type { AuthenticateCognitoAction, AuthenticateOidcAction } from '../../config/model.js'
import type { RequestContext } from '../../core/request.js'
import { sendError } from '../../core/responses.js'
import { setCookie } from '../../headers/set-cookie.js'
import { channels } from '../../observability/diagnostics.js'
import { type ReplayMarkers, SharedStateUnavailable } from '../../shared/state.js'
import type { Clock } from '../../values/clock.js'
import { AuthError, sendRedirect } from '../errors.js'
import type { SecretRing } from '../keys/sealing-ring.js'
import { clearCookie, cookieAttributes, parseSealedObject } from '../session/cookie.js'
import { type SessionStore, sessionFromTokens, sessionSubject } from '../session/store.js'
import type { AuthMetrics, StateData } from '../types.js'
import { type CallbackRegistry, type LoginCompletion, loginKey } from './callback-registry.js'
import type { IdpClient } from './idp-client.js'
import { requestHost, safeRedirectPath } from './redirects.js'

/** ALB's login-nonce cookie, checked against the nonce sealed in `state`. */
export const NONCE_COOKIE = 'AWSALBAuthNonce'
/** The user must finish logging in within 15 minutes (ALB, fixed). */
export const LOGIN_WINDOW_SECONDS = 900
/** Callback path on every HTTPS listener. */
export const CALLBACK_PATH = '/oauth2/idpresponse'

const STATE_AAD = Buffer.from('portcullis state')
/** A `state` longer than this is refused unopened. */
const MAX_STATE_LENGTH = 4096
/** Used `state` nonces remembered per process (replay protection). */
const USED_STATES = 100_000
const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'

type OidcAction = AuthenticateOidcAction | AuthenticateCognitoAction

/** What the login needs besides its action: sealing keys, where to log and count. */
export interface LoginDependencies {
  readonly ring: SecretRing
  readonly logger: Logger
  readonly metrics: AuthMetrics | undefined
  /** With SharedState, a used `state` is refused on every gateway, not just in this process. */
  readonly markers?: ReplayMarkers | undefined
  /** "Now" for `state` and the session's end. */
  readonly clock: Clock
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

function equalStrings(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

/** Records a refused or failed step, counts it and answers with its status. */
function fail(metrics: AuthMetrics | undefined, ctx: RequestContext, err: AuthError): void {
  // ALB logs no error_reason for an IdP error (561); the metric still needs a label.
  if (err.reason !== undefined) ctx.record.errorReason = err.reason
  const label = err.reason ?? 'IdpError'
  if (err.fault) metrics?.authError(label)
  else metrics?.authFailure(label)
  if (err.reason === 'AuthUserClaimsSizeExceeded') metrics?.claimsSizeExceeded()
  if (!ctx.res.headersSent) sendError(ctx.res, err.status, ctx)
}

/** Seals `state` for the authorization request. */
function sealState(ring: SecretRing, state: StateData): string {
  return ring.seal('state', Buffer.from(JSON.stringify(state)), STATE_AAD)
}

/** Opens `state` from the callback; `undefined` for anything but a well-formed state sealed here. */
async function openState(ring: SecretRing, stateParam: string): Promise<StateData | undefined> {
  if (stateParam.length > MAX_STATE_LENGTH) return undefined
  const opened = await ring.openFresh('state', stateParam, STATE_AAD)
  const s = opened === undefined ? undefined : parseSealedObject(opened)
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

/**
 * The login of one authenticate action (contract §2): {@link start} answers
 * 302 to the IdP with a sealed `state` and the nonce cookie; {@link complete}
 * (called by {@link LoginCallback}) exchanges the code and stores the session.
 */
export class Login implements LoginCompletion {
  readonly #deps: LoginDependencies
  readonly #action: OidcAction
  readonly #ruleArn: string
  readonly #idp: IdpClient
  readonly #store: SessionStore

  constructor(deps: LoginDependencies, action: OidcAction, ruleArn: string, idp: IdpClient, store: SessionStore) {
    this.#deps = deps
    this.#action = action
    this.#ruleArn = ruleArn
    this.#idp = idp
    this.#store = store
  }

  /** Under which key {@link LoginCallback} finds this login again (the rule and order sealed in `state`). */
  get key(): string {
    return loginKey(this.#ruleArn, this.#action.order)
  }

  /** 302 to the IdP's authorization endpoint with a sealed `state` and the nonce cookie. */
  async start(ctx: RequestContext): Promise<void> {
    const host = requestHost(ctx.req)
    if (host === undefined) {
      fail(this.#deps.metrics, ctx, new AuthError(401, 'AuthMissingHostHeader'))
      return
    }
    const action = this.#action
    const nonceCookie = randomAlphanumeric(24)
    const verifier = action.pkce ? oidc.randomPKCECodeVerifier() : undefined
    const idTokenNonce = action.nonce ? oidc.randomNonce() : undefined
    const state: StateData = {
      v: 1,
      n: nonceCookie,
      u: safeRedirectPath(ctx.req.url ?? '/'),
      r: this.#ruleArn,
      o: action.order,
      t: this.#deps.clock(),
      ...(verifier === undefined ? {} : { p: verifier }),
      ...(idTokenNonce === undefined ? {} : { on: idTokenNonce }),
    }
    // Extra parameters first: they can never override the protocol's own.
    const params: Record<string, string> = {
      ...action.authenticationRequestExtraParams,
      response_type: 'code',
      client_id: action.clientId,
      redirect_uri: `${ctx.protocol}://${host}${CALLBACK_PATH}`,
      scope: action.scope,
      state: sealState(this.#deps.ring, state),
    }
    if (idTokenNonce !== undefined) params['nonce'] = idTokenNonce
    if (verifier !== undefined) {
      params['code_challenge'] = await oidc.calculatePKCECodeChallenge(verifier)
      params['code_challenge_method'] = 'S256'
    }
    // Lax is enough: the IdP sends the browser back with a top-level GET.
    ctx.responseCookies.push(
      setCookie(NONCE_COOKIE, nonceCookie, {
        maxAge: LOGIN_WINDOW_SECONDS,
        secure: cookieAttributes(ctx).secure,
        httpOnly: true,
        sameSite: 'Lax',
      }),
    )
    sendRedirect(ctx, this.#idp.authorizationUrl(params))
  }

  async complete(ctx: RequestContext, state: StateData, stateParam: string, host: string): Promise<void> {
    const response = authorizationResponse(new URLSearchParams(ctx.query), this.#action.issuer)
    const callbackUrl = new URL(`${ctx.protocol}://${host}${CALLBACK_PATH}?${response}`)
    const started = performance.now()
    const tokens = await this.#idp.exchangeCode(callbackUrl, {
      pkceCodeVerifier: state.p,
      expectedNonce: state.on,
      expectedState: stateParam,
    })
    const claims = await this.#idp.userinfo(tokens.accessToken, tokens.subject ?? '')
    this.#deps.metrics?.authLatency((performance.now() - started) / 1000)
    const now = this.#deps.clock()
    const session = sessionFromTokens(tokens, claims, now + this.#action.sessionTimeoutSeconds, now)
    await this.#store.seal(ctx, session)
    this.#deps.metrics?.authSuccess()
    if (channels.loginCompleted.hasSubscribers) {
      const { issuer, clientId } = this.#action
      channels.loginCompleted.publish({ ctx, issuer, clientId, subject: sessionSubject(session) })
    }
    sendRedirect(ctx, safeRedirectPath(state.u))
  }
}

/**
 * `GET /oauth2/idpresponse` for one configuration generation: checks `state`
 * (sealed, fresh, unused), the nonce cookie, the IdP's answer, then lets the
 * login registered under the action named in `state` finish. Every refusal is
 * a short error page with ALB's status and `error_reason`; the nonce cookie is
 * cleared whatever the outcome.
 */
export class LoginCallback {
  readonly #deps: LoginDependencies
  readonly #registry: CallbackRegistry
  /** Nonces of states already used here (per process: replay protection). */
  readonly #usedStates = new LRUCache<string, true>({ max: USED_STATES })

  constructor(deps: LoginDependencies, registry: CallbackRegistry) {
    this.#deps = deps
    this.#registry = registry
  }

  async handle(ctx: RequestContext): Promise<void> {
    const { logger, metrics } = this.#deps
    const nonceCookie = ctx.cookies.get(NONCE_COOKIE)
    if (nonceCookie !== undefined) ctx.responseCookies.push(clearCookie(NONCE_COOKIE, cookieAttributes(ctx)))
    try {
      const params = new URLSearchParams(ctx.query)
      const states = params.getAll('state')
      const stateParam = states[0]
      if (stateParam === undefined || stateParam === '') throw new AuthError(401, 'AuthMissingStateParam')
      if (states.length > 1) throw new AuthError(401, 'AuthInvalidStateParam')
      const state = await openState(this.#deps.ring, stateParam)
      const now = this.#deps.clock()
      if (state === undefined || now - state.t > LOGIN_WINDOW_SECONDS || state.t > now + 60) {
        throw new AuthError(401, 'AuthInvalidStateParam')
      }
      if (nonceCookie === undefined) throw new AuthError(401, 'AuthMissingAWSALBAuthNonce')
      if (!equalStrings(nonceCookie, state.n)) throw new AuthError(401, 'AuthInvalidAWSALBAuthNonce')
      const login = this.#registry.resolve(loginKey(state.r, state.o))
      if (login === undefined) throw new AuthError(401, 'AuthInvalidStateParam')
      // One use per state in this process, and with SharedState on every gateway (SET NX for the
      // login window: a state older than that is refused by its age anyway).
      if (this.#usedStates.get(state.n) !== undefined) throw new AuthError(401, 'AuthInvalidStateParam')
      this.#usedStates.set(state.n, true)
      const markers = this.#deps.markers
      if (markers !== undefined && !(await markers.markOnce('login-state', state.n, LOGIN_WINDOW_SECONDS + 60))) {
        throw new AuthError(401, 'AuthInvalidStateParam')
      }
      const error = params.get('error')
      if (error !== null) {
        logger.info({ idpError: error.slice(0, 64) }, 'the IdP answered the login with an error')
        throw new AuthError(561, undefined)
      }
      const host = requestHost(ctx.req)
      if (host === undefined) throw new AuthError(401, 'AuthMissingHostHeader')
      await login.complete(ctx, state, stateParam, host)
    } catch (err) {
      const authError =
        err instanceof AuthError
          ? err
          : err instanceof SharedStateUnavailable
            ? new AuthError(500, 'SharedStateUnavailable', { cause: err })
            : new AuthError(500, 'AuthUnhandledException', { cause: err })
      const logged = { reason: authError.reason, status: authError.status }
      if (authError.fault) logger.warn({ ...logged, cause: describeCause(err) }, 'login failed')
      else logger.info(logged, 'login refused')
      if (channels.loginFailed.hasSubscribers) {
        channels.loginFailed.publish({ ctx, status: authError.status, reason: authError.reason, error: authError })
      }
      fail(metrics, ctx, authError)
    }
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
