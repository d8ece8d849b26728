import assert from 'node:assert/strict'
import { once } from 'node:events'
import type { IncomingMessage } from 'node:http'
import net from 'node:net'
import { describe, test } from 'node:test'
import { WebSocket, WebSocketServer } from 'ws'
import { freePort, listen } from '../fixtures/ports.js'
import { waitFor } from '../fixtures/process.js'
import { groupModel, startForwarding, startUpstream } from './fixtures.js'

const target = (port: number) => [{ id: '127.0.0.1', port }]

/** Resolves with the status of a refused upgrade (ws's `unexpected-response`). */
function refusedStatus(url: string): Promise<{ status: number; headers: IncomingMessage['headers']; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url)
    ws.on('open', () => reject(new Error('upgrade unexpectedly accepted')))
    ws.on('error', () => {})
    ws.on('unexpected-response', (_req, res) => {
      let body = ''
      res.on('data', (c: Buffer) => {
        body += c.toString()
      })
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }))
    })
  })
}

describe('WebSocket forwarding', () => {
  test('echoes text and binary frames through the tunnel and closes cleanly', async () => {
    const up = await startUpstream((_req, res) => res.end())
    const wss = new WebSocketServer({ server: up.server })
    const handshakes: { url: string; host: string | undefined }[] = []
    wss.on('connection', (socket, req) => {
      handshakes.push({ url: req.url!, host: req.headers.host })
      socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }))
    })
    const front = await startForwarding([
      groupModel({
        targets: target(up.port),
        stickiness: { type: 'lb_cookie', durationSeconds: 60, appCookieName: undefined },
      }),
    ])
    const ws = new WebSocket(`ws://127.0.0.1:${front.port}/chat?room=1`)
    // 'open' follows 'upgrade' synchronously: listen for both before either fires.
    const upgraded = once(ws, 'upgrade')
    const opened = once(ws, 'open')
    try {
      const [upgradeRes] = (await upgraded) as [IncomingMessage]
      assert.ok((upgradeRes.headers['set-cookie'] ?? []).some((c) => c.startsWith('AWSALB=')))
      await opened
      ws.send('hello')
      const [text] = await once(ws, 'message')
      assert.equal(text.toString(), 'hello')
      const big = Buffer.alloc(1024 * 1024, 7)
      ws.send(big)
      const [echo, isBinary] = await once(ws, 'message')
      assert.equal(isBinary, true)
      assert.ok(Buffer.compare(echo as Buffer, big) === 0)
      assert.deepEqual(handshakes, [{ url: '/chat?room=1', host: `127.0.0.1:${front.port}` }])
      ws.close(1000, 'bye')
      const [code] = await once(ws, 'close')
      assert.equal(code, 1000)
      const record = front.contexts[0]!.record
      assert.equal(record.targetStatusCode, 101)
      assert.equal(record.target, `127.0.0.1:${up.port}`)
      const t = front.registry.groups[0]!.targets[0]!
      await waitFor(() => t.outstanding === 0, 'the target connection to be released')
    } finally {
      ws.terminate()
      wss.close()
      await front.close()
      await up.close()
    }
  })

  test('a target that refuses the upgrade has its answer relayed and the connection closed', async () => {
    const server = net.createServer((s) =>
      s.once('data', () => s.write('HTTP/1.1 403 Forbidden\r\nContent-Length: 6\r\nX-Why: policy\r\n\r\ndenied')),
    )
    const front = await startForwarding([groupModel({ targets: target(await listen(server)) })])
    try {
      const res = await refusedStatus(`ws://127.0.0.1:${front.port}/`)
      assert.equal(res.status, 403)
      assert.equal(res.headers['x-why'], 'policy')
      assert.equal(res.headers.connection, 'close')
      assert.equal(res.body, 'denied')
      assert.equal(front.contexts[0]!.record.targetStatusCode, 403)
    } finally {
      await front.close()
      server.close()
    }
  })

  test('a target that cannot be reached → 502', async () => {
    // Nobody listens on it.
    const port = await freePort()
    const front = await startForwarding([groupModel({ targets: target(port) })])
    try {
      const res = await refusedStatus(`ws://127.0.0.1:${front.port}/`)
      assert.equal(res.status, 502)
      assert.match(res.body, /502 Bad Gateway/)
      assert.equal(front.contexts[0]!.record.errorReason, 'TargetConnectionError')
    } finally {
      await front.close()
    }
  })

  test('an upgrade to an empty group → 503', async () => {
    const front = await startForwarding([groupModel({ targets: [] })])
    try {
      const res = await refusedStatus(`ws://127.0.0.1:${front.port}/`)
      assert.equal(res.status, 503)
    } finally {
      await front.close()
    }
  })

  test('a client that goes away during the handshake aborts the upstream connection', async () => {
    let upstreamClosed!: () => void
    const closed = new Promise<void>((r) => (upstreamClosed = r))
    let arrived!: () => void
    const reqArrived = new Promise<void>((r) => (arrived = r))
    const server = net.createServer((s) => {
      s.on('close', () => upstreamClosed())
      s.once('data', () => arrived()) // never answers
    })
    const front = await startForwarding([groupModel({ targets: target(await listen(server)) })])
    try {
      const ws = new WebSocket(`ws://127.0.0.1:${front.port}/`)
      ws.on('error', () => {})
      await reqArrived
      ws.terminate()
      await closed
    } finally {
      await front.close()
      server.close()
    }
  })

  test('a client reset during the handshake neither crashes the gateway nor leaks the upstream connection', async () => {
    let upstreamClosed!: () => void
    const closed = new Promise<void>((r) => (upstreamClosed = r))
    let arrived!: () => void
    const reqArrived = new Promise<void>((r) => (arrived = r))
    const server = net.createServer((s) => {
      s.on('close', () => upstreamClosed())
      s.once('data', () => arrived())
    })
    const front = await startForwarding([groupModel({ targets: target(await listen(server)) })])
    try {
      const client = net.connect(front.port, '127.0.0.1')
      client.on('error', () => {})
      client.write(
        'GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      )
      await reqArrived
      client.resetAndDestroy()
      await closed
      const t = front.registry.groups[0]!.targets[0]!
      await waitFor(() => t.outstanding === 0, 'the target connection to be released')
    } finally {
      await front.close()
      server.close()
    }
  })

  test('a client that leaves while a refused upgrade’s answer streams releases the target connection', async () => {
    let upstreamClosed!: () => void
    const closed = new Promise<void>((r) => (upstreamClosed = r))
    const server = net.createServer((s) => {
      s.on('error', () => {})
      s.on('close', () => upstreamClosed())
      s.once('data', () => s.write('HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nstart\r\n'))
    })
    const front = await startForwarding([groupModel({ targets: target(await listen(server)) })])
    try {
      const ws = new WebSocket(`ws://127.0.0.1:${front.port}/`)
      ws.on('error', () => {})
      const [, res] = (await once(ws, 'unexpected-response')) as [unknown, IncomingMessage]
      assert.equal(res.statusCode, 403)
      res.destroy()
      await closed
      const t = front.registry.groups[0]!.targets[0]!
      await waitFor(() => t.outstanding === 0, 'the target connection to be released')
    } finally {
      await front.close()
      server.close()
    }
  })
})
