/**
 * A health check's `Matcher`: the HTTP status codes (`HttpCode`) or gRPC
 * status codes (`GrpcCode`) that count as healthy, parsed once here for
 * validation and for the health checker.
 */

/** A compiled `Matcher.HttpCode` or `Matcher.GrpcCode`: inclusive ranges. */
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
  return parseCodes(spec, /^\s*(\d{3})(?:-(\d{3}))?\s*$/, 200, 499, 'HTTP', '"200", "200,202" or "200-299"')
}

/**
 * Parses a `Matcher.GrpcCode` value: a gRPC status code (`12`), a list
 * (`0,1`), a range (`0-5`) or a mix; ALB allows codes 0..99.
 *
 * @throws {Error} naming the value and what is wrong with it.
 * @example
 * ```ts
 * matches(parseGrpcMatcher('0,12'), 12) // true
 * ```
 */
export function parseGrpcMatcher(spec: string): Matcher {
  return parseCodes(spec, /^\s*(\d{1,3})(?:-(\d{1,3}))?\s*$/, 0, 99, 'gRPC', '"12", "0,1" or "0-5"')
}

function parseCodes(spec: string, pattern: RegExp, min: number, max: number, kind: string, examples: string): Matcher {
  const ranges: [number, number][] = []
  const invalid = (problem: string) => new Error(`invalid health check matcher "${spec}": ${problem}`)
  for (const part of spec.split(',')) {
    const m = pattern.exec(part)
    if (m === null) throw invalid(`expected ${kind} codes or ranges such as ${examples}`)
    const low = Number(m[1])
    const high = m[2] === undefined ? low : Number(m[2])
    if (low < min || high > max) throw invalid(`${kind} codes must be ${min}..${max}, got "${part.trim()}"`)
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
