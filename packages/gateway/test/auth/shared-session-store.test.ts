import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { pino } from 'pino'
import type { SessionBinding } from '../../src/auth/cookie-session-store.js'
import { SecretRing } from '../../src/auth/secret-ring.js'
import { loadSharedSessionRing } from '../../src/auth/shared-keys.js'
import { SharedSessionStore, sessionKey, subjectIndexKey } from '../../src/auth/shared-session-store.js'
import type { SessionData } from '../../src/auth/types.js'
import { connectSharedState, type SharedState } from '../../src/shared/connection.js'
import { startRedis, type TestRedis } from '../fixtures/redis.js'
import { BINDING, Jar, type StoreHarness, session, sessionStoreContract } from './session-store-contract.js'

const logger = pino({ level: 'silent' })

/** Stores on one real redis-server (a fresh key prefix per harness), sealing ids with the shared ring. */
async function redisHarness(): Promise<StoreHarness & { shared: SharedState; redis: TestRedis }> {
  const redis = await startRedis()
  const shared = await connectSharedState(
    {
      url: redis.url,
      displayUrl: redis.url,
      tls: false,
      keyPrefix: `c${randomBytes(4).toString('hex')}:`,
      connectTimeoutMs: 1000,
      commandTimeoutMs: 500,
    },
    { logger, caFile: undefined },
  )
  const ring = await SecretRing.from(() => loadSharedSessionRing(shared))
  return {
    shared,
    redis,
    store: (binding: SessionBinding, clock: () => number) =>
      new SharedSessionStore({ ...binding, ring, shared, logger, clock, refreshLockMs: 2000 }),
    async close() {
      await shared.close()
      await redis.stop()
    },
  }
}

sessionStoreContract('redis', redisHarness)

describe('the shared store beyond the contract', () => {
  let harness: Awaited<ReturnType<typeof redisHarness>>
  before(async () => {
    harness = await redisHarness()
  })
  after(() => harness.close())

  test('the cookie is one short sealed id; the session lives in Redis until the session ends', async () => {
    const jar = new Jar()
    const exchange = jar.exchange()
    const end = Math.floor(Date.now() / 1000) + 3600
    await harness
      .store(BINDING, () => 1_800_000_000)
      .seal(exchange, session({ se: end, c: { sub: 'alice', blob: 'x'.repeat(9000) } }))
    jar.keep(exchange)
    assert.deepEqual([...jar.cookies.keys()], ['AppSession-0'], 'no shards, however large the claims')
    assert.ok(jar.cookies.get('AppSession-0')!.length < 200)
    const handles = await harness.shared.run('t', (r) =>
      r.smembers(subjectIndexKey(BINDING.issuer, BINDING.clientId, 'alice')),
    )
    assert.equal(handles.length, 1)
    const ttl = await harness.shared.run('t', (r) => r.ttl(sessionKey(handles[0]!)))
    assert.ok(ttl > 3500 && ttl <= 3600, `expires with the session (ttl ${ttl})`)
  })

  test('deleting the session in Redis ends it for every store within the cache time', async () => {
    const jar = new Jar()
    const exchange = jar.exchange()
    const a = harness.store(BINDING, () => 1_800_000_000)
    await a.seal(exchange, session({ c: { sub: 'carol' } }))
    jar.keep(exchange)
    const b = harness.store(BINDING, () => 1_800_000_000)
    assert.ok(await b.open(jar.exchange()))
    const [handle] = await harness.shared.run('t', (r) =>
      r.smembers(subjectIndexKey(BINDING.issuer, BINDING.clientId, 'carol')),
    )
    await harness.shared.run('t', (r) => r.del(sessionKey(handle!)))
    const deadline = Date.now() + 5000
    while ((await b.open(jar.exchange())) !== undefined && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    assert.equal(await b.open(jar.exchange()), undefined)
    assert.equal(await harness.store(BINDING, () => 1_800_000_000).open(jar.exchange()), undefined)
  })

  test('a sealed-cookie session does not open as a shared one', async () => {
    const { CookieSessionStore } = await import('../../src/auth/cookie-session-store.js')
    const ring = await SecretRing.from(() => loadSharedSessionRing(harness.shared))
    const jar = new Jar()
    const exchange = jar.exchange()
    new CookieSessionStore({ ...BINDING, ring, logger }).seal(exchange, session())
    jar.keep(exchange)
    assert.equal(await harness.store(BINDING, () => 1_800_000_000).open(jar.exchange()), undefined)
  })

  test('three gateways refreshing one session at once: one renewal, the others wait for its result', async () => {
    const now = 1_800_000_000
    const jar = new Jar()
    const login = jar.exchange()
    const stores = [1, 2, 3].map(() => harness.store(BINDING, () => now))
    await stores[0]!.seal(login, session({ rt: 'refresh-1', ae: now - 1 }))
    jar.keep(login)
    let renewals = 0
    const renew = async (s: SessionData): Promise<SessionData> => {
      renewals++
      await new Promise((resolve) => setTimeout(resolve, 200))
      return { ...s, at: 'access-2', rt: 'refresh-2', ae: now + 600 }
    }
    const results = await Promise.all(
      stores.map(async (store) => {
        const exchange = jar.exchange()
        return store.refresh(exchange, (await store.open(exchange))!, renew)
      }),
    )
    assert.equal(renewals, 1)
    for (const r of results) assert.equal(r?.session.at, 'access-2')
  })
})
