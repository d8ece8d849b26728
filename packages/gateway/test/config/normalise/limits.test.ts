import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { expectError, expectWarning, FORWARD, load, R, rule, withRules } from '../fixtures.js'

describe('rules per listener', () => {
  test('more than 100 rules on a listener is over the quota: a warning', () => {
    let rules = ''
    for (let i = 1; i <= 101; i++) rules += rule(i, FORWARD)
    const text = withRules(rules)
    expectWarning(text, R, /101 rules exceed ALB's default quota of 100/, '- Priority: 1\n')
  })
})

describe('wildcards and values per rule', () => {
  const cond = (c: string) => withRules(rule(1, FORWARD, `[${c}]`))
  const C = `${R}[0].Conditions`

  test('more than 5 wildcards in a rule is an error', () => {
    const text = withRules(
      rule(
        1,
        FORWARD,
        '[{ Field: path-pattern, Values: ["/a*/b?/c*"] }, { Field: host-header, Values: ["*.example.com"] }, { Field: query-string, QueryStringConfig: { Values: [{ Key: "k*", Value: "v\\\\*" }, { Value: "z?" }] } }]',
      ),
    )
    expectError(text, `${C}[2]`, /at most 5 wildcards .* uses 6/, 'Field: query-string')
    // An escaped \* in a query string is a literal, not a wildcard.
    assert.ok(load(text.replace('z?', 'z')))
  })

  test('more than 5 condition values in a rule is over the quota: a warning', () => {
    const text = cond('{ Field: path-pattern, Values: [/a, /b, /c, /d, /e, /f] }')
    expectWarning(text, `${C}[0]`, /6 values, over ALB's default quota of 5/, 'Field: path-pattern')
  })
})
