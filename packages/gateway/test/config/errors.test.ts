import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { ConfigError, formatIssue } from '../../src/config/errors.js'
import { parseConfig } from '../../src/config/load.js'
import { withRules } from './fixtures.js'

describe('formatIssue', () => {
  test('file:line:column path: message', () => {
    assert.equal(
      formatIssue(
        {
          path: 'Listeners[0].Rules[1].Priority',
          line: 12,
          column: 9,
          message: 'priority 10 is already used by Listeners[0].Rules[0]',
          severity: 'error',
        },
        'portcullis.yaml',
      ),
      'portcullis.yaml:12:9 Listeners[0].Rules[1].Priority: priority 10 is already used by Listeners[0].Rules[0]',
    )
  })

  test('warnings are marked; missing parts are left out', () => {
    assert.equal(
      formatIssue({ path: 'A', line: 1, column: 2, message: 'm', severity: 'warning' }, 'f.yaml'),
      'f.yaml:1:2 warning: A: m',
    )
    assert.equal(
      formatIssue({ path: '', message: 'configuration file not found: /x', severity: 'error' }, 'x.yaml'),
      'x.yaml: configuration file not found: /x',
    )
    assert.equal(formatIssue({ path: 'A', line: 3, column: 4, message: 'm', severity: 'error' }, undefined), '3:4 A: m')
  })
})

describe('ConfigError', () => {
  test('formats every issue in file order, without a stack trace', () => {
    const text = withRules(`      - Priority: 2
        Conditions: [{ Field: path-pattern, Values: ["/b"] }]
        Actions: [{ Type: forward, TargetGroupArn: missing }]
      - Priority: 1
        Conditions: [{ Field: source-ip, SourceIpConfig: { Values: [nope] } }]
        Actions: [{ Type: forward, TargetGroupArn: app }]
`)
    let error: unknown
    try {
      parseConfig(text, { source: 'portcullis.yaml' })
    } catch (err) {
      error = err
    }
    assert.ok(error instanceof ConfigError)
    const lines = error.format().split('\n')
    assert.deepEqual(lines, [
      'portcullis.yaml:8:52 Listeners[0].Rules[0].Actions[0].TargetGroupArn: target group "missing" is not defined in TargetGroups (known: app, other)',
      'portcullis.yaml:10:69 Listeners[0].Rules[1].Conditions[0].SourceIpConfig.Values[0]: expected a CIDR block such as 192.0.2.0/24 or 2001:db8::/32, got "nope"',
    ])
    assert.doesNotMatch(error.format(), /\n\s+at /)
    assert.equal(error.name, 'ConfigError')
    assert.match(error.message, /^portcullis\.yaml:8:52 .* \(and 1 more\)$/)
  })

  test('a ConfigError built from no issues still has a message', () => {
    const error = new ConfigError([], undefined)
    assert.equal(error.message, 'invalid configuration')
    assert.equal(error.format(), '')
  })
})
