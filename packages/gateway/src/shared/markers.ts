import { hash } from 'node:crypto'
import type { RedisConnection } from './connection.js'

/** What a replay marker remembers was used once. */
export type MarkerKind = 'login-state' | 'logout-token'

// The keyspace of markers, here and nowhere else. A logout token's id is the
// IdP's text (any length): stored as a digest.
const KEYS: Record<MarkerKind, (id: string) => string> = {
  'login-state': (id) => `used-state:${id}`,
  'logout-token': (id) => `logout-jti:${hash('sha256', id, 'base64url')}`,
}

/**
 * Things that may be used once across every gateway: a login's `state`, a
 * back-channel logout token's `jti`. Each marker lives for a duration (what
 * is older is refused by its age anyway). Rejects with
 * `SharedStateUnavailable` when Redis cannot be asked.
 */
export class ReplayMarkers {
  readonly #redis: RedisConnection

  constructor(redis: RedisConnection) {
    this.#redis = redis
  }

  /** Marks `id` used for `ttlSeconds`: true the first time, false when it already was. */
  async markOnce(kind: MarkerKind, id: string, ttlSeconds: number): Promise<boolean> {
    const set = await this.#redis.run(`mark a ${kind} used`, (r) =>
      r.set(KEYS[kind](id), '1', 'EX', Math.max(1, Math.ceil(ttlSeconds)), 'NX'),
    )
    return set === 'OK'
  }

  /** Forgets a marker (what it marked did not take effect: let a retry through). */
  async forget(kind: MarkerKind, id: string): Promise<void> {
    await this.#redis.run(`forget a ${kind}`, (r) => r.del(KEYS[kind](id)))
  }
}
