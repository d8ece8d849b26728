/**
 * Bounds outgoing key fetches for one verifier: a token bucket (burst, then a
 * steady rate) and a cap on fetches in flight. A caller that cannot get a slot
 * is refused at once rather than queued, so a flood of tokens with unknown
 * `kid`s costs the key server at most `burst + rate × seconds` requests and
 * the target no memory.
 */
export class KeyFetchLimiter {
  readonly #burst: number
  readonly #perMs: number
  readonly #maxInFlight: number
  readonly #clock: () => number
  #tokens: number
  #refilledAt: number
  #inFlight = 0

  constructor(options: { burst: number; ratePerSecond: number; maxInFlight: number; clock: () => number }) {
    this.#burst = options.burst
    this.#perMs = options.ratePerSecond / 1000
    this.#maxInFlight = options.maxInFlight
    this.#clock = options.clock
    this.#tokens = options.burst
    this.#refilledAt = options.clock()
  }

  /** Takes a slot if one is free; every successful call must be followed by {@link release}. */
  tryAcquire(): boolean {
    if (this.#inFlight >= this.#maxInFlight) return false
    const now = this.#clock()
    if (now > this.#refilledAt) {
      this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#refilledAt) * this.#perMs)
      this.#refilledAt = now
    }
    if (this.#tokens < 1) return false
    this.#tokens -= 1
    this.#inFlight++
    return true
  }

  /** Returns an in-flight slot. */
  release(): void {
    this.#inFlight--
  }
}
