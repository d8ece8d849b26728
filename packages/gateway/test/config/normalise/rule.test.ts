import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { expectError, FORWARD, load, R, rule, withRules } from '../fixtures.js'

describe('conditions of a rule', () => {
  test('a non-default rule needs a condition; the default rule has none', () => {
    expectError(withRules(rule(3, FORWARD, '[]')), `${R}[0]`, /at least one condition/, 'Priority: 3')
    const text = withRules(
      '      - { Priority: default, IsDefault: true, Conditions: [{ Field: path-pattern, Values: [/x] }], Actions: [{ Type: forward, TargetGroupArn: app }] }\n',
    ).replace(/ {4}DefaultActions:.*\n/, '')
    expectError(text, `${R}[0].Conditions`, /the default rule has no conditions/, '[{ Field: path-pattern')
  })
})

describe('transforms', () => {
  const transform = (t: string) =>
    withRules(`      - Priority: 1
        Conditions: [{ Field: path-pattern, Values: ["/x/*"] }]
        Transforms: [${t}]
        Actions: ${FORWARD}
`)
  const T = `${R}[0].Transforms`

  test('load into the model', () => {
    const { config } = load(
      transform(
        '{ Type: url-rewrite, UrlRewriteConfig: { Rewrites: [{ Regex: "^/x/(.*)$", Replace: "/$1" }] } }, { Type: host-header-rewrite, HostHeaderRewriteConfig: { Rewrites: [{ Regex: "^(.*)$", Replace: "internal" }] } }',
      ),
    )
    assert.deepEqual(config.listeners[0]!.rules[0]!.transforms, [
      { type: 'url-rewrite', regex: '^/x/(.*)$', replace: '/$1' },
      { type: 'host-header-rewrite', regex: '^(.*)$', replace: 'internal' },
    ])
  })

  test('regexes must compile', () => {
    expectError(
      transform('{ Type: url-rewrite, UrlRewriteConfig: { Rewrites: [{ Regex: "(unclosed", Replace: "/" }] } }'),
      `${T}[0].UrlRewriteConfig.Rewrites[0].Regex`,
      /not a valid regular expression/,
      '"(unclosed"',
    )
  })

  test('one of each type, with its own config, never on the default rule', () => {
    const two = '{ Type: url-rewrite, UrlRewriteConfig: { Rewrites: [{ Regex: a, Replace: b }] } }'
    expectError(transform(`${two}, ${two}`), `${T}[1].Type`, /at most one url-rewrite transform/, 'url-rewrite', 1)
    expectError(transform('{ Type: url-rewrite }'), `${T}[0]`, /needs UrlRewriteConfig/, 'Type: url-rewrite')
    const onDefault = withRules(
      `      - { Priority: default, Conditions: [], Transforms: [${two}], Actions: ${FORWARD} }\n`,
    ).replace(/ {4}DefaultActions:.*\n/, '')
    expectError(onDefault, `${R}[0].Transforms`, /default rule cannot have transforms/, `[${two}]`)
  })
})

describe('regular expressions are checked by the rule engine’s own compiler', () => {
  test('a rewrite replacement naming a group the expression does not have is refused at load', () => {
    const rules = `      - Priority: 1
        Conditions: [{ Field: path-pattern, Values: ["/x/*"] }]
        Transforms: [{ Type: url-rewrite, UrlRewriteConfig: { Rewrites: [{ Regex: "^/x/(.*)$", Replace: "/y/$2" }] } }]
        Actions: ${FORWARD}
`
    expectError(withRules(rules), `${R}[0].Transforms[0].UrlRewriteConfig.Rewrites[0].Replace`, /group \$2/, '"/y/$2"')
  })
})
