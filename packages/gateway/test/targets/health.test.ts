import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import https from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import type { HealthCheckModel } from '../../src/config/model.js'
import {
  HealthChecker,
  healthCheckSettings,
  probe,
  TargetHealth,
  type TargetHealthState,
} from '../../src/targets/health.js'
import { ensureLeafCertificate, ensureLocalCa } from '../../src/tls/local-ca.js'
import { freePort, listen } from '../fixtures/ports.js'
import { startUpstream, type TestServer } from '../proxy/fixtures.js'

const defaults: HealthCheckModel = {
  enabled: true,
  protocol: 'HTTP',
  port: undefined,
  path: '/health',
  intervalSeconds: 30,
  timeoutSeconds: 5,
  healthyThresholdCount: 3,
  unhealthyThresholdCount: 2,
  matcher: '200',
}

describe('target health transitions', () => {
  const ok = { ok: true } as const
  const fail = { ok: false, reason: 'Target.Timeout' } as const

  test('initial becomes healthy after one passing check', () => {
    const h = new TargetHealth()
    assert.equal(h.state, 'initial')
    assert.equal(h.reason, 'Elb.InitialHealthChecking')
    assert.equal(h.record(ok, 5, 2), 'initial')
    assert.equal(h.state, 'healthy')
    assert.equal(h.reason, undefined)
  })

  test('initial becomes unhealthy after the unhealthy threshold', () => {
    const h = new TargetHealth()
    assert.equal(h.record(fail, 5, 2), undefined)
    assert.equal(h.state, 'initial')
    assert.equal(h.record(fail, 5, 2), 'initial')
    assert.equal(h.state, 'unhealthy')
    assert.equal(h.reason, 'Target.Timeout')
  })

  test('healthy → unhealthy after N consecutive failures, back after M consecutive passes', () => {
    const h = new TargetHealth('healthy')
    h.record(fail, 3, 2)
    h.record(ok, 3, 2) // resets the failure count
    h.record(fail, 3, 2)
    assert.equal(h.state, 'healthy')
    assert.equal(h.record(fail, 3, 2), 'healthy')
    assert.equal(h.state, 'unhealthy')
    h.record(ok, 3, 2)
    h.record(ok, 3, 2)
    h.record({ ok: false, reason: 'Target.ResponseCodeMismatch' }, 3, 2) // resets the success count
    assert.equal(h.reason, 'Target.ResponseCodeMismatch')
    h.record(ok, 3, 2)
    h.record(ok, 3, 2)
    assert.equal(h.state, 'unhealthy')
    assert.equal(h.record(ok, 3, 2), 'unhealthy')
    assert.equal(h.state, 'healthy')
  })

  test('carries state and counters over', () => {
    const h = new TargetHealth('unhealthy', 'Target.Timeout')
    h.record({ ok: true }, 3, 2)
    const copy = TargetHealth.from(h)
    assert.equal(copy.state, 'unhealthy')
    assert.equal(copy.successes, 1)
    assert.notEqual(copy, h)
  })
})

describe('probe', () => {
  let status = 200
  let hang = false
  const requests: { url: string; headers: Record<string, unknown> }[] = []
  let upstream: TestServer
  before(async () => {
    upstream = await startUpstream((req, res) => {
      requests.push({ url: req.url!, headers: req.headers })
      if (hang) return
      res.statusCode = status
      res.end('ok')
    })
  })
  after(() => upstream.close())

  // Generous: the shared machine can be slow; only the timeout test wants a short one.
  const settings = (overrides: Partial<HealthCheckModel> = {}, timeoutMs = 10_000) =>
    healthCheckSettings({ ...defaults, ...overrides }, undefined, { timeoutMs })

  test('passes on a matching status and sends ALB-like requests', async () => {
    status = 200
    requests.length = 0
    assert.deepEqual(await probe(settings(), '127.0.0.1', upstream.port), { ok: true })
    assert.equal(requests[0]!.url, '/health')
    assert.equal(requests[0]!.headers['user-agent'], 'ELB-HealthChecker/2.0')
    assert.equal(requests[0]!.headers.host, `127.0.0.1:${upstream.port}`)
  })

  test('fails with ResponseCodeMismatch on another status', async () => {
    status = 503
    assert.deepEqual(await probe(settings(), '127.0.0.1', upstream.port), {
      ok: false,
      reason: 'Target.ResponseCodeMismatch',
    })
    status = 200
  })

  test('fails with Timeout when the target is slow', async () => {
    hang = true
    try {
      assert.deepEqual(await probe(settings({}, 100), '127.0.0.1', upstream.port), {
        ok: false,
        reason: 'Target.Timeout',
      })
    } finally {
      hang = false
    }
  })

  test('fails with FailedHealthChecks when the connection is refused', async () => {
    // Nobody listens on it.
    const port = await freePort()
    assert.deepEqual(await probe(settings(), '127.0.0.1', port), { ok: false, reason: 'Target.FailedHealthChecks' })
  })

  test('uses the configured port instead of the traffic port', async () => {
    assert.deepEqual(await probe(settings({ port: upstream.port }), '127.0.0.1', 1), { ok: true })
  })
})

describe('HTTPS probe with the group CA', () => {
  let dir: string
  let server: https.Server
  let port: number
  let caPem: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-health-'))
    const leaf = await ensureLeafCertificate(dir)
    caPem = (await ensureLocalCa(dir)).caCertPem
    server = https.createServer({ cert: leaf.certPem, key: leaf.keyPem }, (_req, res) => res.end('ok'))
    port = await listen(server)
  })
  after(async () => {
    server.closeAllConnections()
    server.close()
    await rm(dir, { recursive: true, force: true })
  })

  test('passes when the CA is trusted', async () => {
    const s = healthCheckSettings({ ...defaults, protocol: 'HTTPS' }, caPem, { timeoutMs: 10_000 })
    assert.deepEqual(await probe(s, '127.0.0.1', port), { ok: true })
  })

  test('fails against the system store (unknown CA)', async () => {
    const s = healthCheckSettings({ ...defaults, protocol: 'HTTPS' }, undefined, { timeoutMs: 10_000 })
    assert.deepEqual(await probe(s, '127.0.0.1', port), { ok: false, reason: 'Target.FailedHealthChecks' })
  })
})

describe('health checker', () => {
  test('walks a target through initial → healthy → unhealthy → healthy and stops cleanly', async () => {
    let up = true
    const upstream = await startUpstream((_req, res) => {
      res.statusCode = up ? 200 : 500
      res.end()
    })
    const target = { id: '127.0.0.1', port: upstream.port, health: new TargetHealth() }
    const changes: [TargetHealthState, TargetHealthState][] = []
    let notify: (() => void) | undefined
    const checker = new HealthChecker(
      healthCheckSettings(defaults, undefined, { intervalMs: 20, timeoutMs: 10_000 }),
      [target],
      (t, from) => {
        changes.push([from, t.health.state])
        notify?.()
      },
    )
    const nextChange = () => new Promise<void>((resolve) => (notify = resolve))
    try {
      let change = nextChange()
      checker.start()
      await change
      assert.deepEqual(changes, [['initial', 'healthy']])
      change = nextChange()
      up = false
      await change
      assert.deepEqual(changes.at(-1), ['healthy', 'unhealthy'])
      assert.equal(target.health.reason, 'Target.ResponseCodeMismatch')
      change = nextChange()
      up = true
      await change
      assert.deepEqual(changes.at(-1), ['unhealthy', 'healthy'])
      // Three consecutive passes were needed (HealthyThresholdCount).
      assert.ok(target.health.successes >= 3)
    } finally {
      checker.stop()
      await upstream.close()
    }
  })

  test('does nothing when health checks are disabled', async () => {
    const target = { id: '127.0.0.1', port: 1, health: new TargetHealth('unavailable') }
    const checker = new HealthChecker(
      healthCheckSettings({ ...defaults, enabled: false }, undefined, { intervalMs: 5 }),
      [target],
      () => assert.fail('no transition expected'),
    )
    checker.start()
    // Measures an absence: six intervals pass without a probe.
    await new Promise((r) => setTimeout(r, 30))
    checker.stop()
    assert.equal(target.health.state, 'unavailable')
  })

  test('stop aborts an in-flight probe and applies no result', async () => {
    let received!: () => void
    const arrived = new Promise<void>((r) => (received = r))
    const upstream = await startUpstream(() => received()) // never answers
    const target = { id: '127.0.0.1', port: upstream.port, health: new TargetHealth() }
    const checker = new HealthChecker(
      healthCheckSettings(defaults, undefined, { intervalMs: 10_000, timeoutMs: 10_000 }),
      [target],
      () => assert.fail('no transition expected'),
    )
    checker.start()
    await arrived
    checker.stop()
    await upstream.close()
    assert.equal(target.health.state, 'initial')
    assert.equal(target.health.failures, 0)
  })
})
