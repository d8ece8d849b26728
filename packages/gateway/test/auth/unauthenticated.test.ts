import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { CallbackRegistry, type LoginCompletion, loginKey } from '../../src/auth/oidc/callback-registry.js'
import { onUnauthenticated } from '../../src/auth/oidc/unauthenticated.js'

describe('OnUnauthenticatedRequest (contract §5), decided in one place', () => {
  test('the whole table: mode × why there is no usable session', () => {
    const table = {
      authenticate: { none: 'authenticate', expired: 'authenticate', 'refresh-failed': 'authenticate' },
      allow: { none: 'allow', expired: 'allow', 'refresh-failed': 'allow' },
      // A timed-out session goes back to the IdP even under deny, as ALB documents.
      deny: { none: 'deny', expired: 'authenticate', 'refresh-failed': 'deny' },
    } as const
    for (const [mode, row] of Object.entries(table)) {
      for (const [why, expected] of Object.entries(row)) {
        assert.equal(onUnauthenticated(mode as keyof typeof table, why as keyof typeof row), expected, `${mode}/${why}`)
      }
    }
  })
})

describe('the callback registry', () => {
  const login = (): LoginCompletion => ({ complete: async () => undefined })

  test('resolves what was registered under the rule and order that state carries, nothing else', () => {
    const registry = new CallbackRegistry()
    const a = login()
    const b = login()
    registry.register(loginKey('arn:rule/1', 1), a)
    registry.register(loginKey('arn:rule/1', 2), b)
    assert.equal(registry.resolve('arn:rule/1#1'), a)
    assert.equal(registry.resolve(loginKey('arn:rule/1', 2)), b)
    assert.equal(registry.resolve(loginKey('arn:rule/2', 1)), undefined)
  })

  test('one key, two actions: refused', () => {
    const registry = new CallbackRegistry()
    registry.register(loginKey('arn:rule/1', 1), login())
    assert.throws(() => registry.register(loginKey('arn:rule/1', 1), login()), /two authenticate actions/)
  })
})
