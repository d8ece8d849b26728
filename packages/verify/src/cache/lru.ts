/**
 * A bounded least-recently-used map with an optional per-entry expiry.
 *
 * A `Map` keeps insertion order, so "touch on hit" is delete + set and the
 * oldest entry is always the first key: O(1) everywhere, no extra nodes.
 * Written here rather than depended on because it sits on the per-request path
 * and is twenty lines.
 */
export class LruCache<K, V> {
  readonly #max: number
  readonly #entries = new Map<K, { value: V; expiresAt: number }>()

  /** @param max the maximum number of entries (at least 1); the least recently used is evicted beyond it. */
  constructor(max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError('LruCache max must be a positive integer')
    this.#max = max
  }

  /** Number of entries currently held (expired ones included until touched or evicted). */
  get size(): number {
    return this.#entries.size
  }

  /** Returns the value if present and not expired at `now` (milliseconds), and marks it most recently used. */
  get(key: K, now: number): V | undefined {
    const entry = this.#entries.get(key)
    if (entry === undefined) return undefined
    this.#entries.delete(key)
    if (entry.expiresAt <= now) return undefined
    this.#entries.set(key, entry)
    return entry.value
  }

  /** Stores `value` until `expiresAt` (milliseconds; `Infinity` for never), evicting the least recently used entry when full. */
  set(key: K, value: V, expiresAt: number): void {
    this.#entries.delete(key)
    if (this.#entries.size >= this.#max) {
      const oldest = this.#entries.keys().next()
      if (!oldest.done) this.#entries.delete(oldest.value)
    }
    this.#entries.set(key, { value, expiresAt })
  }

  /** Removes `key`. */
  delete(key: K): void {
    this.#entries.delete(key)
  }

  /** Removes everything. */
  clear(): void {
    this.#entries.clear()
  }
}
