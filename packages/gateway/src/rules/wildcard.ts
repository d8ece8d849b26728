/**
 * ALB wildcard patterns (`*` = any run of characters, including none; `?` =
 * exactly one character), compiled once into a matcher.
 *
 * Why not a RegExp: a pattern such as `*a*a*a*a*b` translated to `^.*a.*a.*a.*a.*b$`
 * backtracks polynomially (here O(n^5)) on an input of `a`s, and the input is
 * a client-controlled path or header of up to 16 KB. This matcher splits the
 * pattern at its stars into fixed-length segments (literals with `?` holes) and
 * places each middle segment at its leftmost possible position, which is
 * always safe because every segment has a fixed length: the first segment must
 * be a prefix, the last a suffix, and the rest are found in order. Worst case
 * O(n·m) character comparisons (n input length, m pattern length ≤ 128 in ALB),
 * with no backtracking across segments and no allocation per test.
 *
 * Case-insensitive matching folds ASCII letters only, as DNS names and HTTP
 * tokens are ASCII; other characters compare exactly.
 */

/** Options for {@link compileWildcard}. */
export interface WildcardOptions {
  /** Fold ASCII letters (host-header, http-header, query-string); false for path-pattern. */
  readonly caseInsensitive: boolean
  /**
   * Honour `\` escapes (query-string only): `\*` and `\?` are literal, `\\` is
   * one backslash; a backslash before anything else is kept as is.
   */
  readonly escapes?: boolean
}

/** A compiled wildcard pattern. */
export interface WildcardMatcher {
  /** The pattern as configured. */
  readonly pattern: string
  /** True when the whole of `input` matches the pattern. */
  test(input: string): boolean
}

/** A run of pattern characters between two stars; `holes[i] === 1` where the pattern had `?`. */
interface Segment {
  /** Pattern characters, ASCII-folded when matching case-insensitively. */
  readonly codes: Uint16Array
  /** 1 at positions that match any one character; undefined when there are none. */
  readonly holes: Uint8Array | undefined
  /** The literal text, when the segment has no holes and matching is case-sensitive: searched with `indexOf`. */
  readonly text: string | undefined
}

const STAR = -1
const ANY = -2

/** Lower-cases an ASCII upper-case letter's code; every other code is returned unchanged. */
function foldAscii(code: number): number {
  return code >= 65 && code <= 90 ? code + 32 : code
}

/** Splits a pattern into tokens: character codes, {@link STAR} and {@link ANY}. */
function tokenize(pattern: string, escapes: boolean): number[] {
  const tokens: number[] = []
  for (let i = 0; i < pattern.length; i++) {
    const code = pattern.charCodeAt(i)
    if (code === 42 /* * */) tokens.push(STAR)
    else if (code === 63 /* ? */) tokens.push(ANY)
    else if (escapes && code === 92 /* \ */ && i + 1 < pattern.length) {
      const next = pattern.charCodeAt(i + 1)
      if (next === 42 || next === 63 || next === 92) {
        tokens.push(next)
        i++
      } else tokens.push(code)
    } else tokens.push(code)
  }
  return tokens
}

function toSegment(tokens: readonly number[], fold: boolean): Segment {
  const codes = new Uint16Array(tokens.length)
  let holes: Uint8Array | undefined
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!
    if (token === ANY) {
      holes ??= new Uint8Array(tokens.length)
      holes[i] = 1
    } else codes[i] = fold ? foldAscii(token) : token
  }
  const text = holes === undefined && !fold ? String.fromCharCode(...codes) : undefined
  return { codes, holes, text }
}

/** True when `segment` matches `input` starting at `at` (the caller guarantees it fits). */
function segmentAt(input: string, at: number, segment: Segment, fold: boolean): boolean {
  const { codes, holes } = segment
  for (let i = 0; i < codes.length; i++) {
    if (holes !== undefined && holes[i] === 1) continue
    const code = input.charCodeAt(at + i)
    if ((fold ? foldAscii(code) : code) !== codes[i]) return false
  }
  return true
}

/** Leftmost position in [from, end - length] where `segment` matches, or -1. */
function findSegment(input: string, from: number, end: number, segment: Segment, fold: boolean): number {
  const last = end - segment.codes.length
  if (segment.text !== undefined) {
    // Plain case-sensitive text: the engine's native substring search.
    const at = input.indexOf(segment.text, from)
    return at >= 0 && at <= last ? at : -1
  }
  // Otherwise skip ahead on the first character before comparing the rest.
  const first = segment.holes !== undefined && segment.holes[0] === 1 ? -1 : segment.codes[0]!
  for (let at = from; at <= last; at++) {
    if (first >= 0) {
      const c = input.charCodeAt(at)
      if ((fold ? foldAscii(c) : c) !== first) continue
    }
    if (segmentAt(input, at, segment, fold)) return at
  }
  return -1
}

/**
 * Compiles an ALB wildcard pattern.
 *
 * @example
 * ```ts
 * const host = compileWildcard('*.example.com', { caseInsensitive: true })
 * host.test('api.EXAMPLE.com') // true
 * host.test('example.com')     // false: the dot is required
 * ```
 */
export function compileWildcard(pattern: string, options: WildcardOptions): WildcardMatcher {
  const fold = options.caseInsensitive
  const tokens = tokenize(pattern, options.escapes === true)
  const segments: Segment[] = []
  let current: number[] = []
  let starred = false
  for (const token of tokens) {
    if (token === STAR) {
      segments.push(toSegment(current, fold))
      current = []
      starred = true
    } else current.push(token)
  }
  segments.push(toSegment(current, fold))

  if (!starred) {
    const only = segments[0]!
    return {
      pattern,
      test: (input) => input.length === only.codes.length && segmentAt(input, 0, only, fold),
    }
  }

  const first = segments[0]!
  const last = segments[segments.length - 1]!
  // Empty middle segments (from `**`) always match and are dropped.
  const middle = segments.slice(1, -1).filter((s) => s.codes.length > 0)
  const fixed = first.codes.length + last.codes.length
  return {
    pattern,
    test(input) {
      if (input.length < fixed) return false
      if (!segmentAt(input, 0, first, fold)) return false
      const end = input.length - last.codes.length
      if (!segmentAt(input, end, last, fold)) return false
      let at = first.codes.length
      for (let i = 0; i < middle.length; i++) {
        const segment = middle[i]!
        const found = findSegment(input, at, end, segment, fold)
        if (found < 0) return false
        at = found + segment.codes.length
      }
      return true
    },
  }
}

/**
 * The literal text a wildcard pattern pins to one end of every input it
 * matches, for indexing rules (see `RuleIndex`): `exact` when the pattern has
 * no wildcard, else the longer of its literal `prefix` (before the first `*`
 * or `?`) and its literal `suffix` (after the last). The text is ASCII-folded
 * when matching is case-insensitive. Undefined when both ends are wildcards
 * (`*x*`, `*`): nothing is pinned.
 */
export interface WildcardAnchor {
  readonly kind: 'exact' | 'prefix' | 'suffix'
  readonly text: string
}

/**
 * Computes a pattern's {@link WildcardAnchor}. Every input that the pattern
 * matches equals (`exact`), starts with (`prefix`) or ends with (`suffix`)
 * the anchor's text, after ASCII folding when `caseInsensitive`.
 *
 * @example
 * ```ts
 * wildcardAnchor('/api/*', { caseInsensitive: false }) // { kind: 'prefix', text: '/api/' }
 * wildcardAnchor('*.Example.com', { caseInsensitive: true }) // { kind: 'suffix', text: '.example.com' }
 * ```
 */
export function wildcardAnchor(pattern: string, options: WildcardOptions): WildcardAnchor | undefined {
  const tokens = tokenize(pattern, options.escapes === true)
  const text = (from: number, to: number) => {
    let s = ''
    for (let i = from; i < to; i++)
      s += String.fromCharCode(options.caseInsensitive ? foldAscii(tokens[i]!) : tokens[i]!)
    return s
  }
  let first = -1
  let last = -1
  for (let i = 0; i < tokens.length; i++) {
    if (tokens[i] === STAR || tokens[i] === ANY) {
      if (first < 0) first = i
      last = i
    }
  }
  if (first < 0) return { kind: 'exact', text: text(0, tokens.length) }
  const prefixLength = first
  const suffixLength = tokens.length - last - 1
  if (prefixLength === 0 && suffixLength === 0) return undefined
  return prefixLength >= suffixLength
    ? { kind: 'prefix', text: text(0, first) }
    : { kind: 'suffix', text: text(last + 1, tokens.length) }
}
