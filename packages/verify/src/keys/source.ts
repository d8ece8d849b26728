import type { KeyObject } from 'node:crypto'
import { LruCache } from '../cache/lru.js'
import { AlbVerifyError } from '../errors.js'
import { fetchKeyText } from './fetch.js'
import type { KeyFetchLimiter } from './limiter.js'
import { parseP256PublicKeyPem } from './pem.js'

/** The exact options object `crypto.verify` takes for ALB's raw R||S signatures, built once per key. */
export interface VerifyKey {
  readonly key: KeyObject
  readonly dsaEncoding: 'ieee-p1363'
}

/** Cache and fetch settings shared by every {@link KeySource} of a verifier. */
export interface KeySourceSettings {
  readonly limiter: KeyFetchLimiter
  readonly clock: () => number
  readonly timeoutMs: number
  readonly cacheSize: number
  readonly cacheTtlMs: number
  readonly negativeCacheSize: number
  readonly negativeCacheTtlMs: number
}

/**
 * Public keys of one key endpoint, by `kid`: a positive LRU (keys are
 * immutable per kid, so entries live long), a negative LRU of recent failures
 * (so repeating an unknown kid costs one fetch per TTL), and single-flight so
 * concurrent misses on one kid share one request.
 */
export class KeySource {
  readonly #endpoint: string
  readonly #settings: KeySourceSettings
  readonly #keys: LruCache<string, VerifyKey>
  readonly #failures: LruCache<string, AlbVerifyError>
  readonly #pending = new Map<string, Promise<VerifyKey>>()

  constructor(endpoint: string, settings: KeySourceSettings) {
    this.#endpoint = endpoint
    this.#settings = settings
    this.#keys = new LruCache(settings.cacheSize)
    this.#failures = new LruCache(settings.negativeCacheSize)
  }

  /** The cached key for `kid`, without any I/O. */
  cached(kid: string): VerifyKey | undefined {
    return this.#keys.get(kid, this.#settings.clock())
  }

  /** The key for `kid` (a UUID, already validated), fetched at most once at a time. */
  load(kid: string): Promise<VerifyKey> {
    const now = this.#settings.clock()
    const key = this.#keys.get(kid, now)
    if (key !== undefined) return Promise.resolve(key)
    const failure = this.#failures.get(kid, now)
    if (failure !== undefined) {
      return Promise.reject(
        new AlbVerifyError(failure.code, `key for this kid recently failed: ${failure.message}`, { cause: failure }),
      )
    }
    const pending = this.#pending.get(kid)
    if (pending !== undefined) return pending
    const limiter = this.#settings.limiter
    if (!limiter.tryAcquire()) {
      // Deliberately not negatively cached: the kid may be fine, we just refused to look.
      return Promise.reject(new AlbVerifyError('ERR_KEY_FETCH', 'key fetch limit reached; try again shortly'))
    }
    const fetching = this.#fetch(kid).finally(() => {
      limiter.release()
      this.#pending.delete(kid)
    })
    this.#pending.set(kid, fetching)
    return fetching
  }

  async #fetch(kid: string): Promise<VerifyKey> {
    const settings = this.#settings
    try {
      // encodeURIComponent is a no-op on a UUID; kept so the URL stays safe if the kid check ever loosens.
      const text = await fetchKeyText(`${this.#endpoint}/${encodeURIComponent(kid)}`, settings.timeoutMs)
      const verifyKey = toVerifyKey(parseP256PublicKeyPem(text))
      this.#keys.set(kid, verifyKey, settings.clock() + settings.cacheTtlMs)
      return verifyKey
    } catch (err) {
      const error =
        err instanceof AlbVerifyError ? err : new AlbVerifyError('ERR_KEY_FETCH', 'key fetch failed', { cause: err })
      this.#failures.set(kid, error, settings.clock() + settings.negativeCacheTtlMs)
      throw error
    }
  }
}

function toVerifyKey(key: KeyObject): VerifyKey {
  return Object.freeze({ key, dsaEncoding: 'ieee-p1363' as const })
}
