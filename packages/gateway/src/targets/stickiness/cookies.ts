import { createHmac } from 'node:crypto'

/** Duration-based (`lb_cookie`) stickiness cookie. */
export const LB_COOKIE = 'AWSALB'
/** Its cross-site twin, sent with `SameSite=None; Secure` so CORS requests stay sticky too. */
export const LB_COOKIE_CORS = 'AWSALBCORS'
/** Target-group stickiness cookie of a weighted `forward` action. */
export const TG_COOKIE = 'AWSALBTG'
/** Cross-site twin of `AWSALBTG`. */
export const TG_COOKIE_CORS = 'AWSALBTGCORS'
/**
 * Application-based stickiness cookies. ALB shards a long value over
 * `AWSALBAPP-0` … `AWSALBAPP-3`; a Portcullis value always fits in the first
 * shard, so only `-0` carries a value and the others are cleared with `_remove_`
 * as ALB does for unused shards.
 */
export const APP_COOKIE_SHARDS = ['AWSALBAPP-0', 'AWSALBAPP-1', 'AWSALBAPP-2', 'AWSALBAPP-3'] as const

/** What a sticky value identifies; part of the MAC input so values never cross purposes. */
export type StickyPurpose = 'lb_cookie' | 'app_cookie' | 'target_group'

/**
 * The opaque value of a stickiness cookie: a truncated HMAC-SHA256 over the
 * purpose, the target group and the target. It reveals nothing about the
 * target, cannot be forged for a target the client has not been sent to, and
 * is the same in every worker and across restarts as long as `secret` is (the
 * lead keeps it in the state directory). Values are computed once per
 * configuration load; a request only looks them up in a map, so a tampered or
 * foreign value is simply not found and the request is balanced afresh.
 *
 * @example
 * const value = stickyValue(secret, 'lb_cookie', groupArn, '10.0.0.5:8080')
 */
export function stickyValue(secret: Buffer, purpose: StickyPurpose, targetGroupArn: string, target = ''): string {
  if (secret.length < 16) throw new Error('the stickiness secret must be at least 16 bytes')
  return createHmac('sha256', secret)
    .update(`${purpose}\0${targetGroupArn}\0${target}`)
    .digest()
    .subarray(0, 18)
    .toString('base64url')
}

/**
 * Writes the `Set-Cookie` values of one kind of stickiness cookie with ALB's
 * attributes: `Expires` = now + duration (refreshed on every response),
 * `Path=/`, and for the CORS twin `SameSite=None; Secure`. The `Expires` date
 * is formatted at most once per second.
 *
 * @example
 * const writer = new StickyCookieWriter('AWSALB', 'AWSALBCORS', 86400)
 * writer.append(ctx.responseCookies, value)
 */
export class StickyCookieWriter {
  readonly #name: string
  readonly #corsName: string | undefined
  readonly #durationMs: number
  #second = -1
  #expires = ''

  constructor(name: string, corsName: string | undefined, durationSeconds: number) {
    if (!Number.isInteger(durationSeconds) || durationSeconds < 1 || durationSeconds > 604800) {
      throw new Error(`stickiness duration must be 1..604800 seconds, got ${durationSeconds}`)
    }
    this.#name = name
    this.#corsName = corsName
    this.#durationMs = durationSeconds * 1000
  }

  /** The `Expires` attribute value for a cookie set at `nowMs`. */
  expires(nowMs: number): string {
    const second = Math.floor(nowMs / 1000)
    if (second !== this.#second) {
      this.#second = second
      this.#expires = new Date(second * 1000 + this.#durationMs).toUTCString()
    }
    return this.#expires
  }

  /** Appends the cookie (and its CORS twin) carrying `value` to `out`. */
  append(out: string[], value: string, nowMs = Date.now()): void {
    const expires = this.expires(nowMs)
    out.push(`${this.#name}=${value}; Expires=${expires}; Path=/`)
    if (this.#corsName !== undefined) {
      out.push(`${this.#corsName}=${value}; Expires=${expires}; Path=/; SameSite=None; Secure`)
    }
  }
}

/**
 * Appends ALB's `AWSALBAPP-0..3` cookies: the value in shard 0, the unused
 * shards cleared.
 */
export function appendAppCookies(out: string[], writer: StickyCookieWriter, value: string, nowMs = Date.now()): void {
  const expires = writer.expires(nowMs)
  out.push(`${APP_COOKIE_SHARDS[0]}=${value}; Expires=${expires}; Path=/`)
  for (let i = 1; i < APP_COOKIE_SHARDS.length; i++) {
    out.push(`${APP_COOKIE_SHARDS[i]}=_remove_; Expires=${expires}; Path=/`)
  }
}

/** The sticky value a request carries in `name` or, for cross-site requests, in `corsName`. */
export function stickyCookieOf(
  cookies: ReadonlyMap<string, string>,
  name: string,
  corsName: string | undefined,
): string | undefined {
  return cookies.get(name) ?? (corsName === undefined ? undefined : cookies.get(corsName))
}
