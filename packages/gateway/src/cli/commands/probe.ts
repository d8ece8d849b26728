/**
 * `portcullis probe URL`: sends `@portcullis/verify/probe`'s battery of forged
 * identities to a target, directly, and reports which it accepts.
 */
import { readFile } from 'node:fs/promises'
import { basename } from 'node:path'
import type { Writable } from 'node:stream'
import { type AlbSigningKey, importSigningKey } from '@portcullis/verify/mint'
import {
  PROBE_CASES,
  type ProbeCaseResult,
  type ProbeCases,
  ProbeError,
  type ProbeReport,
  probeAlbTarget,
} from '@portcullis/verify/probe'
import { formatSarifLog } from '../../audit/sarif.js'
import { signingKeyFiles } from '../../state/index.js'

/** Options of {@link probeCommand}, as the command line gives them. */
export interface ProbeCommandOptions {
  readonly url: string
  /** A gateway state directory: the probe signs with its active signing key. */
  readonly stateDir?: string
  /** A P-256 private key (PEM) the target's key endpoint publishes. */
  readonly signingKey?: string
  /** The key id of `signingKey`; default: its file name, when that is `{kid}.pem`. */
  readonly kid?: string
  readonly signer?: string
  readonly issuer?: string
  readonly clientId?: string
  readonly authenticatedMatch?: string
  /** Which identity headers to forge: `oidc` (default), `mtls`, `all`. */
  readonly cases?: ProbeCases
  /** A PEM file of a client certificate (and its chain) the target admits, for the `mtls` cases. */
  readonly clientCertificate?: string
  readonly format: 'text' | 'json' | 'sarif'
  readonly timeoutMs?: number
  readonly maxRequests?: number
  /** Written into SARIF's `tool.driver.version`. */
  readonly version: string
}

/** Exit codes: every forgery refused; one accepted; could not judge (usage errors included). */
export const PROBE_EXIT = Object.freeze({ pass: 0, fail: 1, inconclusive: 2 })

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/**
 * Runs the probe and prints the report (a table, JSON or SARIF 2.1.0) on
 * `stdout`. Usage errors (a bad URL, an unreadable key, a missing `--signer`)
 * are one line on `stderr`, never a stack.
 *
 * @returns 0 when every forgery was refused, 1 when one was accepted, 2 when
 * the probe could not judge or could not start.
 * @example
 * ```ts
 * process.exitCode = await probeCommand(
 *   { url: 'http://127.0.0.1:3000/api/whoami', stateDir: '.portcullis', signer, issuer, clientId, format: 'text', version },
 *   { stdout: process.stdout, stderr: process.stderr },
 * )
 * ```
 */
export async function probeCommand(
  options: ProbeCommandOptions,
  io: { stdout: Writable; stderr: Writable },
): Promise<number> {
  let report: ProbeReport
  try {
    const signingKey = await loadKey(options)
    if (signingKey !== undefined) {
      for (const [flag, value] of [
        ['--signer', options.signer],
        ['--issuer', options.issuer],
        ['--client-id', options.clientId],
      ] as const) {
        if (value === undefined) {
          throw new ProbeError(
            'ERR_PROBE_OPTIONS',
            `${flag} is required with a signing key: the positive control must be a token the target trusts`,
          )
        }
      }
    }
    if (options.clientCertificate !== undefined && (options.cases ?? 'oidc') === 'oidc') {
      throw new ProbeError('ERR_PROBE_OPTIONS', '--client-certificate is for the mtls cases: add --cases mtls (or all)')
    }
    const clientCertificate =
      options.clientCertificate === undefined
        ? undefined
        : await readText(options.clientCertificate, 'the client certificate', 'ERR_PROBE_OPTIONS')
    report = await probeAlbTarget({
      target: options.url,
      ...(options.cases === undefined ? {} : { cases: options.cases }),
      ...(clientCertificate === undefined ? {} : { clientCertificate }),
      ...(signingKey === undefined ? {} : { signingKey }),
      ...(options.signer === undefined ? {} : { signer: options.signer }),
      ...(options.issuer === undefined ? {} : { issuer: options.issuer }),
      ...(options.clientId === undefined ? {} : { clientId: options.clientId }),
      ...(options.authenticatedMatch === undefined ? {} : { authenticatedMatch: options.authenticatedMatch }),
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      ...(options.maxRequests === undefined ? {} : { maxRequests: options.maxRequests }),
    })
  } catch (error) {
    if (!(error instanceof ProbeError)) throw error
    io.stderr.write(`portcullis probe: ${error.message}\n`)
    return PROBE_EXIT.inconclusive
  }
  if (options.format === 'json') io.stdout.write(`${JSON.stringify(report, null, 2)}\n`)
  else if (options.format === 'sarif') io.stdout.write(formatSarif(report, options.version))
  else io.stdout.write(formatTable(report))
  return PROBE_EXIT[report.outcome]
}

function keyError(message: string, cause?: unknown): ProbeError {
  return new ProbeError('ERR_PROBE_KEY', message, cause === undefined ? undefined : { cause })
}

async function readText(
  path: string,
  what: string,
  errorCode: 'ERR_PROBE_KEY' | 'ERR_PROBE_OPTIONS' = 'ERR_PROBE_KEY',
): Promise<string> {
  try {
    return await readFile(path, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    throw new ProbeError(errorCode, `cannot read ${what} ${path}${code ? ` (${code})` : ''}`, { cause: error })
  }
}

function importKey(kid: string, pem: string, path: string): AlbSigningKey {
  try {
    return importSigningKey({ kid, privateKeyPem: pem })
  } catch (error) {
    throw keyError(`${path}: ${(error as Error).message}`, error)
  }
}

/** The key to sign valid tokens with, read-only: a probe never creates or rotates keys. */
async function loadKey(options: ProbeCommandOptions): Promise<AlbSigningKey | undefined> {
  if (options.stateDir !== undefined && options.signingKey !== undefined) {
    throw new ProbeError('ERR_PROBE_OPTIONS', 'give --state-dir or --signing-key, not both')
  }
  if (options.kid !== undefined && options.signingKey === undefined) {
    throw new ProbeError('ERR_PROBE_OPTIONS', '--kid goes with --signing-key')
  }
  if (options.stateDir !== undefined) {
    // The gateway's layout (state/layout.ts): `active` names the kid, `{kid}.pem` holds its key.
    const files = signingKeyFiles(options.stateDir)
    const activeFile = files.active
    const kid = (
      await readText(activeFile, `the active signing key marker (is ${options.stateDir} a gateway state directory?)`)
    ).trim()
    if (!UUID.test(kid)) throw keyError(`${activeFile} does not name a key id`)
    const file = files.key(kid)
    return importKey(kid, await readText(file, 'the signing key'), file)
  }
  if (options.signingKey !== undefined) {
    const kid = options.kid ?? basename(options.signingKey).replace(/\.pem$/, '')
    if (!UUID.test(kid)) {
      throw keyError(
        options.kid === undefined
          ? `cannot tell the key id of ${options.signingKey}: name the file {kid}.pem or pass --kid`
          : '--kid must be a UUID',
      )
    }
    return importKey(kid, await readText(options.signingKey, 'the signing key'), options.signingKey)
  }
  return undefined
}

const OUTCOME_LINE = { pass: 'PASS', fail: 'FAIL', inconclusive: 'COULD NOT JUDGE' } as const

function verdictText(result: ProbeCaseResult): string {
  if (result.role === 'baseline') return result.verdict === 'inconclusive' ? 'could not judge' : 'reference'
  switch (result.verdict) {
    case 'skipped':
      return 'skipped'
    case 'inconclusive':
      return 'could not judge'
    default:
      return result.verdict === result.expected ? 'ok' : result.verdict.toUpperCase()
  }
}

function didText(result: ProbeCaseResult, controlRan: boolean): string {
  if (result.verdict === 'skipped') return '-'
  // The comparison is only true when the positive control was sent (it needs a signing key).
  if (result.role === 'forgery' && result.verdict === 'accepted' && controlRan)
    return `${result.detail}, like the control`
  return result.detail
}

/** The report as a table a person reads at a glance, with the outcome underneath. */
export function formatTable(report: ProbeReport): string {
  const controlRan = report.results.some((r) => r.role === 'control' && r.verdict !== 'skipped')
  const rows = [
    ['CASE', 'A CORRECT TARGET', 'THIS TARGET', 'VERDICT'],
    ...report.results.map((r) => [r.title, r.correct, didText(r, controlRan), verdictText(r)]),
  ]
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((row) => row[i]!.length)))
  const lines = rows.map((row) =>
    row
      .map((cell, i) => (i < 3 ? cell.padEnd(widths[i]!) : cell))
      .join('  ')
      .trimEnd(),
  )
  const skipped = new Map<string, string[]>()
  for (const r of report.results) {
    if (r.verdict === 'skipped') skipped.set(r.detail, [...(skipped.get(r.detail) ?? []), r.id])
  }
  return [
    `portcullis probe ${report.target}`,
    '',
    ...lines,
    '',
    ...[...skipped].map(([reason, ids]) => `Skipped (${reason}): ${ids.join(', ')}`),
    `${OUTCOME_LINE[report.outcome]}: ${report.reason} (${report.requests} request${report.requests === 1 ? '' : 's'})`,
    '',
  ].join('\n')
}

/**
 * The report as SARIF 2.1.0: one rule per forgery of the battery, one
 * `error` result per forgery the target accepted, located at the URL.
 */
export function formatSarif(report: ProbeReport, version: string): string {
  const controlRan = report.results.some((r) => r.role === 'control' && r.verdict !== 'skipped')
  return formatSarifLog({
    name: 'portcullis probe',
    version,
    // One rule per forgery the run selected (`--cases`).
    rules: PROBE_CASES.filter((c) => c.role === 'forgery' && report.results.some((r) => r.id === c.id)).map((c) => ({
      id: `portcullis-probe/${c.id}`,
      name: c.id,
      shortDescription: { text: `Target accepts a forged ALB identity: ${c.title}` },
      help: {
        text:
          c.family === 'mtls'
            ? `A target behind an ALB with mutual TLS must believe X-Amzn-Mtls-* only from its load balancer; a correct target ${c.correct}.`
            : `A target behind an ALB must verify x-amzn-oidc-data; a correct target ${c.correct}.`,
      },
      defaultConfiguration: { level: 'error' },
      properties: { tags: ['security'] },
    })),
    invocations: [
      {
        executionSuccessful: report.outcome !== 'inconclusive',
        exitCode: PROBE_EXIT[report.outcome],
        properties: { outcome: report.outcome, reason: report.reason, requests: report.requests },
      },
    ],
    results: report.results
      .filter((r) => r.role === 'forgery' && r.verdict === 'accepted')
      .map((r) => ({
        ruleId: `portcullis-probe/${r.id}`,
        level: 'error',
        message: {
          text: `${report.target} accepted a forged identity (${r.title}): it answered ${r.detail}, ${controlRan ? 'like the valid token' : 'unlike the baseline'}; a correct target ${r.correct}.`,
        },
        locations: [{ physicalLocation: { artifactLocation: { uri: report.target } } }],
      })),
  })
}
