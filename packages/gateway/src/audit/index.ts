/**
 * `portcullis audit` as a library: the deployment against the article
 * "Security best practices when using ALB authentication" and AWS's
 * Security Hub / Trusted Advisor controls, from a configuration file or a
 * live account.
 *
 * @example
 * ```ts
 * import { auditConfigFile, formatText } from 'portcullis/audit'
 *
 * const findings = await auditConfigFile('portcullis.yaml')
 * process.stdout.write(formatText(findings))
 * process.exitCode = findings.some((f) => f.severity === 'high') ? 1 : 0
 * ```
 *
 * @packageDocumentation
 */
export {
  AwsAuditError,
  type AwsAuditOptions,
  type AwsAuditResult,
  auditAwsAccount,
  REQUIRED_PERMISSIONS,
} from './aws.js'
export {
  type AuditModel,
  type CheckOptions,
  checkModel,
  DEFAULT_MAX_SESSION_TIMEOUT_SECONDS,
  finding,
  isOutdatedTlsPolicy,
  isPublicAddress,
  type RawFinding,
  type ResourceRef,
} from './checks.js'
export { auditConfigFile, auditConfigText } from './config-file.js'
export {
  atLeast,
  CATALOGUE,
  type CheckDescription,
  type Finding,
  type FindingId,
  type FindingLocation,
  SEVERITIES,
  type Severity,
  sortFindings,
} from './findings.js'
export { formatJson, formatSarif, formatText } from './report.js'
export { findOverlap, type Witness } from './witness.js'
