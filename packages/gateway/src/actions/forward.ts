import type { ForwardAction } from '../config/model.js'
import type { ActionHandler, ActionOutcome } from '../core/actions.js'
import type { RequestContext } from '../core/request.js'
import { sendError } from '../core/responses.js'
import { proxyRequest } from '../proxy/http.js'
import { proxyUpgrade } from '../proxy/websocket.js'
import { type RandomSource, WeightedChoice } from '../targets/balancing.js'
import { StickyCookieWriter, stickyCookieOf, stickyValue, TG_COOKIE, TG_COOKIE_CORS } from '../targets/stickiness.js'
import type { TargetGroupRegistry, TargetGroupRuntime } from '../targets/target-group.js'

/** Settings `createForwardAction` needs beyond the action and the registry. */
export interface ForwardActionOptions {
  /** Same secret as the registry's: keys the `AWSALBTG` values. */
  readonly stickinessSecret: Buffer
  /** Test-only: random source for the weighted target-group choice. */
  readonly random?: RandomSource
}

/**
 * Compiles a `forward` action against the run-time target groups.
 *
 * For a weighted `ForwardConfig` a target group is drawn with probability
 * weight / total (weight 0 never, unless all are 0: then evenly). With
 * `TargetGroupStickinessConfig`, the `AWSALBTG`/`AWSALBTGCORS` cookies pin the
 * client to the drawn group for `DurationSeconds`, refreshed on every
 * response; as in ALB a pinned client keeps its group even after its weight
 * drops to 0 (that is what makes blue/green shifts safe for sessions). Then the
 * group picks a target (stickiness, algorithm, health) and the request is
 * proxied — tunnelled when it is a WebSocket upgrade. An empty group answers
 * 503.
 *
 * @example
 * const handler = createForwardAction(action, registry, { stickinessSecret })
 * await handler.run(ctx) // 'responded'
 */
export function createForwardAction(
  action: ForwardAction,
  registry: TargetGroupRegistry,
  options: ForwardActionOptions,
): ActionHandler {
  const groups = action.targetGroups.map(({ targetGroupArn, weight }) => {
    const group = registry.get(targetGroupArn)
    if (group === undefined) throw new Error(`forward action: unknown target group ${targetGroupArn}`)
    return { item: group, weight }
  })
  if (groups.length === 0) throw new Error('forward action: no target group')

  const single = groups.length === 1 ? groups[0]!.item : undefined
  const choice = single === undefined ? new WeightedChoice(groups, options.random) : undefined
  const stickiness = action.stickiness
  const writer =
    stickiness === undefined ? undefined : new StickyCookieWriter(TG_COOKIE, TG_COOKIE_CORS, stickiness.durationSeconds)
  const byValue = new Map<string, TargetGroupRuntime>()
  const stickyValueOf = new Map<TargetGroupRuntime, string>()
  if (writer !== undefined) {
    for (const { item } of groups) {
      const value = stickyValue(options.stickinessSecret, 'target_group', item.arn)
      byValue.set(value, item)
      stickyValueOf.set(item, value)
    }
  }

  return {
    run(ctx: RequestContext): ActionOutcome {
      let group: TargetGroupRuntime | undefined
      if (writer !== undefined) {
        const value = stickyCookieOf(ctx.cookies, TG_COOKIE, TG_COOKIE_CORS)
        if (value !== undefined) group = byValue.get(value)
        group ??= single ?? choice!.pick()
        writer.append(ctx.responseCookies, stickyValueOf.get(group)!)
      } else {
        group = single ?? choice!.pick()
      }
      ctx.record.targetGroupArn = group.arn
      const target = group.select(ctx)
      if (target === undefined) {
        ctx.record.errorReason = 'TargetGroupEmpty'
        sendError(ctx.res, 503, ctx)
        return 'responded'
      }
      if (ctx.upgrade !== undefined) proxyUpgrade(ctx, target, group)
      else proxyRequest(ctx, target, group)
      return 'responded'
    },
  }
}
