import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import type { ConditionModel, RuleModel } from '../../src/config/model.js'
import type { RuleRequest } from '../../src/rules/conditions.js'
import { compileRules } from '../../src/rules/match.js'
import { wildcardAnchor } from '../../src/rules/wildcard.js'

// Small alphabets, so that generated values and patterns collide often: exact
// values, prefixes, suffixes, `?` holes, case differences, empty strings.
const hostPart = fc.constantFrom('a', 'b', 'A', 'api', 'example', 'com', 'x1')
const hostValue = fc.array(hostPart, { minLength: 1, maxLength: 3 }).map((p) => p.join('.'))
const hostPattern = fc.oneof(
  hostValue,
  hostValue.map((h) => `*.${h}`),
  hostValue.map((h) => `${h}.*`),
  hostValue.map((h) => `?${h}`),
  hostValue.map((h) => `*${h}*`),
  fc.constant('*'),
)
const pathValue = fc
  .array(fc.constantFrom('api', 'v1', 'V1', 'a', 'x.js', '%61', ''), { minLength: 1, maxLength: 3 })
  .map((p) => `/${p.join('/')}`)
const pathPattern = fc.oneof(
  pathValue,
  pathValue.map((p) => `${p}*`),
  pathValue.map((p) => `${p}/*`),
  pathValue.map((p) => `*${p}`),
  pathValue.map((p) => `${p.slice(0, -1)}?`),
  pathValue.map((p) => `/*${p.slice(1)}*`),
  fc.constant('/*'),
)
const word = fc.constantFrom('blue', 'Blue', 'red', 'b', '', 'a*b', 'x?y')
const wordPattern = fc.oneof(
  word,
  word.map((w) => `${w}*`),
  word.map((w) => `*${w}`),
  word.map((w) => `?${w}`),
  fc.constant('*'),
  fc.constant('a\\*b'),
)
const values = <T>(arb: fc.Arbitrary<T>) => fc.array(arb, { minLength: 1, maxLength: 5 })
const regex = fc.constantFrom('^a\\.', 'example', '^/api/', 'blue$')

const condition: fc.Arbitrary<ConditionModel> = fc.oneof(
  fc.record({
    field: fc.constant('host-header' as const),
    values: values(hostPattern),
    regexValues: fc.oneof({ weight: 4, arbitrary: fc.constant([]) }, fc.array(regex, { maxLength: 1 })),
  }),
  fc.record({
    field: fc.constant('path-pattern' as const),
    values: values(pathPattern),
    regexValues: fc.oneof({ weight: 4, arbitrary: fc.constant([]) }, fc.array(regex, { maxLength: 1 })),
  }),
  fc.record({
    field: fc.constant('http-header' as const),
    headerName: fc.constantFrom('X-Tenant', 'x-tenant', 'x-other'),
    values: values(wordPattern),
    regexValues: fc.oneof({ weight: 4, arbitrary: fc.constant([]) }, fc.array(regex, { maxLength: 1 })),
  }),
  fc.record({
    field: fc.constant('query-string' as const),
    values: values(fc.record({ key: fc.option(wordPattern, { nil: undefined }), value: wordPattern })),
  }),
  fc.record({ field: fc.constant('http-request-method' as const), values: values(fc.constantFrom('GET', 'POST')) }),
  fc.record({ field: fc.constant('source-ip' as const), values: values(fc.constantFrom('10.0.0.0/8', '::/0')) }),
)

const ruleSet = fc.array(fc.array(condition, { minLength: 1, maxLength: 3 }), { maxLength: 30 }).map((list) => {
  const rules: RuleModel[] = list.map((conditions, i) => ({
    arn: `arn:rule/${i}`,
    priority: (i * 7919) % 50_000, // not in list order
    conditions,
    transforms: [],
    actions: [],
  }))
  const seen = new Set<number | 'default'>()
  const unique = rules.filter((r) => !seen.has(r.priority) && seen.add(r.priority))
  unique.push({ arn: 'arn:rule/default', priority: 'default', conditions: [], transforms: [], actions: [] })
  return unique
})

const header = fc.tuple(fc.constantFrom('X-Tenant', 'x-tenant', 'X-TENANT', 'x-other'), word)
const request: fc.Arbitrary<RuleRequest> = fc
  .record({
    method: fc.constantFrom('GET', 'POST', 'get'),
    host: fc.option(hostValue.map((h) => h.toLowerCase())),
    path: pathValue,
    query: fc
      .array(fc.tuple(word, fc.option(word)), { maxLength: 3 })
      .map((ps) =>
        ps.map(([k, v]) => (v === null ? encodeURIComponent(k) : `${k}=${encodeURIComponent(v)}`)).join('&'),
      ),
    headers: fc.array(header, { maxLength: 3 }),
    raw: fc.boolean(),
    sourceIp: fc.constantFrom('10.1.2.3', '192.0.2.1', '::1'),
  })
  .map(({ method, host, path, query, headers, raw, sourceIp }) => {
    const parsed: Record<string, string> = {}
    for (const [name, value] of headers) {
      const lower = name.toLowerCase()
      parsed[lower] = parsed[lower] === undefined ? value : `${parsed[lower]}, ${value}`
    }
    return {
      method,
      host: host ?? undefined,
      path,
      query,
      headers: parsed,
      rawHeaders: raw ? headers.flat() : undefined,
      sourceIp,
    }
  })

describe('the rule index', () => {
  test('matches exactly the rule that evaluating every rule in priority order matches', () => {
    fc.assert(
      fc.property(ruleSet, fc.array(request, { minLength: 1, maxLength: 20 }), (rules, requests) => {
        const indexed = compileRules(rules, { index: true })
        const linear = compileRules(rules, { index: false })
        for (const req of requests) assert.equal(indexed.match(req).index, linear.match(req).index)
      }),
      { numRuns: 2000 },
    )
  })

  test('evaluates only the candidate rules: the last of 1,000 host rules is the one rule evaluated', () => {
    const rules: RuleModel[] = Array.from({ length: 1000 }, (_, i) => ({
      arn: `arn:rule/${i + 1}`,
      priority: i + 1,
      conditions: [
        { field: 'host-header', values: [`svc${i + 1}.example.com`], regexValues: [] },
        { field: 'http-request-method', values: ['GET'] },
      ],
      transforms: [],
      actions: [],
    }))
    rules.push({ arn: 'arn:rule/default', priority: 'default', conditions: [], transforms: [], actions: [] })
    // The method condition runs first in every evaluated rule: counting its reads counts the rules evaluated.
    let evaluated = 0
    const req = {
      get method() {
        evaluated++
        return 'GET'
      },
      host: 'svc1000.example.com',
      path: '/',
      query: '',
      headers: {},
      sourceIp: '::1',
    }
    assert.equal(compileRules(rules).match(req).rule.priority, 1000)
    assert.equal(evaluated, 1)
    evaluated = 0
    assert.equal(compileRules(rules, { index: false }).match(req).rule.priority, 1000)
    assert.equal(evaluated, 1000)
  })
})

describe('wildcardAnchor', () => {
  test('pins the exact value, else the longer literal end; nothing when both ends are wildcards', () => {
    assert.deepEqual(wildcardAnchor('/api/v1', { caseInsensitive: false }), { kind: 'exact', text: '/api/v1' })
    assert.deepEqual(wildcardAnchor('/api/*', { caseInsensitive: false }), { kind: 'prefix', text: '/api/' })
    assert.deepEqual(wildcardAnchor('*.Example.COM', { caseInsensitive: true }), {
      kind: 'suffix',
      text: '.example.com',
    })
    assert.deepEqual(wildcardAnchor('a?bc*.x', { caseInsensitive: true }), { kind: 'suffix', text: '.x' })
    assert.deepEqual(wildcardAnchor('a\\*b', { caseInsensitive: true, escapes: true }), { kind: 'exact', text: 'a*b' })
    assert.equal(wildcardAnchor('*x*', { caseInsensitive: false }), undefined)
    assert.equal(wildcardAnchor('*', { caseInsensitive: false }), undefined)
  })
})
