import assert from 'node:assert/strict'
import { test } from 'node:test'
import { readSingleHeader } from '../src/headers.js'
import { AlbVerifyError } from '../src/index.js'

const malformed = (err: unknown) => err instanceof AlbVerifyError && err.code === 'ERR_MALFORMED'

test('reads Node-style lowercase records, fetch Headers and other casings', () => {
  assert.equal(readSingleHeader({ 'x-amzn-oidc-data': 'v' }, 'x-amzn-oidc-data'), 'v')
  assert.equal(readSingleHeader(new Headers({ 'X-Amzn-Oidc-Data': 'v' }), 'x-amzn-oidc-data'), 'v')
  assert.equal(readSingleHeader({ 'X-Amzn-Oidc-Data': 'v' }, 'x-amzn-oidc-data'), 'v')
})

test('absent and empty are undefined', () => {
  assert.equal(readSingleHeader({}, 'x-amzn-oidc-data'), undefined)
  assert.equal(readSingleHeader({ 'x-amzn-oidc-data': '' }, 'x-amzn-oidc-data'), undefined)
  assert.equal(readSingleHeader(new Headers(), 'x-amzn-oidc-data'), undefined)
})

test('arrays and several casings of one name are ERR_MALFORMED', () => {
  assert.throws(() => readSingleHeader({ 'x-amzn-oidc-data': ['a', 'b'] }, 'x-amzn-oidc-data'), malformed)
  assert.throws(() => readSingleHeader({ 'x-amzn-oidc-data': ['a'] }, 'x-amzn-oidc-data'), malformed)
  assert.throws(
    () => readSingleHeader({ 'X-Amzn-Oidc-Data': 'a', 'X-AMZN-OIDC-DATA': 'b' }, 'x-amzn-oidc-data'),
    malformed,
  )
})
