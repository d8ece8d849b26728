import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ALB_VERIFY_ERROR_CODES, AlbVerifyError, isAlbVerifyError, PortcullisVerifyError } from '../src/index.js'
import { CidrError } from '../src/net/index.js'
import { ProbeError } from '../src/probe/index.js'

test('AlbVerifyError carries code, name and cause', () => {
  const cause = new Error('socket hang up')
  const err = new AlbVerifyError('ERR_KEY_FETCH', 'key server request failed', { cause })
  assert.equal(err.code, 'ERR_KEY_FETCH')
  assert.equal(err.name, 'AlbVerifyError')
  assert.equal(err.cause, cause)
  assert.ok(err instanceof Error)
})

test('every error of the package is a PortcullisVerifyError with its code', () => {
  for (const [err, code, name] of [
    [new AlbVerifyError('ERR_EXPIRED', 'token has expired'), 'ERR_EXPIRED', 'AlbVerifyError'],
    [new ProbeError('ERR_PROBE_TARGET', 'not a URL'), 'ERR_PROBE_TARGET', 'ProbeError'],
    [new CidrError('prefix', 'bad prefix'), 'ERR_CIDR', 'CidrError'],
  ] as const) {
    assert.ok(err instanceof PortcullisVerifyError, name)
    assert.equal(err.code, code)
    assert.equal(err.name, name)
  }
})

test('isAlbVerifyError also recognises errors from another copy of the package', () => {
  const foreign = Object.assign(new Error('x'), { name: 'AlbVerifyError', code: 'ERR_EXPIRED' })
  assert.ok(isAlbVerifyError(foreign))
  assert.ok(!isAlbVerifyError(Object.assign(new Error('x'), { name: 'AlbVerifyError', code: 'ERR_OTHER' })))
  assert.ok(!isAlbVerifyError(new Error('x')))
  assert.ok(!isAlbVerifyError({ name: 'AlbVerifyError', code: 'ERR_EXPIRED' }))
})

test('the code list is complete and without duplicates', () => {
  assert.equal(new Set(ALB_VERIFY_ERROR_CODES).size, 15)
})
