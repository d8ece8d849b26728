/**
 * ALB's predefined TLS security policies (`SslPolicy`) as data, and what the
 * running Node.js/OpenSSL can honour of them: the one table that listeners
 * (`listeners/tls.ts`), the loader, `validate`'s summary and `portcullis audit`
 * read.
 *
 * Sources: AWS's "Security policies for your Application Load Balancer"
 * (the console and API defaults, the PQ policies' hybrid groups, the
 * policy families); its per-policy tables of the 2021-06 and 2025-09
 * policies as transcribed in moto (`moto/elbv2/ssl_policies.py`, protocols
 * and ciphers in AWS's order); for the 2015–2020 policies, the cipher lists
 * of AWS's s2n-tls (`tls/s2n_cipher_preferences.c`, `elb_security_policy_*`);
 * the FIPS names from AWS's page and s2n-tls (CNSA 2.0). Re-check against
 * `aws elbv2 describe-ssl-policies` when AWS adds a policy.
 *
 * What AWS does not say and Portcullis decided (docs/alb-contract.md):
 * - key-exchange groups: AWS names groups for the PQ policies only
 *   (X25519MLKEM768, SecP256r1MLKEM768, SecP384r1MLKEM1024, plus classical
 *   groups for clients without ML-KEM). Every other policy gets the classical
 *   X25519, P-256 and P-384, so that an OpenSSL whose default list carries
 *   ML-KEM hybrids (3.5, in Node 24) does not negotiate post-quantum key
 *   exchange under a policy that has none;
 * - FIPS policies are refused on every runtime: their cipher lists are not
 *   carried here, and Portcullis has not been run on a FIPS provider.
 */
import { getFips } from 'node:crypto'
import { createSecureContext } from 'node:tls'
import { editDistance } from '../values/edit-distance.js'

/** A TLS protocol version, as Node's `minVersion`/`maxVersion` and `getProtocol()` spell it. */
export type TlsVersion = 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3'

const VERSIONS: readonly TlsVersion[] = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3']
const VERSION_LABEL: Readonly<Record<TlsVersion, string>> = {
  TLSv1: 'TLS 1.0',
  'TLSv1.1': 'TLS 1.1',
  'TLSv1.2': 'TLS 1.2',
  'TLSv1.3': 'TLS 1.3',
}

/** One predefined ALB security policy. */
export interface SecurityPolicy {
  readonly name: string
  /** The oldest and newest protocol the policy negotiates. */
  readonly minVersion: TlsVersion
  readonly maxVersion: TlsVersion
  /**
   * Cipher suites in OpenSSL's names and ALB's order of preference (the
   * server's order decides, as on ALB): `TLS_…` for TLS 1.3, the others for
   * TLS 1.2 and below. Empty for FIPS policies, which are refused.
   */
  readonly ciphers: readonly string[]
  /** Key-exchange groups, OpenSSL's names, in order of preference. */
  readonly groups: readonly string[]
  /** FIPS 140-3 validated cryptography only. */
  readonly fips: boolean
  /** Offers hybrid post-quantum (ML-KEM) key exchange. */
  readonly postQuantum: boolean
  /** The policy to suggest when this one cannot run here: the same ciphers without what the runtime lacks. */
  readonly nearest?: string
}

// Building blocks, in ALB's order.
const TLS13 = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256']
/** ECDHE with AES-GCM: the `Res` policies. */
const ECDHE_GCM = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
]
/** ECDHE with AES-GCM and AES-CBC over SHA-2. */
const ECDHE_SHA2 = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES128-SHA256',
  'ECDHE-RSA-AES128-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-AES256-SHA384',
  'ECDHE-RSA-AES256-SHA384',
]
/** Every ECDHE suite ALB offers: SHA-2, and AES-CBC over SHA-1. */
const ECDHE_ALL = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES128-SHA256',
  'ECDHE-RSA-AES128-SHA256',
  'ECDHE-ECDSA-AES128-SHA',
  'ECDHE-RSA-AES128-SHA',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-AES256-SHA384',
  'ECDHE-RSA-AES256-SHA384',
  'ECDHE-RSA-AES256-SHA',
  'ECDHE-ECDSA-AES256-SHA',
]
/** RSA key exchange (no forward secrecy) over SHA-2. */
const RSA_SHA2 = ['AES128-GCM-SHA256', 'AES128-SHA256', 'AES256-GCM-SHA384', 'AES256-SHA256']
/** RSA key exchange, SHA-2 and SHA-1. */
const RSA_ALL = ['AES128-GCM-SHA256', 'AES128-SHA256', 'AES128-SHA', 'AES256-GCM-SHA384', 'AES256-SHA256', 'AES256-SHA']

const CLASSICAL_GROUPS = ['X25519', 'P-256', 'P-384']
/** The hybrid groups AWS names for its PQ policies, then the classical ones for other clients. */
const PQ_GROUPS = ['X25519MLKEM768', 'SecP256r1MLKEM768', 'SecP384r1MLKEM1024', ...CLASSICAL_GROUPS]

const P = 'ELBSecurityPolicy-'

function policy(
  suffix: string,
  minVersion: TlsVersion,
  maxVersion: TlsVersion,
  ciphers: readonly string[],
  nearest?: string,
): SecurityPolicy {
  const postQuantum = suffix.includes('-PQ-')
  return {
    name: P + suffix,
    minVersion,
    maxVersion,
    ciphers,
    groups: postQuantum ? PQ_GROUPS : CLASSICAL_GROUPS,
    fips: false,
    postQuantum,
    ...(nearest === undefined ? {} : { nearest: P + nearest }),
  }
}

/** A FIPS policy: known, refused everywhere (see the module comment), with its non-FIPS twin to suggest. */
function fips(suffix: string, minVersion: TlsVersion, maxVersion: TlsVersion, nearest: string): SecurityPolicy {
  const postQuantum = suffix.includes('-PQ-')
  return {
    name: P + suffix,
    minVersion,
    maxVersion,
    ciphers: [],
    groups: postQuantum ? PQ_GROUPS : CLASSICAL_GROUPS,
    fips: true,
    postQuantum,
    nearest: P + nearest,
  }
}

const T10 = 'TLSv1'
const T11 = 'TLSv1.1'
const T12 = 'TLSv1.2'
const T13 = 'TLSv1.3'

/** Every predefined ALB security policy, by name. */
export const SECURITY_POLICIES: ReadonlyMap<string, SecurityPolicy> = new Map(
  [
    // TLS 1.3 policies (2021-06)
    policy('TLS13-1-3-2021-06', T13, T13, TLS13),
    policy('TLS13-1-2-2021-06', T12, T13, [...TLS13, ...ECDHE_SHA2]),
    policy('TLS13-1-2-Res-2021-06', T12, T13, [...TLS13, ...ECDHE_GCM]),
    policy('TLS13-1-2-Ext1-2021-06', T12, T13, [...TLS13, ...ECDHE_SHA2, ...RSA_SHA2]),
    policy('TLS13-1-2-Ext2-2021-06', T12, T13, [...TLS13, ...ECDHE_ALL, ...RSA_ALL]),
    policy('TLS13-1-1-2021-06', T11, T13, [...TLS13, ...ECDHE_ALL, ...RSA_ALL], 'TLS13-1-2-Ext2-2021-06'),
    policy('TLS13-1-0-2021-06', T10, T13, [...TLS13, ...ECDHE_ALL, ...RSA_ALL], 'TLS13-1-2-Ext2-2021-06'),
    // Post-quantum policies (2025-09): the 2021-06 ciphers, with hybrid ML-KEM key exchange.
    policy('TLS13-1-3-PQ-2025-09', T13, T13, TLS13, 'TLS13-1-3-2021-06'),
    policy('TLS13-1-2-PQ-2025-09', T12, T13, [...TLS13, ...ECDHE_SHA2], 'TLS13-1-2-2021-06'),
    policy('TLS13-1-2-Res-PQ-2025-09', T12, T13, [...TLS13, ...ECDHE_GCM], 'TLS13-1-2-Res-2021-06'),
    policy('TLS13-1-2-Ext1-PQ-2025-09', T12, T13, [...TLS13, ...ECDHE_SHA2, ...RSA_SHA2], 'TLS13-1-2-Ext1-2021-06'),
    policy('TLS13-1-2-Ext2-PQ-2025-09', T12, T13, [...TLS13, ...ECDHE_ALL, ...RSA_ALL], 'TLS13-1-2-Ext2-2021-06'),
    policy('TLS13-1-0-PQ-2025-09', T10, T13, [...TLS13, ...ECDHE_ALL, ...RSA_ALL], 'TLS13-1-2-Ext2-PQ-2025-09'),
    // TLS 1.2 and older policies
    policy('2016-08', T10, T12, [...ECDHE_ALL, ...RSA_ALL], 'TLS-1-2-Ext-2018-06'),
    policy('2015-05', T10, T12, [...ECDHE_ALL, ...RSA_ALL], 'TLS-1-2-Ext-2018-06'),
    policy('TLS-1-0-2015-04', T10, T12, [...ECDHE_ALL, ...RSA_ALL, 'DES-CBC3-SHA'], 'TLS-1-2-Ext-2018-06'),
    policy('TLS-1-1-2017-01', T11, T12, [...ECDHE_ALL, ...RSA_ALL], 'TLS-1-2-Ext-2018-06'),
    policy('TLS-1-2-2017-01', T12, T12, [...ECDHE_SHA2, ...RSA_SHA2]),
    policy('TLS-1-2-Ext-2018-06', T12, T12, [...ECDHE_ALL, ...RSA_ALL]),
    // Forward-secrecy policies
    policy('FS-2018-06', T10, T12, ECDHE_ALL, 'FS-1-2-2019-08'),
    policy('FS-1-1-2019-08', T11, T12, ECDHE_ALL, 'FS-1-2-2019-08'),
    policy('FS-1-2-2019-08', T12, T12, ECDHE_ALL),
    policy('FS-1-2-Res-2019-08', T12, T12, ECDHE_SHA2),
    policy('FS-1-2-Res-2020-10', T12, T12, ECDHE_GCM),
    // FIPS policies (2023-04), FIPS post-quantum (2025-09), CNSA 2.0 (2026-07)
    fips('TLS13-1-3-FIPS-2023-04', T13, T13, 'TLS13-1-3-2021-06'),
    fips('TLS13-1-2-Res-FIPS-2023-04', T12, T13, 'TLS13-1-2-Res-2021-06'),
    fips('TLS13-1-2-FIPS-2023-04', T12, T13, 'TLS13-1-2-2021-06'),
    fips('TLS13-1-2-Ext0-FIPS-2023-04', T12, T13, 'TLS13-1-2-Ext2-2021-06'),
    fips('TLS13-1-2-Ext1-FIPS-2023-04', T12, T13, 'TLS13-1-2-Ext1-2021-06'),
    fips('TLS13-1-2-Ext2-FIPS-2023-04', T12, T13, 'TLS13-1-2-Ext2-2021-06'),
    fips('TLS13-1-1-FIPS-2023-04', T11, T13, 'TLS13-1-2-Ext2-2021-06'),
    fips('TLS13-1-0-FIPS-2023-04', T10, T13, 'TLS13-1-2-Ext2-2021-06'),
    fips('TLS13-1-3-FIPS-PQ-2025-09', T13, T13, 'TLS13-1-3-PQ-2025-09'),
    fips('TLS13-1-2-FIPS-PQ-2025-09', T12, T13, 'TLS13-1-2-PQ-2025-09'),
    fips('TLS13-1-2-Res-FIPS-PQ-2025-09', T12, T13, 'TLS13-1-2-Res-PQ-2025-09'),
    fips('TLS13-1-2-Ext0-FIPS-PQ-2025-09', T12, T13, 'TLS13-1-2-Ext2-PQ-2025-09'),
    fips('TLS13-1-2-Ext1-FIPS-PQ-2025-09', T12, T13, 'TLS13-1-2-Ext1-PQ-2025-09'),
    fips('TLS13-1-2-Ext2-FIPS-PQ-2025-09', T12, T13, 'TLS13-1-2-Ext2-PQ-2025-09'),
    fips('TLS13-1-3-CNSA2-INTEROP1-FIPS-PQ-2026-07', T13, T13, 'TLS13-1-3-PQ-2025-09'),
    fips('TLS13-1-2-CNSA2-INTEROP2-FIPS-PQ-2026-07', T12, T13, 'TLS13-1-2-Res-PQ-2025-09'),
    fips('TLS13-1-2-CNSA2-INTEROP3-FIPS-PQ-2026-07', T12, T13, 'TLS13-1-2-Res-PQ-2025-09'),
  ].map((p) => [p.name, p]),
)

/**
 * The policy of an HTTPS listener without `SslPolicy`: the ALB console's
 * default. (AWS's API, CLI, CloudFormation and CDK default to
 * `ELBSecurityPolicy-2016-08`, which allows TLS 1.0; a hand-written file gets
 * the console's instead: secure by default. A pasted `describe-listeners`
 * output always names its policy.) A runtime without ML-KEM gets the same
 * protocols and ciphers without the hybrid groups ({@link defaultPolicyFor}).
 */
export const DEFAULT_SECURITY_POLICY = 'ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09'

/** The named policy, if ALB has one of that name. */
export function securityPolicy(name: string): SecurityPolicy | undefined {
  return SECURITY_POLICIES.get(name)
}

/** What the running TLS stack can do that some policies need. */
export interface TlsRuntime {
  /** `process.versions.openssl`, for messages. */
  readonly openssl: string
  /** A FIPS provider is active (`crypto.getFips()`). */
  readonly fips: boolean
  /** OpenSSL knows the ML-KEM hybrid groups (OpenSSL 3.5+: Node 24; not Node 20's 3.0). */
  readonly mlKem: boolean
}

let probed: TlsRuntime | undefined

/** The running Node's TLS stack, probed once. */
export function currentTlsRuntime(): TlsRuntime {
  if (probed === undefined) {
    let mlKem = true
    try {
      // Groups are TLS names, not curves: crypto.getCurves() does not list them; OpenSSL refuses an unknown one.
      createSecureContext({ ecdhCurve: 'X25519MLKEM768' })
    } catch {
      mlKem = false
    }
    probed = { openssl: process.versions.openssl ?? 'unknown', fips: getFips() === 1, mlKem }
  }
  return probed
}

/** Why a policy cannot run on a runtime, and the nearest one that can. */
export interface PolicyRefusal {
  readonly reason: string
  /** A policy this runtime honours, closest to the refused one; undefined when there is none. */
  readonly nearest: string | undefined
}

/**
 * Why `policy` cannot be honoured on `runtime`, or undefined when it can.
 *
 * TLS 1.0 and 1.1 are refused on every runtime: OpenSSL 3 negotiates them
 * only at security level 0 (`@SECLEVEL=0`; at its default level 1 they have
 * no signature algorithm left), and that level lifts every other check of
 * the listener too (short keys, SHA-1 signatures) for TLS 1.2 clients as
 * well. Portcullis does not weaken a listener that far on a configuration
 * pasted from AWS; the nearest policy keeps the same ciphers on TLS 1.2+.
 */
export function policyRefusal(policy: SecurityPolicy, runtime: TlsRuntime): PolicyRefusal | undefined {
  const reason = refusalReason(policy, runtime)
  if (reason === undefined) return undefined
  let nearest = policy.nearest
  const seen = new Set<string>([policy.name])
  // The nearest policy may itself need what the runtime lacks (TLS13-1-0-PQ → TLS13-1-2-Ext2-PQ on Node 20): follow on.
  while (nearest !== undefined && !seen.has(nearest)) {
    seen.add(nearest)
    const next = SECURITY_POLICIES.get(nearest)
    if (next === undefined || refusalReason(next, runtime) === undefined) break
    nearest = next.nearest
  }
  return { reason, nearest }
}

function refusalReason(policy: SecurityPolicy, runtime: TlsRuntime): string | undefined {
  if (policy.fips) {
    return runtime.fips
      ? 'FIPS policies are not carried by this version of Portcullis (their cipher lists are not in its table, and it has not been verified on a FIPS provider)'
      : `this FIPS policy needs FIPS-validated cryptography, and this Node.js runs without a FIPS provider (crypto.getFips() is 0)`
  }
  if (VERSIONS.indexOf(policy.minVersion) < VERSIONS.indexOf('TLSv1.2')) {
    return `this policy allows ${policy.minVersion === 'TLSv1' ? 'TLS 1.0 and 1.1' : 'TLS 1.1'}, which OpenSSL 3 negotiates only at security level 0, and that level would lift its other checks (short keys, SHA-1 signatures) for every client of the listener`
  }
  if (policy.postQuantum && !runtime.mlKem) {
    return `this policy offers ML-KEM post-quantum key exchange, which this Node.js's OpenSSL ${runtime.openssl} lacks (Node.js 24 has it)`
  }
  return undefined
}

/**
 * The policy a listener without `SslPolicy` gets on `runtime`: ALB's console
 * default, or where the runtime lacks ML-KEM, its classical twin.
 */
export function defaultPolicyFor(runtime: TlsRuntime): SecurityPolicy {
  const preferred = SECURITY_POLICIES.get(DEFAULT_SECURITY_POLICY)!
  return runtime.mlKem ? preferred : SECURITY_POLICIES.get(preferred.nearest!)!
}

/**
 * The policy an HTTPS listener runs: its `SslPolicy`, or the default for this
 * runtime. The loader has refused unknown and unrunnable names already; one
 * reaching here is a bug, and throws.
 */
export function listenerSecurityPolicy(sslPolicy: string | undefined): SecurityPolicy {
  const runtime = currentTlsRuntime()
  if (sslPolicy === undefined) return defaultPolicyFor(runtime)
  const policy = SECURITY_POLICIES.get(sslPolicy)
  const refusal = policy === undefined ? undefined : policyRefusal(policy, runtime)
  if (policy === undefined || refusal !== undefined) {
    throw new Error(`SslPolicy ${sslPolicy} cannot run here: ${refusal?.reason ?? 'unknown policy'}`)
  }
  return policy
}

/** The Node.js TLS options that make a context or server negotiate as `policy` does. */
export interface PolicyTlsOptions {
  readonly minVersion: TlsVersion
  readonly maxVersion: TlsVersion
  /** TLS 1.3 suites (`TLS_…`) and TLS 1.2 ciphers in one list: Node splits them by their prefix. */
  readonly ciphers: string
  readonly ecdhCurve: string
  /** ALB picks the first cipher of its own list that the client offers. */
  readonly honorCipherOrder: true
}

/**
 * The TLS options of a listener under `policy`, for `createSecureContext`,
 * `https.createServer` and `setSecureContext` alike (every context of the
 * listener, SNI ones included, must carry them: OpenSSL reads protocol
 * bounds and ciphers from the context that accepted the connection).
 */
export function tlsOptionsFor(policy: SecurityPolicy): PolicyTlsOptions {
  return {
    minVersion: policy.minVersion,
    maxVersion: policy.maxVersion,
    ciphers: policy.ciphers.join(':'),
    ecdhCurve: policy.groups.join(':'),
    honorCipherOrder: true,
  }
}

/**
 * Why a policy counts as outdated (Security Hub ELB.17 and `portcullis
 * audit`): it allows TLS 1.0 or 1.1, or 3DES. Undefined when it does not.
 */
export function outdatedBecause(policy: SecurityPolicy): string | undefined {
  if (policy.minVersion === 'TLSv1') return 'negotiates TLS 1.0 or 1.1'
  if (policy.minVersion === 'TLSv1.1') return 'negotiates TLS 1.1'
  if (policy.ciphers.includes('DES-CBC3-SHA')) return 'offers 3DES'
  return undefined
}

/**
 * The known policy names closest to `name` (for "did you mean"): by edit
 * distance, case aside, at most `limit` of them within a third of the name.
 */
export function closestPolicyNames(name: string, limit = 2): string[] {
  const key = name.toLowerCase()
  const max = Math.max(3, Math.floor(name.length / 3))
  return [...SECURITY_POLICIES.keys()]
    .map((candidate) => ({ candidate, d: editDistance(key, candidate.toLowerCase()) }))
    .filter(({ d }) => d <= max)
    .sort((a, b) => a.d - b.d)
    .slice(0, limit)
    .map(({ candidate }) => candidate)
}

/** One line on what a policy allows, for `validate`: protocols, cipher count, forward secrecy, groups. */
export function describePolicy(policy: SecurityPolicy): string {
  const versions = VERSIONS.slice(VERSIONS.indexOf(policy.minVersion), VERSIONS.indexOf(policy.maxVersion) + 1)
  const tls12 = policy.ciphers.filter((c) => !c.startsWith('TLS_'))
  const forwardSecret = tls12.every((c) => c.startsWith('ECDHE-'))
  const parts = [versions.map((v) => VERSION_LABEL[v]).join(', ')]
  if (tls12.length > 0 && versions.some((v) => v !== 'TLSv1.3')) {
    parts.push(
      `${tls12.length} TLS 1.2${policy.minVersion === 'TLSv1.2' ? '' : '-and-older'} ciphers${forwardSecret ? ' (all forward-secret)' : ''}`,
    )
  }
  if (policy.postQuantum) parts.push('ML-KEM hybrid key exchange')
  return parts.join('; ')
}
