/**
 * The whole `portcullis start` process under a bounded, seeded mix of
 * ordinary and hostile traffic: HTTP and HTTPS listeners, HTTP/1.1 and (on
 * the HTTPS listener, by ALPN) HTTP/2 clients and gRPC calls (grpc-js, to a
 * `ProtocolVersion: GRPC` target group); forward, redirect,
 * fixed-response, authenticate-oidc (with a real session from the
 * development IdP) and jwt-validation rules; access log and metrics on; one
 * and two workers.
 *
 * The mix is the CASES table: a new crash class becomes one more line there.
 * PORTCULLIS_TRAFFIC_SEED replays another mix, PORTCULLIS_TRAFFIC_REQUESTS
 * changes its length; the seed is printed on every run.
 *
 * Access-log decision (asserted below): exactly one line per request whose
 * head reached the gateway, as ALB logs every request it received. A client
 * that leaves before any response is logged with ALB's 460; one that leaves
 * mid-response, with the status already sent. Bytes that never form a
 * request head (a connection dropped mid-headers, an abandoned TLS
 * handshake) are no request and leave no line.
 */
import assert from 'node:assert/strict'
import type { ChildProcessWithoutNullStreams } from 'node:child_process'
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import http, { type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http'
import http2, { type ClientHttp2Session } from 'node:http2'
import https from 'node:https'
import net, { type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import tls from 'node:tls'
import * as grpc from '@grpc/grpc-js'
import { type CryptoKey, exportJWK, generateKeyPair, SignJWT } from 'jose'
import { Agent as UndiciAgent } from 'undici'
import WebSocket, { WebSocketServer } from 'ws'
import { createDevIdentityProvider, type DevIdentityProvider } from '../../src/idp/provider.js'
import { ensureLeafCertificate, ensureLocalCa, type LeafCertificate, type LocalCa } from '../../src/tls/local-ca.js'
import { logInAtDevIdp } from '../fixtures/login.js'
import { freePort, listen } from '../fixtures/ports.js'
import { portcullis, waitFor } from '../fixtures/process.js'
import { SeededRandom, seedFromEnv } from '../fixtures/seeded-random.js'
import { startUpstream } from '../fixtures/servers.js'

const SEED = seedFromEnv('PORTCULLIS_TRAFFIC_SEED', 7_2026)
const REQUESTS = seedFromEnv('PORTCULLIS_TRAFFIC_REQUESTS', 160)
/** Requests in flight at once. */
const CONCURRENCY = 6
/** A request with no outcome by then is reported, not waited for. */
const REQUEST_DEADLINE_MS = 20_000
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const
const CLIENT_ID = 'traffic'
const CLIENT_SECRET = 'traffic-secret'
const JWT_ISSUER = 'https://issuer.traffic.test'

// ---------------------------------------------------------------- the mix

/** `h2` is the HTTPS listener reached by an HTTP/2 client (ALPN h2); `grpc`, by a grpc-js client. */
type ListenerName = 'http' | 'https' | 'h2' | 'grpc'

/** One planned request: the seeded choices a case may use or override. */
interface Planned {
  readonly listener: ListenerName
  readonly method: string
  readonly bodyBytes: number
  readonly chunked: boolean
  /** A new connection instead of the keep-alive pool. */
  readonly fresh: boolean
  /** A fresh request id (tagged into the URL's query, so the access-log line can be found). */
  id(): string
}

/** What the client saw of one request. */
interface Seen {
  readonly id: string
  /** The final status, or null when no response head arrived. */
  readonly status: number | null
  /** The response arrived whole (and, for an upgrade, the tunnel echoed). */
  readonly complete: boolean
  /** What else was wrong with it (the target got another body, an identity header leaked…). */
  readonly problem?: string
}

interface Case {
  readonly name: string
  /** The status ALB gives; null when the client leaves before one exists. */
  readonly status: number | null
  /** The access log's `elb_status_code` (default: `status`). */
  readonly logged?: number
  /** The response is cut short (by the client or the target); default: it arrives whole. */
  readonly cut?: boolean
  /** Default both HTTP/1.1 ones (`http`, `https`). */
  readonly listeners?: readonly ListenerName[]
  /** Relative frequency in the mix (default 1). */
  readonly weight?: number
  readonly send: (p: Planned) => Promise<Seen[]>
}

const CASES: readonly Case[] = [
  { name: 'forward, any method, any body', status: 200, weight: 8, send: (p) => request(p, '/app/echo') },
  {
    name: 'forward, Expect: 100-continue',
    status: 200,
    send: (p) => request(p, '/app/echo', { expectContinue: true, bodyBytes: Math.max(1, p.bodyBytes) }),
  },
  { name: 'forward to a slow target', status: 200, send: (p) => request(p, '/app/slow') },
  {
    name: 'forward, client identity headers are never forwarded',
    status: 200,
    send: (p) => request(p, '/app/echo', { headers: SPOOFED, identity: false }),
  },
  { name: 'forward, the target resets before answering', status: 502, send: (p) => request(p, '/app/reset') },
  {
    name: 'forward, the target closes mid-response',
    status: 200,
    cut: true,
    send: (p) => request(p, '/app/close-mid', { method: 'GET', bodyBytes: 0 }),
  },
  { name: 'forward, the target does not answer in time', status: 504, weight: 0.3, send: (p) => request(p, '/hang/x') },
  { name: 'forward, the target refuses connections', status: 502, send: (p) => request(p, '/down/x') },
  { name: 'forward, no registered targets', status: 503, send: (p) => request(p, '/empty/x') },
  {
    name: 'client aborts mid-body',
    status: null,
    logged: 460,
    send: (p) => request(p, '/app/echo', { method: 'POST', bodyBytes: 256 * 1024, abort: 'body' }),
  },
  {
    name: 'client aborts mid-response',
    status: 200,
    cut: true,
    send: (p) => request(p, '/app/big', { method: 'GET', bodyBytes: 0, abort: 'response' }),
  },
  { name: 'redirect', status: 301, send: (p) => request(p, '/old/page') },
  { name: 'fixed-response', status: 200, send: (p) => request(p, '/fixed') },
  { name: 'default rule', status: 404, send: (p) => request(p, '/nowhere') },
  { name: 'pipelined requests on one connection', status: 200, send: (p) => pipelined(p) },
  {
    name: 'authenticate, no session: to the IdP',
    status: 302,
    listeners: ['https'],
    send: (p) => request(p, '/auth/echo'),
  },
  {
    name: 'authenticate, with a session',
    status: 200,
    listeners: ['https'],
    weight: 3,
    send: (p) => request(p, '/auth/echo', { headers: [...SPOOFED, 'Cookie', env.session], identity: true }),
  },
  { name: 'deny, no session', status: 401, listeners: ['https'], send: (p) => request(p, '/api/echo') },
  {
    name: 'deny, with a session',
    status: 200,
    listeners: ['https'],
    send: (p) => request(p, '/api/echo', { headers: ['Cookie', env.session], identity: true }),
  },
  { name: 'login callback without a code', status: 401, listeners: ['https'], send: (p) => request(p, CALLBACK) },
  {
    name: 'jwt-validation, valid token',
    status: 200,
    listeners: ['https'],
    send: (p) => request(p, '/jwt/echo', { headers: ['Authorization', `Bearer ${env.jwt.valid}`] }),
  },
  { name: 'jwt-validation, no token', status: 401, listeners: ['https'], send: (p) => request(p, '/jwt/echo') },
  {
    name: 'jwt-validation, forged token',
    status: 401,
    listeners: ['https'],
    send: (p) => request(p, '/jwt/echo', { headers: ['Authorization', `Bearer ${env.jwt.forged}`] }),
  },
  {
    name: 'jwt-validation, a second Authorization header',
    status: 401,
    listeners: ['https'],
    send: (p) =>
      request(p, '/jwt/echo', {
        headers: ['Authorization', `Bearer ${env.jwt.valid}`, 'Authorization', `Bearer ${env.jwt.forged}`],
      }),
  },
  { name: 'WebSocket', status: 101, send: (p) => websocket(p, '/app/ws', [], false) },
  { name: 'WebSocket with client identity headers', status: 101, send: (p) => websocket(p, '/app/ws', SPOOFED, false) },
  {
    name: 'WebSocket with a session',
    status: 101,
    listeners: ['https'],
    send: (p) => websocket(p, '/auth/ws', ['Cookie', env.session], true),
  },
  {
    name: 'WebSocket, no session on an authenticate rule',
    status: 302,
    listeners: ['https'],
    send: (p) => websocket(p, '/auth/ws', [], false),
  },
  { name: 'WebSocket on a fixed-response rule', status: 200, send: (p) => websocket(p, '/fixed', [], false) },
  {
    name: 'two Host headers',
    status: 400,
    send: (p) => raw(p, (id) => `GET /fixed?id=${id} HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n`),
  },
  {
    name: 'absolute-form request target',
    status: 400,
    send: (p) => raw(p, (id) => `GET http://a.test/fixed?id=${id} HTTP/1.1\r\nHost: a.test\r\n\r\n`),
  },
  {
    name: 'request line over 16 KB',
    status: 414,
    send: (p) => raw(p, (id) => `GET /fixed?id=${id}&pad=${'p'.repeat(17 * 1024)} HTTP/1.1\r\nHost: a.test\r\n\r\n`),
  },
  {
    name: 'one header over 16 KB',
    status: 431,
    send: (p) =>
      raw(p, (id) => `GET /fixed?id=${id} HTTP/1.1\r\nHost: a.test\r\nX-Big: ${'b'.repeat(17 * 1024)}\r\n\r\n`),
  },
  // HTTP/2 clients on the HTTPS listener, forwarding to the same HTTP1 target group (HTTP/1.1 upstream).
  {
    name: 'h2: forward, any method, any body',
    status: 200,
    listeners: ['h2'],
    weight: 6,
    send: (p) => h2(p, '/app/echo'),
  },
  { name: 'h2: forward to a slow target', status: 200, listeners: ['h2'], send: (p) => h2(p, '/app/slow') },
  {
    name: 'h2: client identity headers are never forwarded',
    status: 200,
    listeners: ['h2'],
    send: (p) => h2(p, '/app/echo', { headers: SPOOFED, identity: false }),
  },
  { name: 'h2: streams multiplexed on one connection', status: 200, listeners: ['h2'], send: (p) => h2Streams(p) },
  {
    name: 'h2: the target resets before answering',
    status: 502,
    listeners: ['h2'],
    send: (p) => h2(p, '/app/reset'),
  },
  {
    name: 'h2: the target closes mid-response',
    status: 200,
    cut: true,
    listeners: ['h2'],
    send: (p) => h2(p, '/app/close-mid', { method: 'GET', bodyBytes: 0 }),
  },
  {
    name: 'h2: the target does not answer in time',
    status: 504,
    listeners: ['h2'],
    weight: 0.3,
    send: (p) => h2(p, '/hang/x'),
  },
  { name: 'h2: the target refuses connections', status: 502, listeners: ['h2'], send: (p) => h2(p, '/down/x') },
  { name: 'h2: no registered targets', status: 503, listeners: ['h2'], send: (p) => h2(p, '/empty/x') },
  {
    name: 'h2: client resets the stream mid-body',
    status: null,
    logged: 460,
    listeners: ['h2'],
    send: (p) => h2(p, '/app/echo', { method: 'POST', bodyBytes: 256 * 1024, abort: 'body' }),
  },
  {
    name: 'h2: client resets the stream mid-response',
    status: 200,
    cut: true,
    listeners: ['h2'],
    send: (p) => h2(p, '/app/big', { method: 'GET', bodyBytes: 0, abort: 'response' }),
  },
  { name: 'h2: redirect', status: 301, listeners: ['h2'], send: (p) => h2(p, '/old/page') },
  { name: 'h2: fixed-response', status: 200, listeners: ['h2'], send: (p) => h2(p, '/fixed') },
  { name: 'h2: default rule', status: 404, listeners: ['h2'], send: (p) => h2(p, '/nowhere') },
  {
    name: 'h2: :authority differs from Host',
    status: 400,
    listeners: ['h2'],
    send: (p) => h2(p, '/fixed', { headers: ['Host', 'other.test'] }),
  },
  {
    name: 'h2: authenticate, no session: to the IdP',
    status: 302,
    listeners: ['h2'],
    send: (p) => h2(p, '/auth/echo'),
  },
  {
    name: 'h2: authenticate, with a session',
    status: 200,
    listeners: ['h2'],
    weight: 2,
    send: (p) => h2(p, '/auth/echo', { headers: [...SPOOFED, 'Cookie', env.session], identity: true }),
  },
  { name: 'h2: deny, no session', status: 401, listeners: ['h2'], send: (p) => h2(p, '/api/echo') },
  {
    name: 'h2: deny, with a session (cookie split into crumbs)',
    status: 200,
    listeners: ['h2'],
    send: (p) => h2(p, '/api/echo', { headers: crumbs(env.session), identity: true }),
  },
  { name: 'h2: login callback without a code', status: 401, listeners: ['h2'], send: (p) => h2(p, CALLBACK) },
  {
    name: 'h2: jwt-validation, valid token',
    status: 200,
    listeners: ['h2'],
    send: (p) => h2(p, '/jwt/echo', { headers: ['Authorization', `Bearer ${env.jwt.valid}`] }),
  },
  {
    // The forward waits on the token's verification (asynchronous) while the body arrives.
    name: 'h2: jwt-validation, valid token, a body of 300 KB',
    status: 200,
    listeners: ['h2'],
    send: (p) =>
      h2(p, '/jwt/echo', {
        method: 'POST',
        bodyBytes: 300 * 1024,
        headers: ['Authorization', `Bearer ${env.jwt.valid}`],
      }),
  },
  { name: 'h2: jwt-validation, no token', status: 401, listeners: ['h2'], send: (p) => h2(p, '/jwt/echo') },
  {
    // Answered without reading the body, which is larger than the stream's flow-control window.
    name: 'h2: deny, no session, a body of 300 KB nobody reads',
    status: 401,
    listeners: ['h2'],
    send: (p) => h2(p, '/api/echo', { method: 'PUT', bodyBytes: 300 * 1024 }),
  },
  {
    name: 'h2: jwt-validation, forged token',
    status: 401,
    listeners: ['h2'],
    send: (p) => h2(p, '/jwt/echo', { headers: ['Authorization', `Bearer ${env.jwt.forged}`] }),
  },
  // gRPC calls (grpc-js over TLS) on the HTTPS listener, to the GRPC target group; gRPC answers with HTTP 200.
  { name: 'gRPC: unary call', status: 200, listeners: ['grpc'], weight: 3, send: (p) => grpcCall(p, 'echo') },
  { name: 'gRPC: the target answers NOT_FOUND', status: 200, listeners: ['grpc'], send: (p) => grpcCall(p, 'missing') },
  { name: 'gRPC: server streaming', status: 200, listeners: ['grpc'], send: (p) => grpcCall(p, 'stream') },
  {
    name: 'gRPC: the client cancels before the answer',
    status: null,
    logged: 460,
    listeners: ['grpc'],
    send: (p) => grpcCall(p, 'hang'),
  },
]

/** Client-sent identity headers, several spellings: never forwarded, never matched on. */
const SPOOFED = ['X-Amzn-Oidc-Identity', 'admin', 'x_amzn_oidc_data', 'forged', 'X-AMZN-OIDC-ACCESSTOKEN', 'stolen']
const CALLBACK = '/oauth2/idpresponse'

/** Body sizes from empty to several MB, mostly small. */
function bodySize(random: SeededRandom): number {
  const x = random.next()
  if (x < 0.3) return 0
  if (x < 0.6) return random.int(1, 2048)
  if (x < 0.85) return random.int(16 * 1024, 256 * 1024)
  if (x < 0.95) return random.int(512 * 1024, 1024 * 1024)
  return random.int(2, 4) * 1024 * 1024
}

/** A planned request's choices, for a failure message. */
function choicesText(p: Omit<Planned, 'id'>): string {
  return `${p.listener}, ${p.method}, ${p.bodyBytes} bytes ${p.chunked ? 'chunked' : 'with Content-Length'}${p.fresh ? ', new connection' : ''}`
}

/** Every case once (in a seeded order), then seeded picks by weight, up to `count` requests. */
function plan(random: SeededRandom, count: number): { kase: Case; choices: Omit<Planned, 'id'> }[] {
  const cases = random.shuffle([...CASES])
  while (cases.length < count) cases.push(random.weighted(CASES, (c) => c.weight ?? 1))
  return cases.map((kase) => ({
    kase,
    choices: {
      listener: random.pick(kase.listeners ?? ['http', 'https']),
      method: random.pick(METHODS),
      bodyBytes: bodySize(random),
      chunked: random.next() < 0.4,
      fresh: random.next() < 0.2,
    },
  }))
}

// ------------------------------------------------------- the environment

interface Listener {
  readonly port: number
  readonly secure: boolean
  readonly agent: http.Agent
}

interface Env {
  ca: LocalCa
  leaf: LeafCertificate
  listeners: Record<ListenerName, Listener>
  /** The session cookie header from a real login. */
  session: string
  jwt: { valid: string; forged: string }
  upstream: Upstream
  grpcTarget: GrpcTarget
  /** The grpc-js client of the current run. */
  grpcClient: grpc.Client
}

let env: Env

interface Upstream {
  readonly port: number
  /** Resolves once the target (or the gRPC target, through `mark`) has received the head of request `id`. */
  seen(id: string): Promise<void>
  /** Records that a target received request `id`. */
  mark(id: string | undefined): void
  close(): Promise<void>
}

/** The request id in a URL: its `id` query parameter, or a gRPC method `Call_<run>_<n>`. */
function idOf(url: string | undefined): string | undefined {
  const grpcCall = /\/Call_(\d+)_(\d+)(?:$| )/.exec(url ?? '')
  return grpcCall === null ? /[?&]id=([\d.]+)/.exec(url ?? '')?.[1] : `${grpcCall[1]}.${grpcCall[2]}`
}

/**
 * The target: by the last path segment, `echo` (what it received, as JSON),
 * `slow` (the same, later), `reset` (drops the connection unanswered),
 * `close-mid` (drops it halfway through the body), `big` (2 MB, streamed),
 * `ws` (a WebSocket echo); anything under `/hang/` never answers.
 */
async function startTarget(): Promise<Upstream> {
  const seenIds = new Set<string>()
  const waiting = new Map<string, () => void>()
  const mark = (id: string | undefined): void => {
    if (id === undefined) return
    seenIds.add(id)
    waiting.get(id)?.()
  }
  const note = (url: string | undefined): void => mark(idOf(url))
  const upstream = await startUpstream((req: IncomingMessage, res: ServerResponse) => {
    note(req.url)
    const path = (req.url ?? '/').split('?', 1)[0]!
    const last = path.slice(path.lastIndexOf('/') + 1)
    if (path.startsWith('/hang/')) return
    if (last === 'reset') {
      req.socket.destroy()
      return
    }
    if (last === 'close-mid') {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 100_000 })
      res.write(Buffer.alloc(10_000, 'c'), () => req.socket.destroy())
      return
    }
    if (last === 'big') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': 2 * 1024 * 1024 })
      let left = 32
      const more = (): void => {
        while (left > 0 && !res.destroyed) {
          left--
          if (!res.write(Buffer.alloc(64 * 1024, 'b'))) return void res.once('drain', more)
        }
        res.end()
      }
      more()
      return
    }
    const hash = createHash('sha1')
    let bytes = 0
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length
      hash.update(chunk)
    })
    req.on('end', () => {
      const body = JSON.stringify({
        bytes,
        sha1: hash.digest('hex'),
        identity: identityHeaders(req.rawHeaders),
        authorization: req.headers.authorization ?? null,
      })
      const answer = (): void => {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(body)
      }
      if (last === 'slow') setTimeout(answer, 20 + (bytes % 150))
      else answer()
    })
  })
  const wss = new WebSocketServer({ noServer: true })
  upstream.server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    note(req.url)
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('message', (data) =>
        ws.send(JSON.stringify({ echo: String(data), identity: identityHeaders(req.rawHeaders) })),
      )
    })
  })
  return {
    port: upstream.port,
    mark,
    seen: (id) =>
      seenIds.has(id)
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            waiting.set(id, resolve)
          }),
    close: async () => {
      for (const client of wss.clients) client.terminate()
      wss.close()
      await upstream.close()
    },
  }
}

type GrpcKind = 'echo' | 'missing' | 'stream' | 'hang'

interface GrpcTarget {
  readonly port: number
  /** Serves `method` as `kind`: a method per call, so that its access-log line names the call. */
  register(method: string, kind: GrpcKind): void
  close(): void
}

/** Messages are raw bytes (no .proto): grpc-js frames them as any message. */
const rawBytes = (b: Buffer): Buffer => b

/**
 * The gRPC target (grpc-js, cleartext HTTP/2 as ALB speaks to an HTTP
 * target group): `echo` answers the size it received and the identity
 * metadata it saw, `missing` NOT_FOUND, `stream` five messages, `hang`
 * never answers.
 */
async function startGrpcTarget(seen: (id: string | undefined) => void): Promise<GrpcTarget> {
  const server = new grpc.Server()
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, p) =>
      error ? reject(error) : resolve(p),
    ),
  )
  const unary =
    (kind: GrpcKind, method: string) =>
    (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      seen(idOf(method))
      if (kind === 'hang') return
      if (kind === 'missing') return callback({ code: grpc.status.NOT_FOUND, details: 'no such thing' })
      const identity = Object.keys(call.metadata.getMap()).filter((name) => /^x[-_]amzn[-_]oidc/i.test(name))
      callback(null, Buffer.from(JSON.stringify({ bytes: call.request.length, identity })))
    }
  return {
    port,
    register(method, kind) {
      if (kind === 'stream') {
        server.register(
          method,
          (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
            seen(idOf(method))
            for (let i = 0; i < 5; i++) call.write(Buffer.from(String(i)))
            call.end()
          },
          rawBytes,
          rawBytes,
          'serverStream',
        )
      } else server.register(method, unary(kind, method), rawBytes, rawBytes, 'unary')
    },
    close: () => server.forceShutdown(),
  }
}

/** `x-amzn-oidc-*` header values as the target received them. */
function identityHeaders(rawHeaders: string[]): string[] {
  return rawHeaders.flatMap((name, i) => (i % 2 === 0 && /^x[-_]amzn[-_]oidc/i.test(name) ? [name] : []))
}

function config(
  ports: { http: number; https: number; admin: number },
  deps: { idp: DevIdentityProvider; jwks: string; upstream: number; grpc: number; closed: number; log: string },
): string {
  const forward = (priority: number, path: string, group: string) => `
      - Priority: ${priority}
        Conditions: [{ Field: path-pattern, Values: ["${path}"] }]
        Actions: [{ Type: forward, TargetGroupArn: ${group} }]`
  const common = `${forward(10, '/app/*', 'app')}${forward(20, '/hang/*', 'hang')}${forward(30, '/down/*', 'down')}${forward(40, '/empty/*', 'empty')}
      - Priority: 50
        Conditions: [{ Field: path-pattern, Values: ["/fixed"] }]
        Actions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: "200", ContentType: text/plain, MessageBody: fixed } }]
      - Priority: 60
        Conditions: [{ Field: path-pattern, Values: ["/old/*"] }]
        Actions: [{ Type: redirect, RedirectConfig: { Path: "/new/#{path}", StatusCode: HTTP_301 } }]`
  const oidc = (priority: number, path: string, mode: string) => `
      - Priority: ${priority}
        Conditions: [{ Field: path-pattern, Values: ["${path}"] }]
        Actions:
          - Type: authenticate-oidc
            AuthenticateOidcConfig:
              Issuer: ${deps.idp.issuer}
              AuthorizationEndpoint: ${deps.idp.endpoints.authorization}
              TokenEndpoint: ${deps.idp.endpoints.token}
              UserInfoEndpoint: ${deps.idp.endpoints.userinfo}
              ClientId: ${CLIENT_ID}
              ClientSecret: ${CLIENT_SECRET}
              Scope: openid email profile
              OnUnauthenticatedRequest: ${mode}
          - Type: forward
            TargetGroupArn: app`
  const notFound =
    'DefaultActions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: "404", ContentType: text/plain, MessageBody: not found } }]'
  const target = (port: number) => `[{ Id: 127.0.0.1, Port: ${port} }]`
  return `
LoadBalancer: { Name: traffic-alb, Region: us-east-1, AccountId: "123456789012" }
Listeners:
  - Port: ${ports.http}
    Protocol: HTTP
    Portcullis: { Address: 127.0.0.1 }
    ${notFound}
    Rules:${common}
  - Port: ${ports.https}
    Protocol: HTTPS
    Certificates: [{ CertificateFile: "${env.leaf.certPath}", PrivateKeyFile: "${env.leaf.keyPath}" }]
    Portcullis: { Address: 127.0.0.1 }
    ${notFound}
    Rules:${common}${oidc(100, '/auth/*', 'authenticate')}${oidc(110, '/api/*', 'deny')}
      - Priority: 120
        Conditions: [{ Field: path-pattern, Values: ["/jwt/*"] }]
        Actions:
          - Type: jwt-validation
            JwtValidationConfig: { JwksEndpoint: "${deps.jwks}", Issuer: "${JWT_ISSUER}" }
          - Type: forward
            TargetGroupArn: app
      - Priority: 130
        Conditions: [{ Field: path-pattern, Values: ["/traffic.Echo/*"] }]
        Actions: [{ Type: forward, TargetGroupArn: grpc }]
TargetGroups:
  - { TargetGroupName: app, Protocol: HTTP, Targets: ${target(deps.upstream)} }
  - { TargetGroupName: grpc, Protocol: HTTP, ProtocolVersion: GRPC, HealthCheckEnabled: false, Targets: ${target(deps.grpc)} }
  - { TargetGroupName: hang, Protocol: HTTP, Targets: ${target(deps.upstream)}, Portcullis: { TargetTimeoutSeconds: 1 } }
  - { TargetGroupName: down, Protocol: HTTP, Targets: ${target(deps.closed)} }
  - { TargetGroupName: empty, Protocol: HTTP }
Portcullis:
  StateDirectory: ./state
  CaFile: "${env.ca.caCertPath}"
  Admin: { Address: 127.0.0.1, Port: ${ports.admin} }
  AccessLog: { Format: json, Path: "${deps.log}" }
`
}

// ------------------------------------------------------------ the clients

function connectOptions(listener: Listener): https.RequestOptions {
  return {
    host: '127.0.0.1',
    port: listener.port,
    ...(listener.secure ? { ca: env.ca.caCertPem, servername: 'localhost' } : {}),
  }
}

function withId(path: string, id: string): string {
  return `${path}${path.includes('?') ? '&' : '?'}id=${id}`
}

function payload(bytes: number, id: string): Buffer {
  return Buffer.alloc(bytes, `${id}-`)
}

/**
 * One request through node's client, streaming the planned body (with
 * Content-Length or chunked), and, on request, leaving halfway through the
 * body (once the target has the request) or through the response.
 */
function request(
  p: Planned,
  path: string,
  options: {
    method?: string
    bodyBytes?: number
    headers?: readonly string[]
    expectContinue?: boolean
    abort?: 'body' | 'response'
    /** The target must (true) or must not (false) receive identity headers. */
    identity?: boolean
  } = {},
): Promise<Seen[]> {
  const id = p.id()
  const listener = env.listeners[p.listener]
  const method = options.method ?? p.method
  const body = payload(options.bodyBytes ?? p.bodyBytes, id)
  const headers: string[] = ['Host', `localhost:${listener.port}`, ...(options.headers ?? [])]
  if (body.length > 0 || p.chunked) {
    headers.push(...(p.chunked ? ['Transfer-Encoding', 'chunked'] : ['Content-Length', String(body.length)]))
  }
  if (options.expectContinue) headers.push('Expect', '100-continue')
  const sent = createHash('sha1').update(body).digest('hex')
  return new Promise((resolve) => {
    let status: number | null = null
    let settled = false
    const done = (seen: Omit<Seen, 'id'>): void => {
      if (settled) return
      settled = true
      resolve([{ id, ...seen }])
    }
    const req = (listener.secure ? https : http).request({
      ...connectOptions(listener),
      agent: p.fresh ? false : listener.agent,
      method,
      path: withId(path, id),
      headers: headers as unknown as OutgoingHttpHeaders,
    })
    req.on('socket', () => {
      if (req.reusedSocket) reusedConnections++
    })
    req.on('error', (error: NodeJS.ErrnoException) => {
      done({
        status,
        complete: false,
        ...(status === null && !options.abort ? { problem: `client error ${error.code ?? error.message}` } : {}),
      })
    })
    req.on('response', (res: IncomingMessage) => {
      status = res.statusCode ?? 0
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => {
        if (options.abort === 'response') {
          req.destroy()
          done({ status, complete: false })
          return
        }
        chunks.push(chunk)
      })
      res.on('error', () => done({ status, complete: false }))
      res.on('aborted', () => done({ status, complete: false }))
      res.on('end', () => {
        if (!res.complete) return done({ status, complete: false })
        done({
          status,
          complete: true,
          ...checkEcho(path, method, status!, Buffer.concat(chunks), body.length, sent, options.identity),
        })
      })
    })
    // Written in 64 KB pieces without waiting for 'drain': node's client stops
    // emitting it once the response has ended, which a gateway answering
    // before the whole body arrived (redirects, errors) is allowed to do.
    const write = async (): Promise<void> => {
      const end = options.abort === 'body' ? body.length >> 1 : body.length
      for (let at = 0; at < end; at += 64 * 1024) req.write(body.subarray(at, Math.min(end, at + 64 * 1024)))
      if (options.abort === 'body') {
        await settleWithin(env.upstream.seen(id), 15_000)
        req.destroy()
        done({ status, complete: false })
        return
      }
      req.end()
    }
    if (options.expectContinue) {
      req.once('continue', () => void write().catch(() => req.destroy()))
      req.flushHeaders()
    } else {
      void write().catch(() => req.destroy())
    }
  })
}

/** The HTTP/2 session shared by the `h2` requests that are not `fresh` (reopened if the gateway closed it). */
let sharedSession: ClientHttp2Session | undefined

/** An HTTP/2 session to the HTTPS listener, h2 by ALPN. */
function openSession(listener: Listener): ClientHttp2Session {
  const session = http2.connect(`https://localhost:${listener.port}`, {
    createConnection: () =>
      tls.connect({ ...(connectOptions(listener) as tls.ConnectionOptions), ALPNProtocols: ['h2'] }),
  })
  // A session error also fails its streams, which report it.
  session.on('error', () => {})
  return session
}

/** `Cookie` header lines for each crumb of `cookie`, as HTTP/2 clients send them (RFC 9113 §8.2.3). */
function crumbs(cookie: string): string[] {
  return cookie.split('; ').flatMap((crumb) => ['Cookie', crumb])
}

/**
 * One request over HTTP/2 (node's client) to the HTTPS listener, on the
 * shared session or a fresh one: the planned body with or without
 * `content-length`, and, on request, a stream reset halfway through the body
 * (once the target has the request) or through the response.
 */
function h2(
  p: Planned,
  path: string,
  options: {
    method?: string
    bodyBytes?: number
    headers?: readonly string[]
    abort?: 'body' | 'response'
    identity?: boolean
  } = {},
): Promise<Seen[]> {
  const id = p.id()
  const listener = env.listeners.h2
  const method = options.method ?? p.method
  // Node's HTTP/2 client ends a HEAD request's stream with its HEADERS frame: no body.
  const body = payload(method === 'HEAD' ? 0 : (options.bodyBytes ?? p.bodyBytes), id)
  // :authority given: node's client would otherwise take it from a `host` header, which some rows send to differ.
  const headers: http2.OutgoingHttpHeaders = {
    ':method': method,
    ':path': withId(path, id),
    ':authority': `localhost:${listener.port}`,
  }
  const extra = options.headers ?? []
  for (let i = 0; i < extra.length; i += 2) {
    const name = extra[i]!.toLowerCase()
    const value = extra[i + 1]!
    const had = headers[name]
    headers[name] = had === undefined ? value : [...(Array.isArray(had) ? had : [String(had)]), value]
  }
  // "Chunked" over HTTP/2: a body whose length the gateway learns only at END_STREAM.
  if (!p.chunked && method !== 'HEAD') headers['content-length'] = body.length
  const sent = createHash('sha1').update(body).digest('hex')
  if (!p.fresh && (sharedSession === undefined || sharedSession.closed || sharedSession.destroyed)) {
    sharedSession = openSession(listener)
  }
  const session = p.fresh ? openSession(listener) : sharedSession!
  return new Promise((resolve) => {
    let status: number | null = null
    let settled = false
    const done = (seen: Omit<Seen, 'id'>): void => {
      if (settled) return
      settled = true
      if (p.fresh) session.close()
      resolve([{ id, ...seen }])
    }
    const stream = session.request(headers, { endStream: false })
    const chunks: Buffer[] = []
    stream.on('response', (head) => {
      status = Number(head[':status'])
    })
    stream.on('data', (chunk: Buffer) => {
      if (options.abort === 'response') {
        stream.close(http2.constants.NGHTTP2_CANCEL)
        done({ status, complete: false })
        return
      }
      chunks.push(chunk)
    })
    stream.on('end', () =>
      done({
        status,
        complete: true,
        ...checkEcho(path, method, status ?? 0, Buffer.concat(chunks), body.length, sent, options.identity),
      }),
    )
    stream.on('error', (error: NodeJS.ErrnoException) => {
      done({
        status,
        complete: false,
        ...(status === null && !options.abort ? { problem: `client error ${error.code ?? error.message}` } : {}),
      })
    })
    // A stream the gateway reset (the target closed mid-response) ends without 'end'.
    stream.on('close', () => done({ status, complete: false }))
    const write = async (): Promise<void> => {
      const end = options.abort === 'body' ? body.length >> 1 : body.length
      for (let at = 0; at < end; at += 64 * 1024) stream.write(body.subarray(at, Math.min(end, at + 64 * 1024)))
      if (options.abort === 'body') {
        await settleWithin(env.upstream.seen(id), 15_000)
        stream.close(http2.constants.NGHTTP2_CANCEL)
        done({ status, complete: false })
        return
      }
      stream.end()
    }
    void write().catch(() => stream.close(http2.constants.NGHTTP2_CANCEL))
  })
}

/** Three requests at once on the shared HTTP/2 session (with and without bodies): three answers. */
async function h2Streams(p: Planned): Promise<Seen[]> {
  const shared = { ...p, fresh: false }
  const answers = await Promise.all([
    h2(shared, '/app/echo', { method: 'GET', bodyBytes: 0 }),
    h2(shared, '/app/slow', { method: 'POST', bodyBytes: Math.min(p.bodyBytes, 64 * 1024) }),
    h2(shared, '/fixed'),
  ])
  return answers.flat()
}

/**
 * One gRPC call (grpc-js over TLS to the HTTPS listener) with spoofed
 * identity metadata, to a method of its own: unary (`echo`, `missing`),
 * server streaming, or unary cancelled once the target has it (`hang`).
 */
function grpcCall(p: Planned, kind: GrpcKind): Promise<Seen[]> {
  const id = p.id()
  const method = `/traffic.Echo/Call_${id.replace('.', '_')}`
  env.grpcTarget.register(method, kind)
  const metadata = new grpc.Metadata()
  metadata.set('x-amzn-oidc-identity', 'admin')
  metadata.set('x-amzn-oidc-data', 'forged')
  const message = payload(Math.min(p.bodyBytes, 64 * 1024), id)
  const client = env.grpcClient
  return new Promise((resolve) => {
    const done = (problem?: string, complete = true): void =>
      resolve([{ id, status: complete ? 200 : null, complete, ...(problem === undefined ? {} : { problem }) }])
    if (kind === 'stream') {
      const call = client.makeServerStreamRequest(method, rawBytes, rawBytes, message, metadata, {})
      let messages = 0
      call.on('data', () => messages++)
      call.on('error', () => {})
      call.on('status', (status: grpc.StatusObject) =>
        done(
          status.code !== grpc.status.OK
            ? `grpc status ${status.code} ${status.details}`
            : messages !== 5
              ? `${messages} messages of 5`
              : undefined,
        ),
      )
      return
    }
    const call = client.makeUnaryRequest(method, rawBytes, rawBytes, message, metadata, {}, (error, response) => {
      if (kind === 'hang') return done(error?.code === grpc.status.CANCELLED ? undefined : `grpc ${error?.code}`, false)
      const expected = kind === 'missing' ? grpc.status.NOT_FOUND : grpc.status.OK
      const code = error?.code ?? grpc.status.OK
      if (code !== expected) return done(`grpc status ${code} (${error?.details}), expected ${expected}`)
      if (kind === 'missing') return done()
      const echo = JSON.parse(response!.toString()) as { bytes: number; identity: string[] }
      if (echo.bytes !== message.length) return done(`target received ${echo.bytes} bytes of ${message.length}`)
      done(echo.identity.length === 0 ? undefined : `client identity metadata leaked: ${echo.identity}`)
    })
    if (kind === 'hang') void settleWithin(env.upstream.seen(id), 15_000).then(() => call.cancel())
  })
}

/** What is wrong with an echo target's answer, if anything. */
function checkEcho(
  path: string,
  method: string,
  status: number,
  answer: Buffer,
  bytes: number,
  sha1: string,
  identity: boolean | undefined,
): { problem?: string } {
  if (!path.endsWith('/echo') || status !== 200 || method === 'HEAD') return {}
  const echo = JSON.parse(answer.toString()) as { bytes: number; sha1: string; identity: string[] }
  if (echo.bytes !== bytes || echo.sha1 !== sha1) return { problem: `target received ${echo.bytes} bytes of ${bytes}` }
  if (identity === true && echo.identity.length !== 3) return { problem: `target identity headers ${echo.identity}` }
  if (identity === false && echo.identity.length !== 0)
    return { problem: `client identity headers leaked: ${echo.identity}` }
  return {}
}

let reusedConnections = 0

/** What `promise` resolves to, or undefined after `ms`. */
async function settleWithin<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms)
  })
  const result = await Promise.race([promise, late])
  clearTimeout(timer)
  return result
}

function connect(listener: Listener): Socket {
  return listener.secure
    ? tls.connect(connectOptions(listener) as tls.ConnectionOptions)
    : net.connect(listener.port, '127.0.0.1')
}

/** Writes `bytes` on a raw connection and reads until the gateway closes it; the statuses of every response. */
async function exchangeRaw(listener: Listener, bytes: string): Promise<{ statuses: number[]; error?: string }> {
  const socket = connect(listener)
  const chunks: Buffer[] = []
  socket.on('data', (chunk: Buffer) => chunks.push(chunk))
  socket.setTimeout(15_000, () => socket.destroy(new Error('no close within 15 s')))
  // Not end(): a TLS server may drop a half-closed connection before answering.
  socket.write(bytes)
  try {
    await once(socket, 'close')
  } catch {}
  const error = (socket as Socket & { errored?: Error }).errored?.message
  return { statuses: statusesOf(Buffer.concat(chunks)), ...(error ? { error } : {}) }
}

/** The final statuses of the HTTP/1.1 responses in `data` (Content-Length or chunked bodies; interim 1xx skipped). */
function statusesOf(data: Buffer): number[] {
  const statuses: number[] = []
  let at = 0
  while (at < data.length) {
    const end = data.indexOf('\r\n\r\n', at)
    if (end === -1) break
    const head = data.subarray(at, end).toString('latin1')
    const status = Number(head.slice(9, 12))
    at = end + 4
    if (status < 200) continue
    statuses.push(status)
    const length = /\r\ncontent-length: *(\d+)/i.exec(head)
    if (length !== null) {
      at += Number(length[1])
    } else if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
      for (let size = -1; size !== 0 && at < data.length; ) {
        const lineEnd = data.indexOf('\r\n', at)
        size = Number.parseInt(data.subarray(at, lineEnd).toString('latin1'), 16)
        at = lineEnd + 2 + size + 2
      }
    } else {
      at = data.length
    }
  }
  return statuses
}

/** One request written raw (for what node's client will not send), closed after the answer. */
async function raw(p: Planned, text: (id: string) => string): Promise<Seen[]> {
  const id = p.id()
  const listener = env.listeners[p.listener]
  const request = text(id).replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n')
  const { statuses, error } = await exchangeRaw(listener, request)
  return [{ id, status: statuses[0] ?? null, complete: statuses.length === 1, ...(error ? { problem: error } : {}) }]
}

/** Three requests written at once on one connection (with and without bodies): three answers, in order. */
async function pipelined(p: Planned): Promise<Seen[]> {
  const listener = env.listeners[p.listener]
  const host = `Host: localhost:${listener.port}\r\n`
  const ids = [p.id(), p.id(), p.id()]
  const small = payload(Math.min(p.bodyBytes, 4096), ids[1]!).toString()
  const bytes =
    `GET /app/echo?id=${ids[0]} HTTP/1.1\r\n${host}\r\n` +
    `POST /app/echo?id=${ids[1]} HTTP/1.1\r\n${host}Content-Length: ${small.length}\r\n\r\n${small}` +
    `${p.method} /fixed?id=${ids[2]} HTTP/1.1\r\n${host}Content-Length: 0\r\nConnection: close\r\n\r\n`
  const { statuses, error } = await exchangeRaw(listener, bytes)
  return ids.map((id, i) => ({
    id,
    status: statuses[i] ?? null,
    complete: statuses.length === 3,
    ...(error ? { problem: error } : {}),
  }))
}

/**
 * A WebSocket handshake; when it opens, one message must come back echoed,
 * with (or without) the gateway's identity headers at the target.
 */
function websocket(p: Planned, path: string, headers: readonly string[], identity: boolean): Promise<Seen[]> {
  const id = p.id()
  const listener = env.listeners[p.listener]
  const scheme = listener.secure ? 'wss' : 'ws'
  const extra: Record<string, string> = {}
  for (let i = 0; i < headers.length; i += 2) extra[headers[i]!] = headers[i + 1]!
  return new Promise((resolve) => {
    const ws = new WebSocket(`${scheme}://localhost:${listener.port}${withId(path, id)}`, {
      headers: extra,
      ...(listener.secure ? { ca: env.ca.caCertPem } : {}),
      handshakeTimeout: 15_000,
    })
    let problem: string | undefined
    let echoed = false
    ws.on('unexpected-response', (req, res) => {
      res.resume()
      res.on('end', () => {
        req.destroy()
        resolve([{ id, status: res.statusCode ?? 0, complete: true }])
      })
    })
    ws.on('open', () => ws.send(`hello ${id}`))
    ws.on('message', (data) => {
      const answer = JSON.parse(String(data)) as { echo: string; identity: string[] }
      echoed = answer.echo === `hello ${id}`
      if (answer.identity.length !== (identity ? 3 : 0)) problem = `target identity headers ${answer.identity}`
      ws.close()
    })
    ws.on('error', (error) => {
      problem ??= error.message
    })
    ws.on('close', () => {
      resolve([{ id, status: echoed ? 101 : null, complete: echoed, ...(problem ? { problem } : {}) }])
    })
  })
}

// ------------------------------------------------------- running the mix

interface AccessLogLine {
  type: string
  request: string
  elb_status_code: number
  target_status_code: number | null
}

async function readAccessLog(path: string): Promise<AccessLogLine[]> {
  const text = await readFile(path, 'utf8').catch(() => '')
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as AccessLogLine)
}

/** The sum of a metric's samples over every label set (that has the `label="value"` pair `having`). */
function metricSum(text: string, name: string, having = ''): number {
  let sum = 0
  for (const line of text.split('\n')) {
    if ((line.startsWith(`${name}{`) || line.startsWith(`${name} `)) && line.includes(having))
      sum += Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return sum
}

async function scrape(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`)
  assert.equal(res.status, 200)
  return res.text()
}

/** Runs `tasks` with at most `limit` in flight. */
async function pooled<T>(tasks: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const results: T[] = new Array(tasks.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < tasks.length) {
      const i = next++
      results[i] = await tasks[i]!()
    }
  }
  await Promise.all(Array.from({ length: limit }, worker))
  return results
}

/** Problems in the primary's log: a crash, a restarted worker, an error that escaped a request. */
const CRASH = /worker exited|TypeError|uncaught|unhandled/i

describe('portcullis start under a seeded mix of traffic', () => {
  let dir: string
  let idp: DevIdentityProvider
  let jwks: https.Server
  let jwksUrl: string
  let closedPort: number
  let dispatcher: UndiciAgent
  // Ports found free can be taken by another test before the gateway binds them: a start that
  // hits one in use is retried on fresh ports (the HTTPS candidates are registered at the IdP up front).
  const START_ATTEMPTS = 3
  const runs = [1, 2].map((workers) => ({ workers, http: 0, https: 0, admin: 0, httpsCandidates: [] as number[] }))

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-traffic-'))
    const ca = await ensureLocalCa(join(dir, 'state'))
    const leaf = await ensureLeafCertificate(join(dir, 'state'))
    for (const run of runs) {
      for (let i = 0; i < START_ATTEMPTS; i++) run.httpsCandidates.push(await freePort())
    }
    closedPort = await freePort()
    idp = await createDevIdentityProvider({
      tls: leaf,
      clients: [
        {
          clientId: CLIENT_ID,
          clientSecret: CLIENT_SECRET,
          redirectUris: runs.flatMap((run) =>
            run.httpsCandidates.map((port) => `https://localhost:${port}/oauth2/idpresponse`),
          ),
        },
      ],
    })
    const signing = await generateKeyPair('RS256', { extractable: true })
    const forger = await generateKeyPair('RS256')
    const jwk = { ...(await exportJWK(signing.publicKey)), kid: 'traffic-1', alg: 'RS256', use: 'sig' }
    jwks = https.createServer({ cert: leaf.certPem, key: leaf.keyPem }, (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ keys: [jwk] }))
    })
    jwksUrl = `https://127.0.0.1:${await listen(jwks)}/jwks`
    const token = (key: CryptoKey) =>
      new SignJWT({ sub: 'machine' })
        .setProtectedHeader({ alg: 'RS256', kid: 'traffic-1' })
        .setIssuer(JWT_ISSUER)
        .setIssuedAt()
        .setExpirationTime('10m')
        .sign(key)
    dispatcher = new UndiciAgent({ connect: { ca: ca.caCertPem } })
    env = {
      ca,
      leaf,
      listeners: undefined as unknown as Env['listeners'],
      session: '',
      jwt: { valid: await token(signing.privateKey), forged: await token(forger.privateKey) },
      upstream: await startTarget(),
      grpcTarget: undefined as unknown as GrpcTarget,
      grpcClient: undefined as unknown as grpc.Client,
    }
    env.grpcTarget = await startGrpcTarget((id) => env.upstream.mark(id))
  })

  after(async () => {
    await dispatcher?.close()
    await env?.upstream.close()
    env?.grpcTarget?.close()
    jwks?.closeAllConnections()
    jwks?.close()
    await idp?.close()
    await rm(dir, { recursive: true, force: true })
  })

  for (const run of runs) {
    test(`--workers ${run.workers}: never exits, every request gets ALB's status, one log line each, metrics agree`, async () => {
      const seed = SEED + run.workers
      console.log(
        `traffic seed ${seed} (PORTCULLIS_TRAFFIC_SEED=${SEED} + workers; set it to replay or vary), ${REQUESTS} requests`,
      )
      const log = join(dir, `access-${run.workers}.log`)
      const file = join(dir, `portcullis-${run.workers}.yaml`)
      let child!: ChildProcessWithoutNullStreams
      let output = ''
      for (let attempt = 0; attempt < START_ATTEMPTS; attempt++) {
        run.http = await freePort()
        run.https = run.httpsCandidates[attempt]!
        run.admin = await freePort()
        await rm(log, { force: true })
        await writeFile(
          file,
          config(run, {
            idp,
            jwks: jwksUrl,
            upstream: env.upstream.port,
            grpc: env.grpcTarget.port,
            closed: closedPort,
            log,
          }),
        )
        child = portcullis(['start', '--config', file, '--workers', String(run.workers), '--log-level', 'warn'], dir)
        output = ''
        child.stdout.on('data', (c: Buffer) => {
          output += c.toString()
        })
        child.stderr.on('data', (c: Buffer) => {
          output += c.toString()
        })
        await waitFor(() => output.includes('SIGHUP') || child.exitCode !== null, 'the start banner', 30_000).catch(
          (error: unknown) => {
            child.kill('SIGKILL')
            throw error
          },
        )
        if (child.exitCode === null || !/the port is in use/.test(output)) break
      }
      const agents = [
        new http.Agent({ keepAlive: true, maxSockets: 4 }),
        new https.Agent({ keepAlive: true, maxSockets: 4 }),
      ]
      try {
        assert.equal(child.exitCode, null, output)
        env.listeners = {
          http: { port: run.http, secure: false, agent: agents[0]! },
          https: { port: run.https, secure: true, agent: agents[1]! },
          h2: { port: run.https, secure: true, agent: agents[1]! },
          grpc: { port: run.https, secure: true, agent: agents[1]! },
        }
        env.grpcClient = new grpc.Client(
          `localhost:${run.https}`,
          grpc.credentials.createSsl(Buffer.from(env.ca.caCertPem)),
        )
        // undici's own Agent, accepted by Node's fetch although its types are undici-types'.
        const transport = { dispatcher } as unknown as RequestInit
        env.session = await logInAtDevIdp(`https://localhost:${run.https}/auth/start`, undefined, undefined, transport)
        // The login's own requests through the gateway: its redirect and the callback.
        const loginLines = 2
        await waitFor(async () => (await readAccessLog(log)).length === loginLines, 'the login in the access log')

        const random = new SeededRandom(seed)
        let counter = 0
        const planned = plan(random, REQUESTS)
        reusedConnections = 0
        const results = await pooled(
          planned.map(({ kase, choices }) => async () => {
            const ids: string[] = []
            const id = (): string => {
              ids.push(`${run.workers}.${++counter}`)
              return ids[ids.length - 1]!
            }
            const seen = await settleWithin(kase.send({ ...choices, id }), REQUEST_DEADLINE_MS)
            // A request still open at the deadline counts as unanswered (and its log line, if any, as unexpected).
            return {
              kase,
              choices,
              seen: seen ?? ids.map((i) => ({ id: i, status: null, complete: false, problem: 'no outcome in 20 s' })),
            }
          }),
          CONCURRENCY,
        )

        const mismatches: string[] = []
        const expectedLines = new Map<string, { kase: Case; logged: number; listener: ListenerName; how: string }>()
        for (const { kase, choices, seen } of results) {
          for (const s of seen) {
            const cut = kase.cut === true || kase.status === null
            if (s.status !== kase.status || s.complete === cut || s.problem !== undefined) {
              mismatches.push(
                `${kase.name} #${s.id}: got ${s.status}${s.complete ? '' : ' (cut short)'}${s.problem ? `, ${s.problem}` : ''}; ALB: ${kase.status} (${choicesText(choices)})`,
              )
            }
            expectedLines.set(s.id, {
              kase,
              logged: kase.logged ?? kase.status!,
              listener: choices.listener,
              how: choicesText(choices),
            })
          }
        }
        assert.deepEqual(mismatches, [], `statuses differ from ALB's (seed ${seed})`)

        const total = loginLines + expectedLines.size
        // Lines still missing after the wait are reported one by one below.
        await waitFor(async () => (await readAccessLog(log)).length >= total, 'the access log', 10_000).catch(() => {})
        const lines = await readAccessLog(log)
        const byId = new Map<string, AccessLogLine[]>()
        for (const line of lines.slice(loginLines)) {
          const id = idOf(line.request) ?? '?'
          byId.set(id, [...(byId.get(id) ?? []), line])
        }
        const logProblems: string[] = []
        for (const [id, { kase, logged, listener, how }] of expectedLines) {
          const found = byId.get(id) ?? []
          if (found.length !== 1 || found[0]!.elb_status_code !== logged) {
            logProblems.push(
              `${kase.name} #${id}: ${found.map((l) => l.elb_status_code).join(',') || 'no line'}; expected one ${logged} (${how})`,
            )
          } else if (
            (found[0]!.type === 'h2') !== (listener === 'h2') ||
            (found[0]!.type === 'grpcs') !== (listener === 'grpc') ||
            found[0]!.request.endsWith(' HTTP/2.0') !== (listener === 'h2' || listener === 'grpc')
          ) {
            // ALB's type and request protocol for HTTP/2: `h2` (`grpcs` for gRPC), `HTTP/2.0`; never for HTTP/1.1.
            logProblems.push(`${kase.name} #${id}: type ${found[0]!.type}, request ${found[0]!.request} (${how})`)
          }
          byId.delete(id)
        }
        for (const [id, extra] of byId)
          logProblems.push(`unexpected line(s) for #${id}: ${extra.map((l) => l.request)}`)
        assert.deepEqual(logProblems, [], `access log (seed ${seed})`)
        assert.equal(lines.length, total)

        const metrics = await scrape(run.admin)
        assert.equal(metricSum(metrics, 'RequestCount'), lines.length, 'RequestCount against the access log')
        for (const type of ['http', 'https', 'h2', 'grpcs', 'ws', 'wss']) {
          assert.equal(
            metricSum(metrics, 'portcullis_requests_by_type_total', `type="${type}"`),
            lines.filter((l) => l.type === type).length,
            `portcullis_requests_by_type_total{type="${type}"} against the access log`,
          )
        }
        assert.ok(lines.some((l) => l.type === 'h2') && lines.some((l) => l.type === 'grpcs'), 'HTTP/2 and gRPC logged')
        assert.equal(
          metricSum(metrics, 'GrpcRequestCount'),
          lines.filter((l) => l.type === 'grpcs').length,
          'GrpcRequestCount against the access log',
        )
        const elb = (cls: number) =>
          lines.filter((l) => Math.floor(l.elb_status_code / 100) === cls && l.target_status_code !== l.elb_status_code)
            .length
        assert.equal(metricSum(metrics, 'HTTPCode_ELB_4XX_Count'), elb(4), 'HTTPCode_ELB_4XX_Count')
        assert.equal(metricSum(metrics, 'HTTPCode_ELB_5XX_Count'), elb(5), 'HTTPCode_ELB_5XX_Count')
        // The supervising primary counts restarted workers; none may have died.
        assert.equal(metricSum(metrics, 'portcullis_worker_restarts_total'), 0, 'worker restarts')
        assert.ok(reusedConnections > 0, 'keep-alive connections were reused')

        assert.equal(child.exitCode, null, 'the process is still running')
        assert.doesNotMatch(output, CRASH)
        child.kill('SIGTERM')
        const exited = (await settleWithin(once(child, 'exit'), 15_000)) as [number | null] | undefined
        assert.equal(exited?.[0], 0, `a clean exit after SIGTERM\n${output}`)
      } finally {
        for (const agent of agents) agent.destroy()
        sharedSession?.destroy()
        sharedSession = undefined
        env.grpcClient?.close()
        if (child.exitCode === null) child.kill('SIGKILL')
      }
    })
  }
})
