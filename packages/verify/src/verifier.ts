import { verify as cryptoVerify } from 'node:crypto'
import { LruCache } from './cache/lru.js'
import { AlbVerifyError } from './errors.js'
import { type HeaderSource, readSingleHeader } from './headers.js'
import { defaultKeyEndpoint } from './keys/endpoint.js'
import { KeyFetchLimiter } from './keys/limiter.js'
import { KeySource, type KeySourceSettings } from './keys/source.js'
import { compileTrustedProxies } from './net/trusted-proxies.js'
import { parseAlbTokenShared } from './token.js'

/** The verified payload of an ALB token: the IdP's userinfo claims plus `exp` and `iss`. Deeply frozen. */
export type AlbClaims = Record<string, unknown> & { sub?: string; exp: number; iss?: string }

/** What {@link AlbVerifier.verifyRequest} returns for an authenticated request. */
export interface AlbIdentity {
  /** The verified claims of `x-amzn-oidc-data`. */
  claims: AlbClaims
  /** `x-amzn-oidc-accesstoken`, as ALB forwarded it (not verified: it is the IdP's opaque token). */
  accessToken: string | undefined
  /** `x-amzn-oidc-identity`, checked equal to `claims.sub`. */
  identity: string
}

/** Options of {@link createAlbVerifier}. */
export interface AlbVerifierOptions {
  /**
   * The load balancer ARN(s) allowed to have signed the token (header `signer`).
   * Required: the regional key server is shared by every AWS account, so a
   * signature alone proves nothing.
   */
  signer: string | readonly string[]
  /** Allowed `iss` value(s): the IdP issuer configured on the listener rule. `null` = explicitly not checked. */
  issuer: string | readonly string[] | null
  /** Allowed header `client` value(s): the OIDC client id of the rule. `null` = explicitly not checked. */
  clientId: string | readonly string[] | null
  /**
   * Base URL of the key server; keys are fetched from `{keyEndpoint}/{kid}`.
   * Default: the AWS endpoint of each signer ARN's region (see {@link defaultKeyEndpoint}).
   */
  keyEndpoint?: string
  /** Allowed clock skew for `exp`, `nbf` and `iat`, in seconds. Default 0. */
  clockToleranceSeconds?: number
  /**
   * Peer addresses allowed to send identity headers (CIDRs or single addresses).
   * When set, {@link AlbVerifier.verifyRequest} requires `remoteAddress` inside one of them.
   */
  trustedProxies?: readonly string[]
  /** Bound on one key fetch (connect, headers and body), in milliseconds. Default 3000. */
  keyFetchTimeoutMs?: number
  /** Public keys kept, per key endpoint. Default 64. */
  keyCacheSize?: number
  /** How long a fetched key is kept, in seconds (keys never change per kid). Default 86400. */
  keyCacheTtlSeconds?: number
  /** Failed kids remembered, per key endpoint. Default 1024. */
  negativeKeyCacheSize?: number
  /** How long a failed kid is answered from memory without a new fetch, in seconds. Default 30. */
  negativeKeyCacheTtlSeconds?: number
  /** Key fetches allowed back to back before the steady rate applies. Default 10. */
  keyFetchBurst?: number
  /** Steady key fetch rate once the burst is spent, per second. Default 1. */
  keyFetchRatePerSecond?: number
  /** Key fetches in flight at once. Default 4. */
  maxConcurrentKeyFetches?: number
  /** Verified tokens remembered (a hit requires the whole token to be equal), so a token repeated across requests is verified once. 0 disables. Default 1000. */
  tokenCacheSize?: number
  /** Clock in milliseconds since the epoch. Default `Date.now`; for tests. */
  clock?: () => number
}

/** A configured verifier; create one per application and reuse it (it holds the caches). */
export interface AlbVerifier {
  /**
   * Verifies an `x-amzn-oidc-data` token and resolves to its claims. `claims.exp`
   * is the effective expiry (the earlier of header and payload `exp`).
   * Rejects only with {@link AlbVerifyError}.
   */
  verify(token: string): Promise<AlbClaims>
  /**
   * The complete request-level check: trusted peer (when `trustedProxies` is
   * set), then `x-amzn-oidc-data` verified, then `x-amzn-oidc-identity` equal
   * to its `sub`. Rejects only with {@link AlbVerifyError}.
   */
  verifyRequest(headers: HeaderSource | Headers, options?: { remoteAddress?: string | undefined }): Promise<AlbIdentity>
  /**
   * Only the `trustedProxies` check of {@link AlbVerifier.verifyRequest}, for
   * requests let through without identity (anonymous access); a no-op when
   * `trustedProxies` is not set.
   *
   * @throws {AlbVerifyError} `ERR_UNTRUSTED_PROXY`.
   */
  checkPeer(remoteAddress: string | undefined): void
}

function toSet(
  name: string,
  value: string | readonly string[] | null | undefined,
  nullable: boolean,
): Set<string> | null {
  if (value === null && nullable) return null
  const list = typeof value === 'string' ? [value] : value
  if (!Array.isArray(list) || list.length === 0 || list.some((v) => typeof v !== 'string' || v === '')) {
    throw new TypeError(
      `${name} is required: a non-empty string or array of non-empty strings` +
        (nullable ? ' (or null to skip the check)' : ''),
    )
  }
  return new Set(list as readonly string[])
}

/**
 * `lookup`, remembering the last key found: ALB repeats the same signer,
 * client id and issuer on every token, and comparing to the last one costs
 * less than hashing a fresh string. Misses are not remembered.
 */
function rememberLast<V>(lookup: (key: string) => V | undefined): (key: string | undefined) => V | undefined {
  let lastKey: string | undefined
  let lastValue: V | undefined
  return (key) => {
    if (key === undefined) return undefined
    if (key === lastKey) return lastValue
    const value = lookup(key)
    if (value !== undefined) {
      lastKey = key
      lastValue = value
    }
    return value
  }
}

/** `set.has` through `rememberLast`; `null` (no set: any value passes) stays null. */
function memberOf(set: ReadonlySet<string> | null): ((value: string | undefined) => boolean) | null {
  if (set === null) return null
  const found = rememberLast((value) => (set.has(value) ? true : undefined))
  return (value) => found(value) === true
}

/** An entry of the verified-token cache: the whole token, compared on every hit, and its claims. */
interface VerifiedToken {
  readonly token: string
  readonly claims: AlbClaims
}

// The verified-token cache is keyed by a number folded from the token's last
// characters (the end of the signature, which differs for every token), not by
// the token: a token arrives as a fresh string with every request, and V8
// hashes a string in full on its first lookup (~1.5 ns per character, ~0.9 µs
// for 600). A hit still requires the whole token to be equal, so it only ever
// returns claims verified for exactly these bytes; tokens sharing a key only
// cost a miss, and the later one verified replaces the earlier.
const TOKEN_CACHE_KEY_CHARACTERS = 16

function tokenCacheKey(token: string): number {
  let key = 0
  for (let i = Math.max(0, token.length - TOKEN_CACHE_KEY_CHARACTERS); i < token.length; i++) {
    key = (Math.imul(key, 31) + token.charCodeAt(i)) | 0
  }
  // 30 bits: a small integer for V8 on every platform, hashed without allocation.
  return key & 0x3fffffff
}

function option(options: AlbVerifierOptions, name: keyof AlbVerifierOptions, fallback: number, min: number): number {
  const value = options[name] ?? fallback
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new TypeError(`${name} must be a finite number >= ${min}`)
  }
  return value
}

function normaliseEndpoint(endpoint: string): string {
  let url: URL
  try {
    url = new URL(endpoint)
  } catch {
    throw new TypeError('keyEndpoint must be an absolute http(s) URL')
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.search !== '' || url.hash !== '') {
    throw new TypeError('keyEndpoint must be an http(s) URL without query or fragment')
  }
  return url.href.replace(/\/+$/, '')
}

function deepFreeze(root: object): void {
  // Iterative: claims are attacker-shaped JSON until the signature checks, and
  // even afterwards deep nesting must not cost a stack overflow.
  const stack: object[] = [root]
  while (stack.length > 0) {
    const value = stack.pop()!
    Object.freeze(value)
    for (const key in value) {
      const child = (value as Record<string, unknown>)[key]
      if (child !== null && typeof child === 'object' && !Object.isFrozen(child)) stack.push(child)
    }
  }
}

/**
 * Creates a verifier for ALB's `x-amzn-oidc-data` tokens.
 *
 * Checks, in order (nothing touches the network before the pins pass):
 * size ≤ 16 KiB → three strict base64url segments → header JSON and field types →
 * `alg` is `ES256` → `kid` is a UUID → payload JSON and field types, `exp` present →
 * `signer` pinned → `client` pinned → `iss` pinned (header and payload agree) →
 * key fetched by `kid` → ES256 signature over the received `header.payload` →
 * `exp` (earlier of header and payload) → `nbf`/`iat`.
 *
 * @throws {TypeError} on invalid options (never for bad tokens).
 * @example
 * ```ts
 * const verifier = createAlbVerifier({
 *   signer: 'arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/my-alb/50dc6c495c0c9188',
 *   issuer: 'https://idp.example.com',
 *   clientId: 'my-client-id',
 * })
 * const { claims } = await verifier.verifyRequest(req.headers, { remoteAddress: req.socket.remoteAddress })
 * ```
 */
export function createAlbVerifier(options: AlbVerifierOptions): AlbVerifier {
  if (options === null || typeof options !== 'object') throw new TypeError('createAlbVerifier needs an options object')
  const signers = toSet('signer', options.signer, false)!
  const isIssuer = memberOf(toSet('issuer', options.issuer, true))
  const isClientId = memberOf(toSet('clientId', options.clientId, true))
  const toleranceSeconds = option(options, 'clockToleranceSeconds', 0, 0)
  const clock = options.clock ?? Date.now
  if (typeof clock !== 'function') throw new TypeError('clock must be a function')
  const isTrustedPeer = options.trustedProxies === undefined ? null : compileTrustedProxies(options.trustedProxies)
  const tokenCacheSize = option(options, 'tokenCacheSize', 1000, 0)
  const tokenCache = tokenCacheSize >= 1 ? new LruCache<number, VerifiedToken>(Math.floor(tokenCacheSize)) : null

  const settings: KeySourceSettings = {
    limiter: new KeyFetchLimiter({
      burst: option(options, 'keyFetchBurst', 10, 1),
      ratePerSecond: option(options, 'keyFetchRatePerSecond', 1, 0),
      maxInFlight: option(options, 'maxConcurrentKeyFetches', 4, 1),
      clock,
    }),
    clock,
    timeoutMs: option(options, 'keyFetchTimeoutMs', 3000, 1),
    cacheSize: Math.floor(option(options, 'keyCacheSize', 64, 1)),
    cacheTtlMs: option(options, 'keyCacheTtlSeconds', 86400, 0) * 1000,
    negativeCacheSize: Math.floor(option(options, 'negativeKeyCacheSize', 1024, 1)),
    negativeCacheTtlMs: option(options, 'negativeKeyCacheTtlSeconds', 30, 0) * 1000,
  }
  // One key source per endpoint; each signer maps to the source of its region
  // (or to the single configured endpoint), decided once here.
  const sourcesByEndpoint = new Map<string, KeySource>()
  const sourceBySigner = new Map<string, KeySource>()
  const configuredEndpoint = options.keyEndpoint === undefined ? undefined : normaliseEndpoint(options.keyEndpoint)
  for (const signer of signers) {
    const endpoint = configuredEndpoint ?? defaultKeyEndpoint(signer)
    let source = sourcesByEndpoint.get(endpoint)
    if (source === undefined) {
      source = new KeySource(endpoint, settings)
      sourcesByEndpoint.set(endpoint, source)
    }
    sourceBySigner.set(signer, source)
  }

  const sourceOf = rememberLast((signer) => sourceBySigner.get(signer))

  async function verify(token: string): Promise<AlbClaims> {
    let cacheKey: number | undefined
    if (tokenCache !== null && typeof token === 'string') {
      cacheKey = tokenCacheKey(token)
      // Entries expire at exp + tolerance, so a hit is still within its lifetime.
      const hit = tokenCache.get(cacheKey, clock())
      if (hit !== undefined && hit.token === token) return hit.claims
    }
    let { header, payload, signingInput, signature, expiresAt } = parseAlbTokenShared(token)

    const source = sourceOf(header.signer)
    if (source === undefined) throw new AlbVerifyError('ERR_SIGNER', 'token signer is not an allowed load balancer')
    if (isClientId !== null && !isClientId(header.client)) {
      throw new AlbVerifyError('ERR_CLIENT', 'token client is not an allowed client id')
    }
    const headerIss = header.iss
    const payloadIss = payload['iss'] as string | undefined
    if (headerIss !== undefined && payloadIss !== undefined && headerIss !== payloadIss) {
      throw new AlbVerifyError('ERR_ISSUER', 'token header and payload disagree on iss')
    }
    if (isIssuer !== null && !isIssuer(headerIss ?? payloadIss)) {
      throw new AlbVerifyError('ERR_ISSUER', 'token iss is not an allowed issuer')
    }

    let key = source.cached(header.kid)
    if (key === undefined) {
      // Waiting for the key lets other verifications reuse the shared parse buffers.
      signingInput = Buffer.from(signingInput)
      signature = Buffer.from(signature)
      key = await source.load(header.kid)
    }
    let valid: boolean
    try {
      valid = cryptoVerify('sha256', signingInput, key, signature)
    } catch (err) {
      throw new AlbVerifyError('ERR_SIGNATURE', 'token signature could not be checked', { cause: err })
    }
    if (!valid) throw new AlbVerifyError('ERR_SIGNATURE', 'token signature is invalid')

    const nowMs = clock()
    const now = nowMs / 1000
    // RFC 7519: valid only *before* exp, so a token is rejected from exp + tolerance on.
    if (now >= expiresAt + toleranceSeconds) throw new AlbVerifyError('ERR_EXPIRED', 'token has expired')
    const nbf = payload['nbf'] as number | undefined
    if (nbf !== undefined && nbf > now + toleranceSeconds) {
      throw new AlbVerifyError('ERR_NOT_YET_VALID', 'token is not valid yet (nbf)')
    }
    const iat = payload['iat'] as number | undefined
    if (iat !== undefined && iat > now + toleranceSeconds) {
      throw new AlbVerifyError('ERR_NOT_YET_VALID', 'token was issued in the future (iat)')
    }

    payload['exp'] = expiresAt
    const claims = payload as AlbClaims
    deepFreeze(claims)
    if (cacheKey !== undefined) tokenCache?.set(cacheKey, { token, claims }, (expiresAt + toleranceSeconds) * 1000)
    return claims
  }

  function checkPeer(remoteAddress: string | undefined): void {
    if (isTrustedPeer !== null && !isTrustedPeer(remoteAddress)) {
      throw new AlbVerifyError('ERR_UNTRUSTED_PROXY', 'request did not come from a trusted proxy')
    }
  }

  async function verifyRequest(
    headers: HeaderSource | Headers,
    requestOptions?: { remoteAddress?: string | undefined },
  ): Promise<AlbIdentity> {
    checkPeer(requestOptions?.remoteAddress)
    if (headers === null || typeof headers !== 'object') {
      throw new AlbVerifyError('ERR_MISSING_HEADER', 'request has no headers')
    }
    const token = readSingleHeader(headers, 'x-amzn-oidc-data')
    if (token === undefined) throw new AlbVerifyError('ERR_MISSING_HEADER', 'x-amzn-oidc-data header is missing')
    // Fetch Headers and Node join repeated headers with ", ".
    if (token.indexOf(',') >= 0) throw new AlbVerifyError('ERR_MALFORMED', 'header x-amzn-oidc-data is repeated')
    const identity = readSingleHeader(headers, 'x-amzn-oidc-identity')
    if (identity === undefined) {
      throw new AlbVerifyError('ERR_MISSING_HEADER', 'x-amzn-oidc-identity header is missing')
    }
    const accessToken = readSingleHeader(headers, 'x-amzn-oidc-accesstoken')
    const claims = await verify(token)
    if (claims.sub !== identity) {
      throw new AlbVerifyError('ERR_IDENTITY_MISMATCH', 'x-amzn-oidc-identity does not match the token sub')
    }
    return { claims, accessToken, identity }
  }

  return { verify, verifyRequest, checkPeer }
}
