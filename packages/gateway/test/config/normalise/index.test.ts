import assert from 'node:assert/strict'
import { test } from 'node:test'
import { issuesOf, R, rule, withRules } from '../fixtures.js'

test('every error is reported in one pass, in file order', () => {
  const text = withRules(
    rule(0, '[{ Type: forward, TargetGroupArn: nope }]') +
      rule(2, '[{ Type: fixed-response, FixedResponseConfig: { StatusCode: "999" } }]'),
  )
  const issues = issuesOf(text)
  assert.deepEqual(
    issues.map((i) => i.path),
    [`${R}[0].Priority`, `${R}[0].Actions[0].TargetGroupArn`, `${R}[1].Actions[0].FixedResponseConfig.StatusCode`],
  )
  const lines = issues.map((i) => i.line!)
  assert.deepEqual(
    lines,
    [...lines].sort((a, b) => a - b),
  )
})
