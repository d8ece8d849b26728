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
 * const { findings, startNeeds } = await auditConfigFile('portcullis.yaml')
 * process.stdout.write(formatText(findings))
 * for (const need of startNeeds) console.error(`start would need: ${need.path}: ${need.message}`)
 * process.exitCode = findings.some((f) => f.severity === 'high') ? 1 : 0
 * ```
 *
 * @packageDocumentation
 */
// What an application calls and the types of what it gets back; the checks'
// building blocks (checkModel, the catalogue, the rule-overlap search) stay
// internal, and tests import them from their modules.
export { AwsAuditError, type AwsAuditOptions, type AwsAuditResult, auditAwsAccount } from './aws.js'
export type { CheckOptions } from './checks.js'
export { auditConfigFile, auditConfigText, type ConfigAuditResult } from './config-file.js'
export type { Finding, FindingId, FindingLocation, Severity } from './findings.js'
export { formatJson, formatSarif, formatText } from './report.js'
