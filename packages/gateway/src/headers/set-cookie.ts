/**
 * The one place that writes `Set-Cookie` values. Every cookie the gateway
 * sets is opaque (base64url, alphanumerics) and never URL-encoded, so the
 * value is written as it is. Attributes always come in this order:
 * `Max-Age`, `Expires`, `Secure`, `HttpOnly`, `Path`, `SameSite`.
 */

/** Attributes of one `Set-Cookie` value; `Path` is `/` unless given. */
export interface SetCookieAttributes {
  /** Seconds; `0` expires the cookie now. */
  readonly maxAge?: number
  /** An HTTP date (`Date.prototype.toUTCString()`), or a date to format. */
  readonly expires?: string | Date
  readonly secure?: boolean
  readonly httpOnly?: boolean
  readonly path?: string
  readonly sameSite?: 'Strict' | 'Lax' | 'None'
}

/** The `Expires` of a cookie being removed (with `Max-Age=0` for browsers that ignore `Expires`). */
const EPOCH = 'Thu, 01 Jan 1970 00:00:00 GMT'

/**
 * A `Set-Cookie` value.
 *
 * @example
 * setCookie('AWSALBAuthNonce', nonce, { maxAge: 900, httpOnly: true, sameSite: 'Lax' })
 * // 'AWSALBAuthNonce=…; Max-Age=900; HttpOnly; Path=/; SameSite=Lax'
 */
export function setCookie(name: string, value: string, attrs: SetCookieAttributes): string {
  let out = `${name}=${value}`
  if (attrs.maxAge !== undefined) out += `; Max-Age=${attrs.maxAge}`
  if (attrs.expires !== undefined) {
    out += `; Expires=${typeof attrs.expires === 'string' ? attrs.expires : attrs.expires.toUTCString()}`
  }
  if (attrs.secure === true) out += '; Secure'
  if (attrs.httpOnly === true) out += '; HttpOnly'
  out += `; Path=${attrs.path ?? '/'}`
  if (attrs.sameSite !== undefined) out += `; SameSite=${attrs.sameSite}`
  return out
}

/**
 * A `Set-Cookie` value that removes `name` now. The other attributes must be
 * those the cookie was set with, or some browsers keep it.
 */
export function expiredCookie(name: string, attrs: Omit<SetCookieAttributes, 'maxAge' | 'expires'>): string {
  return setCookie(name, '', { ...attrs, maxAge: 0, expires: EPOCH })
}
