import type { ConditionModel, RuleModel } from '../config/model.js'
import { RuleCompileError } from '../values/errors.js'
import { Candidates, RuleIndex } from './candidates.js'
import { type ConditionPredicate, compileCondition, QueryScratch, type RuleRequest } from './conditions.js'
import { applyTransforms, type CompiledTransforms, compileTransforms } from './transforms.js'

/** The rule a request matched, and the routing values after the rule's transforms. */
export interface MatchedRule {
  readonly rule: RuleModel
  /** Position of `rule` in the list given to {@link compileRules}. */
  readonly index: number
  /** Host after `host-header-rewrite` (lower-case, no port); undefined when the request had none. */
  readonly host: string | undefined
  /** Path after `url-rewrite`. */
  readonly path: string
  /** Raw query after `url-rewrite`, without `?`. */
  readonly query: string
}

/** A listener's rules, compiled once per configuration load. */
export interface CompiledRuleSet {
  /** The rules in evaluation order (ascending priority, the default rule last). */
  readonly rules: readonly RuleModel[]
  /**
   * Finds the first rule, in priority order, whose conditions all hold, and
   * applies its transforms. The default rule (no conditions) always matches.
   *
   * @throws {RuleTransformError} when the matched rule's transform yields an invalid host or URL (answer 500).
   */
  match(req: RuleRequest): MatchedRule
}

interface CompiledRule {
  readonly rule: RuleModel
  readonly index: number
  readonly conditions: readonly ConditionPredicate[]
  /** Undefined when the rule has no transforms, so the common case skips them entirely. */
  readonly transforms: CompiledTransforms | undefined
}

/**
 * Conditions are ANDed and free of side effects, so they can run in any order:
 * the cheapest and most selective first (a method or host mismatch rejects a
 * rule before its path or query is looked at).
 */
const CONDITION_COST: Record<ConditionModel['field'], number> = {
  'http-request-method': 0,
  'host-header': 1,
  'path-pattern': 2,
  'source-ip': 3,
  'http-header': 4,
  'query-string': 5,
}

function priorityKey(rule: RuleModel): number {
  return rule.priority === 'default' ? Number.POSITIVE_INFINITY : rule.priority
}

function ruleLabel(rule: RuleModel): string {
  return rule.priority === 'default' ? 'default rule' : `rule ${rule.priority}`
}

/** Options of {@link compileRules}. */
export interface CompileRulesOptions {
  /**
   * Index the rules: true always, false never (every rule is evaluated in
   * turn: the reference the index is tested and benchmarked against). By
   * default only from {@link INDEX_FROM_RULES} filed rules on, below which
   * evaluating each rule costs less than collecting candidates.
   */
  readonly index?: boolean
}

/** Filed rules from which the default is to index (measured in bench/rules.bench.ts: break-even near 5). */
export const INDEX_FROM_RULES = 8

/**
 * Compiles a listener's rules: every wildcard, regular expression, CIDR block
 * and transform is built here, so that `match` only runs predicates.
 *
 * The rules are evaluated by ascending priority whatever their order in the
 * list; the rule with priority `default` comes last and must have no
 * conditions, which guarantees every request matches some rule.
 *
 * @throws {RuleCompileError} when a condition or transform cannot be compiled
 *   (its `field` names the rule, e.g. `rule 10: Conditions[0].Values[1]`),
 *   when priorities repeat, or when there is no default rule.
 * @example
 * ```ts
 * const rules = compileRules(listener.rules)
 * const m = rules.match({ method: req.method!, host: 'app.example.com', path: '/api/x', query: '',
 *   headers: req.headers, rawHeaders: req.rawHeaders, sourceIp: req.socket.remoteAddress! })
 * m.rule.priority // e.g. 10
 * ```
 */
export function compileRules(rules: readonly RuleModel[], options: CompileRulesOptions = {}): CompiledRuleSet {
  const order = rules.map((rule, index) => ({ rule, index })).sort((a, b) => priorityKey(a.rule) - priorityKey(b.rule))
  const seen = new Set<number | 'default'>()
  const compiled: CompiledRule[] = order.map(({ rule, index }) => {
    const label = ruleLabel(rule)
    if (seen.has(rule.priority)) throw new RuleCompileError(label, 'two rules have the same priority')
    seen.add(rule.priority)
    try {
      return {
        rule,
        index,
        conditions: rule.conditions
          .map((c, i) => ({ cost: CONDITION_COST[c.field], predicate: compileCondition(c, `Conditions[${i}]`) }))
          .sort((a, b) => a.cost - b.cost)
          .map((c) => c.predicate),
        transforms: rule.transforms.length > 0 ? compileTransforms(rule.transforms) : undefined,
      }
    } catch (error) {
      if (error instanceof RuleCompileError) throw new RuleCompileError(`${label}: ${error.field}`, error.message)
      throw error
    }
  })
  const last = compiled[compiled.length - 1]
  if (last === undefined || last.rule.priority !== 'default') {
    throw new RuleCompileError('Rules', 'a listener needs a default rule (DefaultActions)')
  }
  if (last.conditions.length > 0 || last.transforms !== undefined) {
    throw new RuleCompileError('default rule', 'the default rule can have neither conditions nor transforms')
  }

  const scratch = new QueryScratch()
  const holds = (rule: CompiledRule, req: RuleRequest): boolean => {
    const conditions = rule.conditions
    for (let c = 0; c < conditions.length; c++) if (!conditions[c]!(req, scratch)) return false
    return true
  }
  // The default rule is never filed: it is what remains when no candidate holds.
  const index = options.index === false ? undefined : new RuleIndex(order.slice(0, -1).map((o) => o.rule.conditions))
  const indexed =
    index !== undefined && index.filed >= (options.index === true ? 1 : INDEX_FROM_RULES) ? index : undefined
  const candidates = new Candidates()
  return {
    rules: compiled.map((c) => c.rule),
    match(req) {
      scratch.reset()
      let chosen = last
      if (indexed === undefined) {
        for (let r = 0; r < compiled.length; r++) {
          if (holds(compiled[r]!, req)) {
            chosen = compiled[r]!
            break
          }
        }
      } else {
        indexed.collect(req, scratch, candidates)
        for (let r = candidates.next(); r >= 0; r = candidates.next()) {
          if (holds(compiled[r]!, req)) {
            chosen = compiled[r]!
            break
          }
        }
      }
      if (chosen.transforms === undefined) {
        return { rule: chosen.rule, index: chosen.index, host: req.host, path: req.path, query: req.query }
      }
      const t = applyTransforms(chosen.transforms, req.host, req.path, req.query)
      return { rule: chosen.rule, index: chosen.index, host: t.host, path: t.path, query: t.query }
    },
  }
}
