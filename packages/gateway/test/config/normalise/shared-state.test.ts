import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { expectError, expectWarning, FORWARD, load, rule, withRules } from '../fixtures.js'

const base = withRules(rule(1, FORWARD))

describe('Portcullis.SharedState and SessionStore', () => {
  test('absent: single-machine mode, cookie sessions', () => {
    const { config } = load(base)
    assert.equal(config.portcullis.sharedState, undefined)
    assert.equal(config.portcullis.sessionStore, 'cookie')
  })

  test('a rediss URL with credentials: defaults, and a display URL without the password', () => {
    const { config, warnings } = load(
      `${base}Portcullis:\n  SharedState: { Url: "rediss://app:s3cret@redis.internal:6380/2" }\n  SessionStore: shared\n`,
    )
    assert.deepEqual(config.portcullis.sharedState, {
      url: 'rediss://app:s3cret@redis.internal:6380/2',
      displayUrl: 'rediss://redis.internal:6380/2',
      tls: true,
      keyPrefix: 'portcullis:',
      connectTimeoutMs: 2000,
      commandTimeoutMs: 500,
    })
    assert.equal(config.portcullis.sessionStore, 'shared')
    assert.deepEqual(warnings, [])
  })

  test('timeouts and the prefix as written (the ELBv2 habit of digits in strings included)', () => {
    const { config } = load(
      `${base}Portcullis:\n  SharedState: { Url: "redis://127.0.0.1:6379", KeyPrefix: "pc:eu1:", ConnectTimeoutMs: "300", CommandTimeoutMs: 50 }\n`,
    )
    assert.equal(config.portcullis.sharedState?.keyPrefix, 'pc:eu1:')
    assert.equal(config.portcullis.sharedState?.connectTimeoutMs, 300)
    assert.equal(config.portcullis.sharedState?.commandTimeoutMs, 50)
    assert.equal(config.portcullis.sharedState?.tls, false)
  })

  test('refuses another scheme, a missing host, query parameters, a bad prefix and out-of-range timeouts', () => {
    const at = (shared: string) => `${base}Portcullis:\n  SharedState: ${shared}\n`
    expectError(
      at('{ Url: "http://redis:6379" }'),
      'Portcullis.SharedState.Url',
      /redis:\/\/ or rediss:\/\//,
      '"http://',
    )
    expectError(at('{ Url: "not a url" }'), 'Portcullis.SharedState.Url', /expected a URL/, '"not a url"')
    expectError(at('{ Url: "redis://h:1/0?tls=1" }'), 'Portcullis.SharedState.Url', /database number/, '"redis://h')
    expectError(at('{ Url: "redis://h:1/x" }'), 'Portcullis.SharedState.Url', /database number/, '"redis://h')
    expectError(
      at('{ Url: "redis://127.0.0.1", KeyPrefix: "a b" }'),
      'Portcullis.SharedState.KeyPrefix',
      /printable/,
      '"a b"',
    )
    expectError(
      at('{ Url: "redis://127.0.0.1", CommandTimeoutMs: 7 }'),
      'Portcullis.SharedState.CommandTimeoutMs',
      /10\.\.60000/,
      '7 }',
    )
    expectError(
      at('{ Url: "redis://127.0.0.1", ConnectTimeoutMs: 999999 }'),
      'Portcullis.SharedState.ConnectTimeoutMs',
      /100\.\.60000/,
      '999999',
    )
  })

  test('SessionStore: shared without SharedState is refused; an unknown store too', () => {
    expectError(
      `${base}Portcullis:\n  SessionStore: shared\n`,
      'Portcullis.SessionStore',
      /needs Portcullis.SharedState/,
      'shared',
    )
    expectError(
      `${base}Portcullis:\n  SessionStore: memcached\n`,
      'Portcullis.SessionStore',
      /cookie|shared/,
      'memcached',
    )
  })

  test('plain redis:// to another machine is a warning: keys and session ids would travel in clear', () => {
    expectWarning(
      `${base}Portcullis:\n  SharedState: { Url: "redis://redis.internal:6379" }\n`,
      'Portcullis.SharedState.Url',
      /not encrypted.*rediss:\/\//,
      '"redis://redis.internal',
    )
    assert.deepEqual(load(`${base}Portcullis:\n  SharedState: { Url: "redis://localhost:6379" }\n`).warnings, [])
  })
})
