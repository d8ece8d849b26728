/**
 * Audit output: a report a person reads (grouped by load balancer, worst
 * first), JSON, and SARIF 2.1.0 (through `sarif.ts`) for code-scanning dashboards.
 */
import { CATALOGUE, type Finding, type FindingId, SEVERITIES, type Severity } from './findings.js'
import { formatSarifLog, type SarifLevel } from './sarif.js'

/**
 * The readable report: one block per load balancer, each finding with its
 * severity, id, control, resource, message and remediation, then a count.
 *
 * @example
 * ```ts
 * process.stdout.write(formatText(findings))
 * ```
 */
export function formatText(findings: readonly Finding[], scanned: readonly string[] = []): string {
  const groups = new Map<string, Finding[]>()
  for (const arn of scanned) groups.set(arn, [])
  for (const f of findings) {
    // Two files may describe load balancers with the same ARN; each file is its own group.
    const key = f.location ? `${f.loadBalancer} in ${f.location.file}` : f.loadBalancer
    groups.set(key, [...(groups.get(key) ?? []), f])
  }
  const lines: string[] = []
  for (const [loadBalancer, list] of groups) {
    lines.push(`Load balancer ${loadBalancer}`)
    if (list.length === 0) lines.push('  no findings')
    for (const f of list) {
      lines.push(`  ${f.severity.toUpperCase().padEnd(6)} ${f.id}${f.control ? ` [${f.control}]` : ''}`)
      lines.push(`         ${f.resource}`)
      lines.push(`         ${f.message}`)
      lines.push(`         fix: ${f.remediation}`)
    }
    lines.push('')
  }
  const counts = SEVERITIES.map((s) => `${findings.filter((f) => f.severity === s).length} ${s}`).join(', ')
  lines.push(
    findings.length === 0 ? 'No findings.' : `${findings.length} finding${findings.length === 1 ? '' : 's'}: ${counts}`,
  )
  return `${lines.join('\n')}\n`
}

/** The findings as JSON (`{ findings: [...] }`), one stable shape for scripts. */
export function formatJson(findings: readonly Finding[], scanned: readonly string[] = []): string {
  return `${JSON.stringify({ loadBalancers: scanned, findings }, null, 2)}\n`
}

const SARIF_LEVEL: Record<Severity, SarifLevel> = { high: 'error', medium: 'warning', low: 'note' }
/** GitHub code scanning ranks results by this property (0.0–10.0). */
const SECURITY_SEVERITY: Record<Severity, string> = { high: '8.0', medium: '5.0', low: '2.0' }

/**
 * SARIF 2.1.0: one rule per check of the catalogue, one result per finding;
 * findings in a configuration file carry a physical location (file, line,
 * column), live ones a logical location (the ARN).
 *
 * @param version The tool version recorded in the log.
 * @example
 * ```ts
 * writeFileSync('audit.sarif', formatSarif(findings, '0.1.0'))
 * ```
 */
export function formatSarif(findings: readonly Finding[], version: string): string {
  return formatSarifLog({
    name: 'portcullis audit',
    version,
    rules: (Object.keys(CATALOGUE) as FindingId[]).map((id) => {
      const check = CATALOGUE[id]
      return {
        id,
        name: id,
        shortDescription: { text: check.title },
        help: { text: check.remediation },
        defaultConfiguration: { level: SARIF_LEVEL[check.severity] },
        properties: {
          'security-severity': SECURITY_SEVERITY[check.severity],
          tags: ['security', ...(check.control ? [check.control] : [])],
        },
      }
    }),
    results: findings.map((f) => ({
      ruleId: f.id,
      level: SARIF_LEVEL[f.severity],
      message: { text: `${f.message}. ${f.remediation}` },
      locations: [
        f.location
          ? {
              physicalLocation: {
                artifactLocation: { uri: f.location.file.split('\\').join('/') },
                region: { startLine: f.location.line, startColumn: f.location.column },
              },
              logicalLocations: [{ fullyQualifiedName: f.location.path }],
            }
          : { logicalLocations: [{ fullyQualifiedName: f.arn, kind: 'resource' }] },
      ],
      partialFingerprints: { 'portcullis/v1': `${f.id}:${f.arn}` },
    })),
  })
}
