import assert from 'node:assert/strict'
import type { IncomingMessage } from 'node:http'
import { describe, test } from 'node:test'
import {
  clearSessionCookies,
  cookieAttributes,
  parseSessionData,
  readShards,
  SHARD_SIZE,
  setSessionCookies,
  shardNames,
} from '../../src/auth/session/cookie.js'
import type { RequestContext } from '../../src/core/request.js'

const names = shardNames('S')
const attrs = { secure: true, sameSite: 'Lax' } as const

describe('session cookie shards', () => {
  test('one shard per 4000 characters, at most four; Secure; HttpOnly; Path=/; 7-day Expires', () => {
    const now = 1_700_000_000
    const one = setSessionCookies('a'.repeat(10), names, new Map(), attrs, now)!
    assert.deepEqual(one, [
      `S-0=${'a'.repeat(10)}; Expires=${new Date((now + 604_800) * 1000).toUTCString()}; Secure; HttpOnly; Path=/; SameSite=Lax`,
    ])
    const four = setSessionCookies('b'.repeat(4 * SHARD_SIZE), names, new Map(), attrs, now)!
    assert.equal(four.length, 4)
    assert.equal(setSessionCookies('c'.repeat(4 * SHARD_SIZE + 1), names, new Map(), attrs, now), undefined)
  })

  test('stale higher shards present in the request are expired', () => {
    const present = new Map([
      ['S-0', 'x'],
      ['S-1', 'y'],
      ['S-3', 'z'],
    ])
    const out = setSessionCookies('a', names, present, attrs, 0)!
    assert.equal(out.length, 3)
    assert.match(
      out[1]!,
      /^S-1=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Secure; HttpOnly; Path=\/; SameSite=Lax$/,
    )
    assert.match(out[2]!, /^S-3=; Max-Age=0/)
    assert.deepEqual(
      clearSessionCookies(names, present, attrs).map((c) => c.split('=')[0]),
      ['S-0', 'S-1', 'S-3'],
    )
  })

  test('shards are joined in order from -0 and stop at a gap', () => {
    assert.equal(readShards(new Map([['S-1', 'b']]), names), undefined)
    assert.equal(
      readShards(
        new Map([
          ['S-1', 'b'],
          ['S-0', 'a'],
          ['S-3', 'd'],
        ]),
        names,
      ),
      'ab',
    )
  })

  test('opened session JSON of the wrong shape is no session', () => {
    const ok = { v: 1, c: { sub: 'a' }, at: 't', se: 1 }
    assert.deepEqual(parseSessionData(Buffer.from(JSON.stringify(ok))), ok)
    for (const bad of [
      'null',
      '[]',
      '{',
      JSON.stringify({ ...ok, v: 2 }),
      JSON.stringify({ ...ok, c: [] }),
      JSON.stringify({ ...ok, rt: 5 }),
    ]) {
      assert.equal(parseSessionData(Buffer.from(bad)), undefined, bad)
    }
  })
})

describe('cookie attributes per request', () => {
  const ctx = (protocol: 'http' | 'https', headers: Record<string, string>) =>
    ({ protocol, req: { headers } as unknown as IncomingMessage }) as RequestContext

  test('HTTPS: Secure and SameSite=Lax; a cross-origin (CORS) request gets SameSite=None', () => {
    assert.deepEqual(cookieAttributes(ctx('https', { host: 'app.example' })), { secure: true, sameSite: 'Lax' })
    assert.deepEqual(cookieAttributes(ctx('https', { host: 'app.example', origin: 'https://app.example' })), {
      secure: true,
      sameSite: 'Lax',
    })
    assert.deepEqual(cookieAttributes(ctx('https', { host: 'app.example', origin: 'https://spa.example' })), {
      secure: true,
      sameSite: 'None',
    })
  })

  test('the opted-in HTTP listener: no Secure, so never SameSite=None', () => {
    assert.deepEqual(cookieAttributes(ctx('http', { host: 'localhost', origin: 'http://other' })), {
      secure: false,
      sameSite: 'Lax',
    })
  })
})
