import type { RedisConnection } from './connection.js'
import { exec } from './sessions.js'

/** The key rings kept in the shared state (their formats are `auth/keys`'s). */
export type RingName = 'session-keys' | 'signing-keys'

/** A ring's stored text, and how far this machine's clock is ahead of Redis's (seconds) when it was read. */
export interface RingText {
  readonly text: string
  /** Added to a time on Redis's clock, puts it on this machine's. */
  readonly toLocal: number
}

// Replaces KEYS[1] only if it still holds ARGV[1]: a rotation computed from a
// ring another rotation changed meanwhile is retried, not written over it.
const COMPARE_AND_SET = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2]) return 1 end return 0`

/**
 * The key rings' records (`session-keys`, `signing-keys`): read together
 * with Redis's `TIME` (the one clock every gateway can read, which ring
 * times are on), created once (`SET NX`: whoever comes first, everyone reads
 * theirs), changed only by compare-and-set. Rejects with
 * `SharedStateUnavailable` when Redis cannot be asked.
 */
export class KeyRingRecords {
  readonly #redis: RedisConnection

  constructor(redis: RedisConnection) {
    this.#redis = redis
  }

  /** The ring's text (`undefined` when absent) and Redis's clock, read at once. */
  async read(name: RingName): Promise<{ text: string | undefined; toLocal: number }> {
    const [text, time] = await this.#redis.run(`read ${name}`, async (r) => exec(r.multi().get(name).time().exec()))
    const [seconds, micros] = time as [string, string]
    const redisNow = Number(seconds) + Number(micros) / 1e6
    return { text: (text as string | null) ?? undefined, toLocal: Math.round(Date.now() / 1000 - redisNow) }
  }

  /** Writes the ring unless one exists. */
  async create(name: RingName, text: string): Promise<void> {
    await this.#redis.run(`create ${name}`, (r) => r.set(name, text, 'NX'))
  }

  /** Replaces the ring with `next` if it still is `expected`; false when another writer changed it first. */
  async compareAndSet(name: RingName, expected: string, next: string): Promise<boolean> {
    const swapped = await this.#redis.run(`rotate ${name}`, (r) => r.eval(COMPARE_AND_SET, 1, name, expected, next))
    return swapped === 1
  }
}
