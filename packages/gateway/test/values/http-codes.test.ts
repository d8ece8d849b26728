import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { ConfigError } from '../../src/config/errors.js'
import { parseConfig } from '../../src/config/load.js'
import { matches, parseGrpcMatcher, parseMatcher } from '../../src/values/http-codes.js'

describe('matcher', () => {
  test('parses codes, lists and ranges', () => {
    const m = parseMatcher('200,202, 300-399')
    assert.deepEqual(m, [
      [200, 200],
      [202, 202],
      [300, 399],
    ])
    assert.ok(matches(m, 200))
    assert.ok(matches(m, 202))
    assert.ok(matches(m, 301))
    assert.ok(!matches(m, 201))
    assert.ok(!matches(m, 400))
  })

  for (const bad of ['', '20', '2000', 'abc', '200-', '299-200', '199', '200-500', '500', '200;202']) {
    test(`rejects ${JSON.stringify(bad)}`, () => {
      assert.throws(() => parseMatcher(bad), /invalid health check matcher/)
    })
  }
})

describe('gRPC matcher', () => {
  test('parses gRPC status codes, lists and ranges 0..99', () => {
    const m = parseGrpcMatcher('0, 12,20-99')
    assert.deepEqual(m, [
      [0, 0],
      [12, 12],
      [20, 99],
    ])
    assert.ok(matches(m, 0) && matches(m, 12) && matches(m, 99))
    assert.ok(!matches(m, 1) && !matches(m, 14))
  })

  for (const [bad, problem] of [
    ['', /expected gRPC codes/],
    ['100', /gRPC codes must be 0\.\.99, got "100"/],
    ['0-100', /must be 0\.\.99/],
    ['5-1', /reversed/],
    ['-1', /expected gRPC codes/],
    ['OK', /expected gRPC codes/],
    ['0;1', /expected gRPC codes/],
  ] as const) {
    test(`rejects ${JSON.stringify(bad)}`, () => {
      assert.throws(() => parseGrpcMatcher(bad), problem)
    })
  }
})

test('validation accepts exactly the matchers the health checker runs', () => {
  const validates = (code: string) => {
    const text = `Listeners: [{ Port: 8080, Protocol: HTTP, DefaultActions: [{ Type: forward, TargetGroupArn: t }] }]
TargetGroups: [{ TargetGroupName: t, Protocol: HTTP, Targets: [{ Id: 127.0.0.1, Port: 3000 }], Matcher: { HttpCode: "${code}" } }]
`
    try {
      parseConfig(text, { source: 'portcullis.yaml', baseDir: '/tmp' })
      return true
    } catch (error) {
      if (error instanceof ConfigError) return false
      throw error
    }
  }
  const runs = (code: string) => {
    try {
      parseMatcher(code)
      return true
    } catch {
      return false
    }
  }
  for (const code of [
    '200',
    '200,202',
    ' 200 , 300-399 ',
    '200 - 299',
    '200- 299',
    '199',
    '200-500',
    '299-200',
    '2xx',
  ]) {
    assert.equal(validates(code), runs(code), JSON.stringify(code))
  }
})
