import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { base64urlDecodedLength, decodeBase64url, encodeBase64urlPadded } from '../src/base64url.js'

/** A DataView of all of `bytes`, as the decoder takes them. */
function view(bytes: Buffer): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/** Strict decode of a whole string, or undefined if it is not canonical base64url. */
function strict(text: string): Buffer | undefined {
  const length = base64urlDecodedLength(text, 0, text.length)
  if (length < 0) return undefined
  const out = Buffer.alloc(length)
  return decodeBase64url(view(Buffer.from(text, 'utf8')), 0, length, view(out), 0) ? out : undefined
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

test('rejects every non-ASCII character, including those whose low byte is in the alphabet', () => {
  // U+0141 (Ł) has low byte 0x41 (A), U+016A has 0x6A (j), U+0D2D has 0x2D (-), U+FF5F has 0x5F (_):
  // a decoder reading a latin1 copy would take them for alphabet characters.
  for (const char of ['\u0141', '\u016a', '\u0d2d', '\uff5f', '\u00c1', '\u0080', '\u{1f600}', '\ud800', '\udc41']) {
    for (const text of [`${char}WJj`, `Y${char}Jj`, `YW${char}j`, `YWJ${char}`, `YW${char}`, `Y${char}==`]) {
      assert.equal(strict(text), undefined, JSON.stringify(text))
    }
  }
  assert.equal(strict('YWJj\u0141'), undefined, 'a stray character after a whole group')
})

test('decodes only the given range, into the given offset', () => {
  const text = '!!YWJj!!'
  const out = Buffer.alloc(5)
  assert.equal(base64urlDecodedLength(text, 2, 6), 3)
  assert.ok(decodeBase64url(view(Buffer.from(text)), 2, 3, view(out), 2))
  assert.equal(out.subarray(2).toString(), 'abc')
})

test('a non-ASCII character before the range shifts the bytes, and is caught where it stands', () => {
  // The caller decodes every segment from the start of the text, so the first
  // non-ASCII character is always inside a range it reads, at its own index.
  const text = 'Y\u0141Jj.YWJj'
  const bytes = Buffer.from(text, 'utf8')
  assert.equal(decodeBase64url(view(bytes), 0, 3, view(Buffer.alloc(3)), 0), false)
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
