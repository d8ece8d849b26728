/**
 * The reference for `bench:gateway`: the least a Node.js reverse proxy can
 * do and still be comparable with Portcullis's forward — node:http in, an
 * undici `Pool.dispatch` out, the request headers copied (hop-by-hop ones
 * dropped) with `X-Forwarded-For` added, the response head relayed as a raw
 * array, and one access-log line per request, buffered and written in
 * batches. No rules, no metrics, no trace id.
 *
 * Usage: node --import tsx bench/minimal-proxy.ts PORT UPSTREAM_PORT WORKERS LOG_PATH
 * Run with WORKERS processes forked by node:cluster, like `portcullis start --workers`.
 */
import cluster from 'node:cluster'
import { open, write } from 'node:fs'
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http'
import { type Dispatcher, Pool } from 'undici'

const [port, upstreamPort, workers, logPath] = process.argv.slice(2).map(String)

/** Not copied either way: hop-by-hop headers, and X-Forwarded-For, which is rewritten. */
const NOT_COPIED = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
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

class Handler implements Dispatcher.DispatchHandler {
  readonly #req: IncomingMessage
  readonly #res: ServerResponse
  readonly #log: BufferedLog
  readonly #start = Date.now()
  constructor(req: IncomingMessage, res: ServerResponse, log: BufferedLog) {
    this.#req = req
    this.#res = res
    this.#log = log
  }
  onRequestStart(): void {}
  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, parsed: IncomingHttpHeaders): void {
    const raw = (controller.rawHeaders ?? []) as Buffer[]
    const out: string[] = []
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toString('latin1')
      if (NOT_COPIED.has(name.toLowerCase())) continue
      out.push(name, raw[i + 1]!.toString('latin1'))
    }
    if (raw.length === 0) for (const [k, v] of Object.entries(parsed)) if (typeof v === 'string') out.push(k, v)
    this.#res.writeHead(statusCode, out)
  }
  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.#res.write(chunk)
  }
  onResponseEnd(): void {
    this.#res.end()
    const req = this.#req
    this.#log.line(
      `${req.socket.remoteAddress} ${this.#start} "${req.method} ${req.url} HTTP/${req.httpVersion}" ${this.#res.statusCode} ${Date.now() - this.#start}\n`,
    )
  }
  onResponseError(_controller: Dispatcher.DispatchController, _err: Error): void {
    if (this.#res.headersSent) this.#res.destroy()
    else {
      this.#res.statusCode = 502
      this.#res.end()
    }
  }
}

// Exiting (not dying of the signal) lets `--cpu-prof` write each process's profile.
process.on('SIGTERM', () => {
  if (cluster.isPrimary) {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.kill('SIGTERM')
    cluster.on('exit', () => {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0)
    })
  } else process.exit(0)
})

if (cluster.isPrimary) {
  for (let i = 0; i < Number(workers); i++) cluster.fork()
} else {
  const pool = new Pool(`http://127.0.0.1:${upstreamPort}`)
  const log = new BufferedLog(logPath!)
  createServer((req, res) => {
    const raw = req.rawHeaders
    const headers: string[] = []
    for (let i = 0; i < raw.length; i += 2) {
      if (!NOT_COPIED.has(raw[i]!.toLowerCase())) headers.push(raw[i]!, raw[i + 1]!)
    }
    const forwardedFor = req.headers['x-forwarded-for']
    const peer = req.socket.remoteAddress ?? ''
    headers.push('x-forwarded-for', forwardedFor === undefined ? peer : `${forwardedFor}, ${peer}`)
    pool.dispatch(
      {
        path: req.url ?? '/',
        method: req.method as Dispatcher.HttpMethod,
        headers,
        body: req.method === 'GET' || req.method === 'HEAD' ? null : req,
      },
      new Handler(req, res, log),
    )
  }).listen(Number(port), '127.0.0.1')
}
