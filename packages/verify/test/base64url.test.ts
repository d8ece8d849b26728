import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { base64urlDecodedLength, decodeBase64url, encodeBase64urlPadded } from '../src/base64url.js'

/** Strict decode of a whole string, or undefined if it is not canonical base64url. */
function strict(text: string): Buffer | undefined {
  const length = base64urlDecodedLength(text, 0, text.length)
  if (length < 0) return undefined
  const out = Buffer.alloc(length)
  return decodeBase64url(text, 0, length, out, 0) ? out : undefined
}

test('encodes with = padding to a multiple of 4', () => {
  assert.equal(encodeBase64urlPadded('a'), 'YQ==')
  assert.equal(encodeBase64urlPadded('ab'), 'YWI=')
  assert.equal(encodeBase64urlPadded('abc'), 'YWJj')
  assert.equal(encodeBase64urlPadded(Buffer.from([0xfb, 0xff])), '-_8=')
})

test('decodes canonical padded and unpadded text', () => {
  const cases: Array<[string, string]> = [
    ['', ''],
    ['YQ==', 'a'],
    ['YQ', 'a'],
    ['YWI=', 'ab'],
    ['YWI', 'ab'],
    ['YWJj', 'abc'],
  ]
  for (const [text, plain] of cases) assert.equal(strict(text)?.toString(), plain, text)
  assert.deepEqual(strict('-_8='), Buffer.from([0xfb, 0xff]))
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
    'YW\u0000j',
  ]) {
    assert.equal(strict(text), undefined, text)
  }
})

test('decodes only the given range, into the given offset', () => {
  const text = '!!YWJj!!'
  const out = Buffer.alloc(5)
  assert.equal(base64urlDecodedLength(text, 2, 6), 3)
  assert.ok(decodeBase64url(text, 2, 3, out, 2))
  assert.equal(out.subarray(2).toString(), 'abc')
})

test('agrees with Node on every byte string, padded and unpadded', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      const padded = encodeBase64urlPadded(bytes)
      const unpadded = Buffer.from(bytes).toString('base64url')
      assert.deepEqual(strict(padded), Buffer.from(bytes))
      assert.deepEqual(strict(unpadded), Buffer.from(bytes))
    }),
    { numRuns: 500 },
  )
})
