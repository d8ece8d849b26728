/**
 * The gateway's error vocabulary: the access log's `error_reason` for a
 * request that failed, and {@link GatewayError} for the gateway's own
 * failures (a listener that cannot bind, a reload after shutdown). Codes are
 * stable: logs, metrics labels and callers match on them.
 */
import { PortcullisError } from '../values/errors.js'

/**
 * ALB's `error_reason` codes of the authenticate actions (the contract's
 * section 7), and those of `jwt-validation`.
 */
export type AuthErrorReason =
  | 'AuthInvalidAWSALBAuthNonce'
  | 'AuthInvalidCookie'
  | 'AuthInvalidGrantError'
  | 'AuthInvalidIdToken'
  | 'AuthInvalidStateParam'
  | 'AuthInvalidTokenResponse'
  | 'AuthInvalidUserinfoResponse'
  | 'AuthMissingAWSALBAuthNonce'
  | 'AuthMissingCodeParam'
  | 'AuthMissingHostHeader'
  | 'AuthMissingStateParam'
  | 'AuthTokenEpRequestFailed'
  | 'AuthTokenEpRequestTimeout'
  | 'AuthUnhandledException'
  | 'AuthUserClaimsSizeExceeded'
  | 'AuthUserinfoEpRequestFailed'
  | 'AuthUserinfoEpRequestTimeout'
  | 'AuthUserinfoResponseSizeExceeded'
  | 'AuthInvalidBearerToken'
  | 'AuthMissingBearerToken'
  | 'AuthJwksEpRequestFailed'

/** A forward that failed: no target (503), cannot connect (502), a broken answer (502), too slow (504). */
export type TargetErrorReason = 'TargetGroupEmpty' | 'TargetConnectionError' | 'TargetResponseError' | 'TargetTimeout'

/**
 * Portcullis's names where ALB logs a request it refused without a documented
 * code: a malformed request (400, 414, 431), a rule transform that produced
 * an invalid URL (500), and a bug while handling the request (500).
 */
export type RequestErrorReason =
  | 'RequestLineTooLong'
  | 'InvalidRequestTarget'
  | 'HeaderTooLarge'
  | 'InvalidHostHeader'
  | 'TransformError'
  | 'InternalError'

/**
 * Portcullis's name (ALB has no shared state) for a request that needed the
 * shared Redis (`Portcullis.SharedState`) while it was unreachable or slower
 * than `CommandTimeoutMs`: answered 500, never hung.
 */
export type SharedStateErrorReason = 'SharedStateUnavailable'

/**
 * Portcullis's names (ALB has no logout) for a refused OIDC Back-Channel
 * Logout request at `/oauth2/backchannel-logout`: a logout token that fails
 * verification or a malformed request (400), a `jti` already used (400),
 * and a gateway whose sessions live in cookies, which a back-channel request
 * (it carries none) cannot end (501).
 */
export type LogoutErrorReason = 'InvalidLogoutToken' | 'LogoutTokenReplayed' | 'BackchannelLogoutUnsupported'

/** Every `error_reason` the access log can carry. */
export type ErrorReason =
  | AuthErrorReason
  | TargetErrorReason
  | RequestErrorReason
  | SharedStateErrorReason
  | LogoutErrorReason

/**
 * Codes of {@link GatewayError}, a subset of `PortcullisErrorCode`.
 *
 * | code | meaning |
 * | --- | --- |
 * | `ERR_LISTEN` | a listener (or the admin listener) could not bind its address and port; `cause` is the system error (`EADDRINUSE`, `EACCES`, …) |
 * | `ERR_CLOSED` | the gateway is shutting down: it takes no new configuration |
 * | `ERR_WORKER_EXIT` | a worker of `portcullis start` exited before it was ready |
 * | `ERR_SHARED_STATE` | the shared Redis (`Portcullis.SharedState`) could not be reached at start; `cause` says why |
 * | `ERR_ADMIN_TOKEN` | the admin listener's operator token (`Portcullis.Admin.TokenFile`, `PORTCULLIS_ADMIN_TOKEN`) is unreadable or too short |
 * | `ERR_ADMIN_TLS` | the admin listener's `CertificateFile`, `PrivateKeyFile` or `ClientCertificateTrustStore` files cannot be read or used |
 */
export type GatewayErrorCode =
  | 'ERR_LISTEN'
  | 'ERR_CLOSED'
  | 'ERR_WORKER_EXIT'
  | 'ERR_SHARED_STATE'
  | 'ERR_ADMIN_TOKEN'
  | 'ERR_ADMIN_TLS'

/**
 * The gateway's own failures, as `startGateway`, `RunningGateway.reload`
 * and `portcullis start` report them. The message is complete enough to
 * print as is; the system error, when there is one, is the `cause`.
 *
 * @example
 * ```ts
 * try {
 *   await gateway.reload(next)
 * } catch (err) {
 *   if (err instanceof GatewayError && err.code === 'ERR_LISTEN') console.error(err.message) // still serving the old one
 *   else throw err
 * }
 * ```
 */
export class GatewayError extends PortcullisError {
  /** Stable machine-readable reason; see {@link GatewayErrorCode}. */
  declare readonly code: GatewayErrorCode

  constructor(code: GatewayErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options)
    this.name = 'GatewayError'
  }
}
