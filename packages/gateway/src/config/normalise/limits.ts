import type { FieldPath } from '../document.js'
import type { ConditionModel } from '../model.js'
import type { BaseContext } from './context.js'

// ALB's documented limits (contract §6, §8, §9): exceeding one is an error.
/** Highest rule `Priority`. */
export const MAX_PRIORITY = 50000
/** Highest action `Order`. */
export const MAX_ORDER = 50000
/** Longest fixed-response `MessageBody`, in characters. */
export const MAX_FIXED_RESPONSE_BODY = 1024
/** Target groups in one weighted forward. */
export const TARGET_GROUPS_PER_FORWARD = 5
/** `*` and `?` in one rule's conditions. */
const WILDCARDS_PER_RULE = 5

// ALB's default quotas: AWS raises them on request, so exceeding one is a warning.
const RULES_QUOTA = 100
const CONDITION_VALUES_QUOTA = 5

/** Warns when a listener has more rules than ALB's default quota. */
export function checkRulesQuota(ctx: BaseContext, count: number, path: FieldPath): void {
  if (count > RULES_QUOTA) {
    ctx.report.warn(path, `${count} rules exceed ALB's default quota of ${RULES_QUOTA} rules per listener`)
  }
}

/**
 * Counts one rule's wildcards and condition values as its conditions are
 * validated, and reports the first condition that goes over each limit.
 */
export class RuleConditionLimits {
  #wildcards = 0
  #values = 0

  constructor(private readonly ctx: BaseContext) {}

  /** Adds the condition at `path`. */
  add(model: ConditionModel, path: FieldPath): void {
    const wildcardsBefore = this.#wildcards
    this.#wildcards += countConditionWildcards(model)
    if (this.#wildcards > WILDCARDS_PER_RULE && wildcardsBefore <= WILDCARDS_PER_RULE) {
      this.ctx.report.error(
        path,
        `a rule may use at most ${WILDCARDS_PER_RULE} wildcards (* or ?); this one uses ${this.#wildcards}`,
        'Field',
      )
    }
    const valuesBefore = this.#values
    this.#values += model.values.length + ('regexValues' in model ? model.regexValues.length : 0)
    if (this.#values > CONDITION_VALUES_QUOTA && valuesBefore <= CONDITION_VALUES_QUOTA) {
      this.ctx.report.warn(
        path,
        `the rule's conditions have ${this.#values} values, over ALB's default quota of ${CONDITION_VALUES_QUOTA} condition values per rule`,
        'Field',
      )
    }
  }
}

/** Counts `*` and `?`; in query-string values a backslash escapes the next character. */
function countWildcards(value: string, escapes: boolean): number {
  let n = 0
  for (let i = 0; i < value.length; i++) {
    const c = value[i]
    if (escapes && c === '\\') i++
    else if (c === '*' || c === '?') n++
  }
  return n
}

function countConditionWildcards(model: ConditionModel): number {
  switch (model.field) {
    case 'host-header':
    case 'path-pattern':
    case 'http-header':
      return model.values.reduce((sum, v) => sum + countWildcards(v, false), 0)
    case 'query-string':
      return model.values.reduce(
        (sum, v) => sum + countWildcards(v.value, true) + (v.key === undefined ? 0 : countWildcards(v.key, true)),
        0,
      )
    default:
      return 0
  }
}
