import assert from 'node:assert/strict'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { WebSocket, WebSocketServer } from 'ws'
import type { AccessLogEntry } from '../../src/observability/access-log.js'
import { startGateway } from '../../src/server/gateway.js'
import { freePort } from '../fixtures/ports.js'
import { waitFor } from '../fixtures/process.js'
import {
  configFromYaml,
  type Echo,
  echoHandler,
  forwardYaml,
  gatewayFromYaml,
  send,
  silentLogger,
  startUpstream,
  stateDirectory,
} from '../fixtures/servers.js'
import { signal } from '../fixtures/signal.js'

describe('gateway pipeline over real sockets', () => {
  let upstream: Awaited<ReturnType<typeof startUpstream>>
  let gateway: Awaited<ReturnType<typeof gatewayFromYaml>>
  let url: string

  before(async () => {
    upstream = await startUpstream(echoHandler)
    // Named: X-Forwarded-Port carries the configured port.
    gateway = await gatewayFromYaml(forwardYaml(await freePort(), upstream.port))
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

  test('two Host headers get 400 and are never forwarded (RFC 9112 §3.2)', async () => {
    let forwarded = 0
    const count = (): void => {
      forwarded++
    }
    upstream.server.on('request', count)
    const res = await send(url, { headers: ['Host', 'a.example', 'Host', 'b.example'] })
    upstream.server.off('request', count)
    assert.equal(res.status, 400)
    assert.equal(forwarded, 0)
  })

  test('an invalid Host gets 400 and is never forwarded (RFC 9112 §3.2); valid odd ones pass', async () => {
    let forwarded = 0
    const count = (): void => {
      forwarded++
    }
    upstream.server.on('request', count)
    // Raw bytes: Node's client refuses to send some of these.
    for (const host of ['[::1', '[', 'a b', 'a/b', 'a@b', 'x:80:80', 'x:port', 'caf\xe9.example']) {
      const socket = connect(gateway.listeners[0]!.port, '127.0.0.1')
      socket.end(Buffer.from(`GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`, 'latin1'))
      const chunks: Buffer[] = []
      socket.on('data', (c: Buffer) => chunks.push(c))
      await once(socket, 'close')
      assert.match(Buffer.concat(chunks).toString(), /^HTTP\/1\.1 400 /, JSON.stringify(host))
    }
    upstream.server.off('request', count)
    assert.equal(forwarded, 0)
    for (const host of ['[::1]:8080', 'EXAMPLE.com:', 'a_b.example', 'xn--caf-dma.example', '']) {
      assert.equal((await send(url, { headers: { host } })).status, 200, JSON.stringify(host))
    }
  })

  test('metrics count requests by listener, rule and target group', async () => {
    const counts = async (): Promise<Map<string, number>> => {
      const text = await gateway.metrics.registry.metrics()
      const out = new Map<string, number>()
      for (const [, name, labels, value] of text.matchAll(/^(\w+)(\{[^}]*\})? (\S+)$/gm)) {
        out.set(`${name}${labels ?? ''}`, Number(value))
      }
      return out
    }
    const delta = (before: Map<string, number>, after: Map<string, number>, pattern: RegExp): number => {
      let sum = 0
      for (const [key, value] of after) if (pattern.test(key)) sum += value - (before.get(key) ?? 0)
      return sum
    }
    const before = await counts()
    for (let i = 0; i < 3; i++) assert.equal((await send(`${url}counted`)).status, 200)
    assert.equal((await send(`${url}fixed`)).status, 200)
    assert.equal((await send(url, { headers: { 'x-big': 'b'.repeat(17 * 1024) } })).status, 431)
    const after = await counts()
    assert.equal(delta(before, after, /^RequestCount\{listener="[^"]+",rule="default",target_group="app"\}$/), 4)
    assert.equal(delta(before, after, /^RequestCount\{listener="[^"]+",rule="10",target_group="-"\}$/), 1)
    assert.equal(delta(before, after, /^HTTPCode_Target_2XX_Count\{target_group="app"\}$/), 3)
    assert.equal(delta(before, after, /^HTTPCode_ELB_4XX_Count\{/), 1)
    assert.equal(after.get('HealthyHostCount{target_group="app"}'), 1)
  })
})

describe('WebSocket through the listener', () => {
  test('an upgrade is matched by rules and tunnelled to the target', async () => {
    const upstream = await startUpstream((_req, res) => res.end())
    const wss = new WebSocketServer({ server: upstream.server })
    wss.on('connection', (socket, req) => {
      socket.on('message', (data) => socket.send(`echo:${String(data)}:${req.headers['x-forwarded-proto']}`))
    })
    const gateway = await gatewayFromYaml(forwardYaml(0, upstream.port))
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

describe('WebSocket upgrade carrying client identity headers', () => {
  test('is tunnelled with the headers dropped, never steering rules and never crashing the gateway', async () => {
    const upstream = await startUpstream((_req, res) => res.end())
    const wss = new WebSocketServer({ server: upstream.server })
    const seen: string[][] = []
    wss.on('connection', (socket, req) => {
      seen.push(req.rawHeaders)
      socket.on('message', (data) => socket.send(`echo:${String(data)}`))
    })
    const gateway = await gatewayFromYaml(forwardYaml(0, upstream.port))
    try {
      const port = gateway.listeners[0]!.port
      for (const name of ['X-Amzn-Oidc-Identity', 'x-amzn-oidc-data', 'X_AMZN_OIDC_ACCESSTOKEN']) {
        const client = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers: { [name]: 'x' } })
        await once(client, 'open')
        client.send('hi')
        const [message] = (await once(client, 'message')) as [Buffer]
        assert.equal(String(message), 'echo:hi', 'the spoof rule (418) must not match')
        client.close()
        await once(client, 'close')
      }
      assert.equal(seen.length, 3)
      for (const raw of seen)
        assert.deepEqual(
          raw.filter((h) => /^x[-_]amzn[-_]oidc/i.test(h)),
          [],
        )
      assert.equal((await send(`${gateway.listeners[0]!.url}fixed`)).body, 'fixed', 'still serving')
    } finally {
      wss.close()
      await gateway.close({ deadlineMs: 1000 })
      await upstream.close()
    }
  })
})

describe('requests with bodies and the access log on', () => {
  test('every body shape is forwarded and logged once with its own port and bytes, and the gateway keeps serving', async () => {
    const upstream = await startUpstream(echoHandler)
    const dir = stateDirectory()
    const logPath = join(dir, 'access.log')
    const yaml = `${forwardYaml(0, upstream.port)}
Portcullis:
  AccessLog: { Format: json, Path: ${logPath} }
`
    const gateway = await startGateway(configFromYaml(yaml, dir), { logger: silentLogger, admin: false })
    try {
      const url = gateway.listeners[0]!.url
      const big = 'b'.repeat(256 * 1024)
      const bodies: [string, Parameters<typeof send>[1]][] = [
        ['POST with Content-Length', { method: 'POST', body: 'hello' }],
        ['PUT chunked', { method: 'PUT', headers: { 'transfer-encoding': 'chunked' }, body: big }],
        ['GET with a body', { method: 'GET', headers: { 'content-length': '3' }, body: 'abc' }],
      ]
      for (const [what, options] of bodies) {
        const res = await send(`${url}body`, options)
        assert.equal(res.status, 200, what)
        assert.equal((JSON.parse(res.body) as Echo).body.length, Buffer.byteLength(options!.body!), what)
      }
      // Two requests one after the other on one keep-alive connection: each line counts its own bytes.
      const socket = connect(gateway.listeners[0]!.port, '127.0.0.1')
      await once(socket, 'connect')
      const request = 'POST /ka HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok'
      let answers = ''
      socket.on('data', (c: Buffer) => {
        answers += c.toString()
      })
      for (let n = 1; n <= 2; n++) {
        socket.write(request)
        // The answer is relayed chunked: wait for its terminating chunk.
        while ((answers.match(/\r\n0\r\n\r\n/g) ?? []).length < n) await once(socket, 'data')
      }
      socket.destroy()
      await gateway.close({ deadlineMs: 1000 })

      const lines = readFileSync(logPath, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as AccessLogEntry)
      assert.equal(lines.length, 5)
      for (const line of lines) {
        assert.match(line.client_port, /^127\.0\.0\.1:[1-9]\d*$/)
        assert.equal(line.elb_status_code, 200)
        assert.equal(line.target_status_code, 200)
      }
      assert.ok(lines[1]!.received_bytes > big.length, 'the chunked body is counted')
      const [first, second] = lines.slice(3)
      assert.equal(first!.client_port, second!.client_port, 'one connection')
      assert.equal(first!.received_bytes, request.length, 'each keep-alive request counts only its own bytes')
      assert.equal(second!.received_bytes, request.length)
    } finally {
      await gateway.close({ deadlineMs: 1000 })
      await upstream.close()
    }
  })
})

describe('a client that leaves before the answer', () => {
  test("is logged once with ALB's 460, never as the 200 nobody sent", async () => {
    const atTarget = signal()
    const upstream = await startUpstream((req) => {
      atTarget.fire()
      req.resume()
    })
    const dir = stateDirectory()
    const logPath = join(dir, 'access.log')
    const yaml = `${forwardYaml(0, upstream.port)}
Portcullis:
  AccessLog: { Format: json, Path: ${logPath} }
`
    const gateway = await startGateway(configFromYaml(yaml, dir), { logger: silentLogger, admin: false })
    try {
      const socket = connect(gateway.listeners[0]!.port, '127.0.0.1')
      socket.write('POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nhalf')
      await atTarget.promise
      socket.destroy()
      await waitFor(() => gateway.metrics.requestCount.get().then((m) => m.values.length > 0), 'the request to finish')
      await gateway.close({ deadlineMs: 1000 })
      const lines = readFileSync(logPath, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as AccessLogEntry)
      assert.deepEqual(
        lines.map((l) => [l.elb_status_code, l.target_status_code]),
        [[460, null]],
      )
    } finally {
      await gateway.close({ deadlineMs: 1000 })
      await upstream.close()
    }
  })
})

describe('rule transforms that produce an invalid URL', () => {
  test('answer 500 without details, and the gateway keeps serving', async () => {
    const upstream = await startUpstream(echoHandler)
    const yaml = forwardYaml(0, upstream.port).replace(
      '    Rules:\n',
      `    Rules:
      - Priority: 1
        Conditions: [{ Field: path-pattern, Values: ["/broken*"] }]
        Transforms: [{ Type: url-rewrite, UrlRewriteConfig: { Rewrites: [{ Regex: "^/broken(.*)$", Replace: "no-slash$1" }] } }]
        Actions: [{ Type: forward, TargetGroupArn: app }]
`,
    )
    const gateway = await gatewayFromYaml(yaml)
    try {
      const res = await send(`${gateway.listeners[0]!.url}broken/x`)
      assert.equal(res.status, 500)
      assert.doesNotMatch(res.body, /\n\s+at |RuleTransformError|no-slash/)
      assert.equal((await send(`${gateway.listeners[0]!.url}fixed`)).body, 'fixed')
    } finally {
      await gateway.close({ deadlineMs: 1000 })
      await upstream.close()
    }
  })
})
