import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { expectError, expectWarning, load } from '../fixtures.js'

describe('the load balancer', () => {
  const lb = (fields: string) => `LoadBalancer: { ${fields} }
Listeners:
  - Port: 8080
    Protocol: HTTP
    DefaultActions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: "404" } }]
`

  test('names, regions, accounts and ARNs are checked and must agree', () => {
    expectError(lb('Name: -bad'), 'LoadBalancer.Name', /1\.\.32 letters/, '-bad')
    expectError(lb('Name: internal-x'), 'LoadBalancer.Name', /internal-/, 'internal-x')
    expectError(lb('Region: Mars'), 'LoadBalancer.Region', /AWS region/, 'Mars')
    expectError(lb('AccountId: "123"'), 'LoadBalancer.AccountId', /12-digit/, '"123"')
    expectError(
      lb('Arn: "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/x/0123456789abcdef"'),
      'LoadBalancer.Arn',
      /application load balancer ARN/,
      '"arn:',
    )
    const arn = 'arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/x/0123456789abcdef'
    expectError(lb(`Name: y, Arn: "${arn}"`), 'LoadBalancer.Arn', /names load balancer "x" but Name is "y"/, `"${arn}"`)
    expectError(
      lb(`Region: eu-west-1, Arn: "${arn}"`),
      'LoadBalancer.Arn',
      /region us-east-1 but Region is eu-west-1/,
      `"${arn}"`,
    )
    expectError(lb(`AccountId: "000000000000", Arn: "${arn}"`), 'LoadBalancer.Arn', /account 123456789012/, `"${arn}"`)
  })

  test('attributes are validated; unknown ones warn, known inert ones do not', () => {
    const attr = (key: string, value: string) => lb(`Attributes: [{ Key: ${key}, Value: ${value} }]`)
    const A = 'LoadBalancer.Attributes[0].Value'
    expectError(attr('idle_timeout.timeout_seconds', '"0"'), A, /1\.\.4000, got 0/, '"0"')
    expectError(attr('idle_timeout.timeout_seconds', 'soon'), A, /1\.\.4000/, 'soon')
    expectError(attr('routing.http.xff_header_processing.mode', 'drop'), A, /append, preserve, remove/, 'drop')
    expectError(attr('routing.http2.enabled', '"no"'), A, /"true" or "false"/, '"no"')
    expectWarning(
      attr('idle_timeout.seconds', '"30"'),
      'LoadBalancer.Attributes[0].Key',
      /unknown load balancer attribute/,
      'idle_timeout.seconds',
    )
    assert.deepEqual(load(attr('deletion_protection.enabled', 'false')).warnings, [])
    const { config } = load(
      lb(
        'Attributes: [{ Key: idle_timeout.timeout_seconds, Value: 120 }, { Key: routing.http.xff_header_processing.mode, Value: remove }, { Key: routing.http.xff_client_port.enabled, Value: true }, { Key: client_keep_alive.seconds, Value: "600" }]',
      ),
    )
    assert.equal(config.loadBalancer.attributes.idleTimeoutSeconds, 120)
    assert.equal(config.loadBalancer.attributes.xffMode, 'remove')
    assert.equal(config.loadBalancer.attributes.xffClientPort, true)
    assert.equal(config.loadBalancer.attributes.clientKeepAliveSeconds, 600)
  })
})
