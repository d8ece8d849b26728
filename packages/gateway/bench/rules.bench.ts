// node --conditions=@portcullis/source --import tsx packages/gateway/bench/rules.bench.ts — rule matches per second:
//   (a) a request matched by the first of 100 rules
//   (b) a request that falls through 100 rules to the default rule (every condition evaluated)
//   (c) as (b) with a 16 KB adversarial path against star-heavy path patterns
//   (d) for comparison, (c)'s path patterns as naively translated RegExps on a 28-byte
//       path (16 KB would not finish: that is why wildcard.ts does not use RegExps),
//       and (c)'s wildcard matchers alone on the same 28 bytes
// Each case is warmed up, then measured for a fixed time; rates are operations / time.
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

function measure(name: string, fn: () => unknown): void {
  const deadline = (ms: number) => performance.now() + ms
  for (const end = deadline(WARMUP_MS); performance.now() < end; ) fn()
  let ops = 0
  const start = performance.now()
  const end = start + MEASURE_MS
  while (performance.now() < end) {
    for (let i = 0; i < 100; i++) fn()
    ops += 100
  }
  const seconds = (performance.now() - start) / 1000
  console.log(
    `${name.padEnd(58)} ${Math.round(ops / seconds)
      .toLocaleString('en-US')
      .padStart(12)} /s`,
  )
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
