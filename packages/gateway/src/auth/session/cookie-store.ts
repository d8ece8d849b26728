import { LRUCache } from 'lru-cache'
import type { Logger } from 'pino'
import { type Clock, systemClock } from '../../values/clock.js'
import { AuthError } from '../errors.js'
import type { SecretRing } from '../keys/sealing-ring.js'
import type { AuthMetrics, SessionData } from '../types.js'
import {
  clearSessionCookies,
  cookieAttributes,
  parseSessionData,
  presentShards,
  SHARD_SIZE,
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
} from './store.js'

const SESSION_CACHE_ENTRIES = 10_000
/**
 * Bound on the cache's memory: each entry counts twice its cookie value (the
 * value and the opened session are of a size), so 10,000 small sessions fit
 * and about 2,000 of the largest (16 KB cookies).
 */
const SESSION_CACHE_BYTES = 64 * 1024 * 1024
/** Characters at the end of a sealed value that the cache key takes: the GCM tag's 22 base64url characters. */
const KEY_TAIL = 22
/** How long requests still carrying a just-refreshed cookie get the refreshed session. */
const REPLACEMENT_WINDOW_SECONDS = 60

/** What {@link CookieSessionStore} needs. */
export interface CookieSessionStoreOptions extends SessionBinding {
  /** Seals and opens the cookie value (keys from the state directory). */
  readonly ring: SecretRing
  readonly logger: Logger
  readonly metrics?: AuthMetrics | undefined
  /** "Now" for refresh and replacement windows; tests own it. */
  readonly clock?: Clock
}

/** An opened session as cached per process, keyed by {@link cacheKeyOf} its cookie value. */
interface CachedSession extends StoredSession {
  /** The cookie value (sealed) this entry was opened from: a hit needs the request to carry exactly it. */
  readonly sealed: string
  /** Set when this cookie was refreshed: the new sealed value to hand back… */
  readonly replacement?: string
  /** …until this time (seconds); after it the old cookie is on its own again. */
  readonly replacedUntil?: number
  /** The session the old cookie carries, for when the replacement window has passed. */
  readonly previous?: SessionData
  /** Set when refreshing this cookie failed: no retry, the session is over. */
  readonly refreshFailed?: boolean
}

/** The per-request handle: the cache entry and its key. */
interface OpenedCookie extends StoredSession {
  readonly entry: CachedSession
  readonly cacheKey: string
}

/**
 * Cache key of a sealed value: its length and its last characters (the GCM
 * tag, unique per seal), computed from the shards without joining them.
 * Hashing the whole value instead cost more than the rest of an
 * authenticated request for a 3–4-shard cookie; the key only finds the
 * entry, which is used only when the request's value equals the entry's
 * ({@link carries}).
 */
function cacheKeyOf(shards: readonly string[]): string {
  let length = 0
  for (let i = 0; i < shards.length; i++) length += shards[i]!.length
  const last = shards[shards.length - 1]!
  const tail = last.length >= KEY_TAIL ? last.slice(-KEY_TAIL) : shards.join('').slice(-KEY_TAIL)
  return `${length}.${tail}`
}

/**
 * True when the shards join to exactly `sealed`, compared in place. Not
 * constant-time: finding an entry needs its key, the tag of a cookie the
 * client already holds, so the comparison tells a client nothing it does not
 * know.
 */
function carries(shards: readonly string[], sealed: string): boolean {
  let at = 0
  for (let i = 0; i < shards.length; i++) {
    const shard = shards[i]!
    // A slice and `===` compare flat memory; `startsWith(shard, at)` is a character loop, 100× slower on V8.
    if (sealed.slice(at, at + shard.length) !== shard) return false
    at += shard.length
  }
  return at === sealed.length
}

/**
 * Sessions in the browser: the session is sealed (AES-256-GCM, associated
 * data {@link sessionAad}) into the cookie `{name}-0` … `{name}-3`. Opened
 * values are cached per process by the cookie value (found by its GCM tag), refreshes are
 * single-flight per cookie, and for 60 s after a refresh the pre-refresh
 * cookie gets the refreshed session and the new cookie again.
 */
export class CookieSessionStore implements SessionStore<OpenedCookie> {
  readonly #ring: SecretRing
  readonly #binding: SessionBinding
  readonly #names: readonly string[]
  readonly #aad: Buffer
  readonly #log: Logger
  readonly #metrics: AuthMetrics | undefined
  readonly #clock: Clock
  readonly #sessions = new LRUCache<string, CachedSession>({
    max: SESSION_CACHE_ENTRIES,
    maxSize: SESSION_CACHE_BYTES,
    sizeCalculation: (entry) => 2 * (entry.sealed.length + (entry.replacement?.length ?? 0)) || 1,
  })
  readonly #refreshes = new Map<string, Promise<CachedSession | undefined>>()

  constructor(options: CookieSessionStoreOptions) {
    this.#ring = options.ring
    this.#binding = { sessionCookieName: options.sessionCookieName, issuer: options.issuer, clientId: options.clientId }
    this.#names = shardNames(options.sessionCookieName)
    // The cookie name, the issuer and the client id are authenticated with the
    // value: a session is only ever opened by an action of the same IdP and
    // client that created it, whatever cookie name, rule or listener it is
    // replayed under (two IdPs on the default cookie name share the cookie,
    // and cookies are not separated by port). A mismatch is simply no session.
    this.#aad = sessionAad(options)
    this.#log = options.logger
    this.#metrics = options.metrics
    this.#clock = options.clock ?? systemClock
  }

  async open(exchange: SessionExchange): Promise<OpenedCookie | undefined> {
    const shards = presentShards(exchange.cookies, this.#names)
    if (shards === undefined) return undefined
    const cacheKey = cacheKeyOf(shards)
    let entry = this.#sessions.get(cacheKey)
    if (entry === undefined || !carries(shards, entry.sealed)) {
      const raw = shards.join('')
      // Tampered, truncated, foreign or stale: no session.
      const opened = await this.#ring.openFresh('session', raw, this.#aad)
      const session = opened === undefined ? undefined : parseSessionData(opened)
      if (session === undefined) return undefined
      entry = { session, sealed: raw }
      this.#sessions.set(cacheKey, entry)
    }
    const opened: OpenedCookie = { session: entry.session, entry, cacheKey }
    return opened
  }

  async refresh(
    exchange: SessionExchange,
    stored: OpenedCookie,
    renew: SessionRenewal,
  ): Promise<OpenedCookie | undefined> {
    const { cacheKey } = stored
    let entry: CachedSession | undefined = stored.entry
    const now = this.#clock()
    if (entry.replacement !== undefined && now > entry.replacedUntil!) {
      // A client still sending the pre-refresh cookie long after the refresh
      // (it ignored the new one) does not ride on the new tokens forever.
      entry = { session: entry.previous!, sealed: entry.sealed }
      this.#sessions.set(cacheKey, entry)
    }
    if (entry.replacement === undefined && needsRenewal(entry.session, now)) {
      entry = entry.refreshFailed ? undefined : await this.#refresh(cacheKey, entry, renew)
      if (entry === undefined) return undefined
    }
    if (entry.replacement !== undefined) {
      const set = setSessionCookies(entry.replacement, this.#names, exchange.cookies, cookieAttributes(exchange), now)
      if (set !== undefined) exchange.responseCookies.push(...set)
    }
    return { session: entry.session, entry, cacheKey }
  }

  async seal(exchange: SessionExchange, session: SessionData): Promise<void> {
    const sealed = this.#seal(session)
    const set = setSessionCookies(sealed, this.#names, exchange.cookies, cookieAttributes(exchange), this.#clock())
    if (set === undefined) throw new AuthError(500, 'AuthUserClaimsSizeExceeded')
    exchange.responseCookies.push(...set)
    this.#sessions.set(cacheKeyOf([sealed]), { session, sealed })
  }

  async clear(exchange: SessionExchange): Promise<void> {
    exchange.responseCookies.push(...clearSessionCookies(this.#names, exchange.cookies, cookieAttributes(exchange)))
  }

  /** Clears the shards; the cookie carries no ID token, so there is none for `id_token_hint`. */
  async end(exchange: SessionExchange): Promise<string | undefined> {
    await this.clear(exchange)
    return undefined
  }

  /** Single-flight per cookie: concurrent requests share one refresh at the token endpoint. */
  #refresh(cacheKey: string, stored: CachedSession, renew: SessionRenewal): Promise<CachedSession | undefined> {
    let flight = this.#refreshes.get(cacheKey)
    if (flight === undefined) {
      flight = this.#doRefresh(cacheKey, stored, renew).finally(() => this.#refreshes.delete(cacheKey))
      this.#refreshes.set(cacheKey, flight)
    }
    return flight
  }

  async #doRefresh(cacheKey: string, stored: CachedSession, renew: SessionRenewal): Promise<CachedSession | undefined> {
    const { session } = stored
    const about = refreshAbout(this.#binding, session, 'cookie')
    const result = await renewOrEnd(
      async () => {
        const next = await renew(session)
        const sealed = this.#seal(next)
        if (sealed.length > SHARD_SIZE * this.#names.length) throw new AuthError(500, 'AuthUserClaimsSizeExceeded')
        return { next, sealed }
      },
      this.#log,
      this.#metrics,
      about,
    )
    if (result === undefined) {
      this.#sessions.set(cacheKey, { session, sealed: stored.sealed, refreshFailed: true })
      return undefined
    }
    const { next, sealed } = result
    // Requests still carrying the old cookie (sent before the browser saw
    // the new one) reuse this result instead of refreshing again, which a
    // rotating refresh token would not survive.
    const refreshed: CachedSession = {
      session: next,
      sealed: stored.sealed,
      replacement: sealed,
      replacedUntil: this.#clock() + REPLACEMENT_WINDOW_SECONDS,
      previous: session,
    }
    this.#sessions.set(cacheKey, refreshed)
    this.#sessions.set(cacheKeyOf([sealed]), { session: next, sealed })
    renewed(this.#metrics, about)
    return refreshed
  }

  #seal(session: SessionData): string {
    // The ID token and IdP session id serve shared sessions only; a cookie stays as small as on ALB.
    const { it: _idToken, sid: _sid, ...kept } = session
    return this.#ring.seal('session', Buffer.from(JSON.stringify(kept)), this.#aad)
  }
}
