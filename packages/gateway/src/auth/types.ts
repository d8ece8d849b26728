import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AuthenticateActionFactory, CallbackHandler } from '../core/actions.js'

/**
 * Counters and histograms the authentication module reports, named after
 * ALB's CloudWatch metrics (`ELBAuthSuccess`, `ELBAuthFailure`,
 * `ELBAuthError`, `ELBAuthLatency`, `ELBAuthRefreshTokenSuccess`,
 * `ELBAuthUserClaimsSizeExceeded`). The lead backs them with prom-client.
 */
export interface AuthMetrics {
  /** A login completed (the callback set a session). */
  authSuccess(): void
  /** A login was refused because of the client or the IdP's answer (4xx/561); `reason` is the `error_reason`. */
  authFailure(reason: string): void
  /** A login failed because of a fault (5xx); `reason` is the `error_reason`. */
  authError(reason: string): void
  /** Seconds spent at the IdP (token + userinfo) during one callback. */
  authLatency(seconds: number): void
  /** An expired access token was refreshed. */
  refreshSuccess(): void
  /** User claims plus access token exceeded 11 KB. */
  claimsSizeExceeded(): void
}

/**
 * The authentication runtime built for one configuration load. Listeners see
 * it only as the callback handler and action factory of `core/actions.ts`.
 */
export interface AuthRuntime extends CallbackHandler, AuthenticateActionFactory, AuthAdmin {
  /** Stops timers and closes outbound connection pools (never the shared state: its owner closes it). */
  close(): Promise<void>
}

/** What the admin listener serves from authentication. */
export interface AuthAdmin {
  /** node:http handler serving the signing public keys (`GET /{kid}` → PEM); mounted at the admin listener's `/keys/`. */
  readonly keysHandler: (req: IncomingMessage, res: ServerResponse) => void
  /** node:http handler of the admin listener's `/sessions` endpoints (listing and revoking shared sessions). */
  readonly sessionsHandler: (req: IncomingMessage, res: ServerResponse) => void
  /** Stops its timers. */
  close(): void | Promise<void>
}

/** What the sealed session cookie carries (short keys keep the cookie small). */
export interface SessionData {
  /** Format version. */
  readonly v: 1
  /** User claims as the userinfo endpoint returned them. */
  readonly c: Record<string, unknown>
  /** Access token. */
  readonly at: string
  /** Refresh token, when the IdP issued one. */
  readonly rt?: string
  /** Access-token expiry, seconds since the epoch; absent when the IdP gave no `expires_in`. */
  readonly ae?: number
  /** Session end (issue time + SessionTimeout), seconds since the epoch: a hard stop. */
  readonly se: number
  /** The latest ID token (`id_token_hint` at logout); shared sessions only, never sealed into a cookie. */
  readonly it?: string
  /** The IdP's session id (`sid` of the ID token), which back-channel logout names; shared sessions only. */
  readonly sid?: string
}

/** What the sealed `state` parameter carries between the redirect and the callback. */
export interface StateData {
  readonly v: 1
  /** Must equal the `AWSALBAuthNonce` cookie. */
  readonly n: string
  /** Original path and query (`/a/b?c=d`). */
  readonly u: string
  /** Rule ARN and action order: which authenticate action started the login. */
  readonly r: string
  readonly o: number
  /** Issue time, seconds since the epoch (the 15-minute window). */
  readonly t: number
  /** PKCE code verifier, when PKCE is on. */
  readonly p?: string
  /** OIDC nonce, when the nonce is on. */
  readonly on?: string
}
