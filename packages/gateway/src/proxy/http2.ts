import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http'
import {
  type ClientHttp2Stream,
  constants,
  type IncomingHttpHeaders as H2Headers,
  type Http2ServerResponse,
} from 'node:http2'
import { http2StreamOf, isGrpcRequest } from '../core/http2.js'
import type { ClientGoneListener, RequestContext } from '../core/request.js'
import { sendError } from '../core/responses.js'
import { HOP_BY_HOP } from '../headers/request-headers.js'
import type { Target, TargetGroupRuntime } from '../targets/target-group.js'
import { classifyTargetError } from './http.js'

/**
 * ALB's HTTP 464: the request's protocol does not fit the target group's
 * `ProtocolVersion` — an HTTP/1.1 request to an `HTTP2` or `GRPC` group, a
 * gRPC request to an `HTTP1` group, a request that is not gRPC to a `GRPC`
 * group.
 */
export function protocolMismatch(ctx: RequestContext, version: 'HTTP1' | 'HTTP2' | 'GRPC'): boolean {
  const grpc = isGrpcRequest(ctx.req)
  if (version !== 'HTTP2' && version !== 'GRPC') return grpc
  if (ctx.upgrade !== undefined || ctx.req.httpVersionMajor !== 2) return true
  return version === 'GRPC' && !grpc
}

/** Response headers from the target that HTTP/2 does not carry (RFC 9113 §8.2.2), besides the pseudo-headers. */
function responseHeaders(headers: H2Headers, ctx: RequestContext): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {}
  for (const name of Object.keys(headers)) {
    if (name.charCodeAt(0) === 0x3a /* : */ || HOP_BY_HOP.has(name)) continue
    out[name] = headers[name]
  }
  if (ctx.responseCookies.length > 0) {
    const own = out['set-cookie']
    out['set-cookie'] = [...(own === undefined ? [] : Array.isArray(own) ? own : [String(own)]), ...ctx.responseCookies]
  }
  return out
}

/** The target-bound request head: `ctx.upstreamHeaders` as HTTP/2 fields (Host becomes `:authority`). */
function requestHeaders(ctx: RequestContext, scheme: 'http' | 'https'): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {
    ':method': ctx.req.method ?? 'GET',
    ':scheme': scheme,
    ':path': ctx.query === '' ? ctx.path : `${ctx.path}?${ctx.query}`,
  }
  const headers = ctx.upstreamHeaders
  for (const name of Object.keys(headers)) {
    if (name === 'host') out[':authority'] = headers.host
    else out[name] = headers[name]
  }
  // The one `te` HTTP/2 allows; gRPC servers require it, and the client's was dropped with the hop-by-hop headers.
  if ((ctx.req.headers as IncomingHttpHeaders).te === 'trailers') out.te = 'trailers'
  return out
}

/** The fields of a gRPC status, which a trailers-only response carries in its headers. */
const GRPC_STATUS_FIELDS = ['grpc-status', 'grpc-message', 'grpc-status-details-bin'] as const

/** One request forwarded as a stream of the target's HTTP/2 session. */
class Http2Forward implements ClientGoneListener {
  readonly #ctx: RequestContext
  readonly #target: Target
  readonly #group: TargetGroupRuntime
  #upstream: ClientHttp2Stream | undefined
  #done = false

  constructor(ctx: RequestContext, target: Target, group: TargetGroupRuntime) {
    this.#ctx = ctx
    this.#target = target
    this.#group = group
  }

  /** The client reset its stream (or left): the target's stream is cancelled with it. */
  clientGone(): void {
    if (this.#done) return
    this.#upstream?.close(constants.NGHTTP2_CANCEL)
    this.#finish()
  }

  start(): void {
    const ctx = this.#ctx
    const res = ctx.res as unknown as Http2ServerResponse
    const sentAt = performance.now()
    let upstream: ClientHttp2Stream
    try {
      const session = this.#target.http2!.session()
      upstream = session.request(requestHeaders(ctx, this.#group.protocol === 'HTTPS' ? 'https' : 'http'), {
        endStream: http2StreamOf(ctx.req)?.endAfterHeaders ?? true,
      })
    } catch (error) {
      this.#fail(error)
      return
    }
    this.#upstream = upstream
    upstream.setTimeout(this.#group.targetTimeoutMs, () => {
      if (!res.headersSent) this.#fail(Object.assign(new Error('target timeout'), { code: 'ETIMEDOUT' }))
      upstream.close(constants.NGHTTP2_CANCEL)
    })
    if (!upstream.writableEnded) ctx.req.pipe(upstream)
    upstream.on('response', (headers, flags) => {
      const status = Number(headers[':status'])
      ctx.record.targetStatusCode = status
      ctx.record.targetProcessingTime = (performance.now() - sentAt) / 1000
      const out = responseHeaders(headers, ctx)
      // A gRPC trailers-only response (HEADERS that end the stream, grpc-status in them): Node's compatibility
      // response always ends with a trailers frame, so the status moves there, where a gRPC client reads it.
      if ((flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0 && out['grpc-status'] !== undefined) {
        const trailers: OutgoingHttpHeaders = {}
        for (const name of GRPC_STATUS_FIELDS) {
          if (out[name] === undefined) continue
          trailers[name] = out[name]
          delete out[name]
        }
        res.addTrailers(trailers)
      }
      try {
        res.writeHead(status, out)
      } catch {
        ctx.record.targetStatusCode = undefined
        ctx.record.errorReason = 'TargetResponseError'
        upstream.close(constants.NGHTTP2_PROTOCOL_ERROR)
      }
    })
    // gRPC's status travels in the trailers: relayed as the client's trailers.
    upstream.on('trailers', (trailers) => {
      const out: OutgoingHttpHeaders = {}
      for (const name of Object.keys(trailers)) if (name.charCodeAt(0) !== 0x3a) out[name] = trailers[name]
      res.addTrailers(out)
    })
    // Backpressure both ways: pipe pauses the target's stream while the client's is full.
    upstream.pipe(res as unknown as NodeJS.WritableStream)
    upstream.on('close', () => {
      const code = upstream.rstCode ?? constants.NGHTTP2_NO_ERROR
      if (code !== constants.NGHTTP2_NO_ERROR && !this.#done) {
        // The target reset its stream: before the response head a 502, after it the client's stream is reset too.
        if (!res.headersSent) this.#fail(Object.assign(new Error('target reset the stream'), { code: 'ECONNRESET' }))
        else {
          ctx.record.errorReason ??= 'TargetResponseError'
          res.stream.close(code)
        }
      }
      this.#finish()
    })
    upstream.on('error', (error: Error & { code?: string }) => {
      // A stream pending on a session that failed to connect is cancelled, the connect error its cause.
      const cause = error.code === 'ERR_HTTP2_STREAM_CANCEL' && error.cause !== undefined ? error.cause : error
      if (!res.headersSent) this.#fail(cause)
    })
  }

  #fail(error: unknown): void {
    if (this.#done) return
    this.#finish()
    const { status, reason } = classifyTargetError(error)
    this.#ctx.record.errorReason = reason
    sendError(this.#ctx.res, status, this.#ctx)
  }

  #finish(): void {
    if (this.#done) return
    this.#done = true
    this.#group.release(this.#target)
  }
}

/**
 * Forwards `ctx`'s HTTP/2 request to a target of an `HTTP2` or `GRPC` group
 * as a stream of the target's HTTP/2 session: headers, body and trailers
 * both ways, with backpressure; a client reset cancels the target's stream
 * and a target reset resets the client's. Fills `ctx.record` as
 * {@link proxyRequest} does, and answers 502/504 itself when the target
 * fails before its response head.
 */
export function proxyHttp2Request(ctx: RequestContext, target: Target, group: TargetGroupRuntime): void {
  if (ctx.res.destroyed) return
  ctx.record.target = target.address
  group.acquire(target)
  const forward = new Http2Forward(ctx, target, group)
  ctx.whenClientGone = forward
  forward.start()
}
