import type { StickinessModel } from '../../config/model.js'
import {
  APP_COOKIE_SHARDS,
  appendAppCookies,
  LB_COOKIE,
  LB_COOKIE_CORS,
  StickyCookieWriter,
  stickyCookieOf,
  stickyValue,
} from './cookies.js'

/** The part of the request context stickiness reads (cookies) and writes (`Set-Cookie` values). */
export interface StickinessContext {
  readonly cookies: ReadonlyMap<string, string>
  readonly responseCookies: string[]
}

/** A target's opaque values in the `AWSALB` and `AWSALBAPP-0` cookies. */
export interface StickyTargetValues {
  readonly lbCookieValue: string
  readonly appCookieValue: string
}

/**
 * The stickiness values naming one target of a group, computed once per
 * configuration load (see {@link stickyValue}); `targetKey` identifies the
 * target within the group (id and port).
 */
export function stickyTargetValues(secret: Buffer, targetGroupArn: string, targetKey: string): StickyTargetValues {
  return {
    lbCookieValue: stickyValue(secret, 'lb_cookie', targetGroupArn, targetKey),
    appCookieValue: stickyValue(secret, 'app_cookie', targetGroupArn, targetKey),
  }
}

/** What target stickiness asks of its target group: balancing and health. */
export interface StickyBalancer<T> {
  /** A target chosen by the group's algorithm among the routable ones. */
  pick(): T
  /** Whether a pinned target may take the request (healthy, or the group fails open). */
  isRoutable(target: T): boolean
}

/**
 * A target group's stickiness (`lb_cookie` or `app_cookie`): which target a
 * request's cookie pins it to, and which cookies the response carries.
 *
 * - `lb_cookie`: `AWSALB` (or, cross-site, `AWSALBCORS`) names the target;
 *   both are (re)set on every response, so the expiry slides.
 * - `app_cookie`: `AWSALBAPP-0` names the target. The gateway sets the
 *   `AWSALBAPP-*` cookies when the target sets the application cookie (see
 *   {@link setsAppCookie}) and when a pinned target is gone and the client
 *   moves to another; otherwise it leaves them alone, as ALB does.
 *
 * A tampered, foreign or stale value is not found and the request is
 * balanced afresh.
 *
 * @example
 * const stickiness = new TargetStickiness(model.stickiness, targets, model.name)
 * const target = stickiness.select(ctx, { pick, isRoutable })
 */
export class TargetStickiness<T extends StickyTargetValues> {
  readonly type: StickinessModel['type']
  /**
   * `name=` of the application cookie for `app_cookie` stickiness: a target
   * `Set-Cookie` value starting with it sets the `AWSALBAPP-*` cookies.
   */
  readonly appCookiePrefix: string | undefined
  readonly #writer: StickyCookieWriter
  readonly #byValue: Map<string, T>

  /** Throws when `app_cookie` stickiness has no application cookie name (`groupName` says where). */
  constructor(model: StickinessModel, targets: readonly T[], groupName: string) {
    this.type = model.type
    if (model.type === 'lb_cookie') {
      this.#writer = new StickyCookieWriter(LB_COOKIE, LB_COOKIE_CORS, model.durationSeconds)
      this.#byValue = new Map(targets.map((t) => [t.lbCookieValue, t] as const))
    } else {
      if (model.appCookieName === undefined)
        throw new Error(`target group ${groupName}: app_cookie needs a cookie name`)
      this.appCookiePrefix = `${model.appCookieName}=`
      this.#writer = new StickyCookieWriter(APP_COOKIE_SHARDS[0], undefined, model.durationSeconds)
      this.#byValue = new Map(targets.map((t) => [t.appCookieValue, t] as const))
    }
  }

  /**
   * The target for a request: the one its cookie pins it to when that one is
   * routable, else `balancer.pick()`; appends the stickiness cookies the
   * response must carry to `ctx.responseCookies`.
   */
  select(ctx: StickinessContext, balancer: StickyBalancer<T>): T {
    if (this.type === 'lb_cookie') {
      const value = stickyCookieOf(ctx.cookies, LB_COOKIE, LB_COOKIE_CORS)
      const pinned = value === undefined ? undefined : this.#routable(value, balancer)
      const target = pinned ?? balancer.pick()
      this.#writer.append(ctx.responseCookies, target.lbCookieValue)
      return target
    }
    const value = ctx.cookies.get(APP_COOKIE_SHARDS[0])
    if (value === undefined) return balancer.pick()
    const pinned = this.#routable(value, balancer)
    if (pinned !== undefined) return pinned
    // The sticky target is gone or unhealthy: move the client to a new one.
    const target = balancer.pick()
    if (this.#byValue.has(value)) this.appendAppCookies(ctx.responseCookies, target)
    return target
  }

  /** Whether a target's `Set-Cookie` value sets the application cookie (`app_cookie` only). */
  setsAppCookie(setCookie: string): boolean {
    return this.appCookiePrefix !== undefined && setCookie.startsWith(this.appCookiePrefix)
  }

  /** Appends the `AWSALBAPP-*` cookies naming `target` to `out`. */
  appendAppCookies(out: string[], target: T): void {
    appendAppCookies(out, this.#writer, target.appCookieValue)
  }

  #routable(value: string, balancer: StickyBalancer<T>): T | undefined {
    const target = this.#byValue.get(value)
    return target !== undefined && balancer.isRoutable(target) ? target : undefined
  }
}
