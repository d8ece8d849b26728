import type { ForwardAction } from '../config/model.js'
import type { ActionHandler, ActionOutcome } from '../core/actions.js'
import type { RequestContext } from '../core/request.js'
import { sendError } from '../core/responses.js'
import { proxyRequest } from '../proxy/http.js'
import { protocolMismatch, proxyHttp2Request } from '../proxy/http2.js'
import { proxyUpgrade } from '../proxy/websocket.js'
import { type RandomSource, WeightedChoice } from '../targets/balancing.js'
import { GroupStickiness } from '../targets/stickiness/index.js'
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
  const pick = (): TargetGroupRuntime => single ?? choice!.pick()
  const stickiness =
    action.stickiness === undefined
      ? undefined
      : new GroupStickiness(
          options.stickinessSecret,
          action.stickiness.durationSeconds,
          groups.map((g) => g.item),
        )

  return {
    run(ctx: RequestContext): ActionOutcome {
      const group = stickiness === undefined ? pick() : stickiness.select(ctx, pick)
      ctx.record.targetGroupArn = group.arn
      if (protocolMismatch(ctx, group.model.protocolVersion)) {
        sendError(ctx.res, 464, ctx)
        return 'responded'
      }
      const target = group.select(ctx)
      if (target === undefined) {
        ctx.record.errorReason = 'TargetGroupEmpty'
        sendError(ctx.res, 503, ctx)
        return 'responded'
      }
      if (ctx.upgrade !== undefined) proxyUpgrade(ctx, target, group)
      else if (target.http2 !== undefined) proxyHttp2Request(ctx, target, group)
      else proxyRequest(ctx, target, group)
      return 'responded'
    },
  }
}
