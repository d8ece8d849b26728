/**
 * Gateways whose clock is days away from Redis's (issue 16): two real
 * `portcullis start` processes share a real redis-server run under
 * `datefudge`. Sessions written by one gateway must be usable by the other
 * and live in Redis for what is left of them by the gateways' clock,
 * whichever way Redis's clock is off.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { Redis } from 'ioredis'
import { Browser } from '../auth/fixtures/browser.js'
import { startTestProvider, type TestProvider } from '../auth/fixtures/provider.js'
import { listen } from '../fixtures/ports.js'
import { startRedis, type TestRedis } from '../fixtures/redis.js'
import { type Instance, identity, planGateways, redirectUris, startGateways, stop } from './fixtures.js'

const DAY = 24 * 3600
/** ALB's default SessionTimeout (the fixture's action sets none). */
const SESSION_TIMEOUT = 7 * DAY

for (const [label, offset] of [
  ['8 days ahead of', 8 * DAY],
  ['8 days behind', -8 * DAY],
] as const) {
  describe(`two gateways, Redis's clock ${label} theirs`, { timeout: 120_000 }, () => {
    let dir: string
    let redis: TestRedis
    let idp: TestProvider
    let target: Server
    let instances: Instance[] = []

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'portcullis-skew-'))
      redis = await startRedis({ clockOffsetSeconds: offset })
      target = createServer((req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ data: req.headers['x-amzn-oidc-data'] ?? null }))
      })
      const targetPort = await listen(target)
      const plan = await planGateways(2)
      idp = await startTestProvider({ redirectUris: redirectUris(plan) })
      instances = await startGateways(plan, {
        redis: redis.url,
        idp,
        target: targetPort,
        dir,
      })
    })

    after(async () => {
      await Promise.all(instances.map((i) => stop(i.process)))
      await idp?.close()
      target?.close()
      await redis?.stop()
      await rm(dir, { recursive: true, force: true })
    })

    test('a login on one gateway is a session on the other, kept in Redis for the session timeout', async () => {
      const [one, two] = instances as [Instance, Instance]
      const browser = new Browser()
      const callback = await browser.login(`${one.url}/app`)
      assert.equal(callback.status, 302, 'the login completes')
      for (const [k, v] of browser.cookies(one.url)) browser.cookies(two.url).set(k, v)
      await identity(await browser.fetch(`${one.url}/app`))
      await identity(await browser.fetch(`${two.url}/app`))

      const client = new Redis(redis.url, { lazyConnect: true })
      try {
        await client.connect()
        const [seconds] = (await client.time()) as [string | number, string | number]
        assert.ok(
          Math.abs(Number(seconds) - offset - Date.now() / 1000) < 60,
          `Redis runs ${label} the gateways (its time ${seconds})`,
        )
        const keys = await client.keys('ha:session:*')
        assert.equal(keys.length, 1)
        const ttl = await client.ttl(keys[0]!)
        assert.ok(ttl > SESSION_TIMEOUT - 120 && ttl <= SESSION_TIMEOUT, `the session's key lives ${ttl} s`)
      } finally {
        client.disconnect()
      }
    })
  })
}
