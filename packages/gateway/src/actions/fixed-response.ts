import type { OutgoingHttpHeaders } from 'node:http'
import type { FixedResponseAction } from '../config/model.js'
import type { ActionHandler } from '../core/actions.js'
import type { RequestContext } from '../core/request.js'
import { SERVER_HEADER } from '../core/responses.js'

/**
 * Creates the handler of a `fixed-response` action: the configured status,
 * `Content-Type` (when configured) and body, with `Content-Length`, plus the
 * `Set-Cookie` values earlier actions queued. The body and headers are built
 * once, here; a request only copies the headers when it has cookies to add.
 *
 * Statuses that cannot carry content are honoured: 204 is sent without body or
 * `Content-Length`, 205 with `Content-Length: 0`. For `HEAD` requests Node sends
 * the headers (with the body's length) and no body.
 *
 * @example
 * ```ts
 * const notFound = createFixedResponseAction({ type: 'fixed-response', order: 1, statusCode: 404,
 *   contentType: 'text/plain', messageBody: 'not found' })
 * notFound.run(ctx) // 'responded'
 * ```
 */
export function createFixedResponseAction(action: FixedResponseAction): ActionHandler {
  const status = action.statusCode
  const bodyless = status === 204 || status === 205
  const body = bodyless ? Buffer.alloc(0) : Buffer.from(action.messageBody ?? '', 'utf8')
  const headers: OutgoingHttpHeaders = { server: SERVER_HEADER }
  if (action.contentType !== undefined && !bodyless) headers['content-type'] = action.contentType
  if (status !== 204) headers['content-length'] = body.length

  return {
    run(ctx: RequestContext) {
      const cookies = ctx.responseCookies
      ctx.res.writeHead(status, cookies.length > 0 ? { ...headers, 'set-cookie': cookies } : headers)
      ctx.res.end(body)
      return 'responded'
    },
  }
}
