import type { IncomingMessage } from 'node:http'

/**
 * Where the callback may send the browser back to. The original URI travels
 * only inside the sealed `state`, and even then it must be a path on this
 * host: it starts with exactly one `/` (not `//` or `/\`, which browsers read
 * as another host), carries no whitespace or control characters (browsers
 * strip tabs and newlines, turning `/\t/evil` into `//evil`), and resolves to
 * the same origin. Anything else becomes `/`.
 */
export function safeRedirectPath(uri: string): string {
  if (uri.length === 0 || uri.length > 8192) return '/'
  if (uri.charCodeAt(0) !== 0x2f /* / */) return '/'
  const second = uri.charCodeAt(1)
  if (second === 0x2f /* / */ || second === 0x5c /* \ */) return '/'
  for (let i = 0; i < uri.length; i++) {
    const c = uri.charCodeAt(i)
    if (c <= 0x20 || c >= 0x7f || c === 0x5c) return '/'
  }
  const base = 'https://portcullis.invalid'
  try {
    if (new URL(uri, base).origin !== base) return '/'
  } catch {
    return '/'
  }
  return uri
}

// Host header as RFC 9110 allows it: reg-name or IPv4 or [IPv6], optional port.
const HOST = /^(?:[A-Za-z0-9._~-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/

/**
 * The Host header exactly as the client sent it (with its port), for the
 * `redirect_uri`; `undefined` when absent or not a valid host, which ALB
 * answers with 401 AuthMissingHostHeader.
 */
export function requestHost(req: IncomingMessage): string | undefined {
  const host = req.headers.host ?? (req.headers[':authority'] as string | undefined)
  if (host === undefined || host.length > 255 || !HOST.test(host)) return undefined
  return host
}
