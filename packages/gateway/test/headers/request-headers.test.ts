import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  applyForwardedFor,
  buildUpstreamHeaders,
  isIdentityHeaderName,
  isValidHeaderName,
  normalizePeerAddress,
} from '../../src/headers/request-headers.js'

describe('isIdentityHeaderName', () => {
  test('matches every spelling of the identity headers', () => {
    for (const name of [
      'x-amzn-oidc-data',
      'x-amzn-oidc-identity',
      'x-amzn-oidc-accesstoken',
      'x_amzn_oidc_data',
      'x-amzn_oidc-anything',
      'x-amzn-oidc-',
      'x-amzn-mtls-clientcert',
      'x_amzn_mtls_clientcert_leaf',
      'x-amzn-tls-version',
      'x_amzn_tls_cipher_suite',
      'x-amzn-tls-',
    ]) {
      assert.equal(isIdentityHeaderName(name), true, name)
    }
  })
  test('leaves other headers alone', () => {
    for (const name of [
      'x-amzn-trace-id',
      'x-amzn-oidc',
      'authorization',
      'xamzn-oidc-data',
      'a-amzn-oidc-data',
      'x-amzn-tls',
      'x-amzn-mtlsx',
      'x-amzn-tlsversion',
      'x',
    ]) {
      assert.equal(isIdentityHeaderName(name), false, name)
    }
  })
})

describe('buildUpstreamHeaders', () => {
  test('passes a header named like an inherited property (Constructor) as sent, once or repeated', () => {
    const once = buildUpstreamHeaders(['Host', 'app.example.com', 'Constructor', 'x', 'toString', 'y'])
    assert.equal(once.headers.constructor, 'x')
    assert.equal(once.headers.tostring, 'y')
    const twice = buildUpstreamHeaders(['Host', 'app.example.com', 'constructor', 'a', 'Constructor', 'b'])
    assert.deepEqual(twice.headers.constructor, ['a', 'b'])
  })
  test('drops client identity headers in any case, with underscores, and repeated', () => {
    const result = buildUpstreamHeaders([
      'Host',
      'app.example.com',
      'X-Amzn-Oidc-Data',
      'forged',
      'x_amzn_oidc_identity',
      'admin',
      'X-AMZN-OIDC-ACCESSTOKEN',
      'token',
      'x-amzn-oidc-data',
      'second',
      'Accept',
      'text/html',
    ])
    assert.deepEqual(Object.keys(result.headers).sort(), ['accept', 'host'])
    assert.equal(result.strippedIdentityHeaders, 4)
  })

  test('drops hop-by-hop headers and those named in Connection, but never Host', () => {
    const result = buildUpstreamHeaders([
      'Host',
      'h',
      'Connection',
      'keep-alive, X-Secret, host',
      'Keep-Alive',
      'timeout=5',
      'Transfer-Encoding',
      'chunked',
      'TE',
      'trailers',
      'Upgrade',
      'h2c',
      'Proxy-Authorization',
      'Basic x',
      'X-Secret',
      'drop me',
      'X-Kept',
      'yes',
    ])
    assert.deepEqual(result.headers, { host: 'h', 'x-kept': 'yes' })
  })

  test('a header named __proto__ is dropped and cannot touch the prototype', () => {
    const result = buildUpstreamHeaders(['__proto__', 'polluted', 'Host', 'h'])
    assert.deepEqual(result.headers, { host: 'h' })
    assert.equal(Object.getPrototypeOf(result.headers), Object.prototype)
  })

  test('Connection: keep-alive and close are dropped without naming other headers', () => {
    const result = buildUpstreamHeaders(['Connection', 'Keep-Alive', 'Host', 'h', 'Close', 'x'])
    assert.deepEqual(result.headers, { host: 'h', close: 'x' })
  })

  test('keeps repeated end-to-end headers as arrays in order', () => {
    const result = buildUpstreamHeaders(['Accept', 'a', 'accept', 'b', 'Set-Thing', 'x'])
    assert.deepEqual(result.headers.accept, ['a', 'b'])
  })

  test('takes out the headers the load balancer owns and reports the client values', () => {
    const result = buildUpstreamHeaders([
      'X-Forwarded-For',
      '10.0.0.1',
      'x-forwarded-for',
      '10.0.0.2',
      'X-Forwarded-Proto',
      'https',
      'X-Forwarded-Port',
      '1',
      'X-Amzn-Trace-Id',
      'Root=1-5759e988-bd862e3fe1be46a994272793',
    ])
    assert.deepEqual(Object.keys(result.headers), [])
    assert.equal(result.clientForwardedFor, '10.0.0.1, 10.0.0.2')
    assert.equal(result.clientTraceId, 'Root=1-5759e988-bd862e3fe1be46a994272793')
  })
})

describe('applyForwardedFor', () => {
  test('append adds the peer to the client value, or starts the list', () => {
    const h: Record<string, string> = {}
    applyForwardedFor(h, 'append', '1.2.3.4', '10.0.0.9', undefined)
    assert.equal(h['x-forwarded-for'], '1.2.3.4, 10.0.0.9')
    const fresh: Record<string, string> = {}
    applyForwardedFor(fresh, 'append', undefined, '::1', 5000)
    assert.equal(fresh['x-forwarded-for'], '[::1]:5000')
  })
  test('preserve passes the client value through unchanged, and adds nothing without one', () => {
    const h: Record<string, string> = {}
    applyForwardedFor(h, 'preserve', '1.2.3.4', '10.0.0.9', undefined)
    assert.equal(h['x-forwarded-for'], '1.2.3.4')
    const none: Record<string, string> = {}
    applyForwardedFor(none, 'preserve', undefined, '10.0.0.9', undefined)
    assert.equal(none['x-forwarded-for'], undefined)
  })
  test('remove sends no X-Forwarded-For at all', () => {
    const h: Record<string, string> = {}
    applyForwardedFor(h, 'remove', '1.2.3.4', '10.0.0.9', 1)
    assert.equal(h['x-forwarded-for'], undefined)
  })
})

test('normalizePeerAddress reports IPv4-mapped peers as IPv4', () => {
  assert.equal(normalizePeerAddress('::ffff:127.0.0.1'), '127.0.0.1')
  assert.equal(normalizePeerAddress('::1'), '::1')
  assert.equal(normalizePeerAddress(undefined), '')
})

describe('drop_invalid_header_fields: names outside [-A-Za-z0-9]', () => {
  test('isValidHeaderName accepts letters, digits and hyphens only', () => {
    for (const name of ['x-good', 'X-Good', 'accept', 'x-1', '-', 'A1-b2']) assert.ok(isValidHeaderName(name), name)
    for (const name of [
      '',
      'x_under',
      'x.dot',
      'x!',
      'x~y',
      "x'y",
      'x|y',
      'x#',
      'x$',
      'x%',
      'x&',
      'x*',
      'x+',
      'x^',
      'x`',
    ]) {
      assert.ok(!isValidHeaderName(name), name)
    }
  })

  test('buildUpstreamHeaders drops them only when asked, and counts them', () => {
    const raw = ['Host', 'a', 'x_under', '1', 'x.dot', '2', 'X-Good', '3']
    const on = buildUpstreamHeaders(raw, true)
    assert.deepEqual(on.headers, { host: 'a', 'x-good': '3' })
    assert.equal(on.droppedInvalidHeaders, 2)
    const off = buildUpstreamHeaders(raw)
    assert.deepEqual(off.headers, { host: 'a', x_under: '1', 'x.dot': '2', 'x-good': '3' })
    assert.equal(off.droppedInvalidHeaders, 0)
  })
})
