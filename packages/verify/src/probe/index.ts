/**
 * `@portcullis/verify/probe`: does a target really verify its ALB identity?
 * Sends a battery of forged identities (no token, `alg: none`, HS256 key
 * confusion, an unknown key, a flipped signature bit, an expired token,
 * another load balancer's `signer`, a wrong client or issuer, a mismatched
 * identity, underscore and repeated headers, an oversized token) plus a
 * positive control, and, for a target behind a mutual-TLS listener, the
 * `X-Amzn-Mtls-*` headers of a certificate (`cases: 'mtls'`), to a URL or to
 * an in-process request handler, and returns the verdicts as data.
 *
 * @example
 * ```ts
 * import { probeAlbTarget } from '@portcullis/verify/probe'
 *
 * const report = await probeAlbTarget({ target: app, signingKey: key, signer, issuer, clientId })
 * assert.equal(report.outcome, 'pass', report.reason)
 * ```
 *
 * @packageDocumentation
 */
export {
  foreignSigner,
  PROBE_CASES,
  PROBE_CLIENT_CERTIFICATE_PEM,
  type ProbeCase,
  type ProbeCaseFamily,
  type ProbeCaseId,
  type ProbeCaseRole,
  type ProbeContext,
} from './cases.js'
export { ProbeError, type ProbeErrorCode } from './errors.js'
export {
  DEFAULT_PROBE_TIMEOUT_MS,
  type ProbeCaseResult,
  type ProbeCases,
  type ProbeOptions,
  type ProbeReport,
  type ProbeVerdict,
  probeAlbTarget,
} from './run.js'
export type { ProbeHandler } from './send.js'
