import type { AuthErrorReason, SharedStateErrorReason } from '../core/errors.js'
import type { RequestContext } from '../core/request.js'
import { SERVER_HEADER } from '../core/responses.js'
import { PortcullisError } from '../values/errors.js'

/**
 * One refused or failed authentication step: the HTTP status the client
 * gets and ALB's access-log `error_reason` (none for 561, the IdP's own
 * error, which ALB does not log as one). `fault` separates the gateway's or
 * IdP's faults (ELBAuthError, 5xx) from refusals (ELBAuthFailure).
 */
export class AuthError extends PortcullisError {
  declare readonly code: 'ERR_AUTH'
  constructor(
    readonly status: 401 | 500 | 561,
    readonly reason: AuthErrorReason | SharedStateErrorReason | undefined,
    options?: { cause?: unknown },
  ) {
    super('ERR_AUTH', reason ?? `authentication failed with ${status}`, options)
    this.name = 'AuthError'
  }

  /** True for 5xx answers (counted as ELBAuthError rather than ELBAuthFailure). */
  get fault(): boolean {
    return this.status === 500
  }
}

/**
 * Ends the request with a 302 to `location`, carrying the cookies queued on
 * the context (session shards, nonce cookie, clearing of stale shards).
 */
export function sendRedirect(ctx: RequestContext, location: string): void {
  const res = ctx.res
  ctx.record.redirectUrl = location
  const headers: Record<string, string | string[] | number> = {
    server: SERVER_HEADER,
    location,
    'cache-control': 'no-store',
    'content-length': 0,
  }
  if (ctx.responseCookies.length > 0) headers['set-cookie'] = ctx.responseCookies
  res.writeHead(302, headers)
  res.end()
}
