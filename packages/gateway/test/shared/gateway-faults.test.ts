/**
 * Redis faults seen from the gateway (the real listener pipeline,
 * `startGateway`), not just from the connection: a redis-server SIGKILLed
 * under load and started again, and a Redis that goes silent (accepts and
 * reads, never answers). Two gateways share it: one with cookie sessions (its
 * key rings in Redis), one with shared sessions. Every request is bounded.
 */
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { parseConfig } from '../../src/config/load.js'
import type { SharedStateDownMessage, SharedStateUpMessage } from '../../src/observability/diagnostics.js'
import { type RunningGateway, startGateway } from '../../src/server/gateway.js'
import { Browser } from '../auth/fixtures/browser.js'
import { authenticateOidcYaml, startTestProvider, type TestProvider } from '../auth/fixtures/provider.js'
import { nextMessages } from '../fixtures/diagnostics.js'
import { freePort, listen } from '../fixtures/ports.js'
import { waitFor } from '../fixtures/process.js'
import { startRedis, startRelay, type TestRedis } from '../fixtures/redis.js'
import { silentLogger } from '../fixtures/servers.js'

const COMMAND_TIMEOUT_MS = 300
/** No request may take longer than this, whatever Redis does (the command timeout plus scheduling slack). */
const REQUEST_BOUND_MS = 2000

interface Gw {
  readonly gateway: RunningGateway
  readonly url: string
  readonly accessLog: string
  cookie: string
}

async function startOne(o: {
  port: number
  idp: TestProvider
  target: number
  dir: string
  redisUrl: string
  store: 'cookie' | 'shared'
}): Promise<Gw> {
  const accessLog = join(o.dir, `access-${o.store}.log`)
  const yaml = `LoadBalancer: { Name: faults-${o.store} }
Listeners:
  - Port: ${o.port}
    Protocol: HTTP
    Portcullis: { Address: 127.0.0.1 }
    DefaultActions:
${authenticateOidcYaml(o.idp, 6)}
      - { Type: forward, Order: 2, TargetGroupArn: app }
TargetGroups:
  - { TargetGroupName: app, Protocol: HTTP, HealthCheckEnabled: false, Targets: [{ Id: 127.0.0.1, Port: ${o.target} }] }
Portcullis:
  StateDirectory: ${join(o.dir, `state-${o.store}`)}
  AllowInsecureHttpAuthentication: true
  Admin: false
  AccessLog: { Format: json, Path: ${accessLog} }
  SharedState: { Url: "${o.redisUrl}", KeyPrefix: "${o.store}:", CommandTimeoutMs: ${COMMAND_TIMEOUT_MS} }
  SessionStore: ${o.store}
`
  const { config } = parseConfig(yaml, { format: 'yaml', baseDir: o.dir })
  // Every request with a shared session asks Redis: no per-process trust in a session read before.
  const gateway = await startGateway(config, { logger: silentLogger, sessionCacheMs: 0 })
  return { gateway, url: `http://127.0.0.1:${o.port}`, accessLog, cookie: '' }
}

async function logIn(gw: Gw): Promise<void> {
  const browser = new Browser()
  assert.equal((await browser.login(`${gw.url}/`)).status, 302)
  gw.cookie = [...browser.cookies(gw.url)].map(([k, v]) => `${k}=${v}`).join('; ')
}

/** One request with the gateway's session; fails the test if it takes longer than the bound. */
async function timed(gw: Gw): Promise<{ status: number; ms: number }> {
  const started = performance.now()
  const res = await fetch(`${gw.url}/`, {
    headers: { cookie: gw.cookie },
    redirect: 'manual',
    signal: AbortSignal.timeout(REQUEST_BOUND_MS),
  }).catch((err: unknown) => assert.fail(`a request hung past ${REQUEST_BOUND_MS} ms: ${String(err)}`))
  await res.arrayBuffer()
  return { status: res.status, ms: performance.now() - started }
}

/** Keeps `concurrency` requests in flight on `gw` until `stop()`, recording every status. */
function load(gw: Gw, concurrency: number) {
  const statuses: number[] = []
  const checks = new Set<() => void>()
  let slowest = 0
  let running = true
  const loops = Array.from({ length: concurrency }, async () => {
    while (running) {
      const { status, ms } = await timed(gw)
      statuses.push(status)
      slowest = Math.max(slowest, ms)
      for (const check of checks) check()
    }
  })
  return {
    statuses,
    slowest: () => slowest,
    /** Resolves once `holds` is true of the statuses so far (looked at after each answer); fails after `timeoutMs`. */
    until(holds: (statuses: readonly number[]) => boolean, what: string, timeoutMs = 10_000): Promise<void> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          checks.delete(check)
          reject(new Error(`timed out waiting for ${what}`))
        }, timeoutMs)
        const check = () => {
          if (!holds(statuses)) return
          checks.delete(check)
          clearTimeout(timer)
          resolve()
        }
        checks.add(check)
        check()
      })
    },
    async stop() {
      running = false
      await Promise.all(loops)
    },
  }
}

async function accessLines(file: string): Promise<{ elb_status_code: number; error_reason: string }[]> {
  const text = await readFile(file, 'utf8').catch(() => '')
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { elb_status_code: number; error_reason: string })
}

describe('Redis faults at the gateway', { timeout: 120_000 }, () => {
  let dir: string
  let redis: TestRedis
  let idp: TestProvider
  let target: Server
  let targetPort: number

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-faults-'))
    redis = await startRedis()
    target = createServer((_req, res) => {
      res.writeHead(200)
      res.end('ok')
    })
    targetPort = await listen(target)
  })
  after(async () => {
    await idp?.close()
    target?.close()
    await redis?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  test('SIGKILL under load and restart: nothing hangs, cookie sessions never see a 5xx, shared sessions get 500 SharedStateUnavailable, then recover', async () => {
    const ports = { cookie: await freePort(), shared: await freePort() }
    idp = await startTestProvider({
      redirectUris: Object.values(ports).map((p) => `http://127.0.0.1:${p}/oauth2/idpresponse`),
    })
    const common = { idp, target: targetPort, dir, redisUrl: redis.url }
    const cookie = await startOne({ ...common, port: ports.cookie, store: 'cookie' })
    const shared = await startOne({ ...common, port: ports.shared, store: 'shared' })
    try {
      await logIn(cookie)
      await logIn(shared)
      const loads = [load(cookie, 4), load(shared, 4)]
      await Promise.all(loads.map((l) => l.until((s) => s.length >= 20, 'traffic before the outage')))
      // Each gateway's own connection to Redis publishes the outage and its end.
      const ours = (m: { url: string }) => m.url === redis.url
      const down = nextMessages<SharedStateDownMessage>('portcullis:shared-state:down', 2, ours)
      await redis.kill('SIGKILL')
      await down
      const atOutage = loads.map((l) => l.statuses.length)
      await Promise.all([
        loads[0]!.until((s) => s.length > atOutage[0]! + 20, 'the cookie gateway serving during the outage'),
        loads[1]!.until((s) => s.slice(atOutage[1]).includes(500), 'a 500 from the shared gateway'),
      ])
      const up = nextMessages<SharedStateUpMessage>('portcullis:shared-state:up', 2, ours)
      await redis.restart()
      await up
      for (const l of loads) await l.stop()

      assert.deepEqual(new Set(loads[0]!.statuses), new Set([200]), 'cookie sessions: only 200s')
      const sharedStatuses = new Set(loads[1]!.statuses)
      assert.ok(sharedStatuses.has(500), 'shared sessions: 500 while Redis was down')
      for (const s of sharedStatuses) assert.ok([200, 302, 500].includes(s), `unexpected ${s}`)
      for (const l of loads) assert.ok(l.slowest() < REQUEST_BOUND_MS, `slowest ${l.slowest()} ms`)

      // Recovery without a restart: the restarted Redis is empty (no persistence), so the shared
      // session is gone — a new login works and its session is served.
      await waitFor(async () => (await timed(shared)).status !== 500, 'the shared gateway answering again', 5000)
      await logIn(shared)
      assert.equal((await timed(shared)).status, 200)

      await Promise.all([cookie.gateway.flushAccessLog(), shared.gateway.flushAccessLog()])
      const lines = await accessLines(shared.accessLog)
      const failed = lines.filter((l) => l.elb_status_code === 500)
      assert.ok(failed.length > 0)
      assert.deepEqual(new Set(failed.map((l) => l.error_reason)), new Set(['SharedStateUnavailable']))
      assert.equal(
        (await accessLines(cookie.accessLog)).filter((l) => l.elb_status_code >= 500).length,
        0,
        'no 5xx logged by the cookie gateway',
      )
    } finally {
      await cookie.gateway.close({ deadlineMs: 0 })
      await shared.gateway.close({ deadlineMs: 0 })
      await idp.close()
    }
  })

  test('a Redis that accepts and never answers: requests are bounded by CommandTimeoutMs, cookie sessions unaffected', async () => {
    const relay = await startRelay(redis.port)
    const ports = { cookie: await freePort(), shared: await freePort() }
    idp = await startTestProvider({
      redirectUris: Object.values(ports).map((p) => `http://127.0.0.1:${p}/oauth2/idpresponse`),
    })
    const common = { idp, target: targetPort, dir, redisUrl: relay.url }
    const cookie = await startOne({ ...common, port: ports.cookie, store: 'cookie' })
    const shared = await startOne({ ...common, port: ports.shared, store: 'shared' })
    try {
      await logIn(cookie)
      await logIn(shared)
      assert.equal((await timed(shared)).status, 200)
      relay.silent = true
      for (let i = 0; i < 5; i++) {
        const s = await timed(shared)
        assert.equal(s.status, 500)
        assert.ok(s.ms < COMMAND_TIMEOUT_MS + 700, `shared request took ${s.ms} ms`)
        const c = await timed(cookie)
        assert.equal(c.status, 200)
      }
      relay.silent = false
      // The heartbeat notices the silent connection and reconnects; requests recover without a restart.
      await waitFor(async () => (await timed(shared)).status === 200, 'the shared session served again', 10_000)
    } finally {
      await cookie.gateway.close({ deadlineMs: 0 })
      await shared.gateway.close({ deadlineMs: 0 })
      await idp.close()
      await relay.close()
    }
  })
})
