import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import http2 from 'node:http2'
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
import { waitFor } from '../fixtures/process.js'
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
  protocolVersion: 'HTTP1',
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

describe('HTTP/2 and gRPC probes (HTTP2 and GRPC target groups)', () => {
  type Answer = 'status' | 'trailers-only' | 'trailers' | 'no-status' | 'hang' | 'reset'
  let answer: Answer = 'status'
  let code = '12'
  let httpStatus = 200
  const seen: { headers: http2.IncomingHttpHeaders; body: Buffer }[] = []
  const sessions = new Set<http2.ServerHttp2Session>()
  let server: http2.Http2Server
  let port: number
  before(async () => {
    server = http2.createServer()
    server.on('session', (session) => {
      sessions.add(session)
      session.on('close', () => sessions.delete(session))
    })
    server.on('stream', (stream, headers) => {
      // Closing with an error code makes the server's own stream emit it.
      stream.on('error', () => {})
      const chunks: Buffer[] = []
      stream.on('data', (c: Buffer) => chunks.push(c))
      stream.on('end', () => {
        seen.push({ headers, body: Buffer.concat(chunks) })
        if (answer === 'hang') return
        if (answer === 'reset') return stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR)
        if (answer === 'status') return stream.respond({ ':status': httpStatus }, { endStream: true })
        const grpcHead = { ':status': 200, 'content-type': 'application/grpc' }
        if (answer === 'trailers-only') return stream.respond({ ...grpcHead, 'grpc-status': code }, { endStream: true })
        if (answer === 'no-status') return stream.respond(grpcHead, { endStream: true })
        stream.respond(grpcHead, { waitForTrailers: true })
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': code, 'grpc-message': 'from trailers' }))
        // One message, as a health service answers: flag 0, length 2, two bytes.
        stream.end(Buffer.from([0, 0, 0, 0, 2, 8, 1]))
      })
    })
    port = await listen(server)
  })
  after(() => {
    for (const s of sessions) s.destroy()
    server.close()
  })

  const settings = (overrides: Partial<HealthCheckModel>, timeoutMs = 10_000) =>
    healthCheckSettings({ ...defaults, ...overrides }, undefined, { timeoutMs })
  const grpcSettings = (matcher = '12', timeoutMs = 10_000) =>
    settings({ protocolVersion: 'GRPC', path: '/AWS.ALB/healthcheck', matcher }, timeoutMs)
  const mismatch = { ok: false, reason: 'Target.ResponseCodeMismatch' }

  test('HTTP2: GET over HTTP/2 with prior knowledge, judged by :status against HttpCode', async () => {
    answer = 'status'
    seen.length = 0
    httpStatus = 204
    const s = settings({ protocolVersion: 'HTTP2', matcher: '200-299' })
    assert.deepEqual(await probe(s, '127.0.0.1', port), { ok: true })
    const { headers } = seen[0]!
    assert.equal(headers[':method'], 'GET')
    assert.equal(headers[':path'], '/health')
    assert.equal(headers[':authority'], `127.0.0.1:${port}`)
    assert.equal(headers['user-agent'], 'ELB-HealthChecker/2.0')
    httpStatus = 503
    assert.deepEqual(await probe(s, '127.0.0.1', port), mismatch)
  })

  test('GRPC: POST application/grpc with te: trailers and one empty message; grpc-status from trailers-only headers', async () => {
    answer = 'trailers-only'
    seen.length = 0
    code = '12'
    assert.deepEqual(await probe(grpcSettings(), '127.0.0.1', port), { ok: true })
    const { headers, body } = seen[0]!
    assert.equal(headers[':method'], 'POST')
    assert.equal(headers[':path'], '/AWS.ALB/healthcheck')
    assert.equal(headers['content-type'], 'application/grpc')
    assert.equal(headers.te, 'trailers')
    assert.equal(headers['user-agent'], 'ELB-HealthChecker/2.0')
    assert.deepEqual([...body], [0, 0, 0, 0, 0])
    code = '0'
    assert.deepEqual(await probe(grpcSettings(), '127.0.0.1', port), mismatch)
    assert.deepEqual(await probe(grpcSettings('0-5'), '127.0.0.1', port), { ok: true })
  })

  test('GRPC: grpc-status from the trailers after a message', async () => {
    answer = 'trailers'
    code = '0'
    assert.deepEqual(await probe(grpcSettings('0'), '127.0.0.1', port), { ok: true })
    code = '14'
    assert.deepEqual(await probe(grpcSettings('0'), '127.0.0.1', port), mismatch)
  })

  test('GRPC: a response without grpc-status, or a reset stream, fails the check', async () => {
    answer = 'no-status'
    assert.deepEqual(await probe(grpcSettings('0-99'), '127.0.0.1', port), mismatch)
    answer = 'reset'
    assert.deepEqual(await probe(grpcSettings('0-99'), '127.0.0.1', port), {
      ok: false,
      reason: 'Target.FailedHealthChecks',
    })
  })

  test('a target that does not answer fails with Timeout, and its session is closed', async () => {
    answer = 'hang'
    assert.deepEqual(await probe(grpcSettings('12', 200), '127.0.0.1', port), { ok: false, reason: 'Target.Timeout' })
    await waitFor(() => sessions.size === 0, 'the probe to close its session', 5_000)
  })

  test('a refused connection fails with FailedHealthChecks; an HTTP/1.1-only target too', async () => {
    const closed = await freePort()
    assert.deepEqual(await probe(grpcSettings(), '127.0.0.1', closed), {
      ok: false,
      reason: 'Target.FailedHealthChecks',
    })
    const http1 = await startUpstream((_req, res) => res.end('ok'))
    try {
      assert.deepEqual(await probe(settings({ protocolVersion: 'HTTP2' }), '127.0.0.1', http1.port), {
        ok: false,
        reason: 'Target.FailedHealthChecks',
      })
    } finally {
      await http1.close()
    }
  })
})

describe('HTTPS probe with the group CA', () => {
  let dir: string
  let server: https.Server
  let port: number
  let caPem: string
  let leafPem: { cert: string; key: string }
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-health-'))
    const leaf = await ensureLeafCertificate(dir)
    leafPem = { cert: leaf.certPem, key: leaf.keyPem }
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

  test('an HTTP2 check over TLS negotiates h2 by ALPN and trusts the group CA', async () => {
    const h2 = http2.createSecureServer({ cert: leafPem.cert, key: leafPem.key }, (_req, res) => res.end('ok'))
    const h2port = await listen(h2)
    try {
      const s = healthCheckSettings({ ...defaults, protocol: 'HTTPS', protocolVersion: 'HTTP2' }, caPem, {
        timeoutMs: 10_000,
      })
      assert.deepEqual(await probe(s, '127.0.0.1', h2port), { ok: true })
      const untrusted = healthCheckSettings({ ...defaults, protocol: 'HTTPS', protocolVersion: 'HTTP2' }, undefined, {
        timeoutMs: 10_000,
      })
      assert.deepEqual(await probe(untrusted, '127.0.0.1', h2port), { ok: false, reason: 'Target.FailedHealthChecks' })
    } finally {
      h2.close()
    }
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
