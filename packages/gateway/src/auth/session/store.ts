import type { Logger } from 'pino'
import type { RequestContext } from '../../core/request.js'
import { channels, type SessionRefreshedMessage } from '../../observability/diagnostics.js'
import { AuthError } from '../errors.js'
import type { TokenSet } from '../oidc/idp-client.js'
import type { AuthMetrics, SessionData } from '../types.js'

/** User claims plus access token above this fail the login or refresh with 500 (ALB). */
export const MAX_CLAIMS_BYTES = 11 * 1024

/**
 * What a store reads from and writes to one exchange with the browser: the
 * request's cookies and whatever must reach the client with the response.
 * (`protocol` and `req` decide the cookie attributes.)
 */
export type SessionExchange = Pick<RequestContext, 'cookies' | 'responseCookies' | 'protocol' | 'req'>

/** A session a store opened for one request (each store adds what it needs to find it again). */
export interface StoredSession {
  readonly session: SessionData
}

/** What binds a session to the action that created it. */
export interface SessionBinding {
  readonly sessionCookieName: string
  readonly issuer: string
  readonly clientId: string
}

/**
 * The associated data a session is sealed with: the cookie name, the issuer
 * and the client id of the action that created it. Every store seals with
 * it, so a session is only ever opened by an action of the same IdP and
 * client that created it, whatever cookie name, rule or listener it is
 * replayed under.
 */
export function sessionAad(binding: SessionBinding): Buffer {
  return Buffer.from(`portcullis session\0${binding.sessionCookieName}\0${binding.issuer}\0${binding.clientId}`)
}

/**
 * Renews a session at the IdP (refresh grant and userinfo): resolves with the
 * session to store instead, or rejects when the session cannot go on.
 */
export type SessionRenewal = (session: SessionData) => Promise<SessionData>

/**
 * Where the sessions of one `authenticate-oidc` / `authenticate-cognito`
 * action live between requests: a sealed, sharded cookie
 * ({@link CookieSessionStore}) or the shared state ({@link SharedSessionStore},
 * `Portcullis.SessionStore: shared`), behind the same four operations. Every implementation must pass the contract suite in
 * `test/auth/session-store-contract.ts`.
 *
 * A store binds its sessions to the action's issuer and client id: a session
 * created for one is no session for another. Expiry (`se`) and the
 * `OnUnauthenticatedRequest` decision are the caller's; token renewal is the
 * store's, because only the store knows which requests carry the same session.
 */
export interface SessionStore<S extends StoredSession = StoredSession> {
  /** The session the request carries; `undefined` when none, or when what it carries does not open. */
  open(exchange: SessionExchange): Promise<S | undefined>
  /**
   * The session to use for this request, renewed first when its access token
   * has expired and it has a refresh token ({@link needsRenewal}). Concurrent
   * requests carrying the same session share one renewal, and requests that
   * still carry the pre-renewal session shortly afterwards get the renewed
   * one (a rotating refresh token survives only one use). Writes to the
   * response what the client must keep. `undefined` when the renewal failed:
   * the session is over, and later requests carrying it are not renewed again.
   */
  refresh(exchange: SessionExchange, stored: S, renew: SessionRenewal): Promise<S | undefined>
  /**
   * Stores a new session (after a login) and writes to the response what the
   * client must keep. Throws {@link AuthError} 500 `AuthUserClaimsSizeExceeded`
   * when the session does not fit.
   */
  seal(exchange: SessionExchange, session: SessionData): Promise<void>
  /**
   * Ends the session the request carries (if any): writes to the response
   * what removes it, and forgets it wherever the store keeps it (best effort:
   * never rejects).
   */
  clear(exchange: SessionExchange): Promise<void>
  /**
   * Logout: ends the session the request carries wherever the store keeps it
   * and clears it from the client, resolving with the session's ID token (for
   * `id_token_hint`) when the store kept one. Unlike {@link clear} it rejects
   * when the session could not be forgotten. A store that keeps nothing
   * server-side (cookies) can only clear the client's copy: a copied cookie
   * stays valid until it expires.
   */
  end(exchange: SessionExchange): Promise<string | undefined>
}

/**
 * Runs a store's renewal (the IdP's, and whatever the store does with the
 * result); when it fails, counts, logs and announces why — the session then
 * ends, in every store alike — and resolves with `undefined`.
 */
export async function renewOrEnd<T>(
  attempt: () => Promise<T>,
  log: Logger,
  metrics: AuthMetrics | undefined,
  about: SessionRefreshedMessage,
): Promise<T | undefined> {
  try {
    return await attempt()
  } catch (err) {
    const reason = err instanceof AuthError ? err.reason : 'AuthUnhandledException'
    if (reason === 'AuthUserClaimsSizeExceeded') metrics?.claimsSizeExceeded()
    log.info({ reason }, 'token refresh failed; the session ends')
    if (channels.sessionRefreshFailed.hasSubscribers) {
      channels.sessionRefreshFailed.publish({ ...about, reason, error: err })
    }
    return undefined
  }
}

/** Counts and announces a renewal once the store has kept it. */
export function renewed(metrics: AuthMetrics | undefined, about: SessionRefreshedMessage): void {
  metrics?.refreshSuccess()
  if (channels.sessionRefreshed.hasSubscribers) channels.sessionRefreshed.publish(about)
}

/** Which session of which action a renewal is about, for {@link renewOrEnd} and {@link renewed}. */
export function refreshAbout(
  binding: SessionBinding,
  session: SessionData,
  store: SessionRefreshedMessage['store'],
): SessionRefreshedMessage {
  return { issuer: binding.issuer, clientId: binding.clientId, subject: sessionSubject(session), store }
}

/** Without a refresh token a session simply lasts until its timeout (ALB); with one, it is renewed once the access token expired. */
export function needsRenewal(session: SessionData, now: number): boolean {
  return session.ae !== undefined && session.rt !== undefined && now >= session.ae
}

/**
 * The session that the IdP's tokens and userinfo claims make, ending at
 * `sessionEnd`. Throws 500 `AuthUserClaimsSizeExceeded` when claims plus
 * access token exceed {@link MAX_CLAIMS_BYTES}.
 */
export function sessionFromTokens(
  tokens: TokenSet,
  claims: Record<string, unknown>,
  sessionEnd: number,
  now: number,
): SessionData {
  if (Buffer.byteLength(JSON.stringify(claims)) + Buffer.byteLength(tokens.accessToken) > MAX_CLAIMS_BYTES) {
    throw new AuthError(500, 'AuthUserClaimsSizeExceeded')
  }
  return {
    v: 1,
    c: claims,
    at: tokens.accessToken,
    ...(tokens.refreshToken === undefined ? {} : { rt: tokens.refreshToken }),
    ...(tokens.expiresIn === undefined ? {} : { ae: now + tokens.expiresIn }),
    se: sessionEnd,
    ...(tokens.idToken === undefined ? {} : { it: tokens.idToken }),
    ...(tokens.sid === undefined ? {} : { sid: tokens.sid }),
  }
}

/** The session's user, for `x-amzn-oidc-identity` and the refresh's subject check. */
export function sessionSubject(session: SessionData): string {
  const sub = session.c['sub']
  return typeof sub === 'string' ? sub : ''
}
