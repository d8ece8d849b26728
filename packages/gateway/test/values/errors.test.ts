import assert from 'node:assert/strict'
import { test } from 'node:test'
import { AwsAuditError } from '../../src/audit/aws.js'
import { ConfigError } from '../../src/config/errors.js'
import { GatewayError } from '../../src/core/errors.js'
import { DemoStartError } from '../../src/demo/demo.js'
import { RuleTransformError } from '../../src/rules/errors.js'
import { PortcullisError, RuleCompileError } from '../../src/values/errors.js'

test('every error class of the gateway is a PortcullisError with its code, name and cause', () => {
  const cause = new Error('EADDRINUSE')
  for (const [error, code, name] of [
    [new GatewayError('ERR_LISTEN', 'cannot listen', { cause }), 'ERR_LISTEN', 'GatewayError'],
    [new ConfigError([{ path: '', message: 'bad', severity: 'error' }], 'p.yaml'), 'ERR_CONFIG', 'ConfigError'],
    [new RuleCompileError('Conditions[0]', 'bad'), 'ERR_RULE_COMPILE', 'RuleCompileError'],
    [new RuleTransformError('bad URL'), 'ERR_RULE_TRANSFORM', 'RuleTransformError'],
    [new AwsAuditError('no region', { cause }), 'ERR_AWS_AUDIT', 'AwsAuditError'],
    [new DemoStartError('idp', cause), 'ERR_DEMO_START', 'DemoStartError'],
  ] as const) {
    assert.ok(error instanceof PortcullisError, name)
    assert.equal(error.code, code, name)
    assert.equal(error.name, name)
  }
  assert.equal(new GatewayError('ERR_LISTEN', 'x', { cause }).cause, cause)
  assert.equal(new AwsAuditError('x', { cause }).cause, cause)
})
