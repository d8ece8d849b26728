import { AlbVerifyError } from './errors.js'

/** Anything that carries request headers: Node's `req.headers`, a fetch `Headers`, or a plain record. */
export type HeaderSource =
  | { get(name: string): string | null }
  | Readonly<Record<string, string | string[] | undefined>>

function isHeadersLike(headers: HeaderSource): headers is { get(name: string): string | null } {
  return typeof (headers as { get?: unknown }).get === 'function'
}

/**
 * Reads one header (`name` lowercase). An absent or empty header is
 * `undefined`; a repeated one (an array, or a plain record holding the name in
 * several casings) is `ERR_MALFORMED`, because which copy ALB sent is unknowable.
 */
export function readSingleHeader(headers: HeaderSource, name: string): string | undefined {
  let value: string | string[] | null | undefined
  if (isHeadersLike(headers)) {
    value = headers.get(name)
  } else {
    value = headers[name]
    if (value === undefined) {
      // Node and every framework lower-case names; other records get a scan.
      for (const key in headers) {
        if (key.length !== name.length || key.toLowerCase() !== name) continue
        if (value !== undefined) throw new AlbVerifyError('ERR_MALFORMED', `header ${name} is repeated`)
        value = headers[key]
      }
    }
  }
  if (value === null || value === undefined || value === '') return undefined
  if (typeof value !== 'string') {
    throw new AlbVerifyError('ERR_MALFORMED', `header ${name} is repeated`)
  }
  return value
}
