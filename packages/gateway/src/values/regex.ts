import { RuleCompileError } from './errors.js'

/**
 * Regular expressions of `RegexValues` conditions and rule `Transforms`.
 *
 * ALB's engine refuses lookaheads, lookbehinds, backreferences, atomic groups,
 * possessive quantifiers, recursion and Unicode classes (`\p{…}`); so does
 * this compiler, so that a configuration that loads here loads on ALB.
 *
 * JavaScript's engine backtracks, and the input comes from clients, so one
 * more restriction applies (a **decision**, documented for users): a repeated
 * group (`*`, `+`, `{n,m}` with a maximum above 1) may not itself contain a
 * repetition or an alternation — `(a+)+`, `(a|ab)*`, `(x*){5}`. Those are the
 * shapes that take exponential or high-polynomial time on a crafted input;
 * routing expressions almost never need them (`(?:v[0-9]+/)?` is fine).
 *
 * A leading `(?i)` (RE2 syntax, which ALB users write) becomes the `i` flag.
 */

/** The longest expression ALB accepts (`RegexValues` 128, `Transforms` 1024). */
const MAX_REGEX_LENGTH = 1024

interface Frame {
  /** A repeating quantifier or an alternation occurs directly or nested inside this group. */
  risky: boolean
}

/** Length of the quantifier at `i` and whether it repeats (allows more than one occurrence); 0 when none. */
function quantifierAt(source: string, i: number): { length: number; repeats: boolean } {
  const c = source[i]
  if (c === '*' || c === '+') return { length: lazyLength(source, i + 1, 1), repeats: true }
  if (c === '?') return { length: lazyLength(source, i + 1, 1), repeats: false }
  if (c === '{') {
    const m = /^\{(\d+)(,(\d*))?\}/.exec(source.slice(i))
    if (m === null) return { length: 0, repeats: false }
    const min = Number(m[1])
    const max = m[2] === undefined ? min : m[3] === '' ? Number.POSITIVE_INFINITY : Number(m[3])
    return { length: lazyLength(source, i + m[0].length, m[0].length), repeats: max > 1 }
  }
  return { length: 0, repeats: false }
}

function lazyLength(source: string, next: number, length: number): number {
  if (source[next] === '+') throw new RuleCompileError('', 'possessive quantifiers are not supported')
  return source[next] === '?' ? length + 1 : length
}

/** Checks the features ALB refuses and the nested repetitions Portcullis refuses. */
function vet(source: string): void {
  const stack: Frame[] = [{ risky: false }]
  let i = 0
  while (i < source.length) {
    const c = source[i]!
    const top = stack[stack.length - 1]!
    if (c === '\\') {
      const n = source[i + 1]
      if (n === undefined) throw new RuleCompileError('', 'the expression ends with a lone backslash')
      if (/[1-9]/.test(n) || n === 'k') throw new RuleCompileError('', 'backreferences are not supported')
      if (n === 'p' || n === 'P') throw new RuleCompileError('', 'Unicode character classes (\\p{…}) are not supported')
      i += 2
    } else if (c === '[') {
      // Skip the character class; nothing inside it is a group or a quantifier.
      i++
      if (source[i] === '^') i++
      if (source[i] === ']') i++
      while (i < source.length && source[i] !== ']') i += source[i] === '\\' ? 2 : 1
      i++
    } else if (c === '(') {
      if (source.startsWith('(?=', i) || source.startsWith('(?!', i)) {
        throw new RuleCompileError('', 'lookaheads are not supported')
      }
      if (source.startsWith('(?<=', i) || source.startsWith('(?<!', i)) {
        throw new RuleCompileError('', 'lookbehinds are not supported')
      }
      if (source.startsWith('(?>', i)) throw new RuleCompileError('', 'atomic groups are not supported')
      if (source.startsWith('(?R', i) || /^\(\?[0-9+-]/.test(source.slice(i, i + 3))) {
        throw new RuleCompileError('', 'recursion and subroutines are not supported')
      }
      stack.push({ risky: false })
      i++
      continue
    } else if (c === ')') {
      if (stack.length === 1) throw new RuleCompileError('', 'unbalanced parenthesis')
      const group = stack.pop()!
      const parent = stack[stack.length - 1]!
      const q = quantifierAt(source, i + 1)
      if (q.repeats && group.risky) {
        throw new RuleCompileError(
          '',
          'a repeated group may not contain a repetition or an alternation (exponential matching time)',
        )
      }
      parent.risky ||= group.risky || q.repeats
      i += 1 + q.length
      continue
    } else if (c === '|') {
      top.risky = true
      i++
      continue
    } else {
      i++
    }
    // After an atom (escape, class or plain character): its quantifier, if any.
    const q = quantifierAt(source, i)
    if (q.repeats) top.risky = true
    i += q.length
  }
}

/**
 * Compiles one ALB regular expression. Matching is a *search* (`RegExp.test`):
 * ALB's examples anchor with `^…$` where they mean the whole value.
 *
 * @throws {RuleCompileError} for a syntax error, a feature ALB refuses, or a nested repetition.
 * @example
 * ```ts
 * compileRuleRegex('^/api/v[0-9]+/').test('/api/v2/users') // true
 * compileRuleRegex('(?i)^WWW\\.').test('www.example.com')  // true
 * ```
 */
export function compileRuleRegex(pattern: string): RegExp {
  if (pattern.length === 0) throw new RuleCompileError('', 'the expression is empty')
  if (pattern.length > MAX_REGEX_LENGTH) {
    throw new RuleCompileError('', `the expression is longer than ${MAX_REGEX_LENGTH} characters`)
  }
  const insensitive = pattern.startsWith('(?i)')
  const source = insensitive ? pattern.slice(4) : pattern
  vet(source)
  try {
    return new RegExp(source, insensitive ? 'i' : '')
  } catch (error) {
    throw new RuleCompileError('', `invalid regular expression: ${(error as Error).message}`)
  }
}

/**
 * Number of capture groups in a compiled expression (for checking `$n`
 * references in a transform's replacement at load time).
 */
export function captureGroupCount(regex: RegExp): number {
  // An alternative that matches the empty string makes exec() return every group.
  return new RegExp(`${regex.source}|`, regex.flags).exec('')!.length - 1
}
