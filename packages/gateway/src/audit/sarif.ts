/**
 * SARIF 2.1.0, the format code-scanning dashboards read: the one writer
 * behind `portcullis audit --format sarif` and `portcullis probe --format
 * sarif`. Each tool supplies its rules and results; the log's envelope and
 * each result's `ruleIndex` are written here.
 */

/** A result's severity, as SARIF names it. */
export type SarifLevel = 'error' | 'warning' | 'note'

/** One rule (a check, a forgery) of the tool. */
export interface SarifRule {
  readonly id: string
  readonly name: string
  readonly shortDescription: { readonly text: string }
  readonly help: { readonly text: string }
  readonly defaultConfiguration: { readonly level: SarifLevel }
  readonly properties: { readonly tags: readonly string[]; readonly 'security-severity'?: string }
}

/** Where a result points: a file position, a URL, or a named resource such as an ARN. */
export interface SarifLocation {
  readonly physicalLocation?: {
    readonly artifactLocation: { readonly uri: string }
    readonly region?: { readonly startLine: number; readonly startColumn: number }
  }
  readonly logicalLocations?: readonly { readonly fullyQualifiedName: string; readonly kind?: string }[]
}

/** One result; its `ruleIndex` is derived from `ruleId`. */
export interface SarifResult {
  readonly ruleId: string
  readonly level: SarifLevel
  readonly message: { readonly text: string }
  readonly locations: readonly SarifLocation[]
  readonly partialFingerprints?: Readonly<Record<string, string>>
}

/** How the run ended, for tools whose outcome is more than their results. */
export interface SarifInvocation {
  readonly executionSuccessful: boolean
  readonly exitCode: number
  readonly properties?: Readonly<Record<string, unknown>>
}

/** One run of one tool. */
export interface SarifRun {
  /** `tool.driver.name`, e.g. `portcullis audit`. */
  readonly name: string
  /** `tool.driver.version`: the package version. */
  readonly version: string
  readonly rules: readonly SarifRule[]
  readonly invocations?: readonly SarifInvocation[]
  readonly results: readonly SarifResult[]
}

/**
 * The SARIF 2.1.0 log of one run, as indented JSON with a final line break.
 *
 * @example
 * ```ts
 * const rule = { id: 'x', name: 'x', shortDescription: { text: 'X' }, help: { text: 'Fix X.' },
 *   defaultConfiguration: { level: 'error' }, properties: { tags: ['security'] } } as const
 * formatSarifLog({ name: 'portcullis audit', version: '0.1.0', rules: [rule], results: [] })
 * ```
 */
export function formatSarifLog(run: SarifRun): string {
  const index = new Map(run.rules.map((rule, i) => [rule.id, i]))
  const log = {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: { driver: { name: run.name, version: run.version, rules: run.rules } },
        invocations: run.invocations,
        results: run.results.map(({ ruleId, ...rest }) => ({ ruleId, ruleIndex: index.get(ruleId), ...rest })),
      },
    ],
  }
  return `${JSON.stringify(log, null, 2)}\n`
}
