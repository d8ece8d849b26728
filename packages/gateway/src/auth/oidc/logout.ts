/**
 * Logout that logs out (a Portcullis extension; ALB has none), three ways:
 *
 * - by the application: a request to an authenticate action's
 *   `Portcullis.LogoutPath` ends the session ({@link SessionStore.end}) and
 *   goes on to the IdP's `end_session_endpoint` (OIDC RP-Initiated Logout);
 * - by an operator: `POST /sessions/revoke` on the admin listener
 *   ({@link createSessionsHandler});
 * - by the IdP: OIDC Back-Channel Logout at `/oauth2/backchannel-logout`
 *   ({@link BackchannelLogout}).
 *
 * The last two need `Portcullis.SessionStore: shared`: a session that lives
 * only in a cookie cannot be found, let alone ended, without that cookie.
 */
import { hash } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { decodeJwt, type JWTPayload, errors as joseErrors, jwtVerify } from 'jose'
import type { Logger } from 'pino'
import type { AuthenticateCognitoAction, AuthenticateOidcAction, GatewayConfig } from '../../config/model.js'
import type { LogoutErrorReason } from '../../core/errors.js'
import type { RequestContext } from '../../core/request.js'
import { SERVER_HEADER, sendError } from '../../core/responses.js'
import { type SharedState, SharedStateUnavailable } from '../../shared/connection.js'
import { type Clock, systemClock } from '../../values/clock.js'
import { sendRedirect } from '../errors.js'
import type { JwksCache } from '../jwt-validation.js'
import { indexedSessions, revokeSessions, sessionKey, sidIndexKey, subjectIndexKey } from '../session/shared-store.js'
import type { SessionStore } from '../session/store.js'
import type { IdpClient } from './idp-client.js'
import { requestHost, safeRedirectPath } from './redirects.js'

type OidcAction = AuthenticateOidcAction | AuthenticateCognitoAction

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

/**
 * RP-initiated logout at an action's `Portcullis.LogoutPath`: ends the
 * session in its store, then redirects to the IdP's `end_session_endpoint`
 * with `id_token_hint` (when the store kept the ID token), `client_id` and
 * `post_logout_redirect_uri`, or straight to the post-logout URI when the IdP
 * publishes no end-session endpoint. A shared session that cannot be deleted
 * (Redis unreachable) answers 500 `SharedStateUnavailable`: the cookie is
 * cleared, but the logout is not reported as done.
 */
export async function logOut(
  ctx: RequestContext,
  action: OidcAction,
  store: SessionStore,
  idp: IdpClient,
): Promise<void> {
  let idToken: string | undefined
  try {
    idToken = await store.end(ctx)
  } catch (err) {
    if (!(err instanceof SharedStateUnavailable)) throw err
    ctx.record.errorReason = 'SharedStateUnavailable'
    sendError(ctx.res, 500, ctx)
    return
  }
  const host = requestHost(ctx.req)
  const target = action.postLogoutRedirectUri
  const postLogout = target.startsWith('/')
    ? host === undefined
      ? undefined
      : `${ctx.protocol}://${host}${safeRedirectPath(target)}`
    : target
  const { endSessionEndpoint } = await idp.logoutMetadata()
  if (endSessionEndpoint === undefined) {
    sendRedirect(ctx, target.startsWith('/') ? safeRedirectPath(target) : target)
    return
  }
  const url = new URL(endSessionEndpoint)
  if (idToken !== undefined) url.searchParams.set('id_token_hint', idToken)
  url.searchParams.set('client_id', action.clientId)
  if (postLogout !== undefined) url.searchParams.set('post_logout_redirect_uri', postLogout)
  sendRedirect(ctx, url.href)
}

/** One client of one IdP that logout tokens may be addressed to. */
export interface BackchannelClient {
  readonly issuer: string
  readonly clientId: string
  readonly idp: IdpClient
}

/** What {@link BackchannelLogout} needs. */
export interface BackchannelLogoutOptions {
  /** Undefined unless `Portcullis.SessionStore: shared`. */
  readonly shared: SharedState | undefined
  readonly logger: Logger
  /** The JWKS cache of a key-set URL (one per URL for the runtime). */
  jwks(url: string): JwksCache
  /** Seconds since the epoch; tests move it. */
  readonly clock?: Clock
}

/** A refusal: 400 with the spec's JSON error body and our `error_reason`. */
class LogoutRefused extends Error {
  constructor(
    readonly reason: LogoutErrorReason | 'SharedStateUnavailable',
    readonly description: string,
  ) {
    super(description)
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
      this.#options.logger.info({ reason: refused.reason, why: refused.description }, 'back-channel logout refused')
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
  async #revoke(shared: SharedState, claims: JWTPayload, client: BackchannelClient): Promise<number> {
    const now = this.#clock()
    // Remembered as long as the token could be accepted: past that its iat (or exp) refuses it anyway.
    const until = Math.max(claims.iat! + LOGOUT_TOKEN_MAX_AGE_SECONDS, claims.exp ?? 0) + CLOCK_SKEW_SECONDS
    const jtiKey = `logout-jti:${hash('sha256', `${client.issuer}\0${claims.jti}`, 'base64url')}`
    const first = await shared.run('remember a logout token', (r) =>
      r.set(jtiKey, '1', 'EX', Math.max(1, until - now), 'NX'),
    )
    if (first !== 'OK') throw new LogoutRefused('LogoutTokenReplayed', 'logout token already used')
    try {
      const bySub = claims.sub === undefined ? undefined : subjectIndexKey(client.issuer, client.clientId, claims.sub)
      const index = claims.sid === undefined ? bySub! : sidIndexKey(client.issuer, String(claims.sid))
      const handles = await indexedSessions(shared, index, claims.sid === undefined ? undefined : bySub)
      return await revokeSessions(shared, handles, claims.sid === undefined ? index : undefined)
    } catch (err) {
      // The logout did not happen: let the IdP's retry through.
      await shared.run('forget a logout token', (r) => r.del(jtiKey)).catch(() => undefined)
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

/** The (issuer, client id) pairs of every `authenticate-oidc` / `-cognito` action of a configuration. */
export function oidcClients(config: GatewayConfig): { issuer: string; clientId: string }[] {
  const seen = new Map<string, { issuer: string; clientId: string }>()
  for (const listener of config.listeners) {
    for (const rule of listener.rules) {
      for (const a of rule.actions) {
        if (a.type === 'authenticate-oidc' || a.type === 'authenticate-cognito') {
          seen.set(`${a.issuer}\0${a.clientId}`, { issuer: a.issuer, clientId: a.clientId })
        }
      }
    }
  }
  return [...seen.values()]
}

const HANDLE = /^[A-Za-z0-9_-]{43}$/

/**
 * The admin listener's `/sessions` endpoints (shared sessions only; 409
 * otherwise):
 *
 * - `GET /sessions?sub=SUB`: the sessions of a user at every configured
 *   client, as `{ sessions: [{ session, issuer, clientId, expires }] }`
 *   (`session` is the session's public name, a digest of its id, which opens
 *   nothing);
 * - `POST /sessions/revoke?session=NAME`: ends one session;
 * - `POST /sessions/revoke?sub=SUB` (optionally `&issuer=…&client_id=…`): ends
 *   every session of a user.
 *
 * Each answers JSON (`{ revoked: n }` for a revocation) with
 * `Cache-Control: no-store`; 400 for a missing or malformed parameter, 500
 * when Redis cannot be asked. Every gateway refuses a revoked session within
 * a second.
 */
export function createSessionsHandler(
  config: GatewayConfig,
  shared: SharedState | undefined,
  logger: Logger,
): (req: IncomingMessage, res: ServerResponse) => void {
  const clients = oidcClients(config)
  const usable = shared !== undefined && config.portcullis.sessionStore === 'shared' ? shared : undefined
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://admin.invalid')
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' })
      res.end(JSON.stringify(body))
    }
    if (usable === undefined) {
      json(409, {
        error: 'sessions live in cookies (Portcullis.SessionStore: cookie): they cannot be listed or revoked',
      })
      return
    }
    const sub = url.searchParams.get('sub')
    const issuer = url.searchParams.get('issuer')
    const clientId = url.searchParams.get('client_id')
    const of = clients.filter(
      (c) => (issuer === null || c.issuer === issuer) && (clientId === null || c.clientId === clientId),
    )
    const run = async () => {
      if (url.pathname === '/sessions' && (req.method === 'GET' || req.method === 'HEAD')) {
        if (sub === null || sub === '') return json(400, { error: 'sub is required' })
        const sessions = []
        for (const c of of) {
          const handles = await indexedSessions(usable, subjectIndexKey(c.issuer, c.clientId, sub))
          if (handles.length === 0) continue
          const values = await usable.run('list sessions', (r) => r.mget(...handles.map(sessionKey)))
          for (const [i, text] of values.entries()) {
            if (text === null) continue
            const se = (JSON.parse(text) as { se?: unknown }).se
            sessions.push({ session: handles[i], issuer: c.issuer, clientId: c.clientId, expires: se })
          }
        }
        return json(200, { sessions })
      }
      if (url.pathname === '/sessions/revoke') {
        if (req.method !== 'POST') return json(405, { error: 'POST only' })
        const one = url.searchParams.get('session')
        if (one !== null) {
          if (!HANDLE.test(one)) return json(400, { error: 'session must be a session name (43 base64url characters)' })
          const revoked = await revokeSessions(usable, [one])
          logger.info({ session: one, revoked }, 'session revoked by an operator')
          return json(200, { revoked })
        }
        if (sub === null || sub === '') return json(400, { error: 'session or sub is required' })
        let revoked = 0
        for (const c of of) {
          const index = subjectIndexKey(c.issuer, c.clientId, sub)
          revoked += await revokeSessions(usable, await indexedSessions(usable, index), index)
        }
        logger.info({ revoked }, "a user's sessions revoked by an operator")
        return json(200, { revoked })
      }
      json(404, { error: 'not found' })
    }
    run().catch((err: unknown) => {
      if (res.headersSent) return
      json(500, {
        error:
          err instanceof SharedStateUnavailable ? 'the shared state is unreachable; nothing was revoked' : 'failed',
      })
    })
  }
}
