/**
 * ALB's slow start mode (`slow_start.duration_seconds`, "Edit target group
 * attributes": Slow start mode): a target that becomes healthy gets a share
 * of requests that grows linearly from nothing to its full share over the
 * duration. Pure bookkeeping on a monotonic clock the owner passes in; the
 * target group decides when a target enters and leaves, the round-robin
 * balancer asks for each target's weight.
 */

/**
 * When each target entered slow start, on `clock` (milliseconds, monotonic),
 * and its weight now: `elapsed / duration` while ramping, 1 after (and for a
 * target that never entered).
 *
 * @example
 * const ramp = new SlowStart<Target>(30_000, elapsedMs)
 * ramp.enter(target)
 * ramp.weight(target) // 0 now, 0.5 after 15 s, 1 from 30 s on
 */
export class SlowStart<T extends object> {
  readonly #durationMs: number
  readonly #clock: () => number
  readonly #since = new Map<T, number>()

  /** @param durationMs the ramp's length, > 0 */
  constructor(durationMs: number, clock: () => number) {
    this.#durationMs = durationMs
    this.#clock = clock
  }

  /** `target` enters slow start now, or at `since` (a time on the same clock: a reload carries it over). */
  enter(target: T, since: number = this.#clock()): void {
    this.#since.set(target, since)
  }

  /** `target` leaves slow start (it became unhealthy, or was deregistered). */
  leave(target: T): void {
    this.#since.delete(target)
  }

  /** When `target` entered slow start, or undefined when it is not ramping (any more). */
  since(target: T): number | undefined {
    return this.weight(target) < 1 ? this.#since.get(target) : undefined
  }

  /** Whether `target` is still ramping up. */
  ramping(target: T): boolean {
    return this.weight(target) < 1
  }

  /** The share of a full share `target` may take now, in [0, 1]. */
  weight(target: T): number {
    const since = this.#since.get(target)
    if (since === undefined) return 1
    const elapsed = this.#clock() - since
    if (elapsed >= this.#durationMs) {
      // The ramp is over: the target leaves slow start, as ALB's does when the duration elapses.
      this.#since.delete(target)
      return 1
    }
    return Math.max(0, elapsed / this.#durationMs)
  }
}
