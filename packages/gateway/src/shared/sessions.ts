import { hash } from 'node:crypto'
import type { RedisConnection } from './connection.js'

/**
 * An index of sessions: those of one user at one client of one IdP, or those
 * of one IdP session (`sid`, for back-channel logout).
 */
export type SessionIndex =
  | { readonly issuer: string; readonly clientId: string; readonly user: string }
  | { readonly issuer: string; readonly idpSession: string }

// The keyspace of sessions, here and nowhere else (exported for tests that inspect Redis).
export const sessionKey = (handle: string) => `session:${handle}`
const lockKey = (handle: string) => `refresh-lock:${handle}`
export function indexKey(index: SessionIndex): string {
  return 'user' in index
    ? `sessions-of-sub:${hash('sha256', `${index.issuer}\0${index.clientId}\0${index.user}`, 'base64url')}`
    : `sessions-of-sid:${hash('sha256', `${index.issuer}\0${index.idpSession}`, 'base64url')}`
}

// Deletes the lock only if it is still ours (a winner past its deadline must not free another's lock).
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`

/**
 * The server-side sessions in the shared state (`SessionStore: shared`), by
 * their public name (a digest of the session id): the value the session
 * store wrote, its indexes, and the lock of a refresh in progress. Values
 * are opaque here; their format is the session store's. Every expiry is
 * given as a duration: Redis's clock is never asked to agree with ours.
 * Every method rejects with `SharedStateUnavailable` when Redis cannot be
 * asked.
 */
export class SessionRecords {
  readonly #redis: RedisConnection

  constructor(redis: RedisConnection) {
    this.#redis = redis
  }

  /**
   * Stores a new session for `ttlSeconds` and adds it to `indexes`; an index
   * lives as long as its longest-lived session (never shortened).
   */
  async save(handle: string, value: string, ttlSeconds: number, indexes: readonly SessionIndex[]): Promise<void> {
    await this.#redis.run('store a session', async (r) => {
      const m = r.multi().set(sessionKey(handle), value, 'EX', ttlSeconds)
      for (const index of indexes) {
        const key = indexKey(index)
        // NX sets an expiry on a new set; GT only ever lengthens one.
        m.sadd(key, handle).expire(key, ttlSeconds, 'NX').expire(key, ttlSeconds, 'GT')
      }
      await exec(m.exec())
    })
  }

  /** Replaces a session's value (a refresh), keeping it `ttlSeconds` longer. */
  async replace(handle: string, value: string, ttlSeconds: number): Promise<void> {
    await this.#redis.run('store a refreshed session', (r) => r.set(sessionKey(handle), value, 'EX', ttlSeconds))
  }

  async load(handle: string): Promise<string | undefined> {
    return (await this.#redis.run('read a session', (r) => r.get(sessionKey(handle)))) ?? undefined
  }

  /** The values of several sessions, `undefined` for those gone. */
  async loadMany(handles: readonly string[]): Promise<(string | undefined)[]> {
    if (handles.length === 0) return []
    const values = await this.#redis.run('read sessions', (r) => r.mget(...handles.map(sessionKey)))
    return values.map((v) => v ?? undefined)
  }

  /** Deletes a session and resolves with the value it had (logout: the ID token is in it). */
  async take(handle: string): Promise<string | undefined> {
    return (await this.#redis.run('end a session', (r) => r.getdel(sessionKey(handle)))) ?? undefined
  }

  async delete(handle: string): Promise<void> {
    await this.#redis.run('delete a session', (r) => r.del(sessionKey(handle)))
  }

  /** The sessions in `index`; with `alsoIn`, those in both. */
  async list(index: SessionIndex, alsoIn?: SessionIndex): Promise<string[]> {
    return this.#redis.run('read a session index', (r) =>
      alsoIn === undefined ? r.smembers(indexKey(index)) : r.sinter(indexKey(index), indexKey(alsoIn)),
    )
  }

  /** Deletes the sessions `handles` (dropping them from `from`, when they came from it); how many still existed. */
  async revoke(handles: readonly string[], from?: SessionIndex): Promise<number> {
    if (handles.length === 0) return 0
    return this.#redis.run('revoke sessions', async (r) => {
      const m = r.multi().del(...handles.map(sessionKey))
      if (from !== undefined) m.srem(indexKey(from), ...handles)
      const [deleted] = await exec(m.exec())
      return Number(deleted)
    })
  }

  /** Takes the refresh lock of a session for `ms` (`SET NX PX`) under `token`: false when another holds it. */
  async lockRefresh(handle: string, ms: number, token: string): Promise<boolean> {
    const won = await this.#redis.run('lock a refresh', (r) => r.set(lockKey(handle), token, 'PX', ms, 'NX'))
    return won === 'OK'
  }

  /** Releases the refresh lock if `token` still holds it. */
  async unlockRefresh(handle: string, token: string): Promise<void> {
    await this.#redis.run('unlock a refresh', (r) => r.eval(RELEASE, 1, lockKey(handle), token))
  }
}

/** The replies of a MULTI, or the first command's error (a MULTI aborted by Redis is a failure too). */
export async function exec(pending: Promise<[Error | null, unknown][] | null>): Promise<unknown[]> {
  const replies = await pending
  if (replies === null) throw new Error('MULTI aborted')
  const failed = replies.find(([err]) => err !== null)
  if (failed !== undefined) throw failed[0]
  return replies.map(([, value]) => value)
}
