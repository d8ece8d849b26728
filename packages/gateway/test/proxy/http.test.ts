import assert from 'node:assert/strict'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { describe, test } from 'node:test'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { createForwardAction } from '../../src/actions/forward.js'
import { classifyTargetError } from '../../src/proxy/http.js'
import { TargetGroupRegistry } from '../../src/targets/target-group.js'
import { ensureLeafCertificate, ensureLocalCa } from '../../src/tls/local-ca.js'
import { freePort, listen } from '../fixtures/ports.js'
import { signal } from '../fixtures/signal.js'
import { groupModel, request, secret, startForwarding, startFront, startUpstream } from './fixtures.js'

/** V8's full garbage collection, without starting the test runner with --expose-gc. */
function collector(): () => void {
  setFlagsFromString('--expose-gc')
  return runInNewContext('gc') as () => void
}

const target = (port: number) => [{ id: '127.0.0.1', port }]

/** A raw TCP "target" that runs `onConnection` for each connection. */
async function rawTarget(
  onConnection: (socket: net.Socket) => void,
): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
    s.on('error', () => {})
    onConnection(s)
  })
  return {
    port: await listen(server),
    close: async () => {
      for (const s of sockets) s.destroy()
      server.close()
      await once(server, 'close')
    },
  }
}

describe('proxy errors', () => {
  test('connection refused → 502 TargetConnectionError with ALB’s error page', async () => {
    const front = await startForwarding([groupModel({ targets: target(await freePort()) })])
    try {
      const res = await request(front.url)
      assert.equal(res.status, 502)
      assert.equal(res.headers['content-type'], 'text/html')
      assert.match(res.body, /<title>502 Bad Gateway<\/title>/)
      assert.doesNotMatch(res.body, /at .*\.ts/)
      assert.equal(front.contexts[0]!.record.errorReason, 'TargetConnectionError')
      assert.equal(front.contexts[0]!.record.targetStatusCode, undefined)
      assert.equal(front.registry.get(front.registry.groups[0]!.arn)!.targets[0]!.outstanding, 0)
    } finally {
      await front.close()
    }
  })

  test('connection reset before a response → 502 TargetResponseError', async () => {
    const raw = await rawTarget((s) => s.once('data', () => s.resetAndDestroy()))
    const front = await startForwarding([groupModel({ targets: target(raw.port) })])
    try {
      const res = await request(front.url)
      assert.equal(res.status, 502)
      assert.equal(front.contexts[0]!.record.errorReason, 'TargetResponseError')
    } finally {
      await front.close()
      await raw.close()
    }
  })

  for (const [failure, start] of [
    ['resets mid-upload', () => rawTarget((s) => s.once('data', () => s.resetAndDestroy()))],
    ['refuses the connection', async () => ({ port: await freePort(), close: async () => {} })],
  ] as const) {
    test(`a target that ${failure}: 502, and the client connection still carries the next request`, async () => {
      // The rest of the upload must be drained, or the keep-alive connection
      // hangs until the idle timeout.
      const raw = await start()
      const front = await startForwarding([groupModel({ targets: target(raw.port) })])
      const client = net.connect(front.port, '127.0.0.1')
      try {
        let answers = ''
        // Both answers, or the connection's end if fewer come.
        const answered = new Promise<void>((resolve) => {
          client.on('data', (c: Buffer) => {
            answers += c.toString('latin1')
            if (answers.match(/^HTTP\/1\.1 /gm)?.length === 2) resolve()
          })
          client.once('close', () => resolve())
        })
        const body = 4 * 1024 * 1024
        client.write(`POST /upload HTTP/1.1\r\nHost: a.test\r\nContent-Length: ${body}\r\n\r\n`)
        client.write(Buffer.alloc(body))
        client.write('GET /next HTTP/1.1\r\nHost: a.test\r\n\r\n')
        await answered
        assert.deepEqual(answers.match(/^HTTP\/1\.1 \d+/gm), ['HTTP/1.1 502', 'HTTP/1.1 502'])
      } finally {
        client.destroy()
        await front.close()
        await raw.close()
      }
    })
  }

  test('a malformed response → 502 TargetResponseError', async () => {
    const raw = await rawTarget((s) => s.once('data', () => s.end('NOT HTTP AT ALL\r\n\r\n')))
    const front = await startForwarding([groupModel({ targets: target(raw.port) })])
    try {
      const res = await request(front.url)
      assert.equal(res.status, 502)
      assert.equal(front.contexts[0]!.record.errorReason, 'TargetResponseError')
    } finally {
      await front.close()
      await raw.close()
    }
  })

  test('a target that fails mid-response gets the client connection destroyed', async () => {
    const raw = await rawTarget((s) =>
      s.once('data', () => {
        s.write('HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\npartial body')
        setImmediate(() => s.resetAndDestroy())
      }),
    )
    const front = await startForwarding([groupModel({ targets: target(raw.port) })])
    try {
      const outcome = await new Promise<string>((resolve) => {
        const req = http.get(front.url, { agent: false }, (res) => {
          assert.equal(res.statusCode, 200)
          res.on('data', () => {})
          res.on('aborted', () => resolve('aborted'))
          res.on('error', () => resolve('error'))
          res.on('end', () => resolve('end'))
        })
        req.on('error', () => resolve('error'))
      })
      assert.notEqual(outcome, 'end')
      assert.equal(front.contexts[0]!.record.errorReason, 'TargetResponseError')
      assert.equal(front.contexts[0]!.record.targetStatusCode, 200)
    } finally {
      await front.close()
      await raw.close()
    }
  })

  test('a target slower than the target timeout → 504 TargetTimeout', async () => {
    const pending: http.ServerResponse[] = []
    const slow = await startUpstream((_req, res) => pending.push(res))
    const front = await startForwarding([groupModel({ targets: target(slow.port), targetTimeoutSeconds: 0.2 })])
    try {
      const res = await request(front.url)
      assert.equal(res.status, 504)
      assert.match(res.body, /504 Gateway Time-out/)
      assert.equal(front.contexts[0]!.record.errorReason, 'TargetTimeout')
    } finally {
      await front.close()
      await slow.close()
    }
  })

  test('an empty target group → 503', async () => {
    const front = await startForwarding([groupModel({ targets: [] })])
    try {
      const res = await request(front.url)
      assert.equal(res.status, 503)
      assert.match(res.body, /503 Service Temporarily Unavailable/)
      assert.equal(front.contexts[0]!.record.errorReason, 'TargetGroupEmpty')
    } finally {
      await front.close()
    }
  })

  test('classifies DNS and TLS failures as connection errors', () => {
    assert.deepEqual(classifyTargetError({ code: 'ENOTFOUND' }), { status: 502, reason: 'TargetConnectionError' })
    assert.deepEqual(classifyTargetError({ code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }), {
      status: 502,
      reason: 'TargetConnectionError',
    })
    assert.deepEqual(classifyTargetError({ code: 'ERR_TLS_CERT_ALTNAME_INVALID' }), {
      status: 502,
      reason: 'TargetConnectionError',
    })
    assert.deepEqual(classifyTargetError({ code: 'UND_ERR_CONNECT_TIMEOUT' }), { status: 504, reason: 'TargetTimeout' })
    assert.deepEqual(classifyTargetError(new Error('x')), { status: 502, reason: 'TargetResponseError' })
  })
})

describe('proxy headers', () => {
  test('removes hop-by-hop response headers, including those named in Connection', async () => {
    const raw = await rawTarget((s) =>
      s.on('data', () =>
        s.write(
          'HTTP/1.1 200 OK\r\n' +
            'Connection: keep-alive, X-Hop\r\n' +
            'Keep-Alive: timeout=5\r\n' +
            'X-Hop: secret\r\n' +
            'Proxy-Authenticate: Basic\r\n' +
            'Trailer: X-Sum\r\n' +
            'Upgrade: h2c\r\n' +
            'X-End-To-End: kept\r\n' +
            'Set-Cookie: a=1\r\n' +
            'Set-Cookie: b=2\r\n' +
            'Content-Length: 2\r\n\r\nok',
        ),
      ),
    )
    const front = await startForwarding([groupModel({ targets: target(raw.port) })])
    try {
      const res = await request(front.url)
      assert.equal(res.status, 200)
      assert.equal(res.body, 'ok')
      for (const h of ['x-hop', 'keep-alive', 'proxy-authenticate', 'trailer', 'upgrade']) {
        assert.equal(res.headers[h], undefined, h)
      }
      assert.notEqual(res.headers.connection, 'keep-alive, X-Hop')
      assert.equal(res.headers['x-end-to-end'], 'kept')
      assert.deepEqual(res.headers['set-cookie'], ['a=1', 'b=2'])
    } finally {
      await front.close()
      await raw.close()
    }
  })

  test('relays the target’s status and appends the gateway’s cookies to the target’s', async () => {
    const up = await startUpstream((_req, res) => {
      res.setHeader('set-cookie', ['app=1'])
      res.statusCode = 418
      res.end()
    })
    const model = groupModel({ targets: target(up.port) })
    const registry = TargetGroupRegistry.create([model], { stickinessSecret: secret })
    const forward = createForwardAction(
      { type: 'forward', order: 1, targetGroups: [{ targetGroupArn: model.arn, weight: 1 }], stickiness: undefined },
      registry,
      { stickinessSecret: secret },
    )
    // As an authenticate action would: a session cookie that must reach the client.
    const front = await startFront((ctx) => {
      ctx.responseCookies.push('AWSELBAuthSessionCookie-0=s; Path=/; Secure; HttpOnly')
      return forward.run(ctx)
    })
    try {
      const res = await request(front.url)
      assert.equal(res.status, 418)
      assert.deepEqual(res.headers['set-cookie'], ['app=1', 'AWSELBAuthSessionCookie-0=s; Path=/; Secure; HttpOnly'])
      assert.equal(registry.groups[0]!.targets[0]!.outstanding, 0)
    } finally {
      await front.close()
      await registry.destroy()
      await up.close()
    }
  })

  test('app_cookie stickiness: the target’s application cookie triggers AWSALBAPP-0..3', async () => {
    const up = await startUpstream((req, res) => {
      if (req.url === '/login') res.setHeader('set-cookie', 'SESSION=abc; Path=/')
      res.end()
    })
    const front = await startForwarding([
      groupModel({
        targets: target(up.port),
        stickiness: { type: 'app_cookie', durationSeconds: 60, appCookieName: 'SESSION' },
      }),
    ])
    try {
      const plain = await request(front.url)
      assert.equal(plain.headers['set-cookie'], undefined)
      const login = await request(`${front.url}/login`)
      const cookies = login.headers['set-cookie']!
      assert.equal(cookies[0], 'SESSION=abc; Path=/')
      assert.deepEqual(
        cookies.slice(1).map((c) => c.split('=')[0]),
        ['AWSALBAPP-0', 'AWSALBAPP-1', 'AWSALBAPP-2', 'AWSALBAPP-3'],
      )
      assert.ok(cookies[1]!.startsWith(`AWSALBAPP-0=${front.registry.groups[0]!.targets[0]!.appCookieValue};`))
    } finally {
      await front.close()
      await up.close()
    }
  })

  test('forwards request bodies with Content-Length and Expect: 100-continue', async () => {
    const up = await startUpstream(async (req, res) => {
      const chunks: Buffer[] = []
      for await (const c of req) chunks.push(c as Buffer)
      res.end(`${req.headers['content-length']}:${Buffer.concat(chunks).toString()}:${req.headers.expect ?? '-'}`)
    })
    const front = await startForwarding([groupModel({ targets: target(up.port) })])
    try {
      const res = await request(front.url, {
        method: 'PUT',
        headers: { 'content-length': '5', expect: '100-continue' },
        body: 'hello',
      })
      assert.equal(res.body, '5:hello:-')
    } finally {
      await front.close()
      await up.close()
    }
  })
})

describe('proxy connections', () => {
  test('a client that disconnects aborts the upstream request', async () => {
    let upstreamClosed!: () => void
    const closed = new Promise<void>((r) => (upstreamClosed = r))
    let arrived!: () => void
    const reqArrived = new Promise<void>((r) => (arrived = r))
    const up = await startUpstream((req) => {
      req.socket.once('close', () => upstreamClosed())
      arrived()
    })
    const front = await startForwarding([groupModel({ targets: target(up.port) })])
    try {
      const client = http.get(front.url, { agent: false })
      client.on('error', () => {})
      await reqArrived
      client.destroy()
      await closed
      const t = front.registry.groups[0]!.targets[0]!
      while (t.outstanding !== 0) await new Promise((r) => setImmediate(r))
      assert.equal(t.outstanding, 0)
    } finally {
      await front.close()
      await up.close()
    }
  })

  test('a client already gone when forward runs sends nothing to the target', async () => {
    let requests = 0
    const up = await startUpstream((_req, res) => {
      requests++
      res.end()
    })
    const model = groupModel({ targets: target(up.port) })
    const registry = TargetGroupRegistry.create([model], { stickinessSecret: secret })
    const forward = createForwardAction(
      { type: 'forward', order: 1, targetGroups: [{ targetGroupArn: model.arn, weight: 1 }], stickiness: undefined },
      registry,
      { stickinessSecret: secret },
    )
    let ran!: () => void
    const done = new Promise<void>((r) => (ran = r))
    const front = await startFront((ctx) => {
      ctx.res.destroy() // as if the client disconnected during an authenticate action
      const outcome = forward.run(ctx)
      ran()
      return outcome
    })
    try {
      await assert.rejects(request(front.url), { code: 'ECONNRESET' })
      await done
      assert.equal(requests, 0)
      assert.equal(registry.groups[0]!.targets[0]!.outstanding, 0)
    } finally {
      await front.close()
      await registry.destroy()
      await up.close()
    }
  })

  test('keeps connections to the target alive across requests', async () => {
    let connections = 0
    const up = await startUpstream((_req, res) => res.end('x'))
    up.server.on('connection', () => connections++)
    const front = await startForwarding([groupModel({ targets: target(up.port) })])
    try {
      for (let i = 0; i < 20; i++) assert.equal((await request(front.url)).body, 'x')
      // Sequential requests reuse one connection; allow one reconnect should the shared machine stall past keep-alive.
      assert.ok(connections <= 2, `${connections} connections for 20 requests`)
    } finally {
      await front.close()
      await up.close()
    }
  })

  test('closing the registry (reload) lets in-flight requests finish', async () => {
    const held: http.ServerResponse[] = []
    const holding = signal()
    const up = await startUpstream((_req, res) => {
      held.push(res)
      holding.fire()
    })
    const front = await startForwarding([groupModel({ targets: target(up.port) })])
    try {
      const pending = request(front.url)
      await holding.promise
      let closed = false
      const closing = front.registry.close().then(() => {
        closed = true
      })
      await new Promise((r) => setImmediate(r))
      assert.equal(closed, false, 'close waits for the in-flight request')
      held[0]!.end('finished')
      assert.equal((await pending).body, 'finished')
      await closing
    } finally {
      await front.close()
      await up.close()
    }
  })

  test('HTTPS targets are verified against the group CA', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portcullis-proxy-'))
    const leaf = await ensureLeafCertificate(dir)
    const ca = await ensureLocalCa(dir)
    const server = https.createServer({ cert: leaf.certPem, key: leaf.keyPem }, (_req, res) => res.end('secure'))
    const port = await listen(server)
    const trusted = await startForwarding([
      groupModel({ protocol: 'HTTPS', targets: target(port), caFile: ca.caCertPath }),
    ])
    const untrusted = await startForwarding([groupModel({ protocol: 'HTTPS', targets: target(port) })])
    try {
      const ok = await request(trusted.url)
      assert.equal(ok.status, 200)
      assert.equal(ok.body, 'secure')
      const bad = await request(untrusted.url)
      assert.equal(bad.status, 502)
      assert.equal(untrusted.contexts[0]!.record.errorReason, 'TargetConnectionError')
    } finally {
      await trusted.close()
      await untrusted.close()
      server.closeAllConnections()
      server.close()
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('streaming', () => {
  test('200 MB up and back down through the proxy without buffering it', async () => {
    const total = 200 * 1024 * 1024
    const chunk = Buffer.alloc(64 * 1024, 0x61)
    const up = await startUpstream((req, res) => {
      res.setHeader('content-type', 'application/octet-stream')
      req.pipe(res)
    })
    const front = await startForwarding([groupModel({ targets: target(up.port) })])
    // Memory is sampled after a full collection, so that what is measured is
    // what the proxy *holds*, not garbage a busy machine has not collected yet.
    const gc = collector()
    gc()
    const base = process.memoryUsage()
    let peakHeap = base.heapUsed
    let peakBuffers = base.arrayBuffers
    const sampler = setInterval(() => {
      gc()
      const m = process.memoryUsage()
      peakHeap = Math.max(peakHeap, m.heapUsed)
      peakBuffers = Math.max(peakBuffers, m.arrayBuffers)
    }, 50)
    try {
      let sent = 0
      const body = new Readable({
        read() {
          if (sent >= total) this.push(null)
          else {
            sent += chunk.length
            this.push(chunk)
          }
        },
      })
      const received = await new Promise<number>((resolve, reject) => {
        const req = http.request(front.url, { method: 'POST', agent: false }, (res) => {
          let n = 0
          res.on('data', (c: Buffer) => {
            n += c.length
          })
          res.on('end', () => resolve(n))
          res.on('error', reject)
        })
        req.on('error', reject)
        body.pipe(req)
      })
      assert.equal(received, total)
      const heapGrowth = peakHeap - base.heapUsed
      const bufferGrowth = peakBuffers - base.arrayBuffers
      // Buffering the body anywhere would keep ≥ 200 MB alive. Bodies live in
      // Buffers, outside the JS heap: `arrayBuffers` counts exactly them,
      // where RSS also moves with the allocator and V8's heap sizing.
      assert.ok(heapGrowth < 48 * 1024 * 1024, `heap grew by ${(heapGrowth / 1048576).toFixed(1)} MB`)
      assert.ok(bufferGrowth < 48 * 1024 * 1024, `live Buffers grew by ${(bufferGrowth / 1048576).toFixed(1)} MB`)
    } finally {
      clearInterval(sampler)
      await front.close()
      await up.close()
    }
  })

  test('a client that stops reading stalls the target instead of filling the gateway’s memory', async () => {
    const chunk = Buffer.alloc(64 * 1024, 0x62)
    let written = 0
    let waitingForDrain = false
    const up = await startUpstream((_req, res) => {
      const pump = (): void => {
        while (written < 1024 * 1024 * 1024) {
          written += chunk.length
          if (!res.write(chunk)) {
            waitingForDrain = true
            res.once('drain', () => {
              waitingForDrain = false
              pump()
            })
            return
          }
        }
        res.end()
      }
      pump()
    })
    const front = await startForwarding([groupModel({ targets: target(up.port) })])
    let client: http.ClientRequest | undefined
    try {
      const res = await new Promise<http.IncomingMessage>((resolve) => {
        client = http.get(front.url, { agent: false }, resolve)
      })
      res.pause()
      // Measures a stall: the target waits for 'drain' and writes nothing for 100 ms.
      let last = -1
      while (!(waitingForDrain && written === last)) {
        last = written
        await new Promise((r) => setTimeout(r, 100))
      }
      // Socket buffers on three hops hold a few MB at most; anything near 1 GB means buffering.
      assert.ok(
        written < 32 * 1024 * 1024,
        `target wrote ${(written / 1048576).toFixed(1)} MB while the client was paused`,
      )
    } finally {
      client?.destroy()
      await front.close()
      await up.close()
    }
  })
})
