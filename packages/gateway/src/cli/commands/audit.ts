/**
 * `portcullis audit [FILE...] [--aws]`: a configuration file, a live AWS
 * account, or both, against the article's best practices and AWS's controls.
 */
import type { Writable } from 'node:stream'
import { AwsAuditError, auditAwsAccount } from '../../audit/aws.js'
import { auditConfigFile, auditImported, type ConfigAuditResult } from '../../audit/config-file.js'
import { atLeast, type Finding, type Severity, sortFindings } from '../../audit/findings.js'
import { formatJson, formatSarif, formatText } from '../../audit/report.js'
import { ConfigError, formatIssue } from '../../config/errors.js'
import { importSources } from '../../config/sources/index.js'
import { pairs, readSource } from './import.js'

/** Options of {@link auditCommand}, as the command line gives them. */
export interface AuditCommandOptions {
  readonly files: readonly string[]
  readonly aws: boolean
  readonly region?: string
  readonly endpointUrl?: string
  readonly format: 'text' | 'json' | 'sarif'
  /** Exit 1 when a finding of this severity or worse exists; undefined never fails on findings. */
  readonly failOn?: Severity
  readonly version: string
  /**
   * The files are sources, joined as `portcullis import` joins them (the
   * `describe-*` files, a CloudFormation template, a Terraform plan), and
   * each finding points into them.
   */
  readonly import?: { readonly parameters: readonly string[]; readonly importValues: readonly string[] }
}

/** Exit codes: 0 clean (or below `--fail-on`), 1 findings at or above it, 2 usage, file or AWS errors. */
export const EXIT_FINDINGS = 1
export const EXIT_ERROR = 2

/**
 * Runs the audit and prints the report on `stdout`; errors go to `stderr` as
 * one message, never a stack.
 *
 * @example
 * ```ts
 * process.exitCode = await auditCommand(
 *   { files: ['portcullis.yaml'], aws: false, format: 'text', failOn: 'high', version: '0.1.0' },
 *   { stdout: process.stdout, stderr: process.stderr },
 * )
 * ```
 */
export async function auditCommand(
  options: AuditCommandOptions,
  io: { stdout: Writable; stderr: Writable },
): Promise<number> {
  if (options.files.length === 0 && !options.aws) {
    io.stderr.write('portcullis audit: give a configuration FILE, --aws, or both\n')
    return EXIT_ERROR
  }
  if (!options.aws && (options.region !== undefined || options.endpointUrl !== undefined)) {
    io.stderr.write('portcullis audit: --region and --endpoint-url apply to --aws only\n')
    return EXIT_ERROR
  }
  const findings: Finding[] = []
  const scanned: string[] = []
  const audits: { label: string; run: () => Promise<ConfigAuditResult> }[] = options.import
    ? [{ label: options.files.join(' '), run: () => auditSources(options.files, options.import!) }]
    : options.files.map((file) => ({ label: file, run: () => auditConfigFile(file) }))
  for (const { label: file, run } of audits) {
    try {
      const audited = await run()
      findings.push(...audited.findings)
      // Information for whoever runs the file next, apart from the report (which stays pure JSON or SARIF).
      if (audited.startNeeds.length > 0) {
        const lines = audited.startNeeds.map((issue) => formatIssue(issue, options.import ? undefined : file))
        io.stderr.write(
          `${file}: portcullis start would still need (information, not findings):\n${lines.join('\n')}\n`,
        )
      }
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error
      io.stderr.write(`${error.format()}\n${file}: not a valid configuration; nothing audited\n`)
      return EXIT_ERROR
    }
  }
  if (options.aws) {
    try {
      const result = await auditAwsAccount({
        ...(options.region === undefined ? {} : { region: options.region }),
        ...(options.endpointUrl === undefined ? {} : { endpoint: options.endpointUrl }),
      })
      findings.push(...result.findings)
      scanned.push(...result.loadBalancers)
      if (options.format === 'text') {
        io.stderr.write(`audited ${result.loadBalancers.length} application load balancer(s) in ${result.region}\n`)
      }
    } catch (error) {
      if (!(error instanceof AwsAuditError)) throw error
      io.stderr.write(`portcullis audit: ${error.message}\n`)
      return EXIT_ERROR
    }
  }
  const sorted = sortFindings(findings)
  const out =
    options.format === 'json'
      ? formatJson(sorted, scanned)
      : options.format === 'sarif'
        ? formatSarif(sorted, options.version)
        : formatText(sorted, scanned)
  io.stdout.write(out)
  const threshold = options.failOn
  return threshold !== undefined && sorted.some((f) => atLeast(f.severity, threshold)) ? EXIT_FINDINGS : 0
}

/** The sources imported as `portcullis import` would, then audited. */
async function auditSources(
  files: readonly string[],
  options: { readonly parameters: readonly string[]; readonly importValues: readonly string[] },
): Promise<ConfigAuditResult> {
  const sources = await Promise.all(files.map((file) => readSource(file)))
  const imported = importSources(sources, {
    parameters: pairs('--parameter', options.parameters),
    importValues: pairs('--import-value', options.importValues),
  })
  return auditImported(imported, files.join(' '))
}
