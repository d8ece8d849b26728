import { createServer, type IncomingMessage, type OutgoingHttpHeaders, request, type ServerResponse } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { AddressInfo } from 'node:net'

/** What one probe request got back. */
export type Answer =
  | { readonly kind: 'answered'; readonly status: number; readonly body: string }
  /** The connection closed before an answer: the target would not process the request. */
  | { readonly kind: 'closed'; readonly reason: string }
  /** No answer in time, or no connection at all: nothing can be concluded. */
  | { readonly kind: 'failed'; readonly reason: string }

/** Bodies are read up to this size for `authenticatedMatch`; the rest is dropped. */
export const MAX_BODY_BYTES = 64 * 1024

const CLOSED_CODES = new Set(['ECONNRESET', 'EPIPE'])

/**
 * One GET to `url` with exactly `headers` (array values as repeated lines),
 * on a fresh connection, never following redirects, bounded by `timeoutMs`
 * from connect to the end of the (truncated) body.
 */
export function send(url: URL, headers: OutgoingHttpHeaders, timeoutMs: number): Promise<Answer> {
  return new Promise((resolve) => {
    let settled = false
    const finish = (answer: Answer) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      req.destroy()
      resolve(answer)
    }
    const open = url.protocol === 'https:' ? httpsRequest : request
    const req = open(url, {
      method: 'GET',
      agent: false,
      headers: { 'user-agent': 'portcullis-probe', connection: 'close', ...headers },
    })
    const timer = setTimeout(() => finish({ kind: 'failed', reason: `no answer within ${timeoutMs} ms` }), timeoutMs)
    req.on('error', (error: NodeJS.ErrnoException) => {
      const reason = error.code ?? error.message
      finish(
        CLOSED_CODES.has(error.code ?? '') || error.message === 'socket hang up'
          ? { kind: 'closed', reason }
          : { kind: 'failed', reason },
      )
    })
    req.on('response', (res: IncomingMessage) => {
      const chunks: Buffer[] = []
      let size = 0
      const done = () =>
        finish({ kind: 'answered', status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') })
      res.on('data', (chunk: Buffer) => {
        if (size >= MAX_BODY_BYTES) return
        chunks.push(chunk.subarray(0, MAX_BODY_BYTES - size))
        size += chunk.length
        if (size >= MAX_BODY_BYTES) done()
      })
      res.on('end', done)
      // The status is in; a body cut short still tells enough.
      res.on('error', done)
      res.on('aborted', done)
    })
    req.end()
  })
}

/** A request handler the probe can drive: `node:http`'s, an Express app, Koa's `app.callback()`. */
export type ProbeHandler = (req: IncomingMessage, res: ServerResponse) => unknown

/**
 * Serves `handler` on an ephemeral 127.0.0.1 port for the duration of `run`.
 * A real server, not a simulated request: the header cases (repeated lines,
 * underscores, a header over Node's size limit) reach the handler exactly as
 * they would in production, and `req.socket.remoteAddress` is a real peer
 * address for `trustedProxies`. A handler that throws or rejects is answered
 * 500, as a framework would.
 */
export async function withHandlerServer<T>(handler: ProbeHandler, run: (base: URL) => Promise<T>): Promise<T> {
  const fail = (res: ServerResponse) => {
    if (res.headersSent) res.destroy()
    else res.writeHead(500).end()
  }
  const server = createServer((req, res) => {
    try {
      const result = handler(req, res)
      if (result instanceof Promise) result.catch(() => fail(res))
    } catch {
      fail(res)
    }
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  try {
    return await run(new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`))
  } finally {
    await new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    })
  }
}
