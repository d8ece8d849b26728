import type { OutgoingHttpHeaders, ServerResponse } from 'node:http'

/** Status codes the load balancer itself answers with when forwarding fails. */
export type GatewayErrorStatus = 502 | 503 | 504

const REASONS: Record<GatewayErrorStatus, string> = {
  502: 'Bad Gateway',
  503: 'Service Temporarily Unavailable',
  504: 'Gateway Time-out',
}

// ALB's own error pages: a tiny HTML document naming the status, nothing else.
const BODIES = new Map<number, Buffer>(
  (Object.keys(REASONS) as unknown as GatewayErrorStatus[]).map((s) => {
    const title = `${s} ${REASONS[s]}`
    return [
      Number(s),
      Buffer.from(
        `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n</body>\r\n</html>\r\n`,
      ),
    ]
  }),
)

/**
 * Answers with ALB's error page for `status`, carrying `responseCookies`.
 * When the response is bound to an upgrade socket (`closeConnection`), the
 * connection is closed after the page. Does nothing if the client is gone or
 * headers were already sent (the caller then destroys the connection).
 *
 * @example
 * sendGatewayError(ctx.res, 502, ctx.responseCookies)
 */
export function sendGatewayError(
  res: ServerResponse,
  status: GatewayErrorStatus,
  responseCookies: readonly string[],
  closeConnection = false,
): void {
  if (res.headersSent || res.destroyed) return
  const socket = res.socket
  const body = BODIES.get(status)!
  const headers: OutgoingHttpHeaders = {
    'content-type': 'text/html',
    'content-length': body.length,
  }
  if (responseCookies.length > 0) headers['set-cookie'] = responseCookies as string[]
  if (closeConnection) {
    headers.connection = 'close'
    // An upgrade socket is not managed by the HTTP server: close it ourselves once the page is out.
    res.once('finish', () => socket?.destroySoon())
  }
  res.writeHead(status, headers)
  // Node drops the body itself for HEAD requests.
  res.end(body)
}
