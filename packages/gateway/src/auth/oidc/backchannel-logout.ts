/**
 * OIDC Back-Channel Logout 1.0: the IdP ends sessions at
 * `/oauth2/backchannel-logout` (with `Portcullis.SessionStore: shared`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { decodeJwt, type JWTPayload, errors as joseErrors, jwtVerify } from 'jose'
import type { Logger } from 'pino'
import type { LogoutErrorReason } from '../../core/errors.js'
import type { RequestContext } from '../../core/request.js'
import { SERVER_HEADER } from '../../core/responses.js'
import { channels } from '../../observability/diagnostics.js'
import { type SharedState, SharedStateUnavailable } from '../../shared/state.js'
import { type Clock, systemClock } from '../../values/clock.js'
import { PortcullisError } from '../../values/errors.js'
import type { JwksCache } from '../jwt-validation.js'
import { idpSessionIndex, userIndex } from '../session/shared-store.js'
import type { IdpClient } from './idp-client.js'

/** The `events` member that makes a JWT a logout token (Back-Channel Logout 1.0 §2.4). */
export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout'
/** A logout token issued longer ago than this is refused (and its `jti` need not be remembered longer). */
export const LOGOUT_TOKEN_MAX_AGE_SECONDS = 300
/** Allowed clock difference with the IdP. */
const CLOCK_SKEW_SECONDS = 60
/** A logout request body above this is refused unread. */
const MAX_BODY_BYTES = 16 * 1024
/** Logout tokens are signed with the IdP's asymmetric keys; `none` and shared-secret MACs are refused. */
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']

/** One client of one IdP that logout tokens may be addressed to. */
export interface BackchannelClient {
  readonly issuer: string
  readonly clientId: string
  readonly idp: IdpClient
}

/** What {@link BackchannelLogout} needs. */
export interface BackchannelLogoutOptions {
  /** The shared sessions and replay markers; undefined unless `Portcullis.SessionStore: shared`. */
  readonly shared: Pick<SharedState, 'sessions' | 'markers'> | undefined
  readonly logger: Logger
  /** The JWKS cache of a key-set URL (one per URL for the runtime). */
  jwks(url: string): JwksCache
  /** Seconds since the epoch; tests move it. */
  readonly clock?: Clock
}

/** A refusal: 400 with the spec's JSON error body and our `error_reason`. */
class LogoutRefused extends PortcullisError {
  declare readonly code: 'ERR_LOGOUT_REFUSED'
  constructor(
    readonly reason: LogoutErrorReason | 'SharedStateUnavailable',
    readonly description: string,
  ) {
    super('ERR_LOGOUT_REFUSED', description)
    this.name = 'LogoutRefused'
  }
}

/**
 * OIDC Back-Channel Logout 1.0 at `POST /oauth2/backchannel-logout`: the IdP
 * posts a `logout_token` (form-encoded); the gateway verifies it (§2.6) —
 * signature with the IdP's JWKS (asymmetric algorithms only), `iss` and `aud`
 * of a configured action, `iat` not in the future and at most 5 minutes old,
 * `exp` when present, `events` with the back-channel-logout member, `sid`
 * and/or `sub`, no `nonce`, a `jti` never seen before (remembered in Redis
 * with `SET NX` for as long as the token could be accepted) — and deletes the
 * sessions it names: those of the IdP session `sid` (of that `sub`, when both
 * are given), else every session of `sub` at that client. Answers 200, or 400
 * with `{"error":"invalid_request"}` (§2.8; also when Redis cannot be asked,
 * since the logout did not happen), always `Cache-Control: no-store`.
 */
export class BackchannelLogout {
  readonly #clients = new Map<string, BackchannelClient>()
  readonly #options: BackchannelLogoutOptions
  readonly #clock: Clock

  constructor(options: BackchannelLogoutOptions) {
    this.#options = options
    this.#clock = options.clock ?? systemClock
  }

  /** Accepts logout tokens addressed to this client (actions of one IdP and client register once). */
  register(client: BackchannelClient): void {
    const key = `${client.issuer}\0${client.clientId}`
    if (!this.#clients.has(key)) this.#clients.set(key, client)
  }

  async handle(ctx: RequestContext): Promise<void> {
    const shared = this.#options.shared
    if (shared === undefined) {
      // No cookie comes with the IdP's request: sessions kept in cookies cannot be found.
      ctx.record.errorReason = 'BackchannelLogoutUnsupported'
      answer(ctx.res, 501, {
        error: 'invalid_request',
        error_description: 'back-channel logout needs Portcullis.SessionStore: shared',
      })
      return
    }
    try {
      if (ctx.req.method !== 'POST') throw new LogoutRefused('InvalidLogoutToken', 'POST only')
      const type = (ctx.req.headers['content-type'] ?? '').split(';', 1)[0]!.trim().toLowerCase()
      if (type !== 'application/x-www-form-urlencoded') {
        throw new LogoutRefused('InvalidLogoutToken', 'expected application/x-www-form-urlencoded')
      }
      const body = await readBody(ctx.req)
      const tokens = new URLSearchParams(body).getAll('logout_token')
      if (tokens.length !== 1 || tokens[0] === '') throw new LogoutRefused('InvalidLogoutToken', 'one logout_token')
      const { claims, client } = await this.#verify(tokens[0]!)
      const revoked = await this.#revoke(shared, claims, client)
      this.#options.logger.info(
        { issuer: client.issuer, clientId: client.clientId, revoked },
        'back-channel logout: sessions ended',
      )
      if (channels.sessionsRevoked.hasSubscribers) {
        channels.sessionsRevoked.publish({
          by: 'backchannel-logout',
          revoked,
          session: undefined,
          subject: claims.sub,
          idpSession: claims.sid === undefined ? undefined : String(claims.sid),
          issuer: client.issuer,
          clientId: client.clientId,
        })
      }
      answer(ctx.res, 200, undefined)
    } catch (err) {
      const refused =
        err instanceof LogoutRefused
          ? err
          : err instanceof SharedStateUnavailable
            ? new LogoutRefused('SharedStateUnavailable', 'sessions could not be ended now')
            : undefined
      if (refused === undefined) throw err
      ctx.record.errorReason = refused.reason
      this.#options.logger.info(
        { reason: refused.reason, description: refused.description },
        'back-channel logout refused',
      )
      answer(ctx.res, 400, { error: 'invalid_request', error_description: refused.description })
    }
  }

  /** Verifies the token (§2.6) and names the client it is for. */
  async #verify(token: string): Promise<{ claims: JWTPayload; client: BackchannelClient }> {
    let unverified: JWTPayload
    try {
      unverified = decodeJwt(token)
    } catch {
      throw new LogoutRefused('InvalidLogoutToken', 'not a JWT')
    }
    const audiences = typeof unverified.aud === 'string' ? [unverified.aud] : (unverified.aud ?? [])
    const client = audiences
      .map((aud) => this.#clients.get(`${String(unverified.iss)}\0${aud}`))
      .find((c) => c !== undefined)
    if (client === undefined) throw new LogoutRefused('InvalidLogoutToken', 'unknown issuer or audience')
    const { jwksUri } = await client.idp.logoutMetadata()
    if (jwksUri === undefined) throw new LogoutRefused('InvalidLogoutToken', 'the issuer publishes no JWKS')
    const cache = this.#options.jwks(jwksUri)
    const options = {
      issuer: client.issuer,
      audience: client.clientId,
      algorithms: ALGORITHMS,
      clockTolerance: CLOCK_SKEW_SECONDS,
      currentDate: new Date(this.#clock() * 1000),
    }
    let claims: JWTPayload
    try {
      try {
        claims = (await jwtVerify(token, await cache.get(), options)).payload
      } catch (err) {
        // The IdP rotated its keys: fetch them again (rate-limited by the cache) and retry once.
        if (!(err instanceof joseErrors.JWKSNoMatchingKey) || !(await cache.refreshForUnknownKey())) throw err
        claims = (await jwtVerify(token, await cache.get(), options)).payload
      }
    } catch (err) {
      throw new LogoutRefused('InvalidLogoutToken', err instanceof joseErrors.JOSEError ? err.code : 'keys unavailable')
    }
    const now = this.#clock()
    const { iat, jti, sid, sub, events } = claims
    if (typeof iat !== 'number') throw new LogoutRefused('InvalidLogoutToken', 'no iat')
    if (iat > now + CLOCK_SKEW_SECONDS) throw new LogoutRefused('InvalidLogoutToken', 'iat in the future')
    if (now - iat > LOGOUT_TOKEN_MAX_AGE_SECONDS) throw new LogoutRefused('InvalidLogoutToken', 'iat too old')
    const event = (events as Record<string, unknown> | undefined)?.[BACKCHANNEL_LOGOUT_EVENT]
    if (typeof events !== 'object' || events === null || typeof event !== 'object' || event === null) {
      throw new LogoutRefused('InvalidLogoutToken', 'no back-channel logout event')
    }
    if (sid === undefined && sub === undefined) throw new LogoutRefused('InvalidLogoutToken', 'neither sid nor sub')
    if ((sid !== undefined && typeof sid !== 'string') || (sub !== undefined && typeof sub !== 'string')) {
      throw new LogoutRefused('InvalidLogoutToken', 'sid and sub must be strings')
    }
    if ('nonce' in claims) throw new LogoutRefused('InvalidLogoutToken', 'a logout token carries no nonce')
    if (typeof jti !== 'string' || jti === '') throw new LogoutRefused('InvalidLogoutToken', 'no jti')
    return { claims, client }
  }

  /** Refuses a replayed `jti`, then deletes the sessions the token names; how many there were. */
  async #revoke(
    { sessions, markers }: Pick<SharedState, 'sessions' | 'markers'>,
    claims: JWTPayload,
    client: BackchannelClient,
  ): Promise<number> {
    const now = this.#clock()
    // Remembered as long as the token could be accepted: past that its iat (or exp) refuses it anyway.
    const until = Math.max(claims.iat! + LOGOUT_TOKEN_MAX_AGE_SECONDS, claims.exp ?? 0) + CLOCK_SKEW_SECONDS
    const jti = `${client.issuer}\0${claims.jti}`
    if (!(await markers.markOnce('logout-token', jti, until - now))) {
      throw new LogoutRefused('LogoutTokenReplayed', 'logout token already used')
    }
    try {
      const bySub = claims.sub === undefined ? undefined : userIndex(client.issuer, client.clientId, claims.sub)
      const index = claims.sid === undefined ? bySub! : idpSessionIndex(client.issuer, String(claims.sid))
      const handles = await sessions.list(index, claims.sid === undefined ? undefined : bySub)
      return await sessions.revoke(handles, claims.sid === undefined ? index : undefined)
    } catch (err) {
      // The logout did not happen: let the IdP's retry through.
      await markers.forget('logout-token', jti).catch(() => undefined)
      throw err
    }
  }
}

/** Reads a form body of at most {@link MAX_BODY_BYTES}. */
async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_BODY_BYTES) throw new LogoutRefused('InvalidLogoutToken', 'request body too large')
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

function answer(res: ServerResponse, status: 200 | 400 | 501, body: unknown): void {
  if (res.headersSent || res.destroyed) return
  const text = body === undefined ? '' : JSON.stringify(body)
  res.writeHead(status, {
    server: SERVER_HEADER,
    'cache-control': 'no-store',
    ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    'content-length': Buffer.byteLength(text),
  })
  res.end(text)
}
