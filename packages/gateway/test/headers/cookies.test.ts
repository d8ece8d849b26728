import assert from 'node:assert/strict'
import { test } from 'node:test'
import { parseCookieHeader } from '../../src/headers/cookies.js'

test('parses pairs, trims, keeps values opaque, first occurrence wins', () => {
  const cookies = parseCookieHeader('a=1; b = two ; a=3; c="quoted"; d=x%20y; e==eq=')
  assert.deepEqual(
    [...cookies],
    [
      ['a', '1'],
      ['b', 'two'],
      ['c', 'quoted'],
      ['d', 'x%20y'],
      ['e', '=eq='],
    ],
  )
})

test('ignores fragments without a name or an equals sign', () => {
  assert.deepEqual([...parseCookieHeader('novalue; =x; ;ok=1')], [['ok', '1']])
  assert.equal(parseCookieHeader(undefined).size, 0)
  assert.equal(parseCookieHeader('').size, 0)
})
