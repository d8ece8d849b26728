import { hash, randomBytes } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import type { Logger } from 'pino'
import type { SessionIndex, SessionRecords } from '../../shared/state.js'
import { type Clock, elapsedMs, systemClock } from '../../values/clock.js'
import { AuthError } from '../errors.js'
import type { SecretRing } from '../keys/sealing-ring.js'
import type { AuthMetrics, SessionData } from '../types.js'
import {
  clearSessionCookies,
  cookieAttributes,
  parseSessionData,
  readShards,
  setSessionCookies,
  shardNames,
} from './cookie.js'
import {
  needsRenewal,
  refreshAbout,
  renewed,
  renewOrEnd,
  type SessionBinding,
  type SessionExchange,
  type SessionRenewal,
  type SessionStore,
  type StoredSession,
  sessionAad,
  sessionSubject,
} from './store.js'

/** How long a session read from Redis is used by this process before Redis is asked again: the revocation delay (default). */
export const SHARED_SESSION_CACHE_MS = 1000
/** How long an opened session cookie's handle is remembered by its value. */
const HANDLE_CACHE_MS = 60_000
const CACHE_ENTRIES = 10_000
/** How often a request waiting for another instance's refresh looks for its result. */
const REFRESH_POLL_MS = 50
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/

/** What {@link SharedSessionStore} needs. */
export interface SharedSessionStoreOptions extends SessionBinding {
  /** Seals the session id into the cookie (the shared sealing ring). */
  readonly ring: SecretRing
  /** The sessions' records in the shared state. */
  readonly records: SessionRecords
  readonly logger: Logger
  readonly metrics?: AuthMetrics | undefined
  /** A refresh lock's deadline: past it, a waiting instance may refresh itself (the IdP calls' own bound, twice). */
  readonly refreshLockMs: number
  /** "Now" for session ends and token expiries; tests own it. Redis is only ever told durations from it. */
  readonly clock?: Clock
  /** How long a session read from Redis is trusted here ({@link SHARED_SESSION_CACHE_MS} by default; 0: never). */
  readonly cacheMs?: number
}

/** A session opened from the shared state, with the handle that names it there. */
interface OpenedShared extends StoredSession {
  readonly handle: string
}

function opened(session: SessionData, handle: string): OpenedShared {
  return { session, handle }
}

interface Cached {
  readonly session: SessionData
  readonly at: number
}

/** The public name of a session (keys, logs, the admin API): a digest of its id, so knowing it opens nothing. */
export function sessionHandle(id: string): string {
  return hash('sha256', id, 'base64url')
}

/** The index of one user's sessions at one action's client. */
export const userIndex = (issuer: string, clientId: string, user: string): SessionIndex => ({ issuer, clientId, user })
/** The index of the sessions of one IdP session (`sid`). */
export const idpSessionIndex = (issuer: string, idpSession: string): SessionIndex => ({ issuer, idpSession })

/**
 * What is left of a session's lifetime by `now`, as Redis's `EX`: at least
 * 1 s (Redis refuses 0; a session at its end is refused by its `se` anyway).
 */
function remainingSeconds(session: SessionData, now: number): number {
  return Math.max(1, session.se - now)
}

/** A session as an operator sees it: its public name and when it ends. */
export interface SessionListing {
  readonly session: string
  /** The session's end (seconds since the epoch). */
  readonly expires: number
}

/** The sessions still stored in `index`, by public name and end (the admin API's listing). */
export async function listSessions(records: SessionRecords, index: SessionIndex): Promise<SessionListing[]> {
  const handles = await records.list(index)
  const values = await records.loadMany(handles)
  const out: SessionListing[] = []
  values.forEach((text, i) => {
    const session = text === undefined ? undefined : parseSessionData(Buffer.from(text))
    if (session !== undefined) out.push({ session: handles[i]!, expires: session.se })
  })
  return out
}

/** Ends every session in `index` on every gateway (within the read cache); how many there were. */
export async function revokeIndexed(records: SessionRecords, index: SessionIndex): Promise<number> {
  return records.revoke(await records.list(index), index)
}

/**
 * Server-side sessions (`Portcullis.SessionStore: shared`): the cookie
 * (`{name}-0`) carries only a random 256-bit session id, sealed like a
 * session cookie (AES-256-GCM, bound to the cookie name, issuer and client
 * id); claims, tokens and refresh state live in Redis under a digest of the
 * id, expiring with the session. Deleting that key ends the session on every
 * gateway within {@link SHARED_SESSION_CACHE_MS}.
 *
 * Refreshes are single-flight across gateways: the first takes a lock
 * (`SET NX PX`, deadline {@link SharedSessionStoreOptions.refreshLockMs}),
 * renews and writes the session back under the same id (the cookie does not
 * change); the others wait for that result instead of spending the refresh
 * token again. A failed refresh deletes the session.
 *
 * Needs Redis for every request that carries a session: while it is
 * unreachable those requests fail with `SharedStateUnavailable` (500), within
 * the command timeout.
 */
export class SharedSessionStore implements SessionStore<OpenedShared> {
  readonly #ring: SecretRing
  readonly #records: SessionRecords
  readonly #binding: SessionBinding
  readonly #names: readonly string[]
  readonly #aad: Buffer
  readonly #log: Logger
  readonly #metrics: AuthMetrics | undefined
  readonly #lockMs: number
  readonly #clock: Clock
  readonly #cacheMs: number
  readonly #cache = new LRUCache<string, Cached>({ max: CACHE_ENTRIES })
  // Cookie value → session handle, so that a busy session is not decrypted on
  // every request (AES-GCM and a digest cost more than the rest of the
  // lookup). Bounded in time as well, so a retired sealing key stops opening
  // cached cookies soon after it leaves the ring; revocation does not depend
  // on it (the session itself is re-read from Redis every second).
  readonly #handles = new LRUCache<string, string>({ max: CACHE_ENTRIES, ttl: HANDLE_CACHE_MS })
  readonly #refreshes = new Map<string, Promise<SessionData | undefined>>()

  constructor(options: SharedSessionStoreOptions) {
    this.#ring = options.ring
    this.#records = options.records
    this.#binding = {
      sessionCookieName: options.sessionCookieName,
      issuer: options.issuer,
      clientId: options.clientId,
    }
    this.#names = shardNames(options.sessionCookieName)
    // Its own associated data: a cookie-mode value never opens as a session id, nor the reverse.
    this.#aad = Buffer.concat([sessionAad(options), Buffer.from('\0shared')])
    this.#log = options.logger
    this.#metrics = options.metrics
    this.#lockMs = options.refreshLockMs
    this.#clock = options.clock ?? systemClock
    this.#cacheMs = options.cacheMs ?? SHARED_SESSION_CACHE_MS
  }

  async open(exchange: SessionExchange): Promise<OpenedShared | undefined> {
    const handle = await this.#handleOf(exchange)
    if (handle === undefined) return undefined
    const cached = this.#cache.get(handle)
    if (cached !== undefined && elapsedMs() - cached.at < this.#cacheMs) {
      return opened(cached.session, handle)
    }
    const session = await this.#read(handle)
    if (session === undefined) return undefined
    return opened(session, handle)
  }

  async refresh(
    _exchange: SessionExchange,
    stored: OpenedShared,
    renew: SessionRenewal,
  ): Promise<OpenedShared | undefined> {
    const { handle, session } = stored
    if (!needsRenewal(session, this.#clock())) return stored
    let flight = this.#refreshes.get(handle)
    if (flight === undefined) {
      flight = this.#refreshAcrossInstances(handle, renew).finally(() => this.#refreshes.delete(handle))
      this.#refreshes.set(handle, flight)
    }
    const next = await flight
    return next === undefined ? undefined : opened(next, handle)
  }

  async seal(exchange: SessionExchange, session: SessionData): Promise<void> {
    const id = randomBytes(32).toString('base64url')
    const handle = sessionHandle(id)
    const sub = sessionSubject(session)
    const { issuer, clientId } = this.#binding
    // Redis is told how long the session has left by our clock, never when it
    // ends: an absolute EXAT would be judged by Redis's clock, and skew between
    // the two would end sessions early (or keep them past their timeout).
    // Indexed for revocation by user (operator) and by IdP session (back-channel logout).
    const indexes = [userIndex(issuer, clientId, sub)]
    if (session.sid !== undefined) indexes.push(idpSessionIndex(issuer, session.sid))
    await this.#records.save(handle, JSON.stringify(session), remainingSeconds(session, this.#clock()), indexes)
    const sealed = this.#ring.seal('session', Buffer.from(id), this.#aad)
    const set = setSessionCookies(sealed, this.#names, exchange.cookies, cookieAttributes(exchange), this.#clock())
    if (set === undefined) throw new AuthError(500, 'AuthUserClaimsSizeExceeded')
    exchange.responseCookies.push(...set)
    this.#cache.set(handle, { session, at: elapsedMs() })
  }

  async clear(exchange: SessionExchange): Promise<void> {
    exchange.responseCookies.push(...clearSessionCookies(this.#names, exchange.cookies, cookieAttributes(exchange)))
    const handle = await this.#handleOf(exchange).catch(() => undefined)
    if (handle === undefined) return
    this.#cache.delete(handle)
    // Best effort: an unreachable Redis must not turn a logout or a refusal into a failure.
    await this.#records.delete(handle).catch(() => undefined)
  }

  /**
   * Logout: deletes the session the request carries from Redis (every
   * gateway refuses it within {@link SHARED_SESSION_CACHE_MS}) and clears the
   * cookie. Unlike {@link clear}, fails with `SharedStateUnavailable` when
   * Redis cannot be asked: a logout that did not revoke must not look done.
   */
  async end(exchange: SessionExchange): Promise<string | undefined> {
    exchange.responseCookies.push(...clearSessionCookies(this.#names, exchange.cookies, cookieAttributes(exchange)))
    const handle = await this.#handleOf(exchange)
    if (handle === undefined) return undefined
    this.#cache.delete(handle)
    const text = await this.#records.take(handle)
    this.#log.info({ session: handle }, 'session ended by logout')
    return text === undefined ? undefined : parseSessionData(Buffer.from(text))?.it
  }

  /** The handle the request's cookie names, `undefined` when it carries none that opens. */
  async #handleOf(exchange: SessionExchange): Promise<string | undefined> {
    const raw = readShards(exchange.cookies, this.#names)
    if (raw === undefined) return undefined
    const known = this.#handles.get(raw)
    if (known !== undefined) return known
    const id = (await this.#ring.openFresh('session', raw, this.#aad))?.toString('utf8')
    if (id === undefined || !SESSION_ID.test(id)) return undefined
    const handle = sessionHandle(id)
    this.#handles.set(raw, handle)
    return handle
  }

  async #read(handle: string): Promise<SessionData | undefined> {
    const text = await this.#records.load(handle)
    const session = text === undefined ? undefined : parseSessionData(Buffer.from(text))
    if (session === undefined) this.#cache.delete(handle)
    else this.#cache.set(handle, { session, at: elapsedMs() })
    return session
  }

  /**
   * Renews the session once across every gateway: take the lock and renew,
   * or wait for the instance holding it and use what it wrote. A session
   * gone from Redis (revoked, or its refresh failed) is over.
   */
  async #refreshAcrossInstances(handle: string, renew: SessionRenewal): Promise<SessionData | undefined> {
    const deadline = elapsedMs() + 2 * this.#lockMs
    while (elapsedMs() < deadline) {
      const current = await this.#read(handle)
      if (current === undefined || !needsRenewal(current, this.#clock())) return current
      const token = randomBytes(16).toString('base64url')
      if (await this.#records.lockRefresh(handle, this.#lockMs, token)) {
        try {
          // Someone may have finished between our read and our lock.
          const fresh = await this.#read(handle)
          if (fresh === undefined || !needsRenewal(fresh, this.#clock())) return fresh
          return await this.#renew(handle, fresh, renew)
        } finally {
          await this.#records.unlockRefresh(handle, token).catch(() => undefined)
        }
      }
      await new Promise((resolve) => setTimeout(resolve, REFRESH_POLL_MS))
    }
    throw new AuthError(500, 'AuthUnhandledException')
  }

  async #renew(handle: string, session: SessionData, renew: SessionRenewal): Promise<SessionData | undefined> {
    const about = refreshAbout(this.#binding, session, 'shared')
    const next = await renewOrEnd(() => renew(session), this.#log.child({ session: handle }), this.#metrics, about)
    if (next === undefined) {
      this.#cache.delete(handle)
      await this.#records.delete(handle)
      return undefined
    }
    await this.#records.replace(handle, JSON.stringify(next), remainingSeconds(next, this.#clock()))
    this.#cache.set(handle, { session: next, at: elapsedMs() })
    renewed(this.#metrics, about)
    return next
  }
}
