/**
 * Framework-independent part of the `@portcullis/verify` middleware: option
 * handling, the decision "identity, anonymous or rejection", and the exact
 * HTTP rejection each verification failure maps to. Every framework adapter
 * (`./node.js`, `./express.js`, `./fastify.js`, `./hono.js`, `./koa.js`) is a
 * thin translation of {@link AlbAuthRejection} into its own response API, so
 * all of them answer byte for byte the same.
 *
 * @packageDocumentation
 */
import {
  type AlbIdentity,
  type AlbVerifier,
  type AlbVerifierOptions,
  type AlbVerifyErrorCode,
  createAlbVerifier,
  isAlbVerifyError,
} from '../index.js'

/** Request headers as the verifier reads them: Node's `req.headers`, a fetch `Headers`, or a plain record. */
export type AlbRequestHeaders = Parameters<AlbVerifier['verifyRequest']>[0]

/**
 * Options shared by every middleware: either the verifier options themselves
 * (the verifier is created once, when the middleware is built) or an existing
 * verifier, so that several middlewares share one key cache and one
 * verified-token cache.
 *
 * @example
 * ```ts
 * const options: AlbAuthOptions = {
 *   signer: 'arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/my-alb/50dc6c495c0c9188',
 *   issuer: 'https://idp.example.com',
 *   clientId: 'my-client-id',
 *   allowAnonymous: true, // the listener rule uses OnUnauthenticatedRequest: allow
 * }
 * ```
 */
export type AlbAuthOptions = (AlbVerifierOptions | { readonly verifier: AlbVerifier }) & {
  /**
   * For listener rules whose `OnUnauthenticatedRequest` is `allow`: a request
   * that carries **no** `x-amzn-oidc-*` header at all passes with no
   * identity. A request carrying any of them is verified as usual and
   * rejected if it fails, so a forged or broken header never degrades to
   * anonymous. `trustedProxies` applies to anonymous requests too.
   * Default `false`.
   */
  readonly allowAnonymous?: boolean
  /**
   * `Retry-After` (seconds) on the 503 answered when the key server failed.
   * Default: the verifier's `negativeKeyCacheTtlSeconds` when the options
   * create the verifier, else 30 (that option's default): a retry sooner would
   * only meet the verifier's memory of the failure.
   */
  readonly retryAfterSeconds?: number
}

/** `Retry-After` used when neither `retryAfterSeconds` nor `negativeKeyCacheTtlSeconds` is given. */
export const DEFAULT_RETRY_AFTER_SECONDS = 30

/**
 * The HTTP answer to a request that did not pass: status, headers and a
 * JSON body `{ "error": "<code>", "message": "<safe message>" }`. Instances
 * are created when the middleware is built, one per error code, and shared,
 * so a flood of bad requests allocates nothing here.
 *
 * - `401` for every token or identity-header failure, with
 *   `WWW-Authenticate: ALB realm="portcullis", error="<code>"`;
 * - `403` for `ERR_UNTRUSTED_PROXY`: the peer is not the load balancer, so no
 *   credential could help (no `WWW-Authenticate`);
 * - `503` with `Retry-After` for `ERR_KEY_FETCH` and `ERR_KEY_INVALID`: the
 *   key server is the server side's problem, the client did nothing wrong;
 * - `500` (`ERR_INTERNAL`) if the verifier ever failed with something other
 *   than an `AlbVerifyError` — a bug; nothing of it is exposed.
 *
 * All carry `Cache-Control: no-store` and `Content-Type: application/json; charset=utf-8`.
 */
export class AlbAuthRejection {
  /** HTTP status code. */
  readonly status: 401 | 403 | 500 | 503
  /** The `AlbVerifyError` code, or `ERR_INTERNAL`. */
  readonly code: AlbVerifyErrorCode | 'ERR_INTERNAL'
  /** A fixed, human-readable message that reveals nothing about the configuration. */
  readonly message: string
  /** Response headers, names in lower case. */
  readonly headers: Readonly<Record<string, string>>
  /** The serialised JSON body. */
  readonly body: string

  /** Use {@link rejectionFor}; this is public only so that `instanceof` narrows. */
  constructor(
    status: 401 | 403 | 500 | 503,
    code: AlbVerifyErrorCode | 'ERR_INTERNAL',
    message: string,
    retryAfterSeconds: number,
  ) {
    this.status = status
    this.code = code
    this.message = message
    this.body = JSON.stringify({ error: code, message })
    const headers: Record<string, string> = {
      'content-type': 'application/json; charset=utf-8',
      'cache-control': 'no-store',
    }
    // RFC 9110 requires WWW-Authenticate on 401 and only there; `ALB` is a
    // private scheme naming where the credential comes from: the load balancer.
    if (status === 401) headers['www-authenticate'] = `ALB realm="portcullis", error="${code}"`
    if (status === 503) headers['retry-after'] = String(retryAfterSeconds)
    this.headers = Object.freeze(headers)
    Object.freeze(this)
  }
}

// Fixed messages per code: the verifier's own messages are safe but may grow
// details; what a client sees is decided here. Typed as a complete record so
// that a code added to the verifier cannot be forgotten.
const MESSAGES: Readonly<Record<AlbVerifyErrorCode, string>> = {
  ERR_UNTRUSTED_PROXY: 'The request did not come through a trusted load balancer.',
  ERR_MISSING_HEADER: 'The request lacks the x-amzn-oidc-data or x-amzn-oidc-identity header.',
  ERR_TOO_LARGE: 'The x-amzn-oidc-data token is too large.',
  ERR_MALFORMED: 'The x-amzn-oidc-data header is malformed.',
  ERR_ALG: 'The x-amzn-oidc-data token uses an unsupported algorithm.',
  ERR_KID: 'The x-amzn-oidc-data token names an invalid key id.',
  ERR_SIGNER: 'The x-amzn-oidc-data token was not signed by the expected load balancer.',
  ERR_CLIENT: 'The x-amzn-oidc-data token was issued for another client.',
  ERR_ISSUER: 'The x-amzn-oidc-data token was issued by an unexpected identity provider.',
  ERR_KEY_FETCH: 'The load balancer public key could not be fetched; try again later.',
  ERR_KEY_INVALID: 'The load balancer key server returned an unusable key; try again later.',
  ERR_SIGNATURE: 'The x-amzn-oidc-data token signature is invalid.',
  ERR_EXPIRED: 'The x-amzn-oidc-data token has expired.',
  ERR_NOT_YET_VALID: 'The x-amzn-oidc-data token is not valid yet.',
  ERR_IDENTITY_MISMATCH: 'The x-amzn-oidc-identity header does not match the token.',
}

// Failures of the key server: the server side's problem, never the client's.
const SERVER_SIDE: ReadonlySet<string> = new Set<AlbVerifyErrorCode>(['ERR_KEY_FETCH', 'ERR_KEY_INVALID'])

type RejectionTable = { readonly byCode: ReadonlyMap<string, AlbAuthRejection>; readonly internal: AlbAuthRejection }

function buildRejectionTable(retryAfterSeconds: number): RejectionTable {
  if (!Number.isInteger(retryAfterSeconds) || retryAfterSeconds < 0) {
    throw new TypeError('retryAfterSeconds must be a non-negative integer')
  }
  const byCode = new Map<string, AlbAuthRejection>()
  for (const code of Object.keys(MESSAGES) as AlbVerifyErrorCode[]) {
    const status = SERVER_SIDE.has(code) ? 503 : code === 'ERR_UNTRUSTED_PROXY' ? 403 : 401
    byCode.set(code, new AlbAuthRejection(status, code, MESSAGES[code], retryAfterSeconds))
  }
  const internal = new AlbAuthRejection(
    500,
    'ERR_INTERNAL',
    'The identity could not be verified because of a server error.',
    retryAfterSeconds,
  )
  return { byCode, internal }
}

const DEFAULT_TABLE = buildRejectionTable(DEFAULT_RETRY_AFTER_SECONDS)

function lookup(table: RejectionTable, error: unknown): AlbAuthRejection {
  return (isAlbVerifyError(error) && table.byCode.get(error.code)) || table.internal
}

/**
 * Maps anything a verification can fail with to the HTTP rejection to send.
 * Never throws, and never lets an error's text, cause or stack reach the
 * client: status and message depend on the error code alone.
 *
 * @example
 * ```ts
 * const rejection = rejectionFor(new AlbVerifyError('ERR_KEY_FETCH', 'timeout'))
 * rejection.status // 503
 * rejection.headers['retry-after'] // '30'
 * ```
 */
export function rejectionFor(error: unknown, retryAfterSeconds = DEFAULT_RETRY_AFTER_SECONDS): AlbAuthRejection {
  const table =
    retryAfterSeconds === DEFAULT_RETRY_AFTER_SECONDS ? DEFAULT_TABLE : buildRejectionTable(retryAfterSeconds)
  return lookup(table, error)
}

/**
 * The outcome for one request: the verified identity, `undefined` for an
 * anonymous request let through by `allowAnonymous`, or the rejection to send.
 */
export type AlbAuthResult = AlbIdentity | AlbAuthRejection | undefined

/**
 * Authenticates one request from its headers and TCP peer address. Resolves
 * (never rejects) to an {@link AlbAuthResult}.
 */
export type AlbAuthenticator = (headers: AlbRequestHeaders, remoteAddress: string | undefined) => Promise<AlbAuthResult>

/**
 * Builds the per-request decision every framework adapter uses; use it to
 * write an adapter for another framework. The verifier is created here, once,
 * so a configuration error (no signer, bad key endpoint…) throws when the
 * middleware is built, at start-up, not on the first request.
 *
 * @throws {TypeError} on invalid options.
 * @example
 * ```ts
 * const authenticate = createAlbAuthenticator({ verifier, allowAnonymous: true })
 * const result = await authenticate(req.headers, req.socket.remoteAddress)
 * if (result instanceof AlbAuthRejection) res.writeHead(result.status, result.headers).end(result.body)
 * ```
 */
export function createAlbAuthenticator(options: AlbAuthOptions): AlbAuthenticator {
  if (options === null || typeof options !== 'object')
    throw new TypeError('ALB auth middleware needs an options object')
  const { allowAnonymous = false, retryAfterSeconds, ...rest } = options
  if (typeof allowAnonymous !== 'boolean') throw new TypeError('allowAnonymous must be a boolean')
  let verifier: AlbVerifier
  let negativeTtl: number | undefined
  if ('verifier' in rest) {
    verifier = rest.verifier
  } else {
    verifier = createAlbVerifier(rest)
    negativeTtl = rest.negativeKeyCacheTtlSeconds
  }
  const table = buildRejectionTable(retryAfterSeconds ?? Math.ceil(negativeTtl ?? DEFAULT_RETRY_AFTER_SECONDS))

  return async (headers, remoteAddress) => {
    try {
      if (allowAnonymous && !carriesOidcHeader(headers)) {
        verifier.checkPeer(remoteAddress)
        return undefined
      }
      return await verifier.verifyRequest(headers, { remoteAddress })
    } catch (error) {
      return lookup(table, error)
    }
  }
}

// Any x-amzn-oidc-* header, any case, `_` for `-` (spellings some proxies
// treat as the same header): whoever sends one claims an identity and must
// prove it.
const OIDC_HEADER = /^x-amzn-oidc[-_]/i
const OIDC_HEADER_NAMES = ['x-amzn-oidc-data', 'x-amzn-oidc-identity', 'x-amzn-oidc-accesstoken'] as const

type HeaderGetter = { get(name: string): string | null; keys?: () => Iterable<string> }

function carriesOidcHeader(headers: AlbRequestHeaders): boolean {
  // Not a header collection at all: let the verifier reject it.
  if (headers === null || typeof headers !== 'object') return true
  if (typeof (headers as HeaderGetter).get === 'function') {
    const getter = headers as HeaderGetter
    if (typeof getter.keys !== 'function') return OIDC_HEADER_NAMES.some((name) => getter.get(name) !== null)
    for (const name of getter.keys()) if (OIDC_HEADER.test(name)) return true
    return false
  }
  for (const name in headers) {
    if (OIDC_HEADER.test(name) && (headers as Record<string, unknown>)[name] !== undefined) return true
  }
  return false
}
