/**
 * The HTTP/2 references for `bench:gateway` (`BENCH_CASES` key `h2`): the
 * least a Node.js proxy can do for an HTTP/2 client and still be comparable
 * with Portcullis, so the limit of Portcullis's own stack.
 *
 * - `proxy`: node:http2 (TLS, h2 only) in, an undici `Pool.dispatch`
 *   (HTTP/1.1) out — Portcullis's HTTPS listener forwarding to an HTTP1
 *   target group. Request headers copied without pseudo-headers, Host from
 *   `:authority`, `X-Forwarded-For` added; response head relayed without
 *   hop-by-hop headers; one access-log line per request, buffered.
 * - `grpc-proxy`: node:http2 (TLS) in, one node:http2 cleartext session
 *   (prior knowledge) per worker out — Portcullis forwarding to a `GRPC`
 *   target group: headers, body, and the response's trailers relayed.
 * - `grpc-echo`: the gRPC upstream, node:http2 cleartext: answers every call
 *   with the request's message and `grpc-status: 0` in trailers.
 *
 * No rules, no metrics, no trace id.
 *
 * Usage:
 *   node --import tsx bench/minimal-http2.ts proxy|grpc-proxy PORT UPSTREAM_PORT WORKERS LOG_PATH CERT KEY
 *   node --import tsx bench/minimal-http2.ts grpc-echo PORT
 * Run with WORKERS processes forked by node:cluster, like `portcullis start --workers`.
 */
import cluster from 'node:cluster'
import { open, readFileSync, write } from 'node:fs'
import type { IncomingHttpHeaders } from 'node:http'
import http2, { type ClientHttp2Session, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2'
import { type Dispatcher, Pool } from 'undici'

const [mode, port, upstreamPort, workers, logPath, certPath, keyPath] = process.argv.slice(2).map(String)

/** Never copied either way: HTTP/1.1 connection-specific headers (RFC 9113 §8.2.2), and X-Forwarded-For, which is rewritten. */
const NOT_COPIED = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'host',
  'x-forwarded-for',
])

/** One access-log line per request, flushed every 100 ms or at 64 KB, like a buffered nginx `access_log`. */
class BufferedLog {
  #fd = -1
  #pending = ''
  #timer: NodeJS.Timeout | undefined
  constructor(path: string) {
    open(path, 'a', (err, fd) => {
      if (err) throw err
      this.#fd = fd
    })
  }
  line(text: string): void {
    this.#pending += text
    if (this.#pending.length >= 65536) this.#flush()
    else this.#timer ??= setTimeout(() => this.#flush(), 100)
  }
  #flush(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    if (this.#fd === -1 || this.#pending === '') return
    const text = this.#pending
    this.#pending = ''
    write(this.#fd, text, () => {})
  }
}

function logLine(
  log: BufferedLog,
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  status: number,
  start: number,
) {
  log.line(
    `${stream.session?.socket?.remoteAddress} ${start} "${headers[':method']} ${headers[':path']} HTTP/2.0" ${status} ${Date.now() - start}\n`,
  )
}

/** h2 → HTTP/1.1 through undici's dispatcher. */
class Handler implements Dispatcher.DispatchHandler {
  readonly #stream: ServerHttp2Stream
  readonly #headers: IncomingHttpHeaders
  readonly #log: BufferedLog
  readonly #start = Date.now()
  #status = 0
  constructor(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, log: BufferedLog) {
    this.#stream = stream
    this.#headers = headers
    this.#log = log
  }
  onRequestStart(): void {}
  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, parsed: IncomingHttpHeaders): void {
    const raw = (controller.rawHeaders ?? []) as Buffer[]
    const out: OutgoingHttpHeaders = { ':status': statusCode }
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toString('latin1').toLowerCase()
      if (!NOT_COPIED.has(name)) out[name] = raw[i + 1]!.toString('latin1')
    }
    if (raw.length === 0) for (const [k, v] of Object.entries(parsed)) if (!NOT_COPIED.has(k)) out[k] = v
    this.#status = statusCode
    if (!this.#stream.destroyed) this.#stream.respond(out)
  }
  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.#stream.destroyed) this.#stream.write(chunk)
  }
  onResponseEnd(): void {
    if (!this.#stream.destroyed) this.#stream.end()
    logLine(this.#log, this.#stream, this.#headers, this.#status, this.#start)
  }
  onResponseError(_controller: Dispatcher.DispatchController, _err: Error): void {
    if (this.#stream.destroyed) return
    if (this.#stream.headersSent) this.#stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR)
    else this.#stream.respond({ ':status': 502 }, { endStream: true })
  }
}

/** The request headers to send on: no pseudo-headers, no connection-specific ones. */
function copied(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (name.charCodeAt(0) !== 0x3a /* : */ && !NOT_COPIED.has(name) && value !== undefined) out[name] = value
  }
  return out
}

function forwardedFor(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): string {
  const peer = stream.session?.socket?.remoteAddress ?? ''
  const before = headers['x-forwarded-for']
  return before === undefined ? peer : `${before}, ${peer}`
}

function proxyWorker(): void {
  const pool = new Pool(`http://127.0.0.1:${upstreamPort}`)
  const log = new BufferedLog(logPath!)
  const server = http2.createSecureServer({ cert: readFileSync(certPath!), key: readFileSync(keyPath!) })
  server.on('stream', (stream, headers) => {
    const method = headers[':method'] ?? 'GET'
    const out = copied(headers)
    out.host = headers[':authority'] ?? ''
    out['x-forwarded-for'] = forwardedFor(stream, headers)
    stream.on('error', () => {})
    pool.dispatch(
      {
        path: headers[':path'] ?? '/',
        method: method as Dispatcher.HttpMethod,
        headers: out,
        body: stream.endAfterHeaders ? null : stream,
      },
      new Handler(stream, headers, log),
    )
  })
  server.listen(Number(port), '127.0.0.1')
}

function grpcProxyWorker(): void {
  const log = new BufferedLog(logPath!)
  let upstream: ClientHttp2Session | undefined
  const session = (): ClientHttp2Session => {
    if (upstream === undefined || upstream.closed || upstream.destroyed) {
      upstream = http2.connect(`http://127.0.0.1:${upstreamPort}`)
      upstream.on('error', () => {})
    }
    return upstream
  }
  const server = http2.createSecureServer({ cert: readFileSync(certPath!), key: readFileSync(keyPath!) })
  server.on('stream', (stream, headers) => {
    const start = Date.now()
    const out: OutgoingHttpHeaders = copied(headers)
    out[':method'] = headers[':method']
    out[':path'] = headers[':path']
    out[':authority'] = headers[':authority']
    out.te = 'trailers'
    out['x-forwarded-for'] = forwardedFor(stream, headers)
    const up = session().request(out, { endStream: stream.endAfterHeaders })
    let status = 0
    let trailers: OutgoingHttpHeaders = {}
    stream.on('error', () => {})
    up.on('error', () => {
      if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR)
    })
    stream.on('close', () => {
      if (!up.closed) up.close(http2.constants.NGHTTP2_CANCEL)
    })
    if (!stream.endAfterHeaders) stream.pipe(up)
    up.on('response', (head) => {
      status = Number(head[':status'])
      const reply: OutgoingHttpHeaders = {}
      for (const [name, value] of Object.entries(head)) if (!NOT_COPIED.has(name)) reply[name] = value
      if (!stream.destroyed) stream.respond(reply, { waitForTrailers: true })
    })
    up.on('trailers', (t) => {
      trailers = {}
      for (const [name, value] of Object.entries(t)) {
        if (name.charCodeAt(0) !== 0x3a) trailers[name] = value as string | string[]
      }
    })
    stream.on('wantTrailers', () => stream.sendTrailers(trailers))
    // The trailers arrive (and are kept) before 'end'; ending `stream` asks for them ('wantTrailers').
    up.pipe(stream)
    up.on('end', () => logLine(log, stream, headers, status, start))
  })
  server.listen(Number(port), '127.0.0.1')
}

/** The gRPC upstream: each call answered with its own message, status OK in trailers. */
function grpcEcho(): void {
  const server = http2.createServer()
  server.on('stream', (stream) => {
    const chunks: Buffer[] = []
    stream.on('error', () => {})
    stream.on('data', (chunk: Buffer) => chunks.push(chunk))
    stream.on('end', () => {
      if (stream.destroyed) return
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true })
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }))
      stream.end(Buffer.concat(chunks))
    })
  })
  server.listen(Number(port), '127.0.0.1')
}

// Exiting (not dying of the signal) lets `--cpu-prof` write each process's profile.
process.on('SIGTERM', () => {
  if (cluster.isPrimary && mode !== 'grpc-echo') {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.kill('SIGTERM')
    cluster.on('exit', () => {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0)
    })
  } else process.exit(0)
})

if (mode === 'grpc-echo') grpcEcho()
else if (mode !== 'proxy' && mode !== 'grpc-proxy')
  throw new Error(`unknown mode ${mode}: proxy, grpc-proxy or grpc-echo`)
else if (cluster.isPrimary) for (let i = 0; i < Number(workers); i++) cluster.fork()
else if (mode === 'proxy') proxyWorker()
else grpcProxyWorker()
