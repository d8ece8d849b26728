import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { Redis } from 'ioredis'
import { pino } from 'pino'
import { sharedKeyRings } from '../../src/auth/keys/key-ring-store.js'
import { SecretRing } from '../../src/auth/keys/sealing-ring.js'
import { idpSessionIndex, revokeIndexed, SharedSessionStore, userIndex } from '../../src/auth/session/shared-store.js'
import type { SessionBinding } from '../../src/auth/session/store.js'
import type { SessionData } from '../../src/auth/types.js'
import { indexKey, sessionKey } from '../../src/shared/sessions.js'
import { connectSharedState, type SharedState } from '../../src/shared/state.js'
import { systemClock } from '../../src/values/clock.js'
import { waitFor } from '../fixtures/process.js'
import { type RedisOptions, startRedis, type TestRedis } from '../fixtures/redis.js'
import { signal } from '../fixtures/signal.js'
import { BINDING, Jar, type StoreHarness, session, sessionStoreContract } from './session-store-contract.js'

const logger = pino({ level: 'silent' })

const YEAR = 365 * 24 * 3600

/**
 * Stores on one real redis-server (a fresh key prefix per harness), sealing
 * ids with the shared ring; the server's clock set off from ours by
 * `redisOptions.clockOffsetSeconds`.
 */
async function redisHarness(
  redisOptions: RedisOptions = {},
): Promise<StoreHarness & { shared: SharedState; redis: TestRedis; inspect: Redis }> {
  const redis = await startRedis(redisOptions)
  const keyPrefix = `c${randomBytes(4).toString('hex')}:`
  const shared = await connectSharedState(
    {
      url: redis.url,
      displayUrl: redis.url,
      tls: false,
      keyPrefix,
      connectTimeoutMs: 1000,
      commandTimeoutMs: 500,
    },
    { logger, caFile: undefined },
  )
  const ring = await SecretRing.from(() => sharedKeyRings(shared.keyRings, redis.url).sessionRing())
  // The test's own client, to look at (and age) what the store wrote.
  const inspect = new Redis(redis.url, { keyPrefix })
  return {
    shared,
    redis,
    inspect,
    store: (binding: SessionBinding, clock: () => number) =>
      new SharedSessionStore({ ...binding, ring, records: shared.sessions, logger, clock, refreshLockMs: 2000 }),
    // Redis's own clock cannot be moved on demand; every expiring key of the
    // harness has its remaining time cut instead, which is what Redis sees
    // when that time passes.
    serverSide: true,
    revokeUser: (binding: SessionBinding, user: string) =>
      revokeIndexed(shared.sessions, userIndex(binding.issuer, binding.clientId, user)),
    async fastForward(seconds: number) {
      for (const full of await inspect.keys(`${keyPrefix}*`)) {
        const key = full.slice(keyPrefix.length)
        const left = await inspect.pttl(key)
        if (left < 0) continue
        if (left <= seconds * 1000) await inspect.del(key)
        else await inspect.pexpire(key, left - seconds * 1000)
      }
    },
    async close() {
      inspect.disconnect()
      await shared.close()
      await redis.stop()
    },
  }
}

sessionStoreContract('redis', () => redisHarness())
// Redis on a host whose clock disagrees with the gateways' by years: sessions
// must neither vanish on write nor outlive their end.
sessionStoreContract("redis, its clock 3 years ahead of the gateways'", () =>
  redisHarness({ clockOffsetSeconds: 3 * YEAR }),
)
sessionStoreContract("redis, its clock 3 years behind the gateways'", () =>
  redisHarness({ clockOffsetSeconds: -3 * YEAR }),
)

describe('the shared store beyond the contract', () => {
  let harness: Awaited<ReturnType<typeof redisHarness>>
  before(async () => {
    harness = await redisHarness()
  })
  after(() => harness.close())

  test("the cookie is one short sealed id; the session lives in Redis for what is left of it by the store's clock", async () => {
    const jar = new Jar()
    const exchange = jar.exchange()
    // A clock years from Redis's: Redis is told a duration, never the instant.
    const now = Math.floor(Date.now() / 1000) - 4 * YEAR
    await harness
      .store(BINDING, () => now)
      .seal(exchange, session({ se: now + 3600, c: { sub: 'alice', blob: 'x'.repeat(9000) } }))
    jar.keep(exchange)
    assert.deepEqual([...jar.cookies.keys()], ['AppSession-0'], 'no shards, however large the claims')
    assert.ok(jar.cookies.get('AppSession-0')!.length < 200)
    const handles = await harness.shared.sessions.list(userIndex(BINDING.issuer, BINDING.clientId, 'alice'))
    assert.equal(handles.length, 1)
    const ttl = await harness.inspect.ttl(sessionKey(handles[0]!))
    assert.ok(ttl > 3500 && ttl <= 3600, `expires with the session (ttl ${ttl})`)
    const indexTtl = await harness.inspect.ttl(indexKey(userIndex(BINDING.issuer, BINDING.clientId, 'alice')))
    assert.ok(indexTtl > 3500 && indexTtl <= 3600, `the index expires with its last session (ttl ${indexTtl})`)
  })

  test("a user's index lives as long as the longest of their sessions, and a shorter one does not cut it", async () => {
    const now = Math.floor(Date.now() / 1000) + 2 * YEAR
    const store = harness.store(BINDING, () => now)
    for (const se of [now + 7200, now + 600]) {
      const exchange = new Jar().exchange()
      await store.seal(exchange, session({ se, c: { sub: 'dave' }, sid: 'idp-session-dave' }))
    }
    const ttls = [
      await harness.inspect.ttl(indexKey(userIndex(BINDING.issuer, BINDING.clientId, 'dave'))),
      await harness.inspect.ttl(indexKey(idpSessionIndex(BINDING.issuer, 'idp-session-dave'))),
    ]
    for (const ttl of ttls) assert.ok(ttl > 7100 && ttl <= 7200, `ttl ${ttl}`)
  })

  test('a renewed session keeps what is left of its lifetime in Redis', async () => {
    const now = Math.floor(Date.now() / 1000) - 2 * YEAR
    const store = harness.store(BINDING, () => now)
    const jar = new Jar()
    const login = jar.exchange()
    await store.seal(login, session({ se: now + 900, rt: 'refresh-1', ae: now - 1, c: { sub: 'erin' } }))
    jar.keep(login)
    const exchange = jar.exchange()
    const renewed = await store.refresh(exchange, (await store.open(exchange))!, async (s) => ({
      ...s,
      at: 'access-2',
      ae: now + 300,
    }))
    assert.equal(renewed?.session.at, 'access-2')
    const [handle] = await harness.shared.sessions.list(userIndex(BINDING.issuer, BINDING.clientId, 'erin'))
    const ttl = await harness.inspect.ttl(sessionKey(handle!))
    assert.ok(ttl > 850 && ttl <= 900, `ttl ${ttl}`)
  })

  test('deleting the session in Redis ends it for every store within the cache time', async () => {
    const jar = new Jar()
    const exchange = jar.exchange()
    const a = harness.store(BINDING, systemClock)
    await a.seal(exchange, session({ c: { sub: 'carol' } }))
    jar.keep(exchange)
    const b = harness.store(BINDING, systemClock)
    assert.ok(await b.open(jar.exchange()))
    const [handle] = await harness.shared.sessions.list(userIndex(BINDING.issuer, BINDING.clientId, 'carol'))
    await harness.shared.sessions.revoke([handle!])
    // Measures the cache time (1 s by default): b keeps its copy until then.
    await waitFor(async () => (await b.open(jar.exchange())) === undefined, 'b to refuse the session', 5000)
    assert.equal(await harness.store(BINDING, systemClock).open(jar.exchange()), undefined)
  })

  test('a sealed-cookie session does not open as a shared one', async () => {
    const { CookieSessionStore } = await import('../../src/auth/session/cookie-store.js')
    const ring = await SecretRing.from(() => sharedKeyRings(harness.shared.keyRings, harness.redis.url).sessionRing())
    const jar = new Jar()
    const exchange = jar.exchange()
    await new CookieSessionStore({ ...BINDING, ring, logger }).seal(exchange, session())
    jar.keep(exchange)
    assert.equal(await harness.store(BINDING, systemClock).open(jar.exchange()), undefined)
  })

  test('three gateways refreshing one session at once: one renewal, the others wait for its result', async () => {
    const now = Math.floor(Date.now() / 1000)
    const jar = new Jar()
    const login = jar.exchange()
    const stores = [1, 2, 3].map(() => harness.store(BINDING, () => now))
    await stores[0]!.seal(login, session({ rt: 'refresh-1', ae: now - 1 }))
    jar.keep(login)
    // The renewal ends only once the two other stores found the lock taken: they wait for its result.
    const records = harness.shared.sessions
    const lockRefresh = records.lockRefresh
    const othersLocked = signal()
    let lost = 0
    records.lockRefresh = async (...args) => {
      const won = await lockRefresh.apply(records, args)
      if (!won && ++lost === 2) othersLocked.fire()
      return won
    }
    let renewals = 0
    const renew = async (s: SessionData): Promise<SessionData> => {
      renewals++
      await othersLocked.promise
      return { ...s, at: 'access-2', rt: 'refresh-2', ae: now + 600 }
    }
    const results = await Promise.all(
      stores.map(async (store) => {
        const exchange = jar.exchange()
        return store.refresh(exchange, (await store.open(exchange))!, renew)
      }),
    ).finally(() => {
      records.lockRefresh = lockRefresh
    })
    assert.equal(renewals, 1)
    for (const r of results) assert.equal(r?.session.at, 'access-2')
  })
})
