import { type OutgoingHttpHeaders, type ServerResponse, STATUS_CODES } from 'node:http'
import { isGrpcRequest } from './http2.js'
import type { RequestContext } from './request.js'

/**
 * Statuses the load balancer answers with on its own: malformed requests
 * (400, 414, 431), refused or failed authentication (401, 500, 561), a bug
 * (500), and failed forwarding (502, 503, 504).
 */
export type ErrorStatus = 400 | 401 | 414 | 431 | 464 | 500 | 502 | 503 | 504 | 561

/**
 * The `Server` header of every response the load balancer writes itself
 * (error pages, redirects, fixed responses, login redirects), as ALB's carry
 * it. Responses from targets keep the target's own.
 */
export const SERVER_HEADER = 'awselb/2.0'

// ALB's page titles where they differ from Node's reason phrases.
const ALB_TITLES: Partial<Record<ErrorStatus, string>> = {
  // ALB's own status: the request's protocol does not fit the target group's ProtocolVersion.
  464: 'Incompatible Protocol Versions',
  503: 'Service Temporarily Unavailable',
  504: 'Gateway Time-out',
}

const bodies = new Map<ErrorStatus, Buffer>()

/** gRPC status codes (grpc/doc/statuscodes.md) the load balancer answers with. */
const GRPC = {
  DEADLINE_EXCEEDED: 4,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const

/**
 * The gRPC status for each of the load balancer's own errors. AWS documents
 * none (decision, docs/alb-contract.md): gRPC's HTTP-to-status mapping
 * (grpc/doc/http-grpc-status-mapping.md) where it fits — 400/414/431 and
 * 500 INTERNAL, 401 UNAUTHENTICATED, 502/503 UNAVAILABLE, which clients may
 * retry — and where it is too coarse, the status a client can act on: 504
 * DEADLINE_EXCEEDED (the target may have run the call, so not UNAVAILABLE),
 * 464 UNIMPLEMENTED (the call cannot be served over this route), 561 (the
 * identity provider failed) UNAVAILABLE.
 */
const GRPC_STATUS: Record<ErrorStatus, number> = {
  400: GRPC.INTERNAL,
  401: GRPC.UNAUTHENTICATED,
  414: GRPC.INTERNAL,
  431: GRPC.INTERNAL,
  464: GRPC.UNIMPLEMENTED,
  500: GRPC.INTERNAL,
  502: GRPC.UNAVAILABLE,
  503: GRPC.UNAVAILABLE,
  504: GRPC.DEADLINE_EXCEEDED,
  561: GRPC.UNAVAILABLE,
}

/** The status line of an error, as ALB's page titles write it. */
function errorTitle(status: ErrorStatus): string {
  return `${status} ${ALB_TITLES[status] ?? STATUS_CODES[status] ?? 'Error'}`
}

/** ALB's minimal HTML error page, cached per status. Never any detail about the cause. */
function errorBody(status: ErrorStatus): Buffer {
  let body = bodies.get(status)
  if (body === undefined) {
    const text = errorTitle(status)
    body = Buffer.from(
      `<html>\r\n<head><title>${text}</title></head>\r\n<body>\r\n<center><h1>${text}</h1></center>\r\n</body>\r\n</html>\r\n`,
    )
    bodies.set(status, body)
  }
  return body
}

/**
 * Answers with a load-balancer-generated error page. Cookies that earlier
 * actions queued (for example clearing a stale session) still reach the
 * client. The connection closes after a malformed request (400, 414, 431),
 * and after any error answered on an upgrade request's socket, which the
 * HTTP server no longer manages. If headers were already sent, the only
 * honest signal left is to cut the connection; a client already gone gets
 * nothing.
 *
 * @example
 * ```ts
 * ctx.record.errorReason = 'TargetGroupEmpty'
 * sendError(ctx.res, 503, ctx)
 * ```
 */
export function sendError(res: ServerResponse, status: ErrorStatus, ctx: RequestContext | undefined): void {
  if (res.destroyed) return
  if (res.headersSent) {
    res.destroy()
    return
  }
  if (isGrpcRequest(res.req)) {
    sendGrpcError(res, status, ctx)
    return
  }
  const body = errorBody(status)
  const headers: OutgoingHttpHeaders = {
    server: SERVER_HEADER,
    'content-type': 'text/html',
    'content-length': body.length,
    'cache-control': 'no-store',
  }
  if (ctx !== undefined && ctx.responseCookies.length > 0) headers['set-cookie'] = ctx.responseCookies
  // An HTTP/2 stream has no connection to close (and HTTP/2 forbids the header): only HTTP/1.x gets it.
  if ((status === 400 || status === 414 || status === 431) && res.req.httpVersionMajor !== 2)
    headers.connection = 'close'
  if (ctx?.upgrade !== undefined) {
    headers.connection = 'close'
    const socket = ctx.upgrade.socket
    res.once('finish', () => socket.destroySoon())
  }
  res.writeHead(status, headers)
  // Node drops the body itself for HEAD requests.
  res.end(body)
}

/**
 * A gRPC request gets the error as a gRPC status, which a gRPC client acts on
 * (an HTML page would reach it as a protocol error): HTTP 200,
 * `content-type: application/grpc`, no message, `grpc-status` and
 * `grpc-message` (the error's title, plain ASCII, so nothing to
 * percent-encode) as trailers — Node's compatibility response always ends
 * with a trailers frame, and gRPC clients read the status there. The access
 * log keeps the HTTP status ALB logs (`ctx.record.elbStatusCode`).
 */
function sendGrpcError(res: ServerResponse, status: ErrorStatus, ctx: RequestContext | undefined): void {
  const headers: OutgoingHttpHeaders = { server: SERVER_HEADER, 'content-type': 'application/grpc' }
  if (ctx !== undefined) {
    ctx.record.elbStatusCode = status
    if (ctx.responseCookies.length > 0) headers['set-cookie'] = ctx.responseCookies
  }
  res.writeHead(200, headers)
  res.addTrailers({ 'grpc-status': String(GRPC_STATUS[status]), 'grpc-message': errorTitle(status) })
  res.end()
}
