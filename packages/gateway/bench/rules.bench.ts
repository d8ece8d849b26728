// node --conditions=@portcullis/source --import tsx packages/gateway/bench/rules.bench.ts — rule matches per second:
//   (a) a request matched by the first of 100 rules
//   (b) a request that falls through 100 rules to the default rule (every condition evaluated)
//   (c) as (b) with a 16 KB adversarial path against star-heavy path patterns
//   (d) for comparison, (c)'s path patterns as naively translated RegExps on a 28-byte
//       path (16 KB would not finish: that is why wildcard.ts does not use RegExps),
//       and (c)'s wildcard matchers alone on the same 28 bytes
//   (e) a request matching the last of 1, 100 and 1,000 rules whose conditions cycle
//       through host, path, header and query (as real listeners have), as compiled and, for
//       comparison, evaluated rule by rule; each as a ratio of the 1-rule rate
// Each case is warmed up, then measured for a fixed time; rates are operations / CPU
// time of this process (steadier than wall-clock time on a shared machine).
// BENCH_RULES_CALLGRIND=N runs only N matches of (e) at BENCH_RULES_COUNT (1,000) rules (as
// compiled, or rule by rule with BENCH_RULES_LINEAR=1) after a warm-up, for `valgrind
// --tool=callgrind`: the difference of two counts over the difference of N is per match.
import type { ConditionModel, RuleModel } from '../src/config/model.js'
import type { RuleRequest } from '../src/rules/conditions.js'
import { compileRules } from '../src/rules/match.js'
import { compileWildcard } from '../src/rules/wildcard.js'

const WARMUP_MS = 300
const MEASURE_MS = 2000

function rule(priority: number, conditions: ConditionModel[]): RuleModel {
  return { arn: `arn:rule/${priority}`, priority, conditions, transforms: [], actions: [] }
}

const rules: RuleModel[] = []
for (let i = 1; i <= 100; i++) {
  const conditions: ConditionModel[] = [
    { field: 'path-pattern', values: [`/api/v${i}/*`, `/*a*a*a*a*b*z`], regexValues: [] },
    { field: 'http-header', headerName: 'x-tenant', values: [`t${i}*`, 'blue'], regexValues: [] },
  ]
  if (i % 5 === 0) conditions.push({ field: 'query-string', values: [{ key: 'v', value: `${i}` }] })
  rules.push(rule(i, i === 1 ? [] : conditions))
}
// Rule 1 only matches svc1 so that (a) stops at once; the others have no host
// condition, so (b) and (c) evaluate every rule's path patterns.
rules[0] = rule(1, [{ field: 'host-header', values: ['svc1.example.com'], regexValues: [] }])
rules.push({ arn: 'arn:rule/default', priority: 'default', conditions: [], transforms: [], actions: [] })
const set = compileRules(rules)

function base(host: string, path: string): RuleRequest {
  return {
    method: 'GET',
    host,
    path,
    query: 'v=7&page=2',
    headers: { host, 'x-tenant': 'blue' },
    rawHeaders: ['Host', host, 'X-Tenant', 'blue'],
    sourceIp: '203.0.113.7',
  }
}

function cpuMs(): number {
  const { user, system } = process.cpuUsage()
  return (user + system) / 1000
}

function measure(name: string, fn: () => unknown, suffix = ''): number {
  for (const end = cpuMs() + WARMUP_MS; cpuMs() < end; ) fn()
  let ops = 0
  const start = cpuMs()
  const end = start + MEASURE_MS
  while (cpuMs() < end) {
    for (let i = 0; i < 100; i++) fn()
    ops += 100
  }
  const rate = ops / ((cpuMs() - start) / 1000)
  console.log(`${name.padEnd(58)} ${Math.round(rate).toLocaleString('en-US').padStart(12)} /s${suffix}`)
  return rate
}

/**
 * `count` rules whose conditions cycle through host, path, header and query,
 * and a request that only the last one matches: as in bench:gateway's (r)
 * cases, the last rule is a query-string condition `shard=<count>`.
 */
function growingRuleSet(count: number): { rules: RuleModel[]; request: RuleRequest } {
  const list: RuleModel[] = []
  for (let i = 1; i <= count; i++) {
    const conditions: ConditionModel[] = []
    switch (i === count ? 0 : i % 4) {
      case 1:
        conditions.push({
          field: 'host-header',
          values: [`svc${i}.example.com`, `*.svc${i}.example.net`],
          regexValues: [],
        })
        break
      case 2:
        conditions.push({ field: 'path-pattern', values: [`/api/v${i}/*`, `/app${i}`], regexValues: [] })
        break
      case 3:
        conditions.push({
          field: 'http-header',
          headerName: 'x-tenant',
          values: [`tenant-${i}`, `t${i}-*`],
          regexValues: [],
        })
        break
      default:
        conditions.push({ field: 'query-string', values: [{ key: 'shard', value: `${i}` }] })
    }
    list.push(rule(i, conditions))
  }
  list.push({ arn: 'arn:rule/default', priority: 'default', conditions: [], transforms: [], actions: [] })
  const host = 'www.example.org'
  return {
    rules: list,
    request: {
      method: 'GET',
      host,
      path: '/static/app.js',
      query: `page=2&shard=${count}`,
      headers: { host, 'x-tenant': 'nobody' },
      rawHeaders: ['Host', host, 'X-Tenant', 'nobody'],
      sourceIp: '203.0.113.7',
    },
  }
}

const callgrindRuns = Number(process.env.BENCH_RULES_CALLGRIND ?? 0)
if (callgrindRuns > 0) {
  const count = Number(process.env.BENCH_RULES_COUNT ?? 1000)
  const { rules: many, request } = growingRuleSet(count)
  const s = compileRules(many, process.env.BENCH_RULES_LINEAR === '1' ? { index: false } : {})
  if (s.match(request).rule.priority !== count) throw new Error('the request must match the last rule')
  for (let i = 0; i < 2000; i++) s.match(request)
  for (let i = 0; i < callgrindRuns; i++) s.match(request)
  process.exit(0)
}

const early = base('svc1.example.com', '/api/v1/x')
const fallThrough = base('nomatch.example.net', '/static/app.js')
// Every middle segment but the `b` is found at once; the `b` is searched for across the whole path.
const adversarial = base('nomatch.example.net', `/${'a'.repeat(16 * 1024)}z`)

measure('(a) first of 100 rules matches', () => set.match(early))
measure('(b) 100 rules fall through to the default', () => set.match(fallThrough))
measure('(c) (b) with a 16 KB adversarial path', () => set.match(adversarial))

const naive = rules
  .flatMap((r) => r.conditions)
  .flatMap((c) => (c.field === 'path-pattern' ? c.values : []))
  .map(
    (p) =>
      new RegExp(
        `^${p
          .replace(/[.+^${}()|[\]\\]/g, '\\$&')
          .replace(/\*/g, '.*')
          .replace(/\?/g, '.')}$`,
      ),
  )
const shortAdversarial = `/${'a'.repeat(28)}z`
measure('(d) naive RegExps for those path patterns, 28-byte path', () => naive.some((r) => r.test(shortAdversarial)))
const matchers = rules
  .flatMap((r) => r.conditions)
  .flatMap((c) => (c.field === 'path-pattern' ? c.values : []))
  .map((p) => compileWildcard(p, { caseInsensitive: false }))
measure('(d) wildcard matchers, same patterns and path', () => matchers.some((m) => m.test(shortAdversarial)))

console.log('(e) a request matching the last of N rules (host/path/header/query), ratio to 1 rule:')
for (const index of [true, false]) {
  let one = 0
  for (const count of [1, 100, 1000]) {
    const { rules: list, request } = growingRuleSet(count)
    const s = compileRules(list, index ? {} : { index: false })
    if (s.match(request).rule.priority !== count) throw new Error(`the request must match rule ${count}`)
    const rate = measure(`    ${count} rules, ${index ? 'as compiled (indexed from 8 rules)' : 'rule by rule'}`, () =>
      s.match(request),
    )
    if (count === 1) one = rate
    else console.log(`${''.padEnd(62)}${(rate / one).toFixed(3)}× of 1 rule`)
  }
}
