/**
 * Parses a `Cookie` header into a map, first occurrence winning. Values are
 * taken as they are: ALB's cookies are opaque and never URL-encoded, and
 * decoding would let two spellings of one value exist. Hand-written because it
 * sits on the per-request path and needs no more than this.
 */
export function parseCookieHeader(
  header: string | undefined,
  into: Map<string, string> = new Map(),
): Map<string, string> {
  if (header === undefined || header === '') return into
  let start = 0
  const length = header.length
  while (start < length) {
    let end = header.indexOf(';', start)
    if (end === -1) end = length
    const eq = header.indexOf('=', start)
    if (eq !== -1 && eq < end) {
      const name = header.slice(start, eq).trim()
      if (name !== '' && !into.has(name)) {
        let value = header.slice(eq + 1, end).trim()
        if (value.length >= 2 && value.charCodeAt(0) === 0x22 && value.charCodeAt(value.length - 1) === 0x22) {
          value = value.slice(1, -1)
        }
        into.set(name, value)
      }
    }
    start = end + 1
  }
  return into
}
