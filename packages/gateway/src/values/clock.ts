/**
 * The two kinds of time the gateway reads, each from one place.
 *
 * - {@link Clock}: wall-clock seconds since the epoch, for what is measured
 *   against times that travel (a session's end, an access token's expiry, a
 *   token's `iat`/`exp`, a cookie's `Expires`). Code that judges such times
 *   takes a `Clock` so that tests can own "now" end to end.
 * - {@link elapsedMs}: a monotonic count of milliseconds, for how long
 *   something has been held or waited for in this process (cache ages, retry
 *   back-offs, lock deadlines): a step of the wall clock must not stretch or
 *   cut those.
 *
 * Nothing computed from either crosses a process boundary as an absolute
 * instant: what another machine must enforce (a Redis key's expiry) is sent
 * as a duration, so that its clock and ours need not agree.
 */

/** Wall-clock time in whole seconds since the epoch. */
export type Clock = () => number

/** The machine's wall clock, in whole seconds. */
export const systemClock: Clock = () => Math.floor(Date.now() / 1000)

/** Milliseconds on a clock that only moves forward (`performance.now()`); meaningful only as a difference. */
export const elapsedMs = (): number => performance.now()
