import { PortcullisVerifyError } from '../errors.js'

/**
 * Why a probe could not start. The codes are stable.
 *
 * | code | meaning |
 * | --- | --- |
 * | `ERR_PROBE_TARGET` | the target is not an `http:`/`https:` URL or a request handler, or `path` does not start with `/` |
 * | `ERR_PROBE_OPTIONS` | an option is missing or invalid (a signing key without `signer`, `issuer` and `clientId`, a bad timeout, budget or regular expression, `cases` other than `oidc`/`mtls`/`all`, a `clientCertificate` that is not PEM or has no `mtls` case to go to) |
 * | `ERR_PROBE_KEY` | a signing key could not be loaded (raised by tools that read keys from files, such as `portcullis probe`) |
 *
 * A target that does not answer is not an error: it is a case the probe
 * could not judge, in the report.
 */
export type ProbeErrorCode = 'ERR_PROBE_TARGET' | 'ERR_PROBE_OPTIONS' | 'ERR_PROBE_KEY'

/**
 * The only error {@link probeAlbTarget} throws (before sending anything).
 *
 * @example
 * ```ts
 * try {
 *   await probeAlbTarget({ target: 'ftp://example.com' })
 * } catch (err) {
 *   if (err instanceof ProbeError && err.code === 'ERR_PROBE_TARGET') console.error(err.message)
 * }
 * ```
 */
export class ProbeError extends PortcullisVerifyError {
  /** Stable machine-readable reason; see {@link ProbeErrorCode}. */
  declare readonly code: ProbeErrorCode

  constructor(code: ProbeErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options)
    this.name = 'ProbeError'
  }
}
