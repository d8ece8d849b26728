import { X509Certificate } from 'node:crypto'
import type { AlbSigningKey } from '../mint/keys.js'
import {
  PROBE_CASES,
  PROBE_CLIENT_CERTIFICATE_PEM,
  type ProbeCase,
  type ProbeCaseFamily,
  type ProbeCaseId,
  type ProbeCaseRole,
  type ProbeContext,
} from './cases.js'
import { ProbeError } from './errors.js'
import { type Answer, type ProbeHandler, send, withHandlerServer } from './send.js'

/** Options of {@link probeAlbTarget}. */
export interface ProbeOptions {
  /**
   * What to probe: an `http:`/`https:` URL (only that URL is ever requested),
   * or a request handler — a `node:http` listener, an Express app, Koa's
   * `app.callback()` — served on an ephemeral 127.0.0.1 port for the run.
   */
  readonly target: string | URL | ProbeHandler
  /** With a handler target: the path requested. Default `/`. */
  readonly path?: string
  /**
   * Which identity headers to forge: `oidc` (default) the `x-amzn-oidc-*` of
   * an authenticate action, `mtls` the `X-Amzn-Mtls-*` of a mutual-TLS
   * listener, `all` both. The baseline always runs.
   */
  readonly cases?: ProbeCases
  /**
   * For the `mtls` cases: PEM of a client certificate the target admits when
   * its load balancer vouches for it (leaf first, then its chain; the public
   * certificates only, never a key). Without it the cases claim the probe's
   * own `CN=admin` certificate, and the outcome cannot be `pass`: a target
   * that admits only certain certificates refuses that one whether or not it
   * believes the headers.
   */
  readonly clientCertificate?: string
  /**
   * A signing key the target's key endpoint publishes (e.g. from
   * `importSigningKey`, or the key your test's key server serves). Without it
   * only the cases that need no valid token run, and the outcome cannot be `pass`.
   */
  readonly signingKey?: AlbSigningKey
  /** The target's own load balancer ARN. Required with `signingKey`. */
  readonly signer?: string
  /** The issuer the target pins. Required with `signingKey`. */
  readonly issuer?: string
  /** The client id the target pins. Required with `signingKey`. */
  readonly clientId?: string
  /** The probe user's claims. Default `{ sub: 'portcullis-probe-user', email: 'probe@portcullis.invalid' }`. */
  readonly claims?: Readonly<Record<string, unknown>> & { readonly sub: string }
  /**
   * For targets that answer 2xx with or without identity: a body that matches
   * marks an authenticated answer (tested on the first 64 KiB).
   */
  readonly authenticatedMatch?: RegExp | string
  /** Bound on each request, connect to last body byte. Default 5000. */
  readonly timeoutMs?: number
  /** Bound on the number of requests; cases beyond it are skipped. Default: the battery's size. */
  readonly maxRequests?: number
}

/** {@link ProbeOptions.cases}. */
export type ProbeCases = ProbeCaseFamily | 'all'

/** How a target treated one case. */
export type ProbeVerdict = 'accepted' | 'refused' | 'inconclusive' | 'skipped'

/** One case's outcome. The target behaved correctly when `verdict === expected`. */
export interface ProbeCaseResult {
  readonly id: ProbeCaseId
  readonly title: string
  readonly role: ProbeCaseRole
  readonly family: ProbeCaseFamily | undefined
  /** What a correct target does, in words. */
  readonly correct: string
  /** `accepted` for the positive control, `refused` for the baseline and every forgery. */
  readonly expected: 'accepted' | 'refused'
  readonly verdict: ProbeVerdict
  /** The HTTP status, when the target answered. */
  readonly status?: number
  /** Whether the body matched `authenticatedMatch`, when one was given and the target answered. */
  readonly bodyMatched?: boolean
  /** What the target did, or why the case was not judged, in a few words. */
  readonly detail: string
}

/**
 * A probe run. `outcome` is `fail` when any forgery was accepted; `pass`
 * only when the positive control was accepted and every forgery ran and was
 * refused; `inconclusive` otherwise (see `reason`), never a false pass.
 */
export interface ProbeReport {
  /** The URL probed, or `handler GET /path` for a handler target. */
  readonly target: string
  readonly outcome: 'pass' | 'fail' | 'inconclusive'
  /** One sentence: the outcome and, when `inconclusive`, why. */
  readonly reason: string
  /** Requests sent. */
  readonly requests: number
  /** Every case of {@link PROBE_CASES} that `cases` selects, in order. */
  readonly results: readonly ProbeCaseResult[]
}

/** Default for {@link ProbeOptions.timeoutMs}. */
export const DEFAULT_PROBE_TIMEOUT_MS = 5000
const DEFAULT_CLAIMS = Object.freeze({ sub: 'portcullis-probe-user', email: 'probe@portcullis.invalid' })
// Placeholders make the keyless forgeries well-formed; they are never trusted by anything.
const PLACEHOLDER_SIGNER = 'arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/portcullis-probe/0'
const PLACEHOLDER_ISSUER = 'https://idp.portcullis-probe.invalid'
const PLACEHOLDER_CLIENT = 'portcullis-probe-client'

function checkOptions(options: ProbeOptions) {
  const invalid = (message: string) => new ProbeError('ERR_PROBE_OPTIONS', message)
  const { target } = options
  let url: URL | undefined
  let handler: ProbeHandler | undefined
  if (typeof target === 'function') {
    handler = target
    const path = options.path ?? '/'
    if (typeof path !== 'string' || !path.startsWith('/')) {
      throw new ProbeError('ERR_PROBE_TARGET', 'path must start with "/"')
    }
  } else {
    if (options.path !== undefined) throw new ProbeError('ERR_PROBE_TARGET', 'path is only for handler targets')
    try {
      url = new URL(target)
    } catch (error) {
      throw new ProbeError('ERR_PROBE_TARGET', `not a URL: ${String(target)}`, { cause: error })
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new ProbeError('ERR_PROBE_TARGET', `only http: and https: URLs can be probed, not ${url.protocol}`)
    }
  }
  const selection = options.cases ?? 'oidc'
  if (selection !== 'oidc' && selection !== 'mtls' && selection !== 'all') {
    throw invalid(`cases must be oidc, mtls or all, not ${String(selection)}`)
  }
  const cases = PROBE_CASES.filter((c) => c.family === undefined || selection === 'all' || c.family === selection)
  if (selection === 'mtls' && options.signingKey !== undefined) {
    throw invalid('signingKey signs x-amzn-oidc-data tokens: it has no use with cases: mtls')
  }
  if (selection === 'oidc' && options.clientCertificate !== undefined) {
    throw invalid('clientCertificate is for the mtls cases: set cases to mtls or all')
  }
  let clientCertificate: X509Certificate[] | undefined
  if (options.clientCertificate !== undefined) {
    clientCertificate = certificatesOf(options.clientCertificate)
    if (clientCertificate === undefined) {
      throw invalid('clientCertificate is not PEM certificates (-----BEGIN CERTIFICATE-----, leaf first)')
    }
  }
  if (options.signingKey !== undefined) {
    const key = options.signingKey
    if (typeof key !== 'object' || key === null || typeof key.kid !== 'string' || key.privateKey?.type !== 'private') {
      throw invalid('signingKey must be an AlbSigningKey (generateSigningKey or importSigningKey)')
    }
    for (const name of ['signer', 'issuer', 'clientId'] as const) {
      if (typeof options[name] !== 'string' || options[name] === '') {
        throw invalid(`${name} is required with a signing key: the positive control must be a token the target trusts`)
      }
    }
  }
  const claims = options.claims ?? DEFAULT_CLAIMS
  if (typeof claims !== 'object' || claims === null || typeof claims.sub !== 'string' || claims.sub === '') {
    throw invalid('claims must be an object with a non-empty string sub')
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1) throw invalid('timeoutMs must be a positive whole number')
  const maxRequests = options.maxRequests ?? cases.length
  if (!Number.isInteger(maxRequests) || maxRequests < 1) throw invalid('maxRequests must be a positive whole number')
  let match: RegExp | undefined
  if (options.authenticatedMatch !== undefined) {
    try {
      const source = options.authenticatedMatch
      // Without g/y, test() keeps no state between bodies.
      match =
        typeof source === 'string' ? new RegExp(source) : new RegExp(source.source, source.flags.replace(/[gy]/g, ''))
    } catch (error) {
      throw invalid(`authenticatedMatch is not a regular expression: ${(error as Error).message}`)
    }
  }
  return { url, handler, claims, timeoutMs, maxRequests, match, cases, clientCertificate }
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g

/** The certificates of a PEM text, in order; undefined when there is none or one does not parse. */
function certificatesOf(pem: string): X509Certificate[] | undefined {
  if (typeof pem !== 'string') return undefined
  const blocks = pem.match(PEM_CERTIFICATE) ?? []
  if (blocks.length === 0) return undefined
  try {
    return blocks.map((block) => new X509Certificate(block))
  } catch {
    return undefined
  }
}

/** The probe's own certificate, parsed once when first needed. */
let probeCertificate: X509Certificate | undefined

/** The part of an answer that verdicts compare. */
interface Look {
  readonly statusClass: number
  readonly matched: boolean | undefined
}

const sameLook = (a: Look, b: Look) => a.statusClass === b.statusClass && a.matched === b.matched

function describe(answer: Answer, look: Look | undefined): string {
  if (answer.kind === 'failed') return answer.reason
  if (answer.kind === 'closed') return `connection closed (${answer.reason})`
  const matched = look?.matched === undefined ? '' : look.matched ? ', body matches' : ', body does not match'
  return `${answer.status}${matched}`
}

/**
 * Sends the probe battery ({@link PROBE_CASES}) to a target, directly (as an
 * attacker inside the network would, bypassing the load balancer), and
 * reports which forged identities it accepts.
 *
 * A case is *accepted* when the target answers it like the positive control
 * (status class, and `authenticatedMatch` when given) — the control itself
 * being answered unlike the baseline. When the control is refused, or no
 * signing key was given, nothing can prove the target verifies anything, so
 * the outcome is at best `inconclusive`.
 *
 * The `mtls` cases (`cases: 'mtls'` or `'all'`) send a certificate's
 * `X-Amzn-Mtls-Clientcert-*` headers from a peer that is not the load
 * balancer. No request sent straight to the target can carry a genuine
 * certificate identity, so there is no positive control for them: without a
 * signing key, a forgery is *accepted* when it is answered as authenticated
 * where the baseline was not (2xx where the baseline was not 2xx, or a body
 * matching `authenticatedMatch` where the baseline's did not). A target that
 * ignores the headers answers like the baseline; one that refuses them
 * (`createAlbClientCertificateReader`'s `ERR_UNTRUSTED_PROXY`) answers with
 * an error: both are correct.
 *
 * @throws {ProbeError} for invalid options, before any request.
 * @example
 * ```ts
 * import { probeAlbTarget } from '@portcullis/verify/probe'
 *
 * const report = await probeAlbTarget({ target: app, path: '/me', signingKey: key, signer, issuer, clientId })
 * assert.equal(report.outcome, 'pass', report.reason)
 * ```
 */
export async function probeAlbTarget(options: ProbeOptions): Promise<ProbeReport> {
  const checked = checkOptions(options)
  const path = options.path ?? '/'
  if (checked.handler !== undefined) {
    return withHandlerServer(checked.handler, (base) =>
      runBattery(new URL(path, base), `handler GET ${path}`, options, checked),
    )
  }
  return runBattery(checked.url!, checked.url!.href, options, checked)
}

async function runBattery(
  url: URL,
  target: string,
  options: ProbeOptions,
  checked: ReturnType<typeof checkOptions>,
): Promise<ProbeReport> {
  const { match, timeoutMs, maxRequests, cases } = checked
  probeCertificate ??= new X509Certificate(PROBE_CLIENT_CERTIFICATE_PEM)
  const context: ProbeContext = {
    signer: options.signer ?? PLACEHOLDER_SIGNER,
    issuer: options.issuer ?? PLACEHOLDER_ISSUER,
    clientId: options.clientId ?? PLACEHOLDER_CLIENT,
    key: options.signingKey,
    claims: checked.claims,
    now: Math.floor(Date.now() / 1000),
    clientCertificate: checked.clientCertificate ?? [probeCertificate],
  }
  let requests = 0
  const results = new Map<ProbeCaseId, ProbeCaseResult>()
  const base = (c: ProbeCase) => ({
    id: c.id,
    title: c.title,
    role: c.role,
    family: c.family,
    correct: c.correct,
    expected: c.role === 'control' ? ('accepted' as const) : ('refused' as const),
  })
  const skip = (c: ProbeCase, detail: string) => results.set(c.id, { ...base(c), verdict: 'skipped', detail })
  const lookOf = (answer: Answer): Look | undefined =>
    answer.kind === 'answered'
      ? {
          statusClass: Math.floor(answer.status / 100),
          matched: match === undefined ? undefined : match.test(answer.body),
        }
      : undefined

  // Every other answer is compared with these two.
  let baseline: Look | undefined
  let authenticated: ((look: Look) => boolean) | undefined
  let stop: string | undefined

  for (const c of cases) {
    if (stop !== undefined) {
      skip(c, stop)
      continue
    }
    if (c.needsSigningKey && context.key === undefined) {
      skip(c, 'needs a signing key the target trusts')
      continue
    }
    if (c.role === 'forgery' && authenticated === undefined) {
      skip(c, 'no way to tell an accepted request from a refused one')
      continue
    }
    if (requests >= maxRequests) {
      skip(c, `request budget (${maxRequests}) spent`)
      continue
    }
    requests++
    const answer = await send(url, c.headers(context), timeoutMs)
    const look = lookOf(answer)
    const detail = describe(answer, look)
    const status = answer.kind === 'answered' ? { status: answer.status } : {}
    const matched = look?.matched === undefined ? {} : { bodyMatched: look.matched }
    let verdict: ProbeVerdict
    if (c.role === 'baseline') {
      if (look === undefined) {
        verdict = 'inconclusive'
        stop = 'the baseline request got no answer'
      } else {
        verdict = 'refused'
        baseline = look
        if (context.key === undefined) authenticated = keylessReference(look, match !== undefined)
      }
    } else if (c.role === 'control') {
      const b = baseline!
      if (look !== undefined && look.statusClass <= 3 && look.matched !== false && !sameLook(look, b)) {
        verdict = 'accepted'
        authenticated = (other) => sameLook(other, look)
      } else {
        verdict = look === undefined ? 'inconclusive' : 'refused'
        stop = 'the positive control was not accepted'
      }
    } else if (look !== undefined) {
      verdict = authenticated!(look) ? 'accepted' : 'refused'
    } else {
      // A closed connection means the target would not serve the request; a timeout proves nothing.
      verdict = answer.kind === 'closed' ? 'refused' : 'inconclusive'
    }
    results.set(c.id, { ...base(c), verdict, ...status, ...matched, detail })
  }

  const ordered = cases.map((c) => results.get(c.id)!)
  const given = {
    key: context.key !== undefined,
    match: match !== undefined,
    certificate: checked.clientCertificate !== undefined,
  }
  return { target, ...conclude(ordered, given), requests, results: ordered }
}

/**
 * Without a positive control, an authenticated answer can only be guessed:
 * a 2xx where the baseline was not 2xx, or a 2xx/3xx whose body matches
 * `authenticatedMatch` where the baseline's did not.
 */
function keylessReference(baseline: Look, withMatch: boolean): ((look: Look) => boolean) | undefined {
  if (withMatch) {
    if (baseline.matched) return undefined
    return (look) => look.statusClass <= 3 && look.matched === true
  }
  if (baseline.statusClass === 2) return undefined
  return (look) => look.statusClass === 2
}

function conclude(
  results: readonly ProbeCaseResult[],
  given: { readonly key: boolean; readonly match: boolean; readonly certificate: boolean },
): Pick<ProbeReport, 'outcome' | 'reason'> {
  const forgeries = results.filter((r) => r.role === 'forgery')
  const accepted = forgeries.filter((r) => r.verdict === 'accepted')
  if (accepted.length > 0) {
    return {
      outcome: 'fail',
      reason: `the target accepted ${accepted.length} forged identit${accepted.length === 1 ? 'y' : 'ies'}: ${accepted.map((r) => r.id).join(', ')}`,
    }
  }
  const baseline = results[0]!
  const control = results.find((r) => r.role === 'control')
  const inconclusive = (reason: string) => ({ outcome: 'inconclusive' as const, reason })
  if (baseline.verdict !== 'refused') return inconclusive(`the baseline request got no answer (${baseline.detail})`)
  const blind = forgeries.some((r) => r.verdict === 'skipped' && r.detail.startsWith('no way'))
  if (control !== undefined && !given.key) {
    return inconclusive(
      blind
        ? `without a signing key there is no positive control, and the baseline answer (${baseline.detail}) looks authenticated${given.match ? '' : ': pass authenticatedMatch'}`
        : 'no forgery was accepted, but without a signing key the cases that need a valid token were skipped and there is no positive control',
    )
  }
  if (control !== undefined && control.verdict !== 'accepted') {
    return inconclusive(
      control.verdict === 'skipped'
        ? `the positive control was not sent (${control.detail})`
        : `the positive control, a valid token, was not accepted (${control.detail}, baseline ${baseline.detail}): check the signer, issuer, client id and key, or the authenticated match`,
    )
  }
  if (blind) {
    return inconclusive(
      `the baseline answer (${baseline.detail}) looks authenticated, so a believed forgery cannot be told from an ignored one${given.match ? '' : ': pass authenticatedMatch'}`,
    )
  }
  const unjudged = forgeries.filter((r) => r.verdict !== 'refused')
  if (unjudged.length > 0) {
    return inconclusive(
      `no forgery was accepted, but ${unjudged.length} case${unjudged.length === 1 ? ' was' : 's were'} not judged: ${unjudged.map((r) => `${r.id} (${r.detail})`).join(', ')}`,
    )
  }
  if (!given.certificate && forgeries.some((r) => r.family === 'mtls')) {
    return inconclusive(
      "no forgery was accepted, but the mtls cases claimed the probe's own certificate, which a target that admits only certain certificates refuses whether or not it believes the headers: pass a client certificate the target admits",
    )
  }
  return { outcome: 'pass', reason: `every forgery was refused (${forgeries.length} cases)` }
}
