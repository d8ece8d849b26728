/**
 * Configuration problems, reported the way a compiler reports them: the file,
 * the line and column, the field path in ELBv2 vocabulary, and what was
 * expected. Nothing here carries a stack trace to the user.
 */
import { PortcullisError } from '../values/errors.js'

/** How bad a {@link ConfigIssue} is: errors refuse the file, warnings do not. */
export type ConfigIssueSeverity = 'error' | 'warning'

/**
 * One problem found in a configuration file.
 *
 * @example
 * ```ts
 * const issue: ConfigIssue = {
 *   path: 'Listeners[0].Rules[1].Priority',
 *   line: 12,
 *   column: 9,
 *   message: 'priority 10 is already used by Listeners[0].Rules[0]',
 *   severity: 'error',
 * }
 * ```
 */
export interface ConfigIssue {
  /** Field path such as `Listeners[0].Rules[2].Actions[0].FixedResponseConfig.MessageBody`; empty for the whole file. */
  readonly path: string
  /** 1-based line of the offending node in the file, when known. */
  readonly line?: number
  /** 1-based column of the offending node in the file, when known. */
  readonly column?: number
  /**
   * The file the line and column are in, when it is not the one the issue is
   * reported for: an imported configuration points into its source files.
   */
  readonly source?: string
  readonly message: string
  readonly severity: ConfigIssueSeverity
}

/**
 * Formats one issue as a single human-readable line:
 * `portcullis.yaml:12:9 Listeners[0].Rules[1].Priority: priority 10 is already used by Listeners[0].Rules[0]`.
 * Warnings carry a `warning:` marker after the location.
 *
 * @param issue The issue to format.
 * @param source File name shown in front of the location (unless the issue names its own); omitted when undefined.
 */
export function formatIssue(issue: ConfigIssue, source: string | undefined): string {
  let location = issue.source ?? source ?? ''
  if (issue.line !== undefined) {
    location += `${location ? ':' : ''}${issue.line}:${issue.column ?? 1}`
  }
  const marker = issue.severity === 'warning' ? 'warning: ' : ''
  const subject = issue.path ? `${issue.path}: ` : ''
  // `file:line:column message`, as compilers print; without a position, `file: message`.
  const separator = issue.line === undefined ? ': ' : ' '
  return `${location ? `${location}${separator}` : ''}${marker}${subject}${issue.message}`
}

/** Orders issues by file (for issues located in several), then position, issues without a position first. */
export function sortIssues(issues: readonly ConfigIssue[]): ConfigIssue[] {
  return [...issues].sort(
    (a, b) =>
      compareText(a.source ?? '', b.source ?? '') || (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0),
  )
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/**
 * Thrown when a configuration file cannot be used: missing, unreadable, not
 * YAML/JSON, of the wrong shape, or violating one of ELBv2's constraints.
 * `issues` holds every error found (and the warnings seen along the way), so
 * a user fixes them all in one pass. Its code is always `ERR_CONFIG`.
 *
 * @example
 * ```ts
 * try {
 *   await loadConfig('portcullis.yaml')
 * } catch (err) {
 *   if (err instanceof ConfigError) process.stderr.write(err.format() + '\n')
 *   else throw err
 * }
 * ```
 */
export class ConfigError extends PortcullisError {
  override readonly name = 'ConfigError'
  declare readonly code: 'ERR_CONFIG'
  /** Every problem found, errors and warnings, in file order. */
  readonly issues: readonly ConfigIssue[]
  /** The file name as the user gave it, used as the prefix of formatted lines. */
  readonly source: string | undefined

  constructor(issues: readonly ConfigIssue[], source: string | undefined) {
    const sorted = sortIssues(issues)
    const errors = sorted.filter((i) => i.severity === 'error')
    const first = errors[0] ?? sorted[0]
    const summary = first ? formatIssue(first, source) : 'invalid configuration'
    super('ERR_CONFIG', errors.length > 1 ? `${summary} (and ${errors.length - 1} more)` : summary)
    this.issues = sorted
    this.source = source
  }

  /** Every issue on its own line, in file order; never includes a stack trace. */
  format(): string {
    return this.issues.map((issue) => formatIssue(issue, this.source)).join('\n')
  }
}
