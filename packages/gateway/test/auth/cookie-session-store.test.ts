import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { pino } from 'pino'
import { stateDirectoryKeyRings } from '../../src/auth/keys/key-ring-store.js'
import { SecretRing } from '../../src/auth/keys/sealing-ring.js'
import { SHARD_SIZE } from '../../src/auth/session/cookie.js'
import { CookieSessionStore } from '../../src/auth/session/cookie-store.js'
import { type SessionBinding, sessionAad } from '../../src/auth/session/store.js'
import type { SessionData } from '../../src/auth/types.js'
import { systemClock } from '../../src/values/clock.js'
import { BINDING, Jar, type StoreHarness, session, sessionStoreContract } from './session-store-contract.js'

const logger = pino({ level: 'silent' })

async function cookieHarness(): Promise<StoreHarness & { ring: SecretRing }> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-store-'))
  const ring = await SecretRing.from(() => stateDirectoryKeyRings(dir).sessionRing())
  return {
    ring,
    store: (binding: SessionBinding, clock: () => number) =>
      new CookieSessionStore({ ...binding, ring, logger, clock }),
    // The cookie store keeps nothing that expires by itself: only its clock moves.
    fastForward: async () => {},
    serverSide: false,
    close: () => rm(dir, { recursive: true, force: true }),
  }
}

sessionStoreContract('sealed cookie', cookieHarness)

describe('the sealed-cookie store beyond the contract', () => {
  let harness: Awaited<ReturnType<typeof cookieHarness>>
  before(async () => {
    harness = await cookieHarness()
  })
  after(() => harness.close())

  test('the cookie is the session sealed with sessionAad(): cookie name, issuer and client id', async () => {
    const jar = new Jar()
    const exchange = jar.exchange()
    const s = session()
    await harness.store(BINDING, systemClock).seal(exchange, s)
    jar.keep(exchange)
    const opened = harness.ring.open('session', jar.cookies.get('AppSession-0')!, sessionAad(BINDING))
    assert.ok(Buffer.isBuffer(opened))
    assert.deepEqual(JSON.parse(opened.toString('utf8')), s)
  })

  test('a session over four shards does not fit: 500 AuthUserClaimsSizeExceeded, nothing set', async () => {
    const exchange = new Jar().exchange()
    const big = session({ c: { sub: 'alice', blob: 'x'.repeat(4 * SHARD_SIZE) } })
    await assert.rejects(harness.store(BINDING, systemClock).seal(exchange, big), {
      name: 'AuthError',
      reason: 'AuthUserClaimsSizeExceeded',
      status: 500,
    })
    assert.deepEqual(exchange.responseCookies, [])
  })

  test('60 s after a renewal the pre-renewal cookie is on its own again (renewed with its own refresh token)', async () => {
    let now = systemClock()
    const store = harness.store(BINDING, () => now)
    const jar = new Jar()
    const login = jar.exchange()
    store.seal(login, session({ rt: 'refresh-1', ae: now - 1 }))
    jar.keep(login)
    const used: string[] = []
    const renew = async (s: SessionData) => {
      used.push(s.rt!)
      return { ...s, at: `access-${used.length + 1}`, ae: now + 600 }
    }
    const first = jar.exchange()
    assert.equal((await store.refresh(first, (await store.open(first))!, renew))?.session.at, 'access-2')
    now += 61
    const late = jar.exchange()
    const current = await store.refresh(late, (await store.open(late))!, renew)
    assert.equal(current?.session.at, 'access-3')
    assert.deepEqual(used, ['refresh-1', 'refresh-1'])
  })

  test('a cached session opens only for exactly its cookie: same length and tag, other bytes, is no session', async () => {
    const store = harness.store(BINDING, systemClock)
    const jar = new Jar()
    const login = jar.exchange()
    // Three shards, as a user with many groups gets.
    await store.seal(login, session({ c: { sub: 'alice', groups: Array.from({ length: 600 }, (_, i) => `g${i}`) } }))
    jar.keep(login)
    assert.equal(jar.cookies.size, 2)
    assert.equal((await store.open(jar.exchange()))?.session.c['sub'], 'alice')
    // One character changed in the first shard: the cache key (length and tag) is that of the cached entry.
    const first = jar.cookies.get('AppSession-0')!
    const forged = new Jar()
    for (const [name, value] of jar.cookies) forged.cookies.set(name, value)
    forged.cookies.set('AppSession-0', `${first.slice(0, 100)}${first[100] === 'A' ? 'B' : 'A'}${first.slice(101)}`)
    assert.equal(await store.open(forged.exchange()), undefined)
    // Split at another place, the same value is the same session.
    const resplit = new Jar()
    const second = jar.cookies.get('AppSession-1')!
    resplit.cookies.set('AppSession-0', first.slice(0, -10))
    resplit.cookies.set('AppSession-1', first.slice(-10) + second)
    assert.equal((await store.open(resplit.exchange()))?.session.c['sub'], 'alice')
    // And the genuine cookie still opens.
    assert.equal((await store.open(jar.exchange()))?.session.c['sub'], 'alice')
  })
})
