import { createHmac, randomBytes, randomUUID, type X509Certificate } from 'node:crypto'
import type { OutgoingHttpHeaders } from 'node:http'
import { encodeBase64urlPadded } from '../base64url.js'
import { presentedClientCertificateHeaders, verifiedClientCertificateHeaders } from '../mint/client-certificate.js'
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
  | 'mtls-verify-headers'
  | 'mtls-underscore-headers'
  | 'mtls-passthrough-header'

/**
 * What a case is for: `baseline` is the anonymous request every answer is
 * compared with, `control` the fully valid token a correct target accepts,
 * `forgery` a request a correct target refuses.
 */
export type ProbeCaseRole = 'baseline' | 'control' | 'forgery'

/**
 * Which identity headers a case forges: `oidc` the `x-amzn-oidc-*` of an
 * authenticate action, `mtls` the `X-Amzn-Mtls-*` of a mutual-TLS listener.
 * The baseline belongs to both.
 */
export type ProbeCaseFamily = 'oidc' | 'mtls'

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
  /**
   * The client certificate the `mtls` cases claim, leaf first (its chain
   * after it): one the target admits, or the probe's own {@link PROBE_CLIENT_CERTIFICATE_PEM}.
   */
  readonly clientCertificate: readonly X509Certificate[]
}

/** One request of the battery, as data. */
export interface ProbeCase {
  readonly id: ProbeCaseId
  /** A short name for tables: `alg: none`. */
  readonly title: string
  readonly role: ProbeCaseRole
  /** The headers it forges; undefined for the baseline, which forges none. */
  readonly family: ProbeCaseFamily | undefined
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
 * The certificate the `mtls` cases claim when the probe is given none:
 * self-signed, `CN=admin,O=portcullis-probe`, for client authentication,
 * valid until 2126. Its private key was thrown away: the probe never needs
 * one, which is the point — a target that believes these headers from
 * anyone admits a client that holds no key at all.
 */
export const PROBE_CLIENT_CERTIFICATE_PEM = `-----BEGIN CERTIFICATE-----
MIIB0DCCAXWgAwIBAgIUDnn9U4eQuu1ko2flyMwZFo26WtUwCgYIKoZIzj0EAwIw
KzEZMBcGA1UECgwQcG9ydGN1bGxpcy1wcm9iZTEOMAwGA1UEAwwFYWRtaW4wIBcN
MjYxMjA3MTQ0NzUwWhgPMjEyNjExMTMxNDQ3NTBaMCsxGTAXBgNVBAoMEHBvcnRj
dWxsaXMtcHJvYmUxDjAMBgNVBAMMBWFkbWluMFkwEwYHKoZIzj0CAQYIKoZIzj0D
AQcDQgAEDDYmDIZNLpCnZfymUGyboNqPyqaeTMs+oOipSCHmonMOIRdw19hD+c3O
AVyzj1jYFevh6T3u+6vKX77bV8+xHaN1MHMwHQYDVR0OBBYEFDj5joviKqVOQhLh
bsqvZb9MdpHDMB8GA1UdIwQYMBaAFDj5joviKqVOQhLhbsqvZb9MdpHDMBMGA1Ud
JQQMMAoGCCsGAQUFBwMCMAwGA1UdEwEB/wQCMAAwDgYDVR0PAQH/BAQDAgeAMAoG
CCqGSM49BAMCA0kAMEYCIQDI+Rf3AIw+konNmSVNaqKKtUlbQ1N2r4XXyxwpzO3v
7gIhAMgn0ys2OJP2of7osHzTm9oS2FFBNdHTRqkw15U/yX0J
-----END CERTIFICATE-----
`

/**
 * The probe battery, in the order it runs: the baseline and the positive
 * control first (every other answer is judged against them), then each
 * forgery: the `oidc` family's, then the `mtls` family's. Frozen; every entry is stable data a test or a report can use.
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
        family: undefined,
        correct: 'answers as anonymous',
        needsSigningKey: false,
        headers: () => ({}),
      },
      {
        id: 'positive-control',
        title: 'valid token (positive control)',
        role: 'control',
        family: 'oidc',
        correct: 'accepts',
        needsSigningKey: true,
        headers: (c) => albHeaders(valid(c), c),
      },
      {
        id: 'identity-without-token',
        title: 'identity and access token, no token',
        role: 'forgery',
        family: 'oidc',
        correct: 'refuses: no x-amzn-oidc-data',
        needsSigningKey: false,
        headers: (c) => ({ [IDENTITY]: c.claims.sub, [ACCESS_TOKEN]: PROBE_ACCESS_TOKEN }),
      },
      {
        id: 'alg-none',
        title: 'alg: none',
        role: 'forgery',
        family: 'oidc',
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
        family: 'oidc',
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
        family: 'oidc',
        correct: 'refuses: no such key',
        needsSigningKey: false,
        headers: (c) => albHeaders(signAlbToken({ ...c, key: generateSigningKey() }), c),
      },
      {
        id: 'flipped-signature',
        title: 'valid token, one signature bit flipped',
        role: 'forgery',
        family: 'oidc',
        correct: 'refuses: bad signature',
        needsSigningKey: true,
        headers: (c) => albHeaders(flipSignatureBit(valid(c)), c),
      },
      {
        id: 'expired',
        title: 'expired token',
        role: 'forgery',
        family: 'oidc',
        correct: 'refuses: expired',
        needsSigningKey: true,
        headers: (c) => albHeaders(signAlbToken({ ...c, key: keyOf(c), now: c.now - 3600 }), c),
      },
      {
        id: 'foreign-signer',
        title: "another load balancer's signer (ALBeast)",
        role: 'forgery',
        family: 'oidc',
        correct: 'refuses: signer not pinned',
        needsSigningKey: true,
        headers: (c) => albHeaders(valid(c, { signer: foreignSigner(c.signer) }), c),
      },
      {
        id: 'wrong-client',
        title: 'wrong client',
        role: 'forgery',
        family: 'oidc',
        correct: 'refuses: client not pinned',
        needsSigningKey: true,
        headers: (c) => albHeaders(valid(c, { clientId: 'portcullis-probe-other-client' }), c),
      },
      {
        id: 'wrong-issuer',
        title: 'wrong iss',
        role: 'forgery',
        family: 'oidc',
        correct: 'refuses: issuer not pinned',
        needsSigningKey: true,
        headers: (c) => albHeaders(valid(c, { issuer: 'https://other-idp.portcullis-probe.invalid' }), c),
      },
      {
        id: 'identity-mismatch',
        title: 'x-amzn-oidc-identity is not the sub',
        role: 'forgery',
        family: 'oidc',
        correct: 'refuses: identity ≠ sub',
        needsSigningKey: true,
        headers: (c) => albHeaders(valid(c), c, `${c.claims.sub}-someone-else`),
      },
      {
        id: 'underscore-header',
        title: 'x_amzn_oidc_data (underscores)',
        role: 'forgery',
        family: 'oidc',
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
        family: 'oidc',
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
        family: 'oidc',
        correct: 'refuses: too large',
        needsSigningKey: true,
        headers: (c) =>
          albHeaders(
            signAlbToken({ ...c, key: keyOf(c), claims: { ...c.claims, padding: 'x'.repeat(MAX_TOKEN_LENGTH) } }),
            c,
          ),
      },
      {
        id: 'mtls-verify-headers',
        title: 'X-Amzn-Mtls-Clientcert-* of a certificate',
        role: 'forgery',
        family: 'mtls',
        correct: 'ignores or refuses: not from its LB',
        needsSigningKey: false,
        headers: (c) => verifiedClientCertificateHeaders(c.clientCertificate[0]!),
      },
      {
        id: 'mtls-underscore-headers',
        title: 'x_amzn_mtls_clientcert_* (underscores)',
        role: 'forgery',
        family: 'mtls',
        correct: 'ignores or refuses: not from its LB',
        needsSigningKey: false,
        headers: (c) =>
          Object.fromEntries(
            Object.entries(verifiedClientCertificateHeaders(c.clientCertificate[0]!)).map(([name, value]) => [
              name.replaceAll('-', '_'),
              value,
            ]),
          ),
      },
      {
        id: 'mtls-passthrough-header',
        title: 'X-Amzn-Mtls-Clientcert: a chain (passthrough)',
        role: 'forgery',
        family: 'mtls',
        correct: 'ignores or refuses: not from its LB',
        needsSigningKey: false,
        headers: (c) => presentedClientCertificateHeaders(c.clientCertificate),
      },
    ] satisfies ProbeCase[]
  ).map((entry) => Object.freeze(entry)),
)
