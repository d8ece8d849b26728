import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { expectError, expectWarning, FORWARD, load, R, rule, withRules } from '../fixtures.js'

describe('conditions', () => {
  const cond = (c: string) => withRules(rule(1, FORWARD, `[${c}]`))
  const C = `${R}[0].Conditions`

  test('http-header: not Host, no wildcards in the name', () => {
    expectError(
      cond('{ Field: http-header, HttpHeaderConfig: { HttpHeaderName: host, Values: [a] } }'),
      `${C}[0].HttpHeaderConfig.HttpHeaderName`,
      /use a host-header condition/,
      'host,',
    )
    expectError(
      cond('{ Field: http-header, HttpHeaderConfig: { HttpHeaderName: "X-*", Values: [a] } }'),
      `${C}[0].HttpHeaderConfig.HttpHeaderName`,
      /cannot contain wildcards/,
      '"X-*"',
    )
    expectError(
      cond('{ Field: http-header, HttpHeaderConfig: { HttpHeaderName: "X Y", Values: [a] } }'),
      `${C}[0].HttpHeaderConfig.HttpHeaderName`,
      /not a valid header name/,
      '"X Y"',
    )
    expectError(cond('{ Field: http-header, Values: [a] }'), `${C}[0]`, /needs HttpHeaderConfig/, 'Field: http-header')
  })

  test('source-ip values are CIDR blocks', () => {
    for (const bad of ['10.0.0.1', '10.0.0.0/33', '2001:db8::/129', 'example.com/8', '10.0.0.0/8/1']) {
      expectError(
        cond(`{ Field: source-ip, SourceIpConfig: { Values: ["${bad}"] } }`),
        `${C}[0].SourceIpConfig.Values[0]`,
        /expected a CIDR block/,
        `"${bad}"`,
      )
    }
    assert.ok(load(cond('{ Field: source-ip, SourceIpConfig: { Values: ["2001:db8::/32"] } }')))
  })

  test('RegexValues must compile', () => {
    expectError(
      cond('{ Field: path-pattern, PathPatternConfig: { RegexValues: ["^/(a|b"] } }'),
      `${C}[0].PathPatternConfig.RegexValues[0]`,
      /not a valid regular expression/,
      '"^/(a|b"',
    )
    expectError(
      cond('{ Field: host-header, RegexValues: ["[z-a]"] }'),
      `${C}[0].RegexValues[0]`,
      /not a valid regular expression/,
      '"[z-a]"',
    )
  })

  test('methods, lengths, and host characters', () => {
    expectError(
      cond('{ Field: http-request-method, HttpRequestMethodConfig: { Values: [get] } }'),
      `${C}[0].HttpRequestMethodConfig.Values[0]`,
      /A-Z/,
      'get]',
    )
    const long = `/${'a'.repeat(128)}`
    expectError(
      cond(`{ Field: path-pattern, Values: ["${long}"] }`),
      `${C}[0].Values[0]`,
      /at most 128 characters, got 129/,
      `"${long}"`,
    )
    expectError(
      cond('{ Field: host-header, Values: ["example.com:8080"] }'),
      `${C}[0].Values[0]`,
      /no port/,
      '"example.com:8080"',
    )
    expectWarning(
      cond('{ Field: host-header, Values: [localhost] }'),
      `${C}[0].Values[0]`,
      /works in Portcullis only/,
      'localhost]',
    )
  })

  test('a condition needs values, in the form of its Field', () => {
    expectError(cond('{ Field: path-pattern }'), `${C}[0]`, /has no values/, 'Field: path-pattern')
    expectError(
      cond('{ Field: path-pattern, HostHeaderConfig: { Values: [a.example.com] } }'),
      `${C}[0].HostHeaderConfig`,
      /belongs to Field host-header/,
      '{ Values: [a.example.com] }',
    )
    expectError(
      cond('{ Field: source-ip, Values: ["10.0.0.0/8"] }'),
      `${C}[0].Values`,
      /gives its values in SourceIpConfig/,
      '["10.0.0.0/8"]',
    )
    expectError(
      cond('{ Field: path-pattern, Values: [/a], PathPatternConfig: { Values: [/b] } }'),
      `${C}[0].Values`,
      /differs from PathPatternConfig\.Values/,
      '[/a]',
    )
  })

  test('host-header, path-pattern, method and source-ip appear once per rule', () => {
    expectError(
      cond('{ Field: path-pattern, Values: [/a] }, { Field: path-pattern, Values: [/b] }'),
      `${C}[1].Field`,
      /at most one path-pattern condition/,
      'path-pattern, Values: [/b]',
    )
    assert.ok(
      load(
        cond(
          '{ Field: http-header, HttpHeaderConfig: { HttpHeaderName: A, Values: ["1"] } }, { Field: http-header, HttpHeaderConfig: { HttpHeaderName: B, Values: ["2"] } }',
        ),
      ),
    )
  })
})

describe('regular expressions are checked by the rule engine’s own compiler', () => {
  test('a nested repetition that JavaScript would run in exponential time is refused at load', () => {
    expectError(
      withRules(rule(1, FORWARD, '[{ Field: path-pattern, RegexValues: ["^(a+)+$"] }]')),
      `${R}[0].Conditions[0].RegexValues[0]`,
      /not a valid regular expression: a repeated group may not contain a repetition/,
      '"^(a+)+$"',
    )
  })
})
