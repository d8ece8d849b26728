import type { RedirectAction } from '../config/model.js'
import type { ActionHandler } from '../core/actions.js'
import type { RequestContext } from '../core/request.js'
import { SERVER_HEADER } from '../core/responses.js'

/**
 * The `redirect` action. Each of ALB's URI components (`Protocol`, `Host`,
 * `Port`, `Path`, `Query`) is a template that may reuse the request's own
 * components through `#{protocol}`, `#{host}`, `#{port}`, `#{path}` (without
 * its leading `/`) and `#{query}`; a component left at its default keeps the
 * request's value. Templates are parsed once, when the action is created.
 *
 * The result is always an absolute `http`/`https` URL: the host must be a DNS
 * name or an IP literal, the port 1..65535 (omitted when it is the scheme's
 * default), path and query are visible ASCII (non-ASCII text is UTF-8
 * percent-encoded, `#` becomes `%23`). Anything that cannot be made safe —
 * a missing or malformed Host, a control character — is answered with 400,
 * never written into a `Location` header.
 */

/** The request's components a redirect can reuse. */
export interface RedirectSource {
  /** The listener's protocol as the client used it. */
  readonly protocol: 'http' | 'https'
  /** Host (after transforms), lower-case without port; undefined when the request had none. */
  readonly host: string | undefined
  /** The listener's port (what `#{port}` stands for). */
  readonly port: number
  /** Path (after transforms), starting with `/`. */
  readonly path: string
  /** Raw query without `?`, empty when none. */
  readonly query: string
}

const PLACEHOLDERS = ['protocol', 'host', 'port', 'path', 'query'] as const
type Placeholder = (typeof PLACEHOLDERS)[number]

/** Literal text and placeholders, in order. */
type Template = readonly (string | { readonly placeholder: Placeholder })[]

function parseTemplate(text: string): Template {
  const parts: (string | { placeholder: Placeholder })[] = []
  let rest = text
  for (;;) {
    const at = rest.indexOf('#{')
    const end = at < 0 ? -1 : rest.indexOf('}', at)
    const name = end < 0 ? undefined : rest.slice(at + 2, end)
    if (at < 0 || name === undefined || !(PLACEHOLDERS as readonly string[]).includes(name)) {
      if (rest.length > 0) parts.push(rest)
      return parts
    }
    if (at > 0) parts.push(rest.slice(0, at))
    parts.push({ placeholder: name as Placeholder })
    rest = rest.slice(end + 1)
  }
}

/** Expands a template; undefined when it needs `#{host}` and the request had no host. */
function expand(template: Template, source: RedirectSource): string | undefined {
  let out = ''
  for (const part of template) {
    if (typeof part === 'string') {
      out += part
      continue
    }
    switch (part.placeholder) {
      case 'protocol':
        out += source.protocol
        break
      case 'host':
        if (source.host === undefined) return undefined
        out += source.host
        break
      case 'port':
        out += String(source.port)
        break
      case 'path':
        out += source.path.startsWith('/') ? source.path.slice(1) : source.path
        break
      case 'query':
        out += source.query
        break
    }
  }
  return out
}

/**
 * Makes a path or query safe for a `Location` header: visible ASCII passes,
 * spaces, `#` (and `?` in a path) are escaped, non-ASCII text (from the
 * configuration: Node's parser refuses it in a request target) is UTF-8
 * percent-encoded. Control characters, including CR and LF, make it undefined.
 */
function sanitize(value: string, isPath: boolean): string | undefined {
  let out: string | undefined
  for (let i = 0; i < value.length; i++) {
    const start = i
    const c = value.charCodeAt(i)
    let replacement: string | undefined
    if (c < 0x20 || c === 0x7f) return undefined
    if (c === 0x20) replacement = '%20'
    else if (c === 0x23) replacement = '%23'
    else if (c === 0x3f && isPath) replacement = '%3F'
    else if (c > 0x7f) {
      const next = value.charCodeAt(i + 1)
      const pair = c >= 0xd800 && c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff
      try {
        replacement = encodeURIComponent(value.slice(i, pair ? i + 2 : i + 1))
      } catch {
        return undefined // a lone surrogate cannot be encoded
      }
      if (pair) i++
    }
    if (replacement !== undefined) {
      out ??= value.slice(0, start)
      out += replacement
    } else if (out !== undefined) out += value[i]
  }
  return out ?? value
}

/** A DNS name (letters, digits, `-`, `_`, dots) or an IPv6 literal in brackets. */
const VALID_HOST = /^(?:[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?|\[[0-9a-f:.]+\])$/i

/** Templates of one redirect action, parsed and checked once. */
interface CompiledRedirect {
  readonly protocol: Template
  readonly host: Template
  readonly port: Template
  readonly path: Template
  readonly query: Template
}

function compileRedirect(action: RedirectAction): CompiledRedirect {
  const protocol = action.protocol.toLowerCase()
  if (protocol !== 'http' && protocol !== 'https' && action.protocol !== '#{protocol}') {
    throw new Error(`redirect Protocol must be HTTP, HTTPS or #{protocol}, got "${action.protocol}"`)
  }
  if (action.port !== '#{port}' && !(/^[1-9]\d{0,4}$/.test(action.port) && Number(action.port) <= 65535)) {
    throw new Error(`redirect Port must be 1..65535 or #{port}, got "${action.port}"`)
  }
  if (!action.path.startsWith('/')) throw new Error(`redirect Path must start with "/", got "${action.path}"`)
  return {
    protocol: parseTemplate(action.protocol),
    host: parseTemplate(action.host),
    port: parseTemplate(action.port),
    path: parseTemplate(action.path),
    query: parseTemplate(action.query),
  }
}

function build(compiled: CompiledRedirect, source: RedirectSource): string | undefined {
  const protocol = expand(compiled.protocol, source)?.toLowerCase()
  if (protocol !== 'http' && protocol !== 'https') return undefined
  const host = expand(compiled.host, source)
  if (host === undefined || !VALID_HOST.test(host)) return undefined
  const portText = expand(compiled.port, source)
  const port = portText !== undefined && /^\d{1,5}$/.test(portText) ? Number(portText) : 0
  if (port < 1 || port > 65535) return undefined
  const rawPath = expand(compiled.path, source)
  const path = rawPath === undefined ? undefined : sanitize(rawPath, true)
  if (path === undefined || !path.startsWith('/')) return undefined
  const rawQuery = expand(compiled.query, source)
  const query = rawQuery === undefined ? undefined : sanitize(rawQuery, false)
  if (query === undefined) return undefined
  const defaultPort = protocol === 'https' ? 443 : 80
  return (
    `${protocol}://${host.toLowerCase()}${port === defaultPort ? '' : `:${port}`}${path}` +
    (query.length > 0 ? `?${query}` : '')
  )
}

/**
 * Builds the `Location` of a redirect action for a request, or undefined when
 * no safe absolute URL can be built (the action then answers 400).
 *
 * @throws {Error} when the action itself is malformed (bad Protocol, Port or Path).
 * @example
 * ```ts
 * buildRedirectLocation(
 *   { type: 'redirect', order: 1, statusCode: 301, protocol: 'HTTPS', host: '#{host}', port: '443',
 *     path: '/#{path}', query: '#{query}' },
 *   { protocol: 'http', host: 'example.com', port: 80, path: '/a/b', query: 'x=1' },
 * ) // 'https://example.com/a/b?x=1'
 * ```
 */
export function buildRedirectLocation(action: RedirectAction, source: RedirectSource): string | undefined {
  return build(compileRedirect(action), source)
}

const BAD_REQUEST_BODY = Buffer.from('400 Bad Request\n')

/**
 * Creates the handler of a `redirect` action: 301 or 302 with `Location`, an
 * empty body, the `Set-Cookie` values earlier actions queued, and
 * `record.redirectUrl` set for the access log.
 *
 * @throws {Error} when the action is malformed (bad Protocol, Port or Path); the loader validates first.
 * @example
 * ```ts
 * const toHttps = createRedirectAction(rule.actions[0] as RedirectAction)
 * await toHttps.run(ctx) // 'responded'
 * ```
 */
export function createRedirectAction(action: RedirectAction): ActionHandler {
  const compiled = compileRedirect(action)
  return {
    run(ctx: RequestContext) {
      const location = build(compiled, {
        protocol: ctx.protocol,
        host: ctx.host,
        port: ctx.listener.port,
        path: ctx.path,
        query: ctx.query,
      })
      const cookies = ctx.responseCookies
      if (location === undefined) {
        ctx.res.writeHead(400, {
          server: SERVER_HEADER,
          'content-type': 'text/plain; charset=utf-8',
          'content-length': BAD_REQUEST_BODY.length,
          ...(cookies.length > 0 ? { 'set-cookie': cookies } : {}),
        })
        ctx.res.end(BAD_REQUEST_BODY)
        return 'responded'
      }
      ctx.record.redirectUrl = location
      ctx.res.writeHead(action.statusCode, {
        server: SERVER_HEADER,
        location,
        'content-length': 0,
        ...(cookies.length > 0 ? { 'set-cookie': cookies } : {}),
      })
      ctx.res.end()
      return 'responded'
    },
  }
}
