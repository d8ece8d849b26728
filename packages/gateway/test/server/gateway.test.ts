import assert from 'node:assert/strict'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { once } from 'node:events'
import { connect, type Socket } from 'node:net'
import { describe, test } from 'node:test'
import { GatewayError } from '../../src/core/errors.js'
import { nextMessages } from '../fixtures/diagnostics.js'
import { freePort } from '../fixtures/ports.js'
import { waitFor } from '../fixtures/process.js'
import {
  configFromYaml,
  echoHandler,
  forwardYaml,
  gatewayFromYaml,
  send,
  startUpstream,
  stateDirectory,
} from '../fixtures/servers.js'
import { signal } from '../fixtures/signal.js'

describe('reload', () => {
  test('switches rules under load without failing a request, and keeps the listener socket', async () => {
    const upstream = await startUpstream(echoHandler)
    const dir = stateDirectory()
    // Port 0 in every generation: the same listener, kept across the reloads.
    const yaml = forwardYaml(0, upstream.port)
    const gateway = await gatewayFromYaml(yaml, dir)
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
      // Requests finish between the reloads, and after the last one.
      const served = () => nextMessages('portcullis:request:finished', 8)
      for (let i = 0; i < 5; i++) {
        const between = served()
        await gateway.reload(configFromYaml(yaml, dir))
        await between
      }
      const moved = yaml.replace('Values: ["/fixed"]', 'Values: ["/x"]')
      const afterLast = served()
      await gateway.reload(configFromYaml(moved, dir))
      await afterLast
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

  test('a reload applies a changed idle timeout to the listeners it keeps and to the ones it opens', async () => {
    const upstream = await startUpstream(echoHandler)
    // The added listener needs a port of its own, named in the configuration.
    const added = await freePort()
    const dir = stateDirectory()
    const idle = (seconds: number) => `
  Attributes: [{ Key: idle_timeout.timeout_seconds, Value: "${seconds}" }]`
    const yaml = (seconds: number, extraListener: boolean) => {
      let text = forwardYaml(0, upstream.port).replace(
        'LoadBalancer: { Name: test-alb, Region: eu-west-1, AccountId: "123456789012" }',
        `LoadBalancer:\n  Name: test-alb\n  Region: eu-west-1\n  AccountId: "123456789012"${idle(seconds)}`,
      )
      if (extraListener) {
        text = text.replace(
          'Listeners:\n',
          `Listeners:\n  - Port: ${added}\n    Protocol: HTTP\n    Portcullis: { Address: 127.0.0.1 }\n    DefaultActions: [{ Type: forward, TargetGroupArn: app }]\n`,
        )
      }
      return text
    }
    const gateway = await gatewayFromYaml(yaml(3600, false), dir)
    try {
      await gateway.reload(configFromYaml(yaml(1, true), dir))
      for (const { port: listenerPort } of gateway.listeners) {
        // A keep-alive connection left idle is closed by the gateway once the new timeout passes.
        const socket = connect(listenerPort, '127.0.0.1')
        await once(socket, 'connect')
        socket.write('GET /x HTTP/1.1\r\nHost: x\r\n\r\n')
        socket.resume()
        const closed = once(socket, 'close')
        const deadline = new Promise((_, reject) => {
          setTimeout(() => reject(new Error(`port ${listenerPort} kept the idle connection open`)), 15_000).unref()
        })
        await Promise.race([closed, deadline])
      }
    } finally {
      await gateway.close({ deadlineMs: 1000 })
      await upstream.close()
    }
  })

  test('a configuration that cannot start is refused and the old one keeps serving', async () => {
    const upstream = await startUpstream(echoHandler)
    const busy = await startUpstream(echoHandler)
    const dir = stateDirectory()
    const gateway = await gatewayFromYaml(forwardYaml(0, upstream.port), dir)
    try {
      const clash = `${forwardYaml(0, upstream.port)}`.replace(
        'Listeners:\n',
        `Listeners:\n  - Port: ${busy.port}\n    Protocol: HTTP\n    Portcullis: { Address: 127.0.0.1 }\n    DefaultActions: [{ Type: forward, TargetGroupArn: app }]\n`,
      )
      await assert.rejects(gateway.reload(configFromYaml(clash, dir)), (error: unknown) => {
        assert.ok(error instanceof GatewayError)
        assert.equal(error.code, 'ERR_LISTEN')
        assert.equal(
          error.message,
          `cannot listen on 127.0.0.1:${busy.port} for the listener listener/${busy.port}: the port is in use`,
        )
        assert.equal((error.cause as NodeJS.ErrnoException).code, 'EADDRINUSE')
        return true
      })
      assert.equal(gateway.generation, 1)
      assert.equal(gateway.listeners.length, 1)
      assert.equal((await send(`${gateway.listeners[0]!.url}fixed`)).body, 'fixed')
    } finally {
      await gateway.close({ deadlineMs: 1000 })
      await upstream.close()
      await busy.close()
    }
  })

  test('a reload after close is refused with ERR_CLOSED', async () => {
    const dir = stateDirectory()
    // A target port nobody serves: the gateway is closed before it would forward.
    const yaml = forwardYaml(0, await freePort())
    const gateway = await gatewayFromYaml(yaml, dir)
    await gateway.close({ deadlineMs: 0 })
    await assert.rejects(gateway.reload(configFromYaml(yaml, dir)), { name: 'GatewayError', code: 'ERR_CLOSED' })
  })
})

describe('graceful shutdown', () => {
  test('in-flight requests finish, new connections are refused', async () => {
    const held = signal()
    const arrived = signal()
    const upstream = await startUpstream((req, res) => {
      arrived.fire()
      void held.promise.then(() => echoHandler(req, res))
    })
    const gateway = await gatewayFromYaml(forwardYaml(0, upstream.port))
    const { port } = gateway.listeners[0]!
    const inflight = send(`${gateway.listeners[0]!.url}slow`)
    await arrived.promise
    // Closing stops accepting at once; the in-flight request goes on.
    const closing = gateway.close({ deadlineMs: 5000 })
    await assert.rejects(send(`http://127.0.0.1:${port}/`), { code: 'ECONNREFUSED' })
    held.fire()
    const res = await inflight
    assert.equal(res.status, 200)
    await closing
    await upstream.close()
  })
})

describe('connections', () => {
  const upgrade =
    'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
    'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'
  // Each first request is still being answered when Node emits the upgrade that follows it in the same write.
  const cases = [
    {
      name: 'a forwarded request',
      first: 'GET /first HTTP/1.1\r\nHost: x\r\n\r\n',
      answer: /^HTTP\/1\.1 200 OK\r\n[\s\S]*"url":"\/first"/,
    },
    // Answered at once: written, but Node has not released the socket yet.
    {
      name: 'a fixed response',
      first: 'GET /fixed HTTP/1.1\r\nHost: x\r\n\r\n',
      answer: /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nfixed/,
    },
    // Answered by Node itself, never seen by the gateway's request handler.
    {
      name: "Node's own 417",
      first: 'GET / HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\n\r\n',
      answer: /^HTTP\/1\.1 417 /,
    },
  ]
  for (const { name, first, answer } of cases) {
    test(`an upgrade pipelined behind ${name} is handled after that answer`, async () => {
      const upstream = await startUpstream(echoHandler)
      upstream.server.on('upgrade', (_req, socket: Socket) => {
        socket.resume()
        socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nhello')
      })
      const gateway = await gatewayFromYaml(forwardYaml(0, upstream.port))
      const { port } = gateway.listeners[0]!
      try {
        // Written without a FIN: a client's FIN ends a tunnel.
        const client = connect(port, '127.0.0.1')
        client.write(first + upgrade)
        let text = ''
        client.on('data', (c: Buffer) => {
          text += c.toString()
          if (text.endsWith('hello')) client.destroy()
        })
        await once(client, 'close')
        assert.match(text, answer)
        assert.match(text, /[\s\S]HTTP\/1\.1 101 Switching Protocols\r\n[\s\S]*\r\n\r\nhello$/)
      } finally {
        await gateway.close({ deadlineMs: 1000 })
        await upstream.close()
      }
    })
  }

  test('an upgrade pipelined behind a request Node refuses (no Host) is dropped with the connection', async () => {
    const gateway = await gatewayFromYaml(forwardYaml(0, 9))
    const { port } = gateway.listeners[0]!
    try {
      const client = connect(port, '127.0.0.1')
      client.end(`GET / HTTP/1.1\r\n\r\n${upgrade}`)
      const received: Buffer[] = []
      client.on('data', (c: Buffer) => received.push(c))
      await once(client, 'close')
      const text = Buffer.concat(received).toString()
      assert.match(text, /^HTTP\/1\.1 400 /)
      assert.doesNotMatch(text, /HTTP\/1\.1 [^4]/)
      assert.equal((await send(`http://127.0.0.1:${port}/fixed`)).status, 200)
    } finally {
      await gateway.close({ deadlineMs: 1000 })
    }
  })
})

describe('pipelining', () => {
  test('a response queued behind another is closed when the connection dies: target request aborted, request recorded', async () => {
    const slowHeld = signal()
    const bigAnswering = signal()
    let bigFinished: boolean | undefined
    const upstream = await startUpstream((req, res) => {
      if (req.url === '/slow') {
        void slowHeld.promise.then(() => res.end('slow'))
        return
      }
      // More than the queued response buffers before asking the proxy to wait for 'drain'.
      res.on('close', () => {
        bigFinished = res.writableFinished
      })
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.write('x'.repeat(256 * 1024))
      bigAnswering.fire()
    })
    const finished: string[] = []
    const onFinished = (message: unknown): void => {
      finished.push((message as { ctx: { req: { url: string } } }).ctx.req.url)
    }
    subscribe('portcullis:request:finished', onFinished)
    const gateway = await gatewayFromYaml(forwardYaml(0, upstream.port))
    const { port } = gateway.listeners[0]!
    try {
      const client = connect(port, '127.0.0.1')
      client.on('error', () => {})
      client.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /big HTTP/1.1\r\nHost: x\r\n\r\n')
      // /big's answer now waits behind /slow's, which the target holds.
      await bigAnswering.promise
      client.destroy()
      await waitFor(() => bigFinished !== undefined, 'the target request of the queued response to end')
      assert.equal(bigFinished, false, 'the target request of the queued response is aborted')
      await waitFor(() => finished.length === 2, 'both requests recorded')
      assert.deepEqual(finished.sort(), ['/big', '/slow'])
    } finally {
      unsubscribe('portcullis:request:finished', onFinished)
      slowHeld.fire()
      await gateway.close({ deadlineMs: 1000 })
      await upstream.close()
    }
  })
})

describe('upgrades', () => {
  test('a client resetting an upgrade while it is being authenticated does not take the process down', async () => {
    const upstream = await startUpstream(echoHandler)
    const asked = signal()
    const answered = signal()
    const jwks = await startUpstream((_req, res) => {
      asked.fire()
      void answered.promise.then(() => res.end('{"keys":[]}'))
    })
    const gateway = await gatewayFromYaml(`
LoadBalancer: { Name: t, Region: eu-west-1, AccountId: "123456789012" }
Listeners:
  - Port: 0
    Protocol: HTTP
    Portcullis: { Address: 127.0.0.1 }
    DefaultActions:
      - Type: jwt-validation
        JwtValidationConfig: { JwksEndpoint: "http://127.0.0.1:${jwks.port}/jwks", Issuer: "https://issuer.test" }
      - { Type: forward, TargetGroupArn: app }
TargetGroups:
  - { TargetGroupName: app, Protocol: HTTP, Targets: [{ Id: 127.0.0.1, Port: ${upstream.port} }] }
Portcullis: { AllowInsecureHttpAuthentication: true }
`)
    const { port } = gateway.listeners[0]!
    try {
      const client = connect(port, '127.0.0.1')
      client.on('error', () => {})
      client.write(
        'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nAuthorization: Bearer e30.e30.e30\r\n\r\n',
      )
      // The gateway is now waiting for the JWKS, with the upgraded socket in hand.
      await asked.promise
      client.resetAndDestroy()
      await once(client, 'close')
      answered.fire()
      const after = await send(`http://127.0.0.1:${port}/`, { headers: { authorization: 'Bearer e30.e30.e30' } })
      assert.equal(after.status, 401)
    } finally {
      await gateway.close({ deadlineMs: 1000 })
      await upstream.close()
      await jwks.close()
    }
  })
})
