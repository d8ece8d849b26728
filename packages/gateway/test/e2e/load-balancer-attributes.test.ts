/**
 * Every load-balancer attribute Portcullis acts on, changed and observed
 * through the real `portcullis start` process (access log and metrics on),
 * with the traffic a client sends: raw HTTP/1.1 over HTTP and HTTPS
 * listeners, a WebSocket upgrade, a rule behind `authenticate-oidc`.
 *
 * The last test holds the line of issue 24: an attribute in
 * `ACTED_LOAD_BALANCER_ATTRIBUTES` with no test here fails the suite, so an
 * attribute can no longer be "acted on" by being parsed.
 *
 * Time: the gateways run under libfaketime with a clock file this test owns
 * (`FAKETIME_TIMESTAMP_FILE`, re-read on every call), so "61 seconds later"
 * is a line written to a file, not a wait. libfaketime moves the monotonic
 * clock too, which is what Node's timers and the keep-alive age use.
 */
import assert from 'node:assert/strict'
import type { ChildProcessWithoutNullStreams } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { Agent, createServer, type IncomingMessage, request, type Server } from 'node:http'
import net, { type AddressInfo, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import tls from 'node:tls'
import { ACTED_LOAD_BALANCER_ATTRIBUTES } from '../../src/config/normalise/load-balancer.js'
import { ensureLeafCertificate, ensureLocalCa, type LeafCertificate, type LocalCa } from '../../src/tls/local-ca.js'
import { Browser } from '../auth/fixtures/browser.js'
import { authenticateOidcYaml, startTestProvider, type TestProvider } from '../auth/fixtures/provider.js'
import { freePort, listen } from '../fixtures/ports.js'
import { startGatewayCli, waitFor } from '../fixtures/process.js'
import { attributeCoverage, testClock } from './attributes.js'

type Attribute = (typeof ACTED_LOAD_BALANCER_ATTRIBUTES)[number]

const { behaviour, assertCovered } = attributeCoverage(ACTED_LOAD_BALANCER_ATTRIBUTES, 'ACTED_LOAD_BALANCER_ATTRIBUTES')

/** What the target saw of one request, by the id in its query. */
const seen = new Map<string, IncomingMessage['rawHeaders']>()

function idOf(url: string | undefined): string {
  return new URL(url ?? '/', 'http://x').searchParams.get('id') ?? ''
}

/** Header names (lower-case) the target received for request `id`. */
function namesSeen(id: string): string[] {
  const raw = seen.get(id)
  assert.ok(raw !== undefined, `the target never saw request ${id}`)
  return raw.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase())
}

/** A header's value as the target received it for request `id`. */
function valueSeen(id: string, name: string): string | undefined {
  const raw = seen.get(id) ?? []
  const i = raw.findIndex((n, j) => j % 2 === 0 && n.toLowerCase() === name)
  return i === -1 ? undefined : raw[i + 1]
}

let nextId = 0
const newId = () => `r${++nextId}`

/** The request: two header names ALB calls invalid, one valid. */
const INVALID_NAMES_HEAD = 'x_under: 1\r\nx.dot: 2\r\nX-Good: 3\r\n'

/** Sends `head` (request line and headers, without the blank line) on a new connection; the status line's code. */
async function rawExchange(socket: Socket, head: string, until: RegExp = /\r\n\r\n/): Promise<string> {
  let reply = ''
  socket.setEncoding('latin1')
  const done = new Promise<string>((resolve, reject) => {
    socket.on('data', (chunk: string) => {
      reply += chunk
      if (until.test(reply)) resolve(reply)
    })
    socket.on('error', reject)
    socket.on('close', () => resolve(reply))
  })
  socket.write(`${head}\r\n`)
  const text = await done
  socket.destroy()
  return text
}

interface Gateway {
  readonly http: number
  readonly https: number
  readonly admin: number
  readonly clock: Awaited<ReturnType<typeof testClock>>
  readonly log: string
  readonly child: ChildProcessWithoutNullStreams
  output(): string
}

describe("the load balancer's attributes, through portcullis start", { timeout: 120_000 }, () => {
  let dir: string
  let ca: LocalCa
  let leaf: LeafCertificate
  let idp: TestProvider
  let target: Server
  const gateways = new Map<string, Gateway>()
  /** Planned ports per gateway, registered at the IdP before anything starts. */
  const plans = new Map<string, { http: number; https: number; admin: number }>()
  const attributeSets: Record<string, Partial<Record<Attribute, string>>> = {
    // ALB's defaults, except an idle timeout no test trips by accident.
    defaults: { 'idle_timeout.timeout_seconds': '4000' },
    changed: {
      'routing.http.drop_invalid_header_fields.enabled': 'true',
      'client_keep_alive.seconds': '60',
      // Above the keep-alive test's 61 s, so that only client_keep_alive can close its connection.
      'idle_timeout.timeout_seconds': '4000',
      'routing.http.xff_client_port.enabled': 'true',
      'routing.http.preserve_host_header.enabled': 'true',
      'routing.http.x_amzn_tls_version_and_cipher_suite.enabled': 'true',
      'routing.http2.enabled': 'false',
    },
    'xff-preserve': { 'routing.http.xff_header_processing.mode': 'preserve', 'idle_timeout.timeout_seconds': '30' },
    'xff-remove': { 'routing.http.xff_header_processing.mode': 'remove' },
  }

  function yaml(name: string, ports: { http: number; https: number; admin: number }, log: string): string {
    const attributes = Object.entries(attributeSets[name]!)
      .map(([Key, Value]) => `\n    - { Key: ${Key}, Value: "${Value}" }`)
      .join('')
    const port = (target.address() as AddressInfo).port
    return `LoadBalancer:
  Name: attrs-${name}
  Attributes:${attributes}
Listeners:
  - Port: ${ports.http}
    Protocol: HTTP
    Portcullis: { Address: 127.0.0.1 }
    DefaultActions: [{ Type: forward, TargetGroupArn: app }]
    Rules:
      - Priority: 10
        Conditions: [{ Field: path-pattern, Values: ["/auth/*"] }]
        Actions:
${authenticateOidcYaml(idp, 10)}
          - { Type: forward, Order: 2, TargetGroupArn: app }
      - Priority: 20
        Conditions: [{ Field: http-header, HttpHeaderConfig: { HttpHeaderName: x_good, Values: ["rule"] } }]
        Actions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: "299" } }]
  - Port: ${ports.https}
    Protocol: HTTPS
    Certificates: [{ CertificateFile: "${leaf.certPath}", PrivateKeyFile: "${leaf.keyPath}" }]
    Portcullis: { Address: 127.0.0.1 }
    DefaultActions: [{ Type: forward, TargetGroupArn: app }]
TargetGroups:
  - { TargetGroupName: app, Protocol: HTTP, HealthCheckEnabled: false, Targets: [{ Id: 127.0.0.1, Port: ${port} }] }
Portcullis:
  StateDirectory: ./state-${name}
  AllowInsecureHttpAuthentication: true
  Admin: { Address: 127.0.0.1, Port: ${ports.admin} }
  AccessLog: { Format: json, Path: "${log}" }
`
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-attributes-'))
    ca = await ensureLocalCa(join(dir, 'state'))
    leaf = await ensureLeafCertificate(join(dir, 'state'))
    target = createServer((req, res) => {
      seen.set(idOf(req.url), req.rawHeaders)
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' })
      res.end('ok')
    })
    target.on('upgrade', (req: IncomingMessage, socket: Socket) => {
      seen.set(idOf(req.url), req.rawHeaders)
      socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n')
    })
    await listen(target)
    for (const name of Object.keys(attributeSets)) {
      plans.set(name, { http: await freePort(), https: await freePort(), admin: await freePort() })
    }
    idp = await startTestProvider({
      redirectUris: [...plans.values()].map((p) => `http://127.0.0.1:${p.http}/oauth2/idpresponse`),
    })
    for (const [name, ports] of plans) {
      const clock = await testClock(join(dir, `clock-${name}`))
      const log = join(dir, `access-${name}.log`)
      const file = join(dir, `${name}.yaml`)
      await writeFile(file, yaml(name, ports, log))
      const { child, output } = await startGatewayCli(file, dir, { env: clock.env })
      gateways.set(name, { ...ports, clock, log, child, output })
    }
  })

  after(async () => {
    for (const g of gateways.values()) {
      if (g.child.exitCode === null) {
        g.child.kill('SIGTERM')
        await once(g.child, 'exit')
      }
    }
    target?.closeAllConnections()
    target?.close()
    await idp?.close()
    await rm(dir, { recursive: true, force: true })
  })

  const gateway = (name: string) => gateways.get(name)!
  const advance = (name: string, seconds: number) => gateway(name).clock.advance(seconds)

  /** Sends the request to `path` on the HTTP or HTTPS listener; the target's view of it. */
  async function sendInvalidNames(
    name: string,
    listener: 'http' | 'https',
    path: string,
    extra = '',
  ): Promise<{ id: string; status: string }> {
    const g = gateway(name)
    const id = newId()
    const socket =
      listener === 'http'
        ? net.connect(g.http, '127.0.0.1')
        : tls.connect({ port: g.https, host: '127.0.0.1', ca: ca.caCertPem, servername: 'localhost' })
    await once(socket, listener === 'http' ? 'connect' : 'secureConnect')
    const head = `GET ${path}?id=${id} HTTP/1.1\r\nHost: a\r\n${INVALID_NAMES_HEAD}${extra}Connection: close\r\n`
    const reply = await rawExchange(socket, head, /\r\n\r\nok$/)
    return { id, status: reply.slice(9, 12) }
  }

  for (const listener of ['http', 'https'] as const) {
    behaviour(
      ['routing.http.drop_invalid_header_fields.enabled'],
      `drop_invalid_header_fields: names outside [-A-Za-z0-9] reach the target only when off (${listener.toUpperCase()} listener)`,
      async () => {
        const on = await sendInvalidNames('changed', listener, '/x')
        assert.equal(on.status, '200')
        const kept = namesSeen(on.id)
        assert.ok(!kept.includes('x_under') && !kept.includes('x.dot'), `dropped when on: ${kept}`)
        assert.ok(kept.includes('x-good'))

        const off = await sendInvalidNames('defaults', listener, '/x')
        assert.equal(off.status, '200')
        const passed = namesSeen(off.id)
        assert.ok(passed.includes('x_under') && passed.includes('x.dot'), `routed when off: ${passed}`)
        assert.ok(passed.includes('x-good'))
      },
    )
  }

  behaviour(
    ['routing.http.drop_invalid_header_fields.enabled'],
    'drop_invalid_header_fields: a WebSocket upgrade loses the invalid names too, only when on',
    async () => {
      for (const [name, dropped] of [
        ['changed', true],
        ['defaults', false],
      ] as const) {
        const id = newId()
        const socket = net.connect(gateway(name).http, '127.0.0.1')
        await once(socket, 'connect')
        const head =
          `GET /ws?id=${id} HTTP/1.1\r\nHost: a\r\n${INVALID_NAMES_HEAD}` +
          'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n'
        const reply = await rawExchange(socket, head)
        assert.match(reply, /^HTTP\/1\.1 101 /)
        const names = namesSeen(id)
        assert.equal(names.includes('x_under'), !dropped, `${name}: ${names}`)
        assert.equal(names.includes('x.dot'), !dropped, `${name}: ${names}`)
        assert.ok(names.includes('x-good'))
      }
    },
  )

  behaviour(
    ['routing.http.drop_invalid_header_fields.enabled'],
    'drop_invalid_header_fields: behind authenticate-oidc the target gets the identity headers and, only when off, the invalid names',
    async () => {
      for (const [name, dropped] of [
        ['changed', true],
        ['defaults', false],
      ] as const) {
        const base = `http://127.0.0.1:${gateway(name).http}`
        const browser = new Browser()
        assert.equal((await browser.login(`${base}/auth/start`)).status, 302)
        const cookie = [...browser.cookies(base)].map(([k, v]) => `${k}=${v}`).join('; ')
        // An underscore look-alike of the identity header rides along: it never reaches the target.
        const { id, status } = await sendInvalidNames(
          name,
          'http',
          '/auth/page',
          `Cookie: ${cookie}\r\nx_amzn_oidc_data: forged\r\n`,
        )
        assert.equal(status, '200')
        const names = namesSeen(id)
        assert.ok(names.includes('x-amzn-oidc-data'), 'the gateway added the identity token')
        assert.notEqual(valueSeen(id, 'x-amzn-oidc-data'), 'forged')
        assert.ok(!names.includes('x_amzn_oidc_data'), 'a look-alike identity header is dropped either way')
        assert.equal(names.includes('x_under'), !dropped, `${name}: ${names}`)
        assert.equal(names.includes('x.dot'), !dropped, `${name}: ${names}`)
      }
    },
  )

  behaviour(
    ['routing.http.drop_invalid_header_fields.enabled'],
    'drop_invalid_header_fields: when on, rules do not match on a header the target will not get',
    async () => {
      // The rule at priority 20 matches `x_good: rule` (an HTTP token, so a legal condition).
      for (const [name, status] of [
        ['changed', '200'],
        ['defaults', '299'],
      ] as const) {
        const socket = net.connect(gateway(name).http, '127.0.0.1')
        await once(socket, 'connect')
        const reply = await rawExchange(
          socket,
          `GET /r?id=${newId()} HTTP/1.1\r\nHost: a\r\nx_good: rule\r\nConnection: close\r\n`,
        )
        assert.equal(reply.slice(9, 12), status, `${name}: ${reply.slice(0, 40)}`)
      }
    },
  )

  /** The protocol an HTTPS listener settles on by ALPN with a client offering h2 and http/1.1. */
  async function alpn(port: number): Promise<string | false | null> {
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      ca: ca.caCertPem,
      servername: 'localhost',
      ALPNProtocols: ['h2', 'http/1.1'],
    })
    await once(socket, 'secureConnect')
    const chosen = socket.alpnProtocol
    socket.destroy()
    return chosen
  }

  behaviour(
    ['routing.http2.enabled'],
    'routing.http2.enabled: on (the default) an HTTPS listener settles on h2 by ALPN, off on http/1.1; HTTP stays HTTP/1.1',
    async () => {
      assert.equal(await alpn(gateway('defaults').https), 'h2')
      assert.equal(await alpn(gateway('changed').https), 'http/1.1')
      // HTTP/2 without TLS (prior knowledge) is no request on an HTTP listener, as on ALB: a 400, no session.
      const socket = net.connect(gateway('defaults').http, '127.0.0.1')
      await once(socket, 'connect')
      const reply = await rawExchange(socket, 'PRI * HTTP/2.0\r\n\r\nSM\r\n')
      assert.match(reply, /^HTTP\/1\.1 400 /)
    },
  )

  /** Keep-alive requests on one connection of `agent`; whether the connection was reused and what it answered. */
  function get(
    port: number,
    agent: Agent,
  ): Promise<{ reused: boolean; connection: string | undefined; socket: Socket; status: number }> {
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: `/k?id=${newId()}`, agent }, (res) => {
        res.resume()
        res.on('end', () =>
          resolve({
            reused: req.reusedSocket,
            connection: res.headers.connection,
            socket: req.socket as Socket,
            status: res.statusCode ?? 0,
          }),
        )
      })
      req.on('error', reject)
      req.end()
    })
  }

  behaviour(
    ['client_keep_alive.seconds'],
    'client_keep_alive.seconds: past it a busy keep-alive connection gets one more response, with Connection: close, and is closed',
    async () => {
      const changed = gateway('changed')
      const defaults = gateway('defaults')
      const agents = [new Agent({ keepAlive: true, maxSockets: 1 }), new Agent({ keepAlive: true, maxSockets: 1 })]
      try {
        const first = await Promise.all([get(changed.http, agents[0]!), get(defaults.http, agents[1]!)])
        for (const r of first) assert.equal(r.connection, 'keep-alive')
        const again = await get(changed.http, agents[0]!)
        assert.ok(again.reused, 'the connection is kept while younger than 60 s')
        assert.equal(again.connection, 'keep-alive')
        // 61 s on both gateways' clocks (both idle timeouts are 4000 s).
        await advance('changed', 61)
        await advance('defaults', 61)
        const late = await get(changed.http, agents[0]!)
        assert.ok(late.reused, 'one more request is accepted on the old connection')
        assert.equal(late.status, 200)
        assert.equal(late.connection, 'close')
        if (!late.socket.destroyed) await once(late.socket, 'close')
        const fresh = await get(changed.http, agents[0]!)
        assert.ok(!fresh.reused)
        assert.equal(fresh.connection, 'keep-alive', 'a new connection starts its own count')
        const control = await get(defaults.http, agents[1]!)
        assert.ok(control.reused, 'at the default (3600 s) the connection stays')
        assert.equal(control.connection, 'keep-alive')
      } finally {
        for (const a of agents) a.destroy()
      }
    },
  )

  behaviour(
    ['idle_timeout.timeout_seconds'],
    'idle_timeout.timeout_seconds: an idle client connection is closed past it, and kept below it',
    async () => {
      const short = gateway('xff-preserve')
      const defaults = gateway('defaults')
      const idle = [net.connect(short.http, '127.0.0.1'), net.connect(defaults.http, '127.0.0.1')] as const
      try {
        await Promise.all(idle.map((s) => once(s, 'connect')))
        for (const s of idle) {
          s.write(`GET /i?id=${newId()} HTTP/1.1\r\nHost: a\r\n\r\n`)
          await once(s, 'data')
        }
        const closed = once(idle[0], 'close')
        await advance('xff-preserve', 31)
        await advance('defaults', 31)
        // Node checks its timers when its event loop wakes: any request does that.
        const agent = new Agent({ keepAlive: false })
        await get(short.http, agent)
        await get(defaults.http, agent)
        await closed
        assert.ok(!idle[1].destroyed && idle[1].readyState === 'open', 'kept at 4000 s')
        idle[1].write(`GET /i?id=${newId()} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`)
        const [chunk] = await once(idle[1], 'data')
        assert.match(String(chunk), /^HTTP\/1\.1 200 /)
      } finally {
        for (const s of idle) s.destroy()
      }
    },
  )

  /** A plain request through `name`'s HTTP listener with `headers`; the target's view of it. */
  async function plain(name: string, headers: string): Promise<string> {
    const id = newId()
    const socket = net.connect(gateway(name).http, '127.0.0.1')
    await once(socket, 'connect')
    await rawExchange(socket, `GET /p?id=${id} HTTP/1.1\r\n${headers}Connection: close\r\n`, /\r\n\r\nok$/)
    return id
  }

  behaviour(
    ['routing.http.xff_header_processing.mode', 'routing.http.xff_client_port.enabled'],
    'xff_header_processing.mode and xff_client_port: append (with and without the port), preserve, remove',
    async () => {
      const head = 'Host: a\r\nX-Forwarded-For: 203.0.113.9\r\n'
      assert.equal(valueSeen(await plain('defaults', head), 'x-forwarded-for'), '203.0.113.9, 127.0.0.1')
      assert.match(valueSeen(await plain('changed', head), 'x-forwarded-for')!, /^203\.0\.113\.9, 127\.0\.0\.1:\d+$/)
      assert.equal(valueSeen(await plain('xff-preserve', head), 'x-forwarded-for'), '203.0.113.9')
      assert.equal(valueSeen(await plain('xff-remove', head), 'x-forwarded-for'), undefined)
    },
  )

  behaviour(
    ['routing.http.preserve_host_header.enabled'],
    "preserve_host_header: off, the listener's port is appended to Host; on, Host is the client's",
    async () => {
      const port = gateway('defaults').http
      assert.equal(valueSeen(await plain('defaults', 'Host: app.example\r\n'), 'host'), `app.example:${port}`)
      assert.equal(valueSeen(await plain('changed', 'Host: app.example\r\n'), 'host'), 'app.example')
    },
  )

  behaviour(
    ['routing.http.x_amzn_tls_version_and_cipher_suite.enabled'],
    "x_amzn_tls_version_and_cipher_suite: on, HTTPS requests carry the client's TLS version and OpenSSL cipher name; off or over HTTP, none, and a client's copy never passes",
    async () => {
      const forged = 'X-Amzn-Tls-Version: SSLv3\r\nx_amzn_tls_cipher_suite: NULL-MD5\r\n'
      for (const [name, on] of [
        ['changed', true],
        ['defaults', false],
      ] as const) {
        for (const [version, cipher] of [
          ['TLSv1.3', undefined],
          ['TLSv1.2', 'ECDHE-ECDSA-AES128-GCM-SHA256'],
        ] as const) {
          const id = newId()
          const socket = tls.connect({
            port: gateway(name).https,
            host: '127.0.0.1',
            ca: ca.caCertPem,
            servername: 'localhost',
            minVersion: version,
            maxVersion: version,
            ...(cipher === undefined ? {} : { ciphers: cipher }),
          })
          await once(socket, 'secureConnect')
          // What the client negotiated, from its own side of the handshake.
          const negotiated = { version: socket.getProtocol(), cipher: socket.getCipher().name }
          await rawExchange(
            socket,
            `GET /t?id=${id} HTTP/1.1\r\nHost: a\r\n${forged}Connection: close\r\n`,
            /\r\n\r\nok$/,
          )
          assert.equal(valueSeen(id, 'x-amzn-tls-version'), on ? negotiated.version : undefined, `${name} ${version}`)
          assert.equal(
            valueSeen(id, 'x-amzn-tls-cipher-suite'),
            on ? negotiated.cipher : undefined,
            `${name} ${version}`,
          )
          assert.equal(negotiated.version, version)
          if (cipher !== undefined) assert.equal(negotiated.cipher, cipher)
          assert.ok(!namesSeen(id).includes('x_amzn_tls_cipher_suite'))
        }
      }
      const overHttp = await plain('changed', `Host: a\r\n${forged}`)
      assert.equal(valueSeen(overHttp, 'x-amzn-tls-version'), undefined)
      assert.equal(valueSeen(overHttp, 'x-amzn-tls-cipher-suite'), undefined)
    },
  )

  test('every request above is in the access log and the metrics of its gateway', async () => {
    for (const [name, g] of gateways) {
      const read = async () => (await readFile(g.log, 'utf8').catch(() => '')).trim().split('\n').filter(Boolean)
      // The log is written in batches: wait for the lines to arrive.
      await waitFor(async () => (await read()).length > 0, `${name}'s access log`, 10_000)
      const lines = await read()
      for (const line of lines) JSON.parse(line)
      const metrics = await (await fetch(`http://127.0.0.1:${g.admin}/metrics`)).text()
      assert.match(metrics, /RequestCount\{[^}]*\} [1-9]/, `${name}: ${metrics.slice(0, 500)}`)
    }
  })

  assertCovered()
})
