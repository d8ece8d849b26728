import { StickyCookieWriter, stickyCookieOf, stickyValue, TG_COOKIE, TG_COOKIE_CORS } from './cookies.js'
import type { StickinessContext } from './target.js'

/**
 * Target-group stickiness of a weighted `forward` action
 * (`TargetGroupStickinessConfig`): `AWSALBTG` (or, cross-site,
 * `AWSALBTGCORS`) pins a client to the target group it was first sent to, for
 * `durationSeconds` refreshed on every response. A pinned client keeps its
 * group even after that group's weight drops to 0, as in ALB (that is what
 * makes blue/green shifts safe for sessions); a value naming none of the
 * action's groups is ignored.
 *
 * @example
 * const stickiness = new GroupStickiness(secret, 3600, groups)
 * const group = stickiness.select(ctx, () => choice.pick())
 */
export class GroupStickiness<G extends { readonly arn: string }> {
  readonly #writer: StickyCookieWriter
  readonly #byValue = new Map<string, G>()
  readonly #valueOf = new Map<G, string>()

  constructor(secret: Buffer, durationSeconds: number, groups: readonly G[]) {
    this.#writer = new StickyCookieWriter(TG_COOKIE, TG_COOKIE_CORS, durationSeconds)
    for (const group of groups) {
      const value = stickyValue(secret, 'target_group', group.arn)
      this.#byValue.set(value, group)
      this.#valueOf.set(group, value)
    }
  }

  /**
   * The group the request's cookie pins it to, else `pick()`; appends the
   * `AWSALBTG`/`AWSALBTGCORS` cookies naming it to `ctx.responseCookies`.
   */
  select(ctx: StickinessContext, pick: () => G): G {
    const value = stickyCookieOf(ctx.cookies, TG_COOKIE, TG_COOKIE_CORS)
    const group = (value === undefined ? undefined : this.#byValue.get(value)) ?? pick()
    this.#writer.append(ctx.responseCookies, this.#valueOf.get(group)!)
    return group
  }
}
