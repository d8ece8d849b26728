import type { IncomingHttpHeaders } from 'node:http'
import { CidrError, compileCidrMatcher, parseCidr } from '@portcullis/verify/net'
import type {
  ConditionModel,
  HostHeaderCondition,
  HttpHeaderCondition,
  PathPatternCondition,
  QueryStringCondition,
  SourceIpCondition,
} from '../config/model.js'
import { RuleCompileError } from '../values/errors.js'
import { compileRuleRegex } from '../values/regex.js'
import { compileWildcard, type WildcardMatcher } from './wildcard.js'

/**
 * What rule conditions look at, as the listener saw the request. Nothing here
 * is rewritten yet: transforms run after the match.
 */
export interface RuleRequest {
  /** Request method exactly as sent (ALB compares it case-sensitively). */
  readonly method: string
  /** Host header lower-cased without its port; undefined when absent. */
  readonly host: string | undefined
  /** Path exactly as received: still percent-encoded, no query. */
  readonly path: string
  /** Raw query string without `?` (empty when none). */
  readonly query: string
  /** Parsed request headers (lower-case names). */
  readonly headers: IncomingHttpHeaders
  /**
   * `IncomingMessage.rawHeaders`, when available: lets an `http-header`
   * condition see each instance of a repeated header separately, where
   * `headers` has joined them with `, `.
   */
  readonly rawHeaders?: readonly string[] | undefined
  /** The connection's peer address (never `X-Forwarded-For`). */
  readonly sourceIp: string
}

/**
 * Per-match scratch space shared by the conditions of one rule set: the query
 * string is split and percent-decoded at most once per request, into arrays
 * that are reused from one request to the next. Matching is synchronous, so
 * one scratch per compiled rule set is enough.
 */
export class QueryScratch {
  /** The raw query the arrays below were filled from. */
  private source: string | undefined = undefined
  /** Percent-decoded parameter names; only the first {@link QueryScratch.count} entries are current. */
  readonly keys: string[] = []
  /** Percent-decoded parameter values, parallel to `keys` (empty for a parameter without `=`). */
  readonly values: string[] = []
  /** Number of parameters of the current query. */
  count = 0

  /** Forgets the previous request's query. */
  reset(): void {
    this.source = undefined
  }

  /** Splits `query` at `&`, each parameter at its first `=`, and percent-decodes both halves. */
  load(query: string): void {
    if (this.source === query) return
    this.source = query
    this.count = 0
    let start = 0
    while (start <= query.length) {
      let end = query.indexOf('&', start)
      if (end < 0) end = query.length
      if (end > start) {
        const eq = query.indexOf('=', start)
        const split = eq >= 0 && eq < end
        this.keys[this.count] = decodeQueryComponent(query.slice(start, split ? eq : end))
        this.values[this.count] = split ? decodeQueryComponent(query.slice(eq + 1, end)) : ''
        this.count++
      }
      start = end + 1
    }
  }
}

/**
 * Percent-decodes one query key or value. `+` stays a `+`: ALB's condition
 * follows RFC 3986, where `+` is an ordinary character (form encoding's
 * "+ means space" is an HTML convention). A malformed escape (`%zz`, bytes that
 * are not UTF-8) leaves the component as sent rather than failing the request.
 */
export function decodeQueryComponent(component: string): string {
  if (component.indexOf('%') < 0) return component
  try {
    return decodeURIComponent(component)
  } catch {
    return component
  }
}

/** A compiled condition: true when the request satisfies it. */
export type ConditionPredicate = (req: RuleRequest, scratch: QueryScratch) => boolean

const NO_WILDCARDS: readonly WildcardMatcher[] = []
const NO_REGEXES: readonly RegExp[] = []

/** Tests `value` against the wildcard matchers, then the regular expressions (values are ORed). */
function anyMatch(value: string, wildcards: readonly WildcardMatcher[], regexes: readonly RegExp[]): boolean {
  for (let i = 0; i < wildcards.length; i++) if (wildcards[i]!.test(value)) return true
  for (let i = 0; i < regexes.length; i++) if (regexes[i]!.test(value)) return true
  return false
}

function compileRegexes(patterns: readonly string[], field: string): RegExp[] {
  return patterns.map((pattern, i) => {
    try {
      return compileRuleRegex(pattern)
    } catch (error) {
      if (error instanceof RuleCompileError) throw new RuleCompileError(`${field}.RegexValues[${i}]`, error.message)
      throw error
    }
  })
}

/** ASCII case-insensitive equality against an already lower-case `lower`, without allocating. */
function equalsLowerAscii(value: string, lower: string): boolean {
  if (value.length !== lower.length) return false
  for (let i = 0; i < value.length; i++) {
    let c = value.charCodeAt(i)
    if (c >= 65 && c <= 90) c += 32
    if (c !== lower.charCodeAt(i)) return false
  }
  return true
}

function hostHeader(c: HostHeaderCondition, field: string): ConditionPredicate {
  const wildcards = c.values.map((v) => compileWildcard(v, { caseInsensitive: true }))
  const regexes = compileRegexes(c.regexValues, field)
  return (req) => {
    if (wildcards.length > 0 && req.host !== undefined && anyMatch(req.host, wildcards, NO_REGEXES)) return true
    if (regexes.length === 0) return false
    // Regular expressions see the Host header as sent, port included, so that
    // `example.com:8443` can be matched (ALB documents RegexValues for that).
    const raw = req.headers.host ?? (req.headers[':authority'] as string | undefined)
    return raw !== undefined && anyMatch(raw.toLowerCase(), NO_WILDCARDS, regexes)
  }
}

function pathPattern(c: PathPatternCondition, field: string): ConditionPredicate {
  const wildcards = c.values.map((v) => compileWildcard(v, { caseInsensitive: false }))
  const regexes = compileRegexes(c.regexValues, field)
  return (req) => anyMatch(req.path, wildcards, regexes)
}

function httpHeader(c: HttpHeaderCondition, field: string): ConditionPredicate {
  const name = c.headerName.toLowerCase()
  const wildcards = c.values.map((v) => compileWildcard(v, { caseInsensitive: true }))
  const regexes = compileRegexes(c.regexValues, field)
  return (req) => {
    const raw = req.rawHeaders
    if (raw !== undefined) {
      // Each instance of a repeated header is a separate candidate.
      for (let i = 0; i + 1 < raw.length; i += 2) {
        if (equalsLowerAscii(raw[i]!, name) && anyMatch(raw[i + 1]!, wildcards, regexes)) return true
      }
      return false
    }
    const value = req.headers[name]
    if (value === undefined) return false
    if (typeof value === 'string') return anyMatch(value, wildcards, regexes)
    for (let i = 0; i < value.length; i++) if (anyMatch(value[i]!, wildcards, regexes)) return true
    return false
  }
}

function queryString(c: QueryStringCondition): ConditionPredicate {
  const pairs = c.values.map((pair) => ({
    key: pair.key === undefined ? undefined : compileWildcard(pair.key, { caseInsensitive: true, escapes: true }),
    value: compileWildcard(pair.value, { caseInsensitive: true, escapes: true }),
  }))
  return (req, scratch) => {
    if (req.query.length === 0) return false
    scratch.load(req.query)
    for (let p = 0; p < pairs.length; p++) {
      const pair = pairs[p]!
      for (let i = 0; i < scratch.count; i++) {
        if (pair.key !== undefined && !pair.key.test(scratch.keys[i]!)) continue
        if (pair.value.test(scratch.values[i]!)) return true
      }
    }
    return false
  }
}

function sourceIp(c: SourceIpCondition, field: string): ConditionPredicate {
  const blocks = c.values.map((cidr, i) => {
    try {
      return parseCidr(cidr)
    } catch (error) {
      if (error instanceof CidrError) throw new RuleCompileError(`${field}.Values[${i}]`, error.message)
      throw error
    }
  })
  const inside = compileCidrMatcher(blocks)
  return (req) => inside(req.sourceIp)
}

/**
 * Compiles one rule condition into a predicate. Values within the condition
 * are ORed; the rule ANDs its conditions (see `compileRules`).
 *
 * Semantics (ALB's, with Portcullis decisions marked):
 * - `host-header`: wildcard values, ASCII case-insensitive, against the host
 *   without port (`*.example.com` does not match `example.com`); RegexValues
 *   against the lower-cased Host header *with* its port.
 * - `path-pattern`: case-sensitive, against the path only, exactly as received.
 *   **Decision:** no percent-decoding and no dot-segment normalisation, so the
 *   rule sees the same bytes the target will (`/%61dmin` does not match `/admin`).
 * - `http-header`: name case-insensitive; values ASCII case-insensitive
 *   wildcards or RegexValues; any instance of a repeated header may match.
 * - `http-request-method`: exact, case-sensitive.
 * - `query-string`: each `{key?, value}` matches a parameter whose
 *   percent-decoded key (when given) and value match, case-insensitively, with
 *   `\*` and `\?` as literals. **Decision:** a parameter without `=` is a key
 *   with an empty value; `+` is not decoded to a space.
 * - `source-ip`: CIDR blocks against the peer address; IPv4-mapped IPv6 peers
 *   match IPv4 blocks.
 * - RegexValues: a search (`^`/`$` anchor it), see `compileRuleRegex`.
 *
 * @param field Location used in {@link RuleCompileError}s, e.g. `Conditions[0]`.
 * @throws {RuleCompileError} for a bad CIDR or regular expression.
 * @example
 * ```ts
 * const scratch = new QueryScratch()
 * const isApi = compileCondition({ field: 'path-pattern', values: ['/api/*'], regexValues: [] })
 * isApi({ method: 'GET', host: 'x.test', path: '/api/v1', query: '', headers: {}, sourceIp: '127.0.0.1' }, scratch) // true
 * ```
 */
export function compileCondition(condition: ConditionModel, field = 'Condition'): ConditionPredicate {
  switch (condition.field) {
    case 'host-header':
      return hostHeader(condition, field)
    case 'path-pattern':
      return pathPattern(condition, field)
    case 'http-header':
      return httpHeader(condition, field)
    case 'http-request-method': {
      const methods = condition.values
      return (req) => methods.includes(req.method)
    }
    case 'query-string':
      return queryString(condition)
    case 'source-ip':
      return sourceIp(condition, field)
  }
}
