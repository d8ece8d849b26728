import type { ProbeErrorCode } from './probe/errors.js'

/**
 * Every reason `@portcullis/verify` can reject a token or a request.
 *
 * The codes are stable: applications and the framework middleware map them to
 * responses and metrics, so a code is never renamed or reused.
 *
 * | code | meaning |
 * | --- | --- |
 * | `ERR_MALFORMED` | not three strict base64url segments, header/payload not JSON objects, a field of the wrong type, `exp` missing, or a duplicated header |
 * | `ERR_TOO_LARGE` | the token is longer than 16 KiB (checked before any decoding) |
 * | `ERR_ALG` | header `alg` is not exactly `ES256` |
 * | `ERR_KID` | header `kid` is not a UUID |
 * | `ERR_SIGNER` | header `signer` is not one of the configured load balancer ARNs |
 * | `ERR_CLIENT` | header `client` is not one of the configured client ids |
 * | `ERR_ISSUER` | `iss` is not one of the configured issuers, or header and payload `iss` differ |
 * | `ERR_KEY_FETCH` | the public key for `kid` could not be fetched (network error, timeout, non-200 status, redirect, oversized body, fetch limit reached, or a recent failure for this kid) |
 * | `ERR_KEY_INVALID` | the key server answered with something that is not a PEM SPKI P-256 public key |
 * | `ERR_SIGNATURE` | the signature is not 64 raw bytes or does not verify |
 * | `ERR_EXPIRED` | `exp` (the earlier of header and payload) has passed, allowing for clock tolerance |
 * | `ERR_NOT_YET_VALID` | `nbf` or `iat` lies in the future, allowing for clock tolerance |
 * | `ERR_MISSING_HEADER` | `x-amzn-oidc-data` or `x-amzn-oidc-identity` is absent |
 * | `ERR_IDENTITY_MISMATCH` | `x-amzn-oidc-identity` differs from the token's `sub` |
 * | `ERR_UNTRUSTED_PROXY` | `trustedProxies` is set and the peer address is missing or outside every CIDR |
 */
export type AlbVerifyErrorCode =
  | 'ERR_MALFORMED'
  | 'ERR_TOO_LARGE'
  | 'ERR_ALG'
  | 'ERR_KID'
  | 'ERR_SIGNER'
  | 'ERR_CLIENT'
  | 'ERR_ISSUER'
  | 'ERR_KEY_FETCH'
  | 'ERR_KEY_INVALID'
  | 'ERR_SIGNATURE'
  | 'ERR_EXPIRED'
  | 'ERR_NOT_YET_VALID'
  | 'ERR_MISSING_HEADER'
  | 'ERR_IDENTITY_MISMATCH'
  | 'ERR_UNTRUSTED_PROXY'

/**
 * All error codes, in the order of the check that produces them.
 *
 * @example
 * ```ts
 * for (const code of ALB_VERIFY_ERROR_CODES) rejections.labels({ code }).inc(0) // pre-create metric series
 * ```
 */
export const ALB_VERIFY_ERROR_CODES: readonly AlbVerifyErrorCode[] = Object.freeze([
  'ERR_UNTRUSTED_PROXY',
  'ERR_MISSING_HEADER',
  'ERR_TOO_LARGE',
  'ERR_MALFORMED',
  'ERR_ALG',
  'ERR_KID',
  'ERR_SIGNER',
  'ERR_CLIENT',
  'ERR_ISSUER',
  'ERR_KEY_FETCH',
  'ERR_KEY_INVALID',
  'ERR_SIGNATURE',
  'ERR_EXPIRED',
  'ERR_NOT_YET_VALID',
  'ERR_IDENTITY_MISMATCH',
])

/**
 * Stable codes of {@link PortcullisVerifyError}: those of
 * {@link AlbVerifyError} (a rejected token or request), of `ProbeError`
 * (`@portcullis/verify/probe`: `ERR_PROBE_TARGET`, `ERR_PROBE_OPTIONS`,
 * `ERR_PROBE_KEY`) and `ERR_CIDR` of `CidrError` (`@portcullis/verify/net`:
 * not an address or CIDR block). A code is never renamed or reused.
 */
export type PortcullisVerifyErrorCode = AlbVerifyErrorCode | ProbeErrorCode | 'ERR_CIDR'

/**
 * The base of every error `@portcullis/verify` throws, as jose's `JOSEError`
 * is of jose's: one `instanceof` for all of them, a stable
 * {@link PortcullisVerifyErrorCode} to branch on, and the underlying error,
 * when there is one, as `cause`. Each subclass narrows `code` to its own.
 * Invalid options are programming errors and throw `TypeError`, as Node's own
 * APIs do.
 *
 * @example
 * ```ts
 * try {
 *   await verifier.verify(token)
 * } catch (err) {
 *   if (!(err instanceof PortcullisVerifyError)) throw err
 *   console.warn(`${err.code}: ${err.message}`) // e.g. ERR_EXPIRED: token has expired
 * }
 * ```
 */
export abstract class PortcullisVerifyError extends Error {
  /** Stable machine-readable reason; see {@link PortcullisVerifyErrorCode}. */
  readonly code: PortcullisVerifyErrorCode

  constructor(code: PortcullisVerifyErrorCode, message: string, options?: ErrorOptions) {
    super(message, options)
    this.code = code
  }
}

/**
 * The only error `verify` and `verifyRequest` reject with. Messages never
 * contain token contents, so they are safe to log and to return to clients.
 *
 * @example
 * ```ts
 * try {
 *   await verifier.verify(token)
 * } catch (err) {
 *   if (err instanceof AlbVerifyError && err.code === 'ERR_EXPIRED') reauthenticate()
 *   else throw err
 * }
 * ```
 */
export class AlbVerifyError extends PortcullisVerifyError {
  /** Stable machine-readable reason; see {@link AlbVerifyErrorCode}. */
  declare readonly code: AlbVerifyErrorCode

  constructor(code: AlbVerifyErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options)
    this.name = 'AlbVerifyError'
  }
}

/**
 * Type guard for {@link AlbVerifyError}, also for errors from a second copy of
 * this package (e.g. two versions in one dependency tree).
 *
 * @example
 * ```ts
 * verifier.verify(token).catch((err) => (isAlbVerifyError(err) ? err.code : 'ERR_INTERNAL'))
 * ```
 */
export function isAlbVerifyError(value: unknown): value is AlbVerifyError {
  if (value instanceof AlbVerifyError) return true
  if (!(value instanceof Error) || value.name !== 'AlbVerifyError') return false
  const code: unknown = (value as Error & { code?: unknown }).code
  return typeof code === 'string' && (ALB_VERIFY_ERROR_CODES as readonly string[]).includes(code)
}
