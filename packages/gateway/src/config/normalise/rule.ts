import { RuleCompileError } from '../../values/errors.js'
import { compileRewrite } from '../../values/rewrite.js'
import { deriveRuleArn } from '../arn.js'
import { type FieldPath, formatPath } from '../document.js'
import type { RuleModel, TransformModel } from '../model.js'
import type { RuleFile, TransformFile } from '../schema.js'
import { normaliseActions } from './action.js'
import { checkLength, checkRegex } from './checks.js'
import { normaliseConditions } from './condition.js'
import type { BaseContext, ListenerScope, NormaliseContext } from './context.js'

/** Where a rule sits: its listener, and its priority there. */
export interface RulePlace {
  readonly listener: ListenerScope
  readonly listenerArn: string
  readonly priority: number | 'default'
}

/** One rule (or the default rule): conditions, transforms and actions. */
export function normaliseRule(rule: RuleFile, path: FieldPath, place: RulePlace, ctx: NormaliseContext): RuleModel {
  const { listener, listenerArn, priority } = place
  const conditionsList = rule.Conditions ?? []
  const transformsList = rule.Transforms ?? []
  if (priority === 'default') {
    if (conditionsList.length > 0) ctx.report.error([...path, 'Conditions'], 'the default rule has no conditions')
    if (transformsList.length > 0) ctx.report.error([...path, 'Transforms'], 'the default rule cannot have transforms')
  } else if (conditionsList.length === 0) {
    ctx.report.error(path, 'a rule needs at least one condition (only the default rule has none)', 'Priority')
  }
  const conditions = normaliseConditions(conditionsList, [...path, 'Conditions'], ctx)
  const transforms = normaliseTransforms(transformsList, [...path, 'Transforms'], ctx)
  const actions = normaliseActions(rule.Actions, [...path, 'Actions'], listener, ctx)
  return { arn: rule.RuleArn ?? deriveRuleArn(listenerArn, priority), priority, conditions, transforms, actions }
}

/** A rule's `Transforms`: at most one of each type, each rewrite compiled as the rule engine compiles it. */
function normaliseTransforms(list: readonly TransformFile[], path: FieldPath, ctx: BaseContext): TransformModel[] {
  const out: TransformModel[] = []
  const seen = new Map<string, number>()
  list.forEach((t, k) => {
    const tpath = [...path, k]
    const first = seen.get(t.Type)
    if (first !== undefined) {
      ctx.report.error(
        [...tpath, 'Type'],
        `a rule has at most one ${t.Type} transform; ${formatPath([...path, first])} is one`,
      )
    }
    seen.set(t.Type, k)
    const own = t.Type === 'host-header-rewrite' ? 'HostHeaderRewriteConfig' : 'UrlRewriteConfig'
    const other = t.Type === 'host-header-rewrite' ? 'UrlRewriteConfig' : 'HostHeaderRewriteConfig'
    if (t[other] !== undefined) ctx.report.error([...tpath, other], `${other} does not belong to a ${t.Type} transform`)
    const cfg = t[own]
    if (!cfg || cfg.Rewrites.length === 0) {
      ctx.report.error(tpath, `a ${t.Type} transform needs ${own}: { Rewrites: [{ Regex, Replace }] }`, 'Type')
      return
    }
    if (cfg.Rewrites.length > 1) {
      ctx.report.error([...tpath, own, 'Rewrites'], 'a transform has exactly one rewrite')
    }
    cfg.Rewrites.forEach((r, n) => {
      const rpath = [...tpath, own, 'Rewrites', n]
      const regexOk = checkRegex(ctx, r.Regex, [...rpath, 'Regex'], 1024)
      if (checkLength(ctx, r.Replace, [...rpath, 'Replace'], 1024) && regexOk) {
        try {
          compileRewrite(r.Regex, r.Replace, 'Rewrite')
        } catch (err) {
          if (!(err instanceof RuleCompileError)) throw err
          ctx.report.error([...rpath, 'Replace'], err.message)
        }
      }
      out.push({ type: t.Type, regex: r.Regex, replace: r.Replace })
    })
  })
  return out
}
