/**
 * A health check's `Matcher.HttpCode`: the status codes that count as healthy,
 * parsed once here for validation and for the health checker.
 */

/** A compiled `Matcher.HttpCode`: inclusive ranges. */
export type Matcher = readonly (readonly [number, number])[]

/**
 * Parses a `Matcher.HttpCode` value: a code (`200`), a list (`200,202`), a
 * range (`200-299`) or a mix; ALB allows codes 200..499.
 *
 * @throws {Error} naming the value and what is wrong with it.
 * @example
 * ```ts
 * matches(parseMatcher('200,300-399'), 302) // true
 * ```
 */
export function parseMatcher(spec: string): Matcher {
  const ranges: [number, number][] = []
  const invalid = (problem: string) => new Error(`invalid health check matcher "${spec}": ${problem}`)
  for (const part of spec.split(',')) {
    const m = /^\s*(\d{3})(?:-(\d{3}))?\s*$/.exec(part)
    if (m === null) throw invalid('expected HTTP codes or ranges such as "200", "200,202" or "200-299"')
    const low = Number(m[1])
    const high = m[2] === undefined ? low : Number(m[2])
    if (low < 200 || high > 499) throw invalid(`HTTP codes must be 200..499, got "${part.trim()}"`)
    if (high < low) throw invalid(`the range "${part.trim()}" is reversed`)
    ranges.push([low, high])
  }
  return ranges
}

/** True when `status` is in one of the matcher's ranges. */
export function matches(matcher: Matcher, status: number): boolean {
  for (const [lo, hi] of matcher) if (status >= lo && status <= hi) return true
  return false
}
