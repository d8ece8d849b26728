/**
 * Whether two rules can match the same request, decided by the rule engine
 * itself: candidate requests are built from both rules' condition values, and
 * a pair of rules overlaps when the compiled conditions of both accept one of
 * them. A reported overlap is always real (its example request is routed by
 * the engine); an overlap that only a regular expression or an unusual
 * wildcard filling would reveal may be missed.
 */
import type { ConditionModel, RuleModel } from '../config/model.js'
import { compileCondition, QueryScratch, type RuleRequest } from '../rules/conditions.js'

/** Candidate requests tried per pair of rules, at most. */
const MAX_CANDIDATES = 4096

/** A request both rules accept, as the report shows it. */
export interface Witness {
  readonly request: RuleRequest
  /** `GET example.com/api/x?debug=1` */
  readonly text: string
}

/**
 * A request that both `earlier` and `later` match, or undefined when none of
 * the candidates does.
 *
 * @example
 * ```ts
 * const a = { arn: 'a', priority: 1, transforms: [], actions: [],
 *   conditions: [{ field: 'path-pattern', values: ['/*.json'], regexValues: [] }] } as const
 * const b = { ...a, priority: 2, conditions: [{ field: 'path-pattern', values: ['/admin/*'], regexValues: [] }] } as const
 * findOverlap(a, b)?.text // 'GET example.com/admin/.json'
 * ```
 */
export function findOverlap(earlier: RuleModel, later: RuleModel): Witness | undefined {
  const predicates = [...earlier.conditions, ...later.conditions].map((c, i) => compileCondition(c, `Conditions[${i}]`))
  const scratch = new QueryScratch()
  const both = [...earlier.conditions, ...later.conditions]
  let tried = 0
  for (const request of candidates(both)) {
    if (++tried > MAX_CANDIDATES) return undefined
    scratch.reset()
    if (predicates.every((p) => p(request, scratch))) return { request, text: describeRequest(request) }
  }
  return undefined
}

/** Every combination of candidate values, one field at a time. */
function* candidates(conditions: readonly ConditionModel[]): Generator<RuleRequest> {
  const patterns = (field: ConditionModel['field']) =>
    conditions.flatMap((c) => (c.field === field && 'regexValues' in c ? c.values : []))
  const paths = expand(patterns('path-pattern'), ['/'])
  const hosts = expand(patterns('host-header'), ['example.com']).map((h) => h.toLowerCase())
  const methods = unique(
    conditions.flatMap((c) => (c.field === 'http-request-method' ? c.values : [])),
    ['GET'],
  )
  const queries = expand(
    conditions.flatMap((c) =>
      c.field === 'query-string'
        ? c.values.map((v) => (v.key === undefined ? `k=${v.value}` : `${v.key}=${v.value}`))
        : [],
    ),
    [''],
  )
  const sources = unique(
    conditions.flatMap((c) => (c.field === 'source-ip' ? c.values.map((cidr) => cidr.split('/')[0]!) : [])),
    ['203.0.113.10'],
  )
  const headerNames = unique(
    conditions.flatMap((c) => (c.field === 'http-header' ? [c.headerName.toLowerCase()] : [])),
    [],
  )
  const headerValues = headerNames.map((name) =>
    expand(
      conditions.flatMap((c) => (c.field === 'http-header' && c.headerName.toLowerCase() === name ? c.values : [])),
      ['x'],
    ),
  )
  for (const headers of product(headerValues)) {
    const headerObject: Record<string, string> = {}
    headerNames.forEach((name, i) => {
      headerObject[name] = headers[i]!
    })
    for (const method of methods)
      for (const host of hosts)
        for (const path of paths)
          for (const query of queries)
            for (const sourceIp of sources) {
              yield { method, host, path, query, headers: { ...headerObject, host }, sourceIp }
            }
  }
}

/**
 * Concrete values for wildcard patterns: each `*` filled with nothing, with
 * `x`, and with each literal piece of the other patterns (so `/admin/*` and
 * `/*.json` meet at `/admin/.json`); each `?` with `x`.
 */
function expand(patterns: readonly string[], fallback: readonly string[]): string[] {
  if (patterns.length === 0) return [...fallback]
  const pieces = unique(
    patterns.flatMap((p) => p.split(/[*?]/)).filter((piece) => piece.length > 0),
    [],
  )
  const fillers = ['', 'x', ...pieces]
  const out = new Set<string>()
  for (const pattern of patterns) {
    const parts = pattern.replace(/\?/g, 'x').split('*')
    for (const combo of product(parts.slice(1).map(() => fillers))) {
      out.add(parts.reduce((acc, part, i) => (i === 0 ? part : acc + combo[i - 1]! + part), ''))
      if (out.size > 256) break
    }
  }
  return [...out]
}

function* product(lists: readonly (readonly string[])[]): Generator<string[]> {
  if (lists.length === 0) {
    yield []
    return
  }
  const [first, ...rest] = lists
  for (const value of first!) for (const tail of product(rest)) yield [value, ...tail]
}

function unique(values: readonly string[], fallback: readonly string[]): string[] {
  return values.length === 0 ? [...fallback] : [...new Set(values)]
}

function describeRequest(r: RuleRequest): string {
  const extra = Object.entries(r.headers)
    .filter(([name]) => name !== 'host')
    .map(([name, value]) => ` with ${name}: ${String(value)}`)
    .join('')
  const source = r.sourceIp === '203.0.113.10' ? '' : ` from ${r.sourceIp}`
  return `${r.method} ${r.host}${r.path}${r.query ? `?${r.query}` : ''}${extra}${source}`
}
