/**
 * HTTP/2 on an HTTPS listener, through the real `portcullis start` process
 * (access log on): real clients (curl --http2, node:http2) against an
 * HTTP/1.1 target, ALB's rules over `:authority` and joined cookie crumbs,
 * the access log's `h2` lines, HTTP/1.1 and WebSockets on the same listener,
 * and the session limits (concurrent streams, rapid reset).
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import http2, { type ClientHttp2Session, type OutgoingHttpHeaders } from 'node:http2'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import tls from 'node:tls'
import { promisify } from 'node:util'
import { ensureLeafCertificate, ensureLocalCa, type LocalCa } from '../../src/tls/local-ca.js'
import { freePort } from '../fixtures/ports.js'
import { type RunningCli, startGatewayCli, waitFor } from '../fixtures/process.js'
import { startUpstream } from '../fixtures/servers.js'

const run = promisify(execFile)

/** What the HTTP/1.1 target saw of one request, by the id in its query. */
interface Seen {
  readonly httpVersion: string
  readonly method: string
  readonly url: string
  readonly rawHeaders: string[]
  readonly body: string
}
const seen = new Map<string, Seen>()
/** Requests of cancelled streams that reached the target, and those of them the gateway aborted before the answer. */
const cancelled = { reached: 0, aborted: 0 }
let nextId = 0
const newId = () => `h${++nextId}`

interface Reply {
  readonly status: number
  readonly headers: Record<string, string | string[] | undefined>
  readonly body: string
}

/** One request on `session`; its response once complete. */
function h2request(session: ClientHttp2Session, headers: OutgoingHttpHeaders, body?: string | Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: body === undefined })
    let status = 0
    let responseHeaders: Reply['headers'] = {}
    const chunks: Buffer[] = []
    stream.on('response', (h) => {
      status = Number(h[':status'])
      responseHeaders = h as Reply['headers']
    })
    stream.on('data', (c: Buffer) => chunks.push(c))
    stream.on('end', () => resolve({ status, headers: responseHeaders, body: Buffer.concat(chunks).toString() }))
    stream.on('error', reject)
    if (body !== undefined) stream.end(body)
  })
}

describe('HTTP/2 on an HTTPS listener, through portcullis start', { timeout: 120_000 }, () => {
  let dir: string
  let ca: LocalCa
  let gateway: RunningCli
  let port: number
  let log: string
  let upstream: Awaited<ReturnType<typeof startUpstream>>
  const origin = () => `https://localhost:${port}`

  const connect = async (): Promise<ClientHttp2Session> => {
    const session = http2.connect(origin(), { ca: ca.caCertPem })
    session.on('error', () => {})
    // The gateway's SETTINGS arrive right after the handshake; the tests read them.
    await Promise.all([once(session, 'connect'), once(session, 'remoteSettings')])
    return session
  }

  /** The access-log lines (JSON) whose request carries `id`, once written. */
  async function logged(id: string, count = 1): Promise<Record<string, unknown>[]> {
    let lines: Record<string, unknown>[] = []
    await waitFor(
      async () => {
        const text = await readFile(log, 'utf8').catch(() => '')
        lines = text
          .split('\n')
          .filter((l) => l.includes(`id=${id}`))
          .map((l) => JSON.parse(l) as Record<string, unknown>)
        return lines.length >= count
      },
      `access-log line for ${id}`,
      10_000,
    )
    return lines
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-h2-'))
    ca = await ensureLocalCa(join(dir, 'state'))
    const leaf = await ensureLeafCertificate(join(dir, 'state'))
    upstream = await startUpstream((req: IncomingMessage, res: ServerResponse) => {
      if (req.url?.includes('reset=')) {
        cancelled.reached++
        res.once('close', () => {
          if (!res.writableFinished) cancelled.aborted++
        })
      }
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        const id = new URL(req.url ?? '/', 'http://x').searchParams.get('id') ?? ''
        const record = {
          httpVersion: req.httpVersion,
          method: req.method ?? '',
          url: req.url ?? '',
          rawHeaders: req.rawHeaders,
          body: Buffer.concat(chunks).toString(),
        }
        seen.set(id, record)
        const delay = req.url?.startsWith('/slow') ? 200 : 0
        setTimeout(() => {
          res.writeHead(200, {
            'content-type': 'application/json',
            connection: 'keep-alive',
            'keep-alive': 'timeout=5',
            'x-target': 'yes',
          })
          res.end(JSON.stringify(record))
        }, delay)
      })
    })
    port = await freePort()
    log = join(dir, 'access.log')
    const file = join(dir, 'portcullis.yaml')
    await writeFile(
      file,
      `LoadBalancer:
  Name: h2
Listeners:
  - Port: ${port}
    Protocol: HTTPS
    Certificates: [{ CertificateFile: "${leaf.certPath}", PrivateKeyFile: "${leaf.keyPath}" }]
    Portcullis: { Address: 127.0.0.1 }
    DefaultActions: [{ Type: forward, TargetGroupArn: app }]
    Rules:
      - Priority: 10
        Conditions: [{ Field: host-header, Values: ["other.test"] }]
        Actions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: "201", ContentType: text/plain, MessageBody: other-host } }]
      - Priority: 20
        Conditions: [{ Field: http-header, HttpHeaderConfig: { HttpHeaderName: cookie, Values: ["a=1; b=2"] } }]
        Actions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: "202", ContentType: text/plain, MessageBody: crumbs } }]
      - Priority: 30
        Conditions: [{ Field: path-pattern, Values: ["/old"] }]
        Actions: [{ Type: redirect, RedirectConfig: { Path: "/new", StatusCode: HTTP_301 } }]
TargetGroups:
  - { TargetGroupName: app, Protocol: HTTP, HealthCheckEnabled: false, Targets: [{ Id: 127.0.0.1, Port: ${upstream.port} }] }
Portcullis:
  StateDirectory: ./state
  Admin: false
  AccessLog: { Format: json, Path: "${log}" }
`,
    )
    gateway = await startGatewayCli(file, dir)
  })

  after(async () => {
    if (gateway?.child.exitCode === null) {
      gateway.child.kill('SIGTERM')
      await once(gateway.child, 'exit')
    }
    await upstream?.close()
    await rm(dir, { recursive: true, force: true })
  })

  test('curl --http2: the client gets HTTP/2, the target HTTP/1.1 with Host from :authority and no hop-by-hop header', async () => {
    const id = newId()
    const { stdout } = await run('curl', [
      '--http2',
      '-sS',
      '--cacert',
      ca.caCertPath,
      '-D',
      '-',
      `${origin()}/echo?id=${id}`,
    ])
    assert.match(stdout, /^HTTP\/2 200 \r\n/)
    assert.match(stdout, /\r\nx-target: yes\r\n/)
    assert.doesNotMatch(stdout, /\r\n(connection|keep-alive):/i)
    const target = seen.get(id)!
    assert.equal(target.httpVersion, '1.1')
    const names = target.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase())
    assert.ok(!names.some((n) => n.startsWith(':')), `pseudo-headers reached the target: ${names.join(', ')}`)
    assert.equal(
      target.rawHeaders[target.rawHeaders.findIndex((n) => n.toLowerCase() === 'host') + 1],
      `localhost:${port}`,
    )
    const [line] = await logged(id)
    assert.equal(line!.type, 'h2')
    assert.equal(line!.request, `GET https://localhost:${port}/echo?id=${id} HTTP/2.0`)
    assert.equal(line!.ssl_protocol, 'TLSv1.3')
  })

  test('node:http2: a POST body without content-length reaches the target whole, and each stream logs its own bytes', async () => {
    const session = await connect()
    try {
      const id = newId()
      const body = 'x'.repeat(100_000)
      const reply = await h2request(session, { ':method': 'POST', ':path': `/echo?id=${id}` }, body)
      assert.equal(reply.status, 200)
      assert.equal(seen.get(id)!.body.length, body.length)
      const small = newId()
      await h2request(session, { ':method': 'GET', ':path': `/echo?id=${small}` })
      const [big] = await logged(id)
      const [little] = await logged(small)
      assert.ok((big!.received_bytes as number) > body.length, `received_bytes ${big!.received_bytes}`)
      assert.ok((little!.received_bytes as number) < 1000, `received_bytes ${little!.received_bytes}`)
      assert.ok((little!.sent_bytes as number) > 0)
      // One connection: both streams carry the same client port.
      assert.equal(big!.client_port, little!.client_port)
    } finally {
      session.close()
    }
  })

  test('rules see the host from :authority and the cookie crumbs joined; the target gets one Cookie header', async () => {
    const session = await connect()
    try {
      const other = await h2request(session, { ':path': '/x', ':authority': 'other.test' })
      assert.deepEqual([other.status, other.body], [201, 'other-host'])
      const crumbs = await h2request(session, { ':path': '/x', cookie: ['a=1', 'b=2'] })
      assert.deepEqual([crumbs.status, crumbs.body], [202, 'crumbs'])
      const id = newId()
      await h2request(session, { ':path': `/echo?id=${id}`, cookie: ['a=1', 'c=3'] })
      const raw = seen.get(id)!.rawHeaders
      const cookies = raw.filter((_, i) => i % 2 === 1 && raw[i - 1]!.toLowerCase() === 'cookie')
      assert.deepEqual(cookies, ['a=1; c=3'])
      const redirect = await h2request(session, { ':path': '/old' })
      assert.equal(redirect.status, 301)
      assert.equal(redirect.headers.location, `https://localhost:${port}/new`)
    } finally {
      session.close()
    }
  })

  test('a Host header that names another authority than :authority is a 400 (RFC 9113 §8.3.1)', async () => {
    const session = await connect()
    try {
      const reply = await h2request(session, { ':path': '/echo', ':authority': `localhost:${port}`, host: 'evil.test' })
      assert.equal(reply.status, 400)
      assert.equal(reply.headers.connection, undefined)
    } finally {
      session.close()
    }
  })

  test('streams are multiplexed: 20 requests to a slow target at once on one session', async () => {
    const session = await connect()
    try {
      assert.equal(session.remoteSettings.maxConcurrentStreams, 128)
      const started = performance.now()
      const replies = await Promise.all(
        Array.from({ length: 20 }, () => h2request(session, { ':path': `/slow?id=${newId()}` })),
      )
      assert.ok(replies.every((r) => r.status === 200))
      // Serialised, 20 × 200 ms would take 4 s.
      assert.ok(performance.now() - started < 2000, `took ${Math.round(performance.now() - started)} ms`)
    } finally {
      session.close()
    }
  })

  test('HTTP/1.1 and a WebSocket upgrade still work on the same listener', async () => {
    const id = newId()
    const { stdout } = await run('curl', [
      '--http1.1',
      '-sS',
      '--cacert',
      ca.caCertPath,
      '-D',
      '-',
      `${origin()}/echo?id=${id}`,
    ])
    assert.match(stdout, /^HTTP\/1\.1 200 /)
    const [line] = await logged(id)
    assert.equal(line!.type, 'https')
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      ca: ca.caCertPem,
      servername: 'localhost',
      ALPNProtocols: ['http/1.1'],
    })
    await once(socket, 'secureConnect')
    socket.write(
      'GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    )
    const [chunk] = (await once(socket, 'data')) as [Buffer]
    socket.destroy()
    // The target is plain HTTP and answers the upgrade with 200: what matters is that it went through HTTP/1.1.
    assert.match(chunk.toString(), /^HTTP\/1\.1 \d{3} /)
  })

  test('rapid reset (CVE-2023-44487): a session that cancels streams past its budget gets GOAWAY; the process serves on', async () => {
    const session = await connect()
    const goaway = new Promise<number>((resolve) => session.once('goaway', (code: number) => resolve(code)))
    // Rounds of 100 (Node's client sends no more than the concurrency limit of streams it cancels at once),
    // each HEADERS followed at once by RST_STREAM CANCEL, as the attack does.
    for (let round = 0; round < 5 && !session.destroyed && !session.closed; round++) {
      for (let i = 0; i < 100; i++) {
        const stream = session.request({ ':path': `/slow?reset=${round}-${i}` })
        stream.on('error', () => {})
        stream.close(http2.constants.NGHTTP2_CANCEL)
      }
      await new Promise<void>((resolve) => {
        session.once('close', resolve)
        if (!session.ping(() => resolve())) resolve()
      })
    }
    assert.equal(await goaway, http2.constants.NGHTTP2_ENHANCE_YOUR_CALM)
    session.destroy()
    await waitFor(() => gateway.output().includes('too many streams reset'), 'the offender logged', 5000)
    // Each cancelled stream that was forwarded has its request to the target aborted, not left to run
    // (the target answers after 200 ms: a forward left running ends answered, never aborted).
    await waitFor(
      () => cancelled.aborted === cancelled.reached,
      `forwards of cancelled streams aborted (${cancelled.aborted} of ${cancelled.reached})`,
      5000,
    )
    assert.equal(gateway.output().split('too many streams reset').length - 1, 1, 'the offender is logged once')
    const canary = await connect()
    try {
      const reply = await h2request(canary, { ':path': `/echo?id=${newId()}` })
      assert.equal(reply.status, 200)
    } finally {
      canary.close()
    }
    assert.equal(gateway.child.exitCode, null)
  })
})
