import { createLocalJWKSet, type JSONWebKeySet, type JWTPayload, errors as joseErrors, jwtVerify } from 'jose'
import type { Logger } from 'pino'
import type { JwtValidationAction } from '../config/model.js'
import type { ActionHandler, ActionOutcome } from '../core/actions.js'
import type { AuthErrorReason } from '../core/errors.js'
import type { RequestContext } from '../core/request.js'
import { sendError } from '../core/responses.js'
import { PortcullisError } from '../values/errors.js'
import { endpointAllowed } from './oidc/idp-client.js'
import { type Outbound, OutboundError } from './outbound.js'

/**
 * The `jwt-validation` action (contract §9): a bearer token in
 * `Authorization` must carry a valid signature from the configured JWKS
 * (RS256; ES256 when opted in), the configured `iss`, an unexpired `exp`,
 * `nbf`/`iat` not in the future when present, and every `AdditionalClaims`
 * entry. The request is then forwarded unchanged.
 *
 * Decisions: a missing token gets `401` with `WWW-Authenticate: Bearer`
 * (RFC 6750 §3.1: no error code when no credentials were sent); a rejected
 * one `401` with `error="invalid_token"`. When the JWKS endpoint cannot be
 * reached and no keys were ever fetched the answer is `500`
 * (`AuthJwksEpRequestFailed`): the fault is ours, not the client's token.
 * An additional claim matches when the token's value (a string, an array of
 * strings, or a space-separated string, per `Format`) contains at least one
 * of the configured values.
 */

/** ALB's limit on the size of a JWKS answer. */
export const JWKS_MAX_BYTES = 150 * 1024
/** ALB's limit on the number of keys in a JWKS answer. */
export const JWKS_MAX_KEYS = 10
const JWKS_TIMEOUT_MS = 5000
/** Keys are re-fetched after this age (stale keys are kept if the refetch fails). */
const JWKS_MAX_AGE_MS = 10 * 60_000
/** After a failed fetch, requests use what is cached (or fail) for this long before the next try. */
const JWKS_FAILURE_BACKOFF_MS = 5000
/** Unknown `kid`s trigger a refetch at most this often. */
const JWKS_COOLDOWN_MS = 30_000
/** Allowed clock difference with the token issuer, in seconds. */
const CLOCK_TOLERANCE_SECONDS = 30
/** Bearer tokens longer than this are refused before parsing. */
const MAX_TOKEN_LENGTH = 16 * 1024

const CHALLENGE_MISSING = 'Bearer'
const CHALLENGE_INVALID = 'Bearer error="invalid_token"'

type KeySet = ReturnType<typeof createLocalJWKSet>

/** Raised when the JWKS cannot be obtained at all. */
class JwksUnavailable extends PortcullisError {
  declare readonly code: 'ERR_JWKS_UNAVAILABLE'
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_JWKS_UNAVAILABLE', message, options)
    this.name = 'JwksUnavailable'
  }
}

/**
 * Fetches and caches one JWKS endpoint, enforcing ALB's size and key-count
 * limits (jose's remote key set bounds time but not size, hence our own fetch
 * and `createLocalJWKSet`). Refreshes are single-flight.
 */
export class JwksCache {
  readonly #url: string
  readonly #outbound: Outbound
  readonly #logger: Logger
  #keys: KeySet | undefined
  #fetchedAt = 0
  #forcedAt = 0
  #failedAt = 0
  #inflight: Promise<KeySet | undefined> | undefined
  readonly #timeoutMs: number

  constructor(url: string, outbound: Outbound, logger: Logger, timeoutMs = JWKS_TIMEOUT_MS) {
    this.#url = url
    this.#timeoutMs = timeoutMs
    this.#outbound = outbound
    this.#logger = logger
  }

  /** The key set, fetched on first use and when older than ten minutes. */
  async get(): Promise<KeySet> {
    const due = this.#keys === undefined || Date.now() - this.#fetchedAt > JWKS_MAX_AGE_MS
    // After a failure, wait before trying again: a down endpoint is not hit once per request.
    if (due && Date.now() - this.#failedAt > JWKS_FAILURE_BACKOFF_MS) await this.#refresh()
    if (this.#keys === undefined) throw new JwksUnavailable(`no key set from ${this.#url}`)
    return this.#keys
  }

  /**
   * Re-fetches after an unknown `kid` (the issuer rotated its keys), at most
   * once per cooldown so that tokens with made-up key ids cannot make the
   * gateway hammer the endpoint. Returns whether fresh keys were obtained.
   */
  async refreshForUnknownKey(): Promise<boolean> {
    if (Date.now() - this.#forcedAt < JWKS_COOLDOWN_MS) return false
    this.#forcedAt = Date.now()
    return (await this.#refresh()) !== undefined
  }

  #refresh(): Promise<KeySet | undefined> {
    this.#inflight ??= this.#fetch().finally(() => {
      this.#inflight = undefined
    })
    return this.#inflight
  }

  async #fetch(): Promise<KeySet | undefined> {
    try {
      const res = await this.#outbound.fetch(
        this.#url,
        { headers: { accept: 'application/json' } },
        { timeoutMs: this.#timeoutMs, maxBytes: JWKS_MAX_BYTES },
      )
      if (res.status !== 200) throw new Error(`JWKS endpoint answered ${res.status}`)
      const body = (await res.json()) as JSONWebKeySet
      if (body === null || typeof body !== 'object' || !Array.isArray(body.keys)) {
        throw new Error('JWKS answer has no "keys" array')
      }
      if (body.keys.length > JWKS_MAX_KEYS)
        throw new Error(`JWKS has ${body.keys.length} keys (limit ${JWKS_MAX_KEYS})`)
      this.#keys = createLocalJWKSet(body)
      this.#fetchedAt = Date.now()
      return this.#keys
    } catch (err) {
      const reason = err instanceof OutboundError ? err.kind : err instanceof Error ? err.message : String(err)
      this.#failedAt = Date.now()
      this.#logger.warn({ jwksUrl: this.#url, reason }, 'JWKS fetch failed')
      return undefined
    }
  }
}

function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined
  // RFC 6750: the scheme is case-insensitive, then one space and the token.
  if (header.length < 8 || header.slice(0, 7).toLowerCase() !== 'bearer ') return undefined
  const token = header.slice(7).trim()
  return token === '' ? undefined : token
}

type ClaimCheck = (payload: JWTPayload) => boolean

function compileClaim(claim: JwtValidationAction['additionalClaims'][number]): ClaimCheck {
  const expected = new Set(claim.values)
  const name = claim.name
  switch (claim.format) {
    case 'single-string':
      return (p) => typeof p[name] === 'string' && expected.has(p[name] as string)
    case 'string-array':
      return (p) => {
        const value = p[name]
        return Array.isArray(value) && value.every((v) => typeof v === 'string') && value.some((v) => expected.has(v))
      }
    case 'space-separated-values':
      return (p) => {
        const value = p[name]
        return typeof value === 'string' && value.split(' ').some((v) => v !== '' && expected.has(v))
      }
  }
}

/** One compiled `jwt-validation` action. */
export class JwtValidationHandler implements ActionHandler {
  readonly #action: JwtValidationAction
  readonly #jwks: JwksCache
  readonly #claims: readonly ClaimCheck[]
  readonly #algorithms: string[]

  constructor(action: JwtValidationAction, jwks: JwksCache, options: { allowInsecureHttp: boolean }) {
    if (!endpointAllowed(action.jwksEndpoint, options.allowInsecureHttp)) {
      throw new Error(`JWKS endpoint ${action.jwksEndpoint} must be https (http only on loopback under the opt-in)`)
    }
    this.#action = action
    this.#jwks = jwks
    this.#claims = action.additionalClaims.map(compileClaim)
    this.#algorithms = [...action.algorithms]
  }

  async run(ctx: RequestContext): Promise<ActionOutcome> {
    // Node keeps only the first of repeated Authorization headers while the
    // target would receive them all (they are an array upstream): a token we
    // did not check must never ride along with one we did.
    if (Array.isArray(ctx.upstreamHeaders.authorization)) {
      return this.#reject(ctx, 'AuthInvalidBearerToken', CHALLENGE_INVALID)
    }
    const token = bearerToken(ctx.req.headers.authorization)
    if (token === undefined) return this.#reject(ctx, 'AuthMissingBearerToken', CHALLENGE_MISSING)
    if (token.length > MAX_TOKEN_LENGTH) return this.#reject(ctx, 'AuthInvalidBearerToken', CHALLENGE_INVALID)
    let payload: JWTPayload
    try {
      payload = await this.#verify(token)
    } catch (err) {
      if (err instanceof JwksUnavailable) {
        ctx.record.errorReason = 'AuthJwksEpRequestFailed'
        sendError(ctx.res, 500, ctx)
        return 'responded'
      }
      return this.#reject(ctx, 'AuthInvalidBearerToken', CHALLENGE_INVALID)
    }
    const now = Math.floor(Date.now() / 1000)
    if (typeof payload.iat === 'number' && payload.iat > now + CLOCK_TOLERANCE_SECONDS) {
      return this.#reject(ctx, 'AuthInvalidBearerToken', CHALLENGE_INVALID)
    }
    for (const check of this.#claims) {
      if (!check(payload)) return this.#reject(ctx, 'AuthInvalidBearerToken', CHALLENGE_INVALID)
    }
    return 'continue'
  }

  async #verify(token: string): Promise<JWTPayload> {
    const options = {
      issuer: this.#action.issuer,
      algorithms: this.#algorithms,
      requiredClaims: ['exp', 'iss'],
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
    }
    try {
      return (await jwtVerify(token, await this.#jwks.get(), options)).payload
    } catch (err) {
      if (err instanceof joseErrors.JWKSNoMatchingKey && (await this.#jwks.refreshForUnknownKey())) {
        return (await jwtVerify(token, await this.#jwks.get(), options)).payload
      }
      throw err
    }
  }

  #reject(ctx: RequestContext, reason: AuthErrorReason, challenge: string): ActionOutcome {
    ctx.record.errorReason = reason
    ctx.res.setHeader('www-authenticate', challenge)
    sendError(ctx.res, 401, ctx)
    return 'responded'
  }
}
