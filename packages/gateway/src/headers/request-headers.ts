import type { OutgoingHttpHeaders } from 'node:http'

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1) plus the legacy ones proxies still see,
 * dropped in both directions. `upgrade` is re-added by the WebSocket path itself.
 */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
])

/** Headers the load balancer owns: whatever the client sent is replaced. */
const LB_OWNED = new Set(['x-forwarded-proto', 'x-forwarded-port', 'x-amzn-trace-id'])

/**
 * The prefixes of the headers the load balancer vouches for: the identity
 * headers of authenticate actions (`x-amzn-oidc-*`), the client-certificate
 * headers of mutual TLS (`x-amzn-mtls-*`) and the TLS version and cipher
 * headers (`x-amzn-tls-*`). A target trusts them because only the load
 * balancer can have set them, so a client's copy never passes, whatever the
 * listener's mode or attributes.
 */
const LB_HEADER_PREFIX = 'x-amzn-'
const LB_HEADER_KINDS = ['oidc-', 'mtls-', 'tls-'] as const

/**
 * True for a client-sent header that could be mistaken for one the load
 * balancer vouches for (`x-amzn-oidc-*`, `x-amzn-mtls-*`, `x-amzn-tls-*`),
 * compared case-insensitively with `_` treated as `-` (some servers, and
 * CGI-style frameworks, fold the two). `name` must already be lower-case.
 */
export function isIdentityHeaderName(name: string): boolean {
  // Cheap gates first: most names do not start with `x`, most `x-` names are not `x-amzn-`.
  if (name.length < 11 || name.charCodeAt(0) !== 0x78 /* x */) return false
  if (!startsWithFolded(name, LB_HEADER_PREFIX, 0)) return false
  for (const kind of LB_HEADER_KINDS) if (startsWithFolded(name, kind, LB_HEADER_PREFIX.length)) return true
  return false
}

/**
 * `name.replaceAll('_', '-').startsWith(part, at)` without the copy: browsers
 * and SDKs send a dozen or more `x-…` headers a request, and copying each
 * cost more than the rest of its handling (BENCHMARKS.md, round 4).
 */
function startsWithFolded(name: string, part: string, at: number): boolean {
  if (name.length < at + part.length) return false
  for (let i = 0; i < part.length; i++) {
    const c = name.charCodeAt(at + i)
    if ((c === 0x5f /* _ */ ? 0x2d /* - */ : c) !== part.charCodeAt(i)) return false
  }
  return true
}

/** True when `name` (lower-case) is one of `renamed`, with `_` read as `-` as for the identity headers. */
export function isRenamed(name: string, renamed: ReadonlySet<string>): boolean {
  return renamed.has(name.includes('_') ? name.replaceAll('_', '-') : name)
}

/**
 * ALB's valid header name (`routing.http.drop_invalid_header_fields.enabled`):
 * `[-A-Za-z0-9]+`. HTTP allows more (`_`, `.`, `!`, …), and that is the
 * point of the attribute: a target or framework that folds `_` into `-`
 * (CGI-style `HTTP_X_AMZN_OIDC_DATA`) cannot be fed a look-alike of a header
 * the load balancer vouches for. Checked by character code: this runs on
 * every header of every request when the attribute is on.
 */
export function isValidHeaderName(name: string): boolean {
  if (name.length === 0) return false
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i)
    // Lower-case letters first: the names reaching here are lower-cased.
    if ((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || (c >= 0x41 && c <= 0x5a)) continue
    return false
  }
  return true
}

export interface UpstreamHeaderResult {
  /** Headers to send to the target, lower-case names; duplicates as arrays. */
  headers: OutgoingHttpHeaders
  /** The client's `X-Amzn-Trace-Id`, if any (the caller decides how to extend it). */
  clientTraceId: string | undefined
  /** The client's `X-Forwarded-For`, if any (joined when sent several times). */
  clientForwardedFor: string | undefined
  /** Number of identity, mTLS and TLS headers the client tried to send (for logs and tests). */
  strippedIdentityHeaders: number
  /** Number of headers dropped for a name outside `[-A-Za-z0-9]` (only with `dropInvalidNames`). */
  droppedInvalidHeaders: number
}

/**
 * Builds the target-bound header set from `rawHeaders` in one pass: drops
 * hop-by-hop headers (and every header named in `Connection`), drops every
 * client-sent identity header, drops the headers the load balancer sets
 * itself, and — with `dropInvalidNames` (the load balancer's
 * `routing.http.drop_invalid_header_fields.enabled`) — drops every header
 * whose name is not {@link isValidHeaderName valid}. This is the first thing
 * that looks at a request, so nothing later — rules, actions, targets — can
 * ever see a spoofed identity header. `renamedLoadBalancerHeaders` (lower
 * case) are the names listener attributes gave the load balancer's mTLS and
 * TLS headers: a client's copy of one is dropped as its original would be.
 *
 * With `http2` (an HTTP/2 client, the target spoken to over HTTP/1.1), as
 * RFC 9113 §8.3 and §8.2.3 say: the pseudo-headers are dropped (the caller
 * turns `:authority` into Host) and cookie crumbs, which HTTP/2 clients send
 * as separate fields, are joined into one `Cookie` with `; `.
 */
export function buildUpstreamHeaders(
  rawHeaders: readonly string[],
  dropInvalidNames = false,
  renamedLoadBalancerHeaders?: ReadonlySet<string>,
  http2 = false,
): UpstreamHeaderResult {
  // A plain object (fast properties) rather than a null-prototype dictionary;
  // `__proto__` is the one name that would misbehave, and it is dropped below.
  const headers: OutgoingHttpHeaders = {}
  let connectionTokens: Set<string> | undefined
  let clientTraceId: string | undefined
  let clientForwardedFor: string | undefined
  let stripped = 0
  let invalid = 0

  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase()
    const value = rawHeaders[i + 1]!
    if (name === 'connection') {
      // The usual values name no other header: skip tokenising them.
      const lower = value.toLowerCase()
      if (lower === 'keep-alive' || lower === 'close') continue
      for (const token of lower.split(',')) {
        const t = token.trim()
        if (t === '') continue
        connectionTokens ??= new Set()
        connectionTokens.add(t)
      }
      continue
    }
    if (HOP_BY_HOP.has(name) || name === '__proto__') continue
    if (http2 && name.charCodeAt(0) === 0x3a /* : */) continue
    if (
      isIdentityHeaderName(name) ||
      (renamedLoadBalancerHeaders !== undefined && isRenamed(name, renamedLoadBalancerHeaders))
    ) {
      stripped++
      continue
    }
    if (dropInvalidNames && !isValidHeaderName(name)) {
      invalid++
      continue
    }
    if (name === 'x-forwarded-for') {
      clientForwardedFor = clientForwardedFor === undefined ? value : `${clientForwardedFor}, ${value}`
      continue
    }
    if (LB_OWNED.has(name)) {
      if (name === 'x-amzn-trace-id' && clientTraceId === undefined) clientTraceId = value
      continue
    }
    const existing = headers[name]
    // A function is `Object.prototype.constructor` (the one inherited name that is all lower case), never a header.
    if (existing === undefined || typeof existing === 'function') headers[name] = value
    else if (http2 && name === 'cookie') headers.cookie = `${existing as string}; ${value}`
    else if (Array.isArray(existing)) existing.push(value)
    else headers[name] = [existing as string, value]
  }

  if (connectionTokens !== undefined) {
    for (const token of connectionTokens) {
      // A client must not be able to make us drop the headers we add ourselves.
      if (token !== 'host') delete headers[token]
    }
  }
  return {
    headers,
    clientTraceId,
    clientForwardedFor,
    strippedIdentityHeaders: stripped,
    droppedInvalidHeaders: invalid,
  }
}

/**
 * What ALB appends to the Host header going to targets when
 * `routing.http.preserve_host_header.enabled` is off (the default): `:PORT`
 * of the listener, except on 80 and 443, the ports a browser leaves out.
 * Undefined when nothing is appended: the attribute is on, or the listener
 * binds any free port (port 0, a Portcullis extension for tests). Computed
 * once per listener.
 */
export function hostPortSuffix(listenerPort: number, preserveHostHeader: boolean): string | undefined {
  if (preserveHostHeader || listenerPort === 0 || listenerPort === 80 || listenerPort === 443) return undefined
  return `:${listenerPort}`
}

/** Appends `suffix` to the target-bound Host header unless it already carries a port (then ALB leaves it). */
export function appendListenerPort(headers: OutgoingHttpHeaders, suffix: string): void {
  const host = headers.host
  if (typeof host !== 'string' || host === '') return
  const hasPort = host.charCodeAt(0) === 0x5b /* [ */ ? host.includes(']:') : host.includes(':')
  if (!hasPort) headers.host = host + suffix
}

export type XffMode = 'append' | 'preserve' | 'remove'

/**
 * Applies ALB's `routing.http.xff_header_processing.mode`: `append` adds the
 * peer address (with `:port` when `xff_client_port` is on), `preserve` passes
 * the client's value through, `remove` sends none.
 */
export function applyForwardedFor(
  headers: OutgoingHttpHeaders,
  mode: XffMode,
  clientValue: string | undefined,
  peerAddress: string,
  peerPort: number | undefined,
): void {
  if (mode === 'remove') return
  if (mode === 'preserve') {
    if (clientValue !== undefined) headers['x-forwarded-for'] = clientValue
    return
  }
  const peer = peerPort === undefined ? peerAddress : formatHostPort(peerAddress, peerPort)
  headers['x-forwarded-for'] = clientValue === undefined ? peer : `${clientValue}, ${peer}`
}

function formatHostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`
}

/** IPv4-mapped IPv6 peers (`::ffff:1.2.3.4`, from dual-stack sockets) are reported as IPv4, as ALB does. */
export function normalizePeerAddress(address: string | undefined): string {
  if (address === undefined) return ''
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address
}
