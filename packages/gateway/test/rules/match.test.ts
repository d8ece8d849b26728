import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { ConditionModel, RuleModel, TransformModel } from '../../src/config/model.js'
import type { RuleRequest } from '../../src/rules/conditions.js'
import { RuleTransformError } from '../../src/rules/errors.js'
import { compileRules } from '../../src/rules/match.js'
import { RuleCompileError } from '../../src/values/errors.js'

function rule(
  priority: number | 'default',
  conditions: ConditionModel[] = [],
  transforms: TransformModel[] = [],
): RuleModel {
  return { arn: `arn:rule/${priority}`, priority, conditions, transforms, actions: [] }
}

const defaultRule = rule('default')

function req(overrides: Partial<RuleRequest> = {}): RuleRequest {
  return {
    method: 'GET',
    host: 'app.example.com',
    path: '/',
    query: '',
    headers: {},
    sourceIp: '203.0.113.5',
    ...overrides,
  }
}

const path = (...values: string[]): ConditionModel => ({ field: 'path-pattern', values, regexValues: [] })
const host = (...values: string[]): ConditionModel => ({ field: 'host-header', values, regexValues: [] })

describe('compileRules / match', () => {
  test('evaluates by ascending priority whatever the list order; index is the list position', () => {
    const set = compileRules([rule(30, [path('/a*')]), defaultRule, rule(10, [path('/ab*')]), rule(20, [path('/a*')])])
    assert.deepEqual(
      set.rules.map((r) => r.priority),
      [10, 20, 30, 'default'],
    )
    const m = set.match(req({ path: '/abc' }))
    assert.equal(m.rule.priority, 10)
    assert.equal(m.index, 2)
    assert.equal(set.match(req({ path: '/ax' })).rule.priority, 20)
    assert.equal(set.match(req({ path: '/ax' })).index, 3)
  })

  test('the default rule matches when nothing else does', () => {
    const set = compileRules([rule(1, [path('/api/*')]), defaultRule])
    const m = set.match(req({ path: '/web', query: 'q=1' }))
    assert.equal(m.rule, defaultRule)
    assert.equal(m.index, 1)
    assert.deepEqual(
      { host: m.host, path: m.path, query: m.query },
      { host: 'app.example.com', path: '/web', query: 'q=1' },
    )
  })

  test('conditions are ANDed, values ORed', () => {
    const set = compileRules([
      rule(5, [host('*.example.com'), path('/api/*', '/v2/*'), { field: 'http-request-method', values: ['POST'] }]),
      defaultRule,
    ])
    assert.equal(set.match(req({ method: 'POST', path: '/v2/x' })).rule.priority, 5)
    assert.equal(set.match(req({ method: 'GET', path: '/v2/x' })).rule.priority, 'default')
    assert.equal(set.match(req({ method: 'POST', path: '/v3/x' })).rule.priority, 'default')
    assert.equal(set.match(req({ method: 'POST', path: '/api/x', host: 'example.com' })).rule.priority, 'default')
    assert.equal(set.match(req({ method: 'POST', path: '/api/x', host: undefined })).rule.priority, 'default')
  })

  test('query-string conditions of several rules see the right request each time', () => {
    const set = compileRules([
      rule(1, [{ field: 'query-string', values: [{ key: 'v', value: '1' }] }]),
      rule(2, [{ field: 'query-string', values: [{ key: 'v', value: '2' }] }]),
      defaultRule,
    ])
    const sequence: [string, number | 'default'][] = [
      ['v=2', 2],
      ['v=1', 1],
      ['', 'default'],
      ['x=1&v=2', 2],
      ['v=2', 2],
      ['v=3', 'default'],
    ]
    for (const [query, expected] of sequence) assert.equal(set.match(req({ query })).rule.priority, expected, query)
  })

  test('transforms apply after the match, and only the matched rule’s', () => {
    const set = compileRules([
      rule(1, [path('/api/*')], [{ type: 'url-rewrite', regex: '^/api/(.*)$', replace: '/internal/$1' }]),
      rule(2, [path('/internal/*')]),
      rule(3, [host('legacy.example.com')], [{ type: 'host-header-rewrite', regex: '^legacy\\.', replace: 'new.' }]),
      defaultRule,
    ])
    const m = set.match(req({ path: '/api/users', query: 'page=2' }))
    assert.equal(m.rule.priority, 1)
    assert.deepEqual(
      { host: m.host, path: m.path, query: m.query },
      {
        host: 'app.example.com',
        path: '/internal/users',
        query: 'page=2',
      },
    )
    const h = set.match(req({ host: 'legacy.example.com', path: '/x' }))
    assert.equal(h.rule.priority, 3)
    assert.equal(h.host, 'new.example.com')
  })

  test('a failing transform surfaces as RuleTransformError', () => {
    const set = compileRules([
      rule(1, [path('/x*')], [{ type: 'url-rewrite', regex: '^/x', replace: 'no-slash' }]),
      defaultRule,
    ])
    assert.throws(() => set.match(req({ path: '/x1' })), RuleTransformError)
    assert.equal(set.match(req({ path: '/y' })).rule.priority, 'default')
  })

  test('compile errors name the rule and the field', () => {
    assert.throws(
      () => compileRules([rule(10, [path('/a'), { field: 'source-ip', values: ['nope'] }]), defaultRule]),
      (e: unknown) => e instanceof RuleCompileError && e.field === 'rule 10: Conditions[1].Values[0]',
    )
    assert.throws(
      () =>
        compileRules([rule(7, [path('/a')], [{ type: 'url-rewrite', regex: '^(a)$', replace: '$3' }]), defaultRule]),
      (e: unknown) => e instanceof RuleCompileError && e.field === 'rule 7: Transforms[0].Replace',
    )
  })

  test('refuses duplicate priorities, a missing default rule, and a default rule with conditions', () => {
    assert.throws(() => compileRules([rule(1, [path('/a')]), rule(1, [path('/b')]), defaultRule]), /same priority/)
    assert.throws(() => compileRules([rule(1, [path('/a')])]), /default rule/)
    assert.throws(() => compileRules([]), /default rule/)
    assert.throws(() => compileRules([rule('default', [path('/a')])]), /neither conditions nor transforms/)
    assert.throws(() => compileRules([defaultRule, rule('default')]), /same priority/)
  })

  test('a rule without conditions (other than the default) matches everything', () => {
    const set = compileRules([rule(50), defaultRule])
    assert.equal(set.match(req()).rule.priority, 50)
  })
})
