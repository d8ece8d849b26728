import { type ServerResponse, STATUS_CODES } from 'node:http'
import type { RequestContext } from '../actions/types.js'

const bodies = new Map<number, Buffer>()

/** ALB-style minimal HTML error page; cached per status. Never any detail about the cause. */
function errorBody(status: number): Buffer {
  let body = bodies.get(status)
  if (body === undefined) {
    const text = `${status} ${STATUS_CODES[status] ?? 'Error'}`
    body = Buffer.from(
      `<html>\r\n<head><title>${text}</title></head>\r\n<body>\r\n<center><h1>${text}</h1></center>\r\n</body>\r\n</html>\r\n`,
    )
    bodies.set(status, body)
  }
  return body
}

/**
 * Answers with a load-balancer-generated error. Cookies that earlier actions
 * queued (for example clearing a stale session) still reach the client.
 */
export function sendError(res: ServerResponse, status: number, ctx: RequestContext | undefined): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  const body = errorBody(status)
  const headers: Record<string, string | string[] | number> = {
    'content-type': 'text/html',
    'content-length': body.length,
    'cache-control': 'no-store',
  }
  if (ctx !== undefined && ctx.responseCookies.length > 0) headers['set-cookie'] = ctx.responseCookies
  if (status === 400 || status === 414 || status === 431) headers.connection = 'close'
  res.writeHead(status, headers)
  res.end(body)
}
