import assert from 'node:assert/strict'
import { once } from 'node:events'
import { existsSync, readFileSync } from 'node:fs'
import { request as httpsRequest } from 'node:https'
import { connect } from 'node:net'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { connect as tlsConnect } from 'node:tls'
import { WebSocket, WebSocketServer } from 'ws'
import { startGateway } from '../../src/server/gateway.js'
import { ensureLeafCertificate, ensureLocalCa } from '../../src/tls/local-ca.js'
import {
  configFromYaml,
  type Echo,
  echoHandler,
  freePort,
  gatewayFromYaml,
  send,
  silentLogger,
  startUpstream,
  stateDirectory,
} from '../fixtures/servers.js'

function forwardYaml(port: number, upstreamPort: number, extra = ''): string {
  return `
LoadBalancer: { Name: test-alb, Region: eu-west-1, AccountId: "123456789012" }
Listeners:
  - Port: ${port}
    Protocol: HTTP
    Portcullis: { Address: 127.0.0.1 }
    DefaultActions: [{ Type: forward, TargetGroupArn: app }]
    Rules:
      - Priority: 5
        Conditions: [{ Field: http-header, HttpHeaderConfig: { HttpHeaderName: x-amzn-oidc-data, Values: ["*"] } }]
        Actions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: "418", ContentType: text/plain, MessageBody: spoof routed } }]
      - Priority: 10
        Conditions: [{ Field: path-pattern, Values: ["/fixed"] }]
        Actions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: "200", ContentType: text/plain, MessageBody: fixed } }]
${extra}
TargetGroups:
  - TargetGroupName: app
    Protocol: HTTP
    Targets: [{ Id: 127.0.0.1, Port: ${upstreamPort} }]
`
}

describe('gateway pipeline over real sockets', () => {
  let upstream: Awaited<ReturnType<typeof startUpstream>>
  let gateway: Awaited<ReturnType<typeof gatewayFromYaml>>
  let url: string

  before(async () => {
    upstream = await startUpstream(echoHandler)
    const port = await freePort()
    gateway = await gatewayFromYaml(forwardYaml(port, upstream.port))
    url = gateway.listeners[0]!.url
  })
  after(async () => {
    await gateway.close({ deadlineMs: 1000 })
    await upstream.close()
  })

  test('client-sent identity headers never reach the target nor steer rules, in every spelling', async () => {
    const res = await send(`${url}spoof`, {
      headers: [
        'Host',
        'app.example.com',
        'X-Amzn-Oidc-Data',
        'forged.token.here',
        'x_amzn_oidc_identity',
        'admin',
        'X-AMZN-OIDC-ACCESSTOKEN',
        'stolen',
        'x-amzn-oidc-data',
        'second copy',
      ],
    })
    assert.equal(res.status, 200, 'the spoofed header must not match the http-header rule')
    const echo = JSON.parse(res.body) as Echo
    const leaked = echo.rawHeaders.filter((_, i) => i % 2 === 0 && /^x[-_]amzn[-_]oidc/i.test(echo.rawHeaders[i]!))
    assert.deepEqual(leaked, [])
  })

  test('adds X-Forwarded-For/Proto/Port and a trace id, keeping a client Root', async () => {
    const res = await send(`${url}path?q=1`, {
      headers: {
        'x-forwarded-for': '203.0.113.7',
        'x-forwarded-proto': 'https',
        'x-amzn-trace-id': 'Root=1-5759e988-bd862e3fe1be46a994272793',
      },
    })
    const echo = JSON.parse(res.body) as Echo
    assert.equal(echo.url, '/path?q=1')
    assert.equal(echo.headers['x-forwarded-for'], '203.0.113.7, 127.0.0.1')
    assert.equal(echo.headers['x-forwarded-proto'], 'http')
    assert.equal(echo.headers['x-forwarded-port'], String(gateway.listeners[0]!.port))
    assert.match(
      String(echo.headers['x-amzn-trace-id']),
      /^Self=1-[0-9a-f]{8}-[0-9a-f]{24};Root=1-5759e988-bd862e3fe1be46a994272793$/,
    )
  })

  test('rules answer before the target: fixed-response by path', async () => {
    const res = await send(`${url}fixed`)
    assert.equal(res.status, 200)
    assert.equal(res.body, 'fixed')
  })

  test('a request line over 16 KB is refused with 414 and never forwarded', async () => {
    const res = await send(`${url}${'a'.repeat(17 * 1024)}`)
    assert.equal(res.status, 414)
  })

  test('one header over 16 KB gets 431', async () => {
    const res = await send(url, { headers: { 'x-big': 'b'.repeat(17 * 1024) } })
    assert.equal(res.status, 431)
  })

  test('headers over 64 KB in all get 431', async () => {
    const headers: Record<string, string> = {}
    for (let i = 0; i < 10; i++) headers[`x-h${i}`] = 'c'.repeat(8 * 1024)
    const res = await send(url, { headers })
    assert.equal(res.status, 431)
  })

  test('a malformed request gets 400 and the connection closes', async () => {
    const socket = connect(gateway.listeners[0]!.port, '127.0.0.1')
    await once(socket, 'connect')
    socket.write('GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n')
    const chunks: Buffer[] = []
    socket.on('data', (c: Buffer) => chunks.push(c))
    await once(socket, 'close')
    assert.match(Buffer.concat(chunks).toString(), /^HTTP\/1\.1 400 /)
  })

  test('an HTTP/1.1 request without Host is refused with 400', async () => {
    const res = await send(url, { headers: ['Accept', '*/*'] })
    assert.equal(res.status, 400)
  })

  test('an absolute-form request target is refused with 400', async () => {
    const res = await send(url, { path: 'http://elsewhere.example/' })
    assert.equal(res.status, 400)
  })

  test('metrics count requests by listener, rule and target group', async () => {
    const text = await gateway.metrics.registry.metrics()
    assert.match(text, /^RequestCount\{listener="[^"]+",rule="default",target_group="app"\} \d+/m)
    assert.match(text, /^HTTPCode_Target_2XX_Count\{target_group="app"\} \d+/m)
    assert.match(text, /^HTTPCode_ELB_4XX_Count\{[^}]*\} \d+/m)
    assert.match(text, /^HealthyHostCount\{target_group="app"\} \d+/m)
  })
})

describe('admin listener', () => {
  test('serves /healthz and /metrics with ALB metric names, 404 for /keys without auth rules', async () => {
    const upstream = await startUpstream(echoHandler)
    const adminPort = await freePort()
    const yaml = `${forwardYaml(await freePort(), upstream.port)}
Portcullis:
  Admin: { Address: 127.0.0.1, Port: ${adminPort} }
`
    const gateway = await gatewayFromYaml(yaml, undefined, { admin: true })
    try {
      assert.equal(gateway.adminUrl, `http://127.0.0.1:${adminPort}/`)
      await send(gateway.listeners[0]!.url)
      const health = await send(`${gateway.adminUrl}healthz`)
      assert.equal(health.status, 200)
      assert.deepEqual(JSON.parse(health.body), { status: 'ok', generation: 1 })
      const metrics = await send(`${gateway.adminUrl}metrics`)
      assert.equal(metrics.status, 200)
      for (const name of [
        'RequestCount',
        'TargetResponseTime_bucket',
        'ActiveConnectionCount',
        'HealthyHostCount',
        'UnHealthyHostCount',
        'NewConnectionCount',
      ]) {
        assert.match(metrics.body, new RegExp(`^${name}`, 'm'), name)
      }
      assert.equal((await send(`${gateway.adminUrl}keys/4b6e1a7e-6b3c-4f3e-9d2a-0c7b5f1e2d3a`)).status, 404)
      assert.equal((await send(`${gateway.adminUrl}nothing`)).status, 404)
      assert.equal((await send(`${gateway.adminUrl}metrics`, { method: 'POST' })).status, 405)
    } finally {
      await gateway.close({ deadlineMs: 1000 })
      await upstream.close()
    }
  })
})

describe('reload', () => {
  test('switches rules under load without failing a request, and keeps the listener socket', async () => {
    const upstream = await startUpstream(echoHandler)
    const port = await freePort()
    const dir = stateDirectory()
    const gateway = await gatewayFromYaml(forwardYaml(port, upstream.port), dir)
    try {
      let stop = false
      let failures = 0
      let completed = 0
      const load = Array.from({ length: 8 }, async () => {
        while (!stop) {
          try {
            const res = await send(`${gateway.listeners[0]!.url}x`)
            if (res.status !== 200) failures++
            completed++
          } catch {
            failures++
          }
        }
      })
      for (let i = 0; i < 5; i++) {
        await gateway.reload(configFromYaml(forwardYaml(port, upstream.port), dir))
        await new Promise((r) => setTimeout(r, 20))
      }
      const moved = forwardYaml(port, upstream.port).replace('Values: ["/fixed"]', 'Values: ["/x"]')
      await gateway.reload(configFromYaml(moved, dir))
      await new Promise((r) => setTimeout(r, 50))
      stop = true
      await Promise.all(load)
      assert.equal(failures, 0)
      assert.ok(completed > 0)
      assert.equal(gateway.generation, 7)
      const res = await send(`${gateway.listeners[0]!.url}x`)
      assert.equal(res.body, 'fixed', 'the new rule applies after the reload')
    } finally {
      await gateway.close({ deadlineMs: 1000 })
      await upstream.close()
    }
  })

  test('a configuration that cannot start is refused and the old one keeps serving', async () => {
    const upstream = await startUpstream(echoHandler)
    const port = await freePort()
    const busy = await startUpstream(echoHandler)
    const dir = stateDirectory()
    const gateway = await gatewayFromYaml(forwardYaml(port, upstream.port), dir)
    try {
      const clash = `${forwardYaml(port, upstream.port)}`.replace(
        'Listeners:\n',
        `Listeners:\n  - Port: ${busy.port}\n    Protocol: HTTP\n    Portcullis: { Address: 127.0.0.1 }\n    DefaultActions: [{ Type: forward, TargetGroupArn: app }]\n`,
      )
      await assert.rejects(gateway.reload(configFromYaml(clash, dir)), { code: 'EADDRINUSE' })
      assert.equal(gateway.generation, 1)
      assert.equal((await send(`${gateway.listeners[0]!.url}fixed`)).body, 'fixed')
    } finally {
      await gateway.close({ deadlineMs: 1000 })
      await upstream.close()
      await busy.close()
    }
  })
})

describe('graceful shutdown', () => {
  test('in-flight requests finish, new connections are refused', async () => {
    let release: () => void = () => {}
    const held = new Promise<void>((resolve) => {
      release = resolve
    })
    const upstream = await startUpstream((req, res) => {
      void held.then(() => echoHandler(req, res))
    })
    const port = await freePort()
    const gateway = await gatewayFromYaml(forwardYaml(port, upstream.port))
    const inflight = send(`${gateway.listeners[0]!.url}slow`)
    await new Promise((r) => setTimeout(r, 100))
    const closing = gateway.close({ deadlineMs: 5000 })
    await new Promise((r) => setTimeout(r, 50))
    await assert.rejects(send(`http://127.0.0.1:${port}/`), { code: 'ECONNREFUSED' })
    release()
    const res = await inflight
    assert.equal(res.status, 200)
    await closing
    await upstream.close()
  })
})

describe('HTTPS listener with SNI', () => {
  test('serves the certificate matching the server name, the first one otherwise', async () => {
    const dir = stateDirectory()
    const ca = await ensureLocalCa(dir)
    const one = await ensureLeafCertificate(dir, ['one.test'])
    const two = await ensureLeafCertificate(stateDirectory(), ['two.test', '*.wild.test'])
    const upstream = await startUpstream(echoHandler)
    const port = await freePort()
    const yaml = `
LoadBalancer: { Name: tls-alb, Region: us-east-1 }
Listeners:
  - Port: ${port}
    Protocol: HTTPS
    Portcullis: { Address: 127.0.0.1 }
    Certificates:
      - { CertificateFile: ${one.certPath}, PrivateKeyFile: ${one.keyPath} }
      - { CertificateFile: ${two.certPath}, PrivateKeyFile: ${two.keyPath} }
    DefaultActions: [{ Type: forward, TargetGroupArn: app }]
TargetGroups:
  - TargetGroupName: app
    Protocol: HTTP
    Targets: [{ Id: 127.0.0.1, Port: ${upstream.port} }]
`
    const gateway = await startGateway(configFromYaml(yaml, dir), {
      logger: silentLogger,
      accessLog: false,
      admin: false,
    })
    try {
      const subjectFor = async (servername: string | undefined): Promise<string> => {
        const socket = tlsConnect({
          port,
          host: '127.0.0.1',
          ...(servername ? { servername } : {}),
          rejectUnauthorized: false,
        })
        await once(socket, 'secureConnect')
        const names = socket.getPeerCertificate().subjectaltname ?? ''
        assert.ok(['TLSv1.2', 'TLSv1.3'].includes(socket.getProtocol() ?? ''))
        socket.destroy()
        return names
      }
      assert.match(await subjectFor('one.test'), /DNS:one\.test/)
      assert.match(await subjectFor('two.test'), /DNS:two\.test/)
      assert.match(await subjectFor('a.wild.test'), /DNS:\*\.wild\.test/)
      assert.match(await subjectFor('unknown.test'), /DNS:one\.test/)
      assert.match(await subjectFor(undefined), /DNS:one\.test/)

      const body = await new Promise<string>((resolve, reject) => {
        const req = httpsRequest(
          {
            host: '127.0.0.1',
            port,
            path: '/tls',
            servername: 'one.test',
            ca: ca.caCertPem,
            headers: { host: 'one.test' },
          },
          (res) => {
            const chunks: Buffer[] = []
            res.on('data', (c: Buffer) => chunks.push(c))
            res.on('end', () => resolve(Buffer.concat(chunks).toString()))
          },
        )
        req.on('error', reject)
        req.end()
      })
      const echo = JSON.parse(body) as Echo
      assert.equal(echo.headers['x-forwarded-proto'], 'https')

      const tls10 = tlsConnect({
        port,
        host: '127.0.0.1',
        servername: 'one.test',
        rejectUnauthorized: false,
        maxVersion: 'TLSv1.1',
        minVersion: 'TLSv1',
      })
      const [error] = (await once(tls10, 'error').catch((e: unknown) => [e])) as [Error]
      assert.ok(error instanceof Error, 'TLS 1.1 is refused')
    } finally {
      await gateway.close({ deadlineMs: 1000 })
      await upstream.close()
    }
  })
})

describe('access log', () => {
  test("writes ALB's space-separated line with the matched rule, trace id, target and status", async () => {
    const upstream = await startUpstream(echoHandler)
    const dir = stateDirectory()
    const logPath = join(dir, 'access.log')
    const yaml = `${forwardYaml(await freePort(), upstream.port)}
Portcullis:
  AccessLog: { Format: alb, Path: ${logPath} }
`
    const gateway = await startGateway(configFromYaml(yaml, dir), { logger: silentLogger, admin: false })
    try {
      await send(`${gateway.listeners[0]!.url}logged?x=1`, { headers: { 'user-agent': 'test "agent"' } })
      await send(`${gateway.listeners[0]!.url}fixed`)
    } finally {
      await gateway.close({ deadlineMs: 1000 })
      await upstream.close()
    }
    const lines = readFileSync(logPath, 'utf8').trim().split('\n')
    assert.equal(lines.length, 2)
    const [forwarded, fixed] = lines as [string, string]
    assert.match(
      forwarded,
      /^http \d{4}-\d\d-\d\dT[\d:.]+Z app\/test-alb\/[0-9a-f]{16} 127\.0\.0\.1:\d+ 127\.0\.0\.1:\d+ /,
    )
    assert.match(
      forwarded,
      / 200 200 \d+ \d+ "GET http:\/\/127\.0\.0\.1:\d+\/logged\?x=1 HTTP\/1\.1" "test \\"agent\\"" /,
    )
    assert.match(forwarded, /"Root=1-[0-9a-f]{8}-[0-9a-f]{24}"/)
    assert.match(forwarded, / 0 \d{4}-[^ ]+ "forward" "-" "-" /)
    assert.match(fixed, / 200 - \d+ \d+ "GET /)
    assert.match(fixed, / 10 \d{4}-[^ ]+ "fixed-response" "-" "-" /)
  })
})

describe('WebSocket through the listener', () => {
  test('an upgrade is matched by rules and tunnelled to the target', async () => {
    const upstream = await startUpstream((_req, res) => res.end())
    const wss = new WebSocketServer({ server: upstream.server })
    wss.on('connection', (socket, req) => {
      socket.on('message', (data) => socket.send(`echo:${String(data)}:${req.headers['x-forwarded-proto']}`))
    })
    const gateway = await gatewayFromYaml(forwardYaml(await freePort(), upstream.port))
    try {
      const client = new WebSocket(`ws://127.0.0.1:${gateway.listeners[0]!.port}/socket`)
      await once(client, 'open')
      client.send('hello')
      const [message] = (await once(client, 'message')) as [Buffer]
      assert.equal(String(message), 'echo:hello:http')
      client.close()
      await once(client, 'close')

      // A rule that answers itself answers an upgrade request too, then closes.
      const refused = new WebSocket(`ws://127.0.0.1:${gateway.listeners[0]!.port}/fixed`)
      refused.on('error', () => {})
      const [, res] = (await once(refused, 'unexpected-response')) as [unknown, { statusCode: number }]
      assert.equal(res.statusCode, 200)
      refused.terminate()
    } finally {
      wss.close()
      await gateway.close({ deadlineMs: 1000 })
      await upstream.close()
    }
  })
})

describe('access log batching', () => {
  test('a line reaches the file within a couple of seconds even when traffic stops', async () => {
    const upstream = await startUpstream(echoHandler)
    const dir = stateDirectory()
    const logPath = join(dir, 'access.log')
    const yaml = `${forwardYaml(await freePort(), upstream.port)}
Portcullis:
  AccessLog: { Format: json, Path: ${logPath} }
`
    const gateway = await startGateway(configFromYaml(yaml, dir), { logger: silentLogger, admin: false })
    try {
      await send(`${gateway.listeners[0]!.url}one`)
      const deadline = Date.now() + 5000
      let text = ''
      while (Date.now() < deadline) {
        text = existsSync(logPath) ? readFileSync(logPath, 'utf8') : ''
        if (text.includes('/one')) break
        await new Promise((r) => setTimeout(r, 100))
      }
      const entry = JSON.parse(text.trim()) as Record<string, unknown>
      assert.equal(entry.elb_status_code, 200)
      assert.equal(entry.target_status_code, 200)
      assert.equal(entry.actions_executed, 'forward')
      assert.match(String(entry.request), /^GET http:\/\/127\.0\.0\.1:\d+\/one HTTP\/1\.1$/)
    } finally {
      await gateway.close({ deadlineMs: 1000 })
      await upstream.close()
    }
  })
})
