import { createHmac, randomBytes, randomUUID } from 'node:crypto'
import type { OutgoingHttpHeaders } from 'node:http'
import { encodeBase64urlPadded } from '../base64url.js'
import { type AlbSigningKey, generateSigningKey, publicKeyPem } from '../mint/keys.js'
import { signAlbToken } from '../mint/sign.js'
import { MAX_TOKEN_LENGTH } from '../token.js'

/** The identifier of one case of the probe battery. Stable: reports and SARIF rules use it. */
export type ProbeCaseId =
  | 'baseline'
  | 'positive-control'
  | 'identity-without-token'
  | 'alg-none'
  | 'hs256-public-key'
  | 'unknown-key'
  | 'flipped-signature'
  | 'expired'
  | 'foreign-signer'
  | 'wrong-client'
  | 'wrong-issuer'
  | 'identity-mismatch'
  | 'underscore-header'
  | 'repeated-header'
  | 'oversized-token'

/**
 * What a case is for: `baseline` is the anonymous request every answer is
 * compared with, `control` the fully valid token a correct target accepts,
 * `forgery` a request a correct target refuses.
 */
export type ProbeCaseRole = 'baseline' | 'control' | 'forgery'

/** Everything a case needs to build its request headers. */
export interface ProbeContext {
  /** The target's own load balancer ARN (a placeholder when no signing key was given). */
  readonly signer: string
  readonly issuer: string
  readonly clientId: string
  /** A key the target's key endpoint publishes; `undefined` when the probe has none. */
  readonly key: AlbSigningKey | undefined
  /** Claims of the probe's user; `sub` is always a string. */
  readonly claims: Readonly<Record<string, unknown>> & { readonly sub: string }
  /** Seconds since the epoch. */
  readonly now: number
}

/** One request of the battery, as data. */
export interface ProbeCase {
  readonly id: ProbeCaseId
  /** A short name for tables: `alg: none`. */
  readonly title: string
  readonly role: ProbeCaseRole
  /** What a correct target does with this request, in a few words. */
  readonly correct: string
  /** Whether the case needs a signing key the target trusts (see {@link ProbeContext.key}). */
  readonly needsSigningKey: boolean
  /**
   * The request headers. An array value is sent as repeated header lines.
   * Called only when `needsSigningKey` is false or `context.key` is set.
   */
  readonly headers: (context: ProbeContext) => OutgoingHttpHeaders
}

const DATA = 'x-amzn-oidc-data'
const IDENTITY = 'x-amzn-oidc-identity'
const ACCESS_TOKEN = 'x-amzn-oidc-accesstoken'
/** The opaque access token sent beside every token; targets never verify it. */
const PROBE_ACCESS_TOKEN = 'portcullis-probe-access-token'

function keyOf(context: ProbeContext): AlbSigningKey {
  // Guarded by needsSigningKey; reaching this without a key is a bug in the runner.
  if (context.key === undefined) throw new Error('this probe case needs a signing key')
  return context.key
}

function valid(context: ProbeContext, overrides: Partial<Pick<ProbeContext, 'signer' | 'issuer' | 'clientId'>> = {}) {
  return signAlbToken({
    claims: context.claims,
    key: keyOf(context),
    signer: overrides.signer ?? context.signer,
    issuer: overrides.issuer ?? context.issuer,
    clientId: overrides.clientId ?? context.clientId,
    now: context.now,
  })
}

function albHeaders(token: string, context: ProbeContext, identity = context.claims.sub): OutgoingHttpHeaders {
  return { [DATA]: token, [IDENTITY]: identity, [ACCESS_TOKEN]: PROBE_ACCESS_TOKEN }
}

/** A token with an arbitrary header, signed by `sign` over the padded `header.payload`. */
function handRolled(context: ProbeContext, header: Record<string, unknown>, sign: (input: string) => string): string {
  const exp = context.now + 120
  const fullHeader = {
    typ: 'JWT',
    ...header,
    iss: context.issuer,
    client: context.clientId,
    signer: context.signer,
    exp,
  }
  const input = `${encodeBase64urlPadded(JSON.stringify(fullHeader))}.${encodeBase64urlPadded(
    JSON.stringify({ ...context.claims, exp, iss: context.issuer }),
  )}`
  return `${input}.${sign(input)}`
}

/**
 * Another load balancer in the same region: what anyone can create to get
 * validly signed tokens from the shared regional key server (ALBeast).
 */
export function foreignSigner(signer: string): string {
  const match = /^arn:([^:]+):elasticloadbalancing:([^:]+):\d{12}:loadbalancer\/app\/[^/]+\/[0-9a-f]+$/.exec(signer)
  const [partition, region] = match === null ? ['aws', 'us-east-1'] : [match[1], match[2]]
  return `arn:${partition}:elasticloadbalancing:${region}:999999999999:loadbalancer/app/portcullis-probe-other/${randomBytes(8).toString('hex')}`
}

function flipSignatureBit(token: string): string {
  const dot = token.lastIndexOf('.')
  const signature = Buffer.from(token.slice(dot + 1), 'base64url')
  // A bit in the middle of R: the token stays well-formed, only the signature breaks.
  signature[10] = signature[10]! ^ 0x01
  return `${token.slice(0, dot + 1)}${encodeBase64urlPadded(signature)}`
}

/**
 * The probe battery, in the order it runs: the baseline and the positive
 * control first (every other answer is judged against them), then each
 * forgery. Frozen; every entry is stable data a test or a report can use.
 *
 * @example
 * ```ts
 * for (const c of PROBE_CASES) console.log(c.id, c.needsSigningKey ? '(needs a key)' : '', c.correct)
 * ```
 */
export const PROBE_CASES: readonly ProbeCase[] = Object.freeze(
  (
    [
      {
        id: 'baseline',
        title: 'no identity headers (baseline)',
        role: 'baseline',
        correct: 'answers as anonymous',
        needsSigningKey: false,
        headers: () => ({}),
      },
      {
        id: 'positive-control',
        title: 'valid token (positive control)',
        role: 'control',
        correct: 'accepts',
        needsSigningKey: true,
        headers: (c) => albHeaders(valid(c), c),
      },
      {
        id: 'identity-without-token',
        title: 'identity and access token, no token',
        role: 'forgery',
        correct: 'refuses: no x-amzn-oidc-data',
        needsSigningKey: false,
        headers: (c) => ({ [IDENTITY]: c.claims.sub, [ACCESS_TOKEN]: PROBE_ACCESS_TOKEN }),
      },
      {
        id: 'alg-none',
        title: 'alg: none',
        role: 'forgery',
        correct: 'refuses: alg must be ES256',
        needsSigningKey: false,
        headers: (c) =>
          albHeaders(
            handRolled(c, { kid: c.key?.kid ?? randomUUID(), alg: 'none' }, () => ''),
            c,
          ),
      },
      {
        id: 'hs256-public-key',
        title: 'HS256 keyed with the public key PEM',
        role: 'forgery',
        correct: 'refuses: alg must be ES256',
        needsSigningKey: true,
        headers: (c) => {
          const key = keyOf(c)
          const pem = publicKeyPem(key)
          const token = handRolled(c, { kid: key.kid, alg: 'HS256' }, (input) =>
            encodeBase64urlPadded(createHmac('sha256', pem).update(input).digest()),
          )
          return albHeaders(token, c)
        },
      },
      {
        id: 'unknown-key',
        title: 'ES256 by a key the key server lacks',
        role: 'forgery',
        correct: 'refuses: no such key',
        needsSigningKey: false,
        headers: (c) => albHeaders(signAlbToken({ ...c, key: generateSigningKey() }), c),
      },
      {
        id: 'flipped-signature',
        title: 'valid token, one signature bit flipped',
        role: 'forgery',
        correct: 'refuses: bad signature',
        needsSigningKey: true,
        headers: (c) => albHeaders(flipSignatureBit(valid(c)), c),
      },
      {
        id: 'expired',
        title: 'expired token',
        role: 'forgery',
        correct: 'refuses: expired',
        needsSigningKey: true,
        headers: (c) => albHeaders(signAlbToken({ ...c, key: keyOf(c), now: c.now - 3600 }), c),
      },
      {
        id: 'foreign-signer',
        title: "another load balancer's signer (ALBeast)",
        role: 'forgery',
        correct: 'refuses: signer not pinned',
        needsSigningKey: true,
        headers: (c) => albHeaders(valid(c, { signer: foreignSigner(c.signer) }), c),
      },
      {
        id: 'wrong-client',
        title: 'wrong client',
        role: 'forgery',
        correct: 'refuses: client not pinned',
        needsSigningKey: true,
        headers: (c) => albHeaders(valid(c, { clientId: 'portcullis-probe-other-client' }), c),
      },
      {
        id: 'wrong-issuer',
        title: 'wrong iss',
        role: 'forgery',
        correct: 'refuses: issuer not pinned',
        needsSigningKey: true,
        headers: (c) => albHeaders(valid(c, { issuer: 'https://other-idp.portcullis-probe.invalid' }), c),
      },
      {
        id: 'identity-mismatch',
        title: 'x-amzn-oidc-identity is not the sub',
        role: 'forgery',
        correct: 'refuses: identity ≠ sub',
        needsSigningKey: true,
        headers: (c) => albHeaders(valid(c), c, `${c.claims.sub}-someone-else`),
      },
      {
        id: 'underscore-header',
        title: 'x_amzn_oidc_data (underscores)',
        role: 'forgery',
        correct: 'refuses: not the ALB header',
        needsSigningKey: true,
        headers: (c) => ({
          x_amzn_oidc_data: valid(c),
          x_amzn_oidc_identity: c.claims.sub,
          x_amzn_oidc_accesstoken: PROBE_ACCESS_TOKEN,
        }),
      },
      {
        id: 'repeated-header',
        title: 'x-amzn-oidc-data sent twice',
        role: 'forgery',
        correct: 'refuses: which copy is the ALB’s?',
        needsSigningKey: true,
        headers: (c) => ({
          ...albHeaders(valid(c), c),
          // The valid token first: a target that picks the first copy accepts, one that refuses both is right.
          [DATA]: [valid(c), signAlbToken({ ...c, key: generateSigningKey() })],
        }),
      },
      {
        id: 'oversized-token',
        title: `validly signed token over ${MAX_TOKEN_LENGTH / 1024} KiB`,
        role: 'forgery',
        correct: 'refuses: too large',
        needsSigningKey: true,
        headers: (c) =>
          albHeaders(
            signAlbToken({ ...c, key: keyOf(c), claims: { ...c.claims, padding: 'x'.repeat(MAX_TOKEN_LENGTH) } }),
            c,
          ),
      },
    ] satisfies ProbeCase[]
  ).map((entry) => Object.freeze(entry)),
)
