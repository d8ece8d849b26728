import assert from 'node:assert/strict'
import { test } from 'node:test'
import { encodeBase64urlPadded, isStrictBase64url } from '../src/base64url.js'

const strict = (text: string) => isStrictBase64url(text, 0, text.length)

test('encodes with = padding to a multiple of 4', () => {
  assert.equal(encodeBase64urlPadded('a'), 'YQ==')
  assert.equal(encodeBase64urlPadded('ab'), 'YWI=')
  assert.equal(encodeBase64urlPadded('abc'), 'YWJj')
  assert.equal(encodeBase64urlPadded(Buffer.from([0xfb, 0xff])), '-_8=')
})

test('accepts canonical padded and unpadded text', () => {
  for (const text of ['', 'YQ==', 'YQ', 'YWI=', 'YWI', 'YWJj', '-_8=', '-_8']) assert.ok(strict(text), text)
})

test('rejects wrong padding, foreign characters and non-canonical trailing bits', () => {
  for (const text of [
    'Y',
    'Y===',
    'YQ=',
    'YQ===',
    'YWI==',
    'YWJj=',
    '=',
    '====',
    'Y=Q=',
    'YW+j',
    'YW/j',
    'YW j',
    'YWé',
    'YR==',
    'YWJ=',
  ]) {
    assert.ok(!strict(text), text)
  }
})

test('checks only the given range', () => {
  assert.ok(isStrictBase64url('!!YQ==!!', 2, 6))
})
