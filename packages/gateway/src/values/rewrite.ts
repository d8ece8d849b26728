import { RuleCompileError } from './errors.js'
import { captureGroupCount, compileRuleRegex } from './regex.js'

/**
 * A rule transform's `Regex` + `Replace` pair, compiled once for validation
 * and for the rule engine. Replacement syntax: `$0`..`$9` and `${n}` (group
 * n, empty when it did not participate), `$$` for a literal `$`; any other
 * `$` is literal.
 */

/** One compiled `Regex` + `Replace` pair. */
export interface CompiledRewrite {
  readonly regex: RegExp
  /** Literal text and group numbers, in order. */
  readonly parts: readonly (string | number)[]
}

function parseReplacement(replace: string, groups: number, field: string): (string | number)[] {
  const parts: (string | number)[] = []
  let literal = ''
  for (let i = 0; i < replace.length; i++) {
    const c = replace[i]!
    if (c !== '$') {
      literal += c
      continue
    }
    const next = replace[i + 1]
    let group: number | undefined
    let consumed = 0
    if (next === '$') {
      literal += '$'
      i++
      continue
    }
    if (next !== undefined && next >= '0' && next <= '9') {
      group = Number(next)
      consumed = 1
    } else if (next === '{') {
      const m = /^\{(\d{1,2})\}/.exec(replace.slice(i + 1))
      if (m !== null) {
        group = Number(m[1])
        consumed = m[0].length
      }
    }
    if (group === undefined) {
      literal += '$'
      continue
    }
    if (group > groups) {
      throw new RuleCompileError(
        `${field}.Replace`,
        `refers to group $${group} but the expression has ${groups} capture group(s)`,
      )
    }
    if (literal.length > 0) parts.push(literal)
    literal = ''
    parts.push(group)
    i += consumed
  }
  if (literal.length > 0) parts.push(literal)
  return parts
}

/**
 * Compiles one `Regex` + `Replace` pair.
 *
 * @throws {RuleCompileError} for an invalid expression or a reference to a missing group.
 * @example
 * ```ts
 * const r = compileRewrite('^/api/(.+)$', '/$1', 'Transforms[0]')
 * applyRewrite(r, '/api/users') // '/users'
 * ```
 */
export function compileRewrite(regex: string, replace: string, field: string): CompiledRewrite {
  let compiled: RegExp
  try {
    compiled = compileRuleRegex(regex)
  } catch (error) {
    if (error instanceof RuleCompileError) throw new RuleCompileError(`${field}.Regex`, error.message)
    throw error
  }
  return { regex: compiled, parts: parseReplacement(replace, captureGroupCount(compiled), field) }
}
