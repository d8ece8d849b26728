import type { IncomingMessage, ServerResponse } from 'node:http'
import { type AlbSigningKey, publicKeyPem } from './keys.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const pemCache = new WeakMap<AlbSigningKey, string>()

function pemOf(key: AlbSigningKey): string {
  let pem = pemCache.get(key)
  if (pem === undefined) {
    pem = publicKeyPem(key)
    pemCache.set(key, pem)
  }
  return pem
}

function answer(res: ServerResponse, status: number, body: string, headers: Record<string, string>, head: boolean) {
  res.writeHead(status, { ...headers, 'content-length': String(Buffer.byteLength(body)) })
  res.end(head ? undefined : body)
}

/**
 * A `node:http` request handler that publishes public keys the way ALB's key
 * server does: `GET /{kid}` → `200` with the SPKI PEM
 * (`application/x-pem-file`, cacheable for a day since a kid's key never
 * changes); `HEAD` likewise without a body; unknown or non-UUID kids `404`;
 * other methods `405`. The query string is ignored.
 *
 * `keys` may be a function, called per request, so rotated keys appear
 * without re-creating the handler.
 *
 * The handler routes on `req.url` from its first character, so to serve under
 * a prefix, strip it before calling: Express `app.use('/keys', handler)` does
 * so; with plain `node:http`, set `req.url = req.url.slice('/keys'.length)`
 * first. A verifier is then configured with `keyEndpoint: 'http://host/keys'`.
 *
 * @example
 * ```ts
 * const key = generateSigningKey()
 * http.createServer(createKeyHandler([key])).listen(9800)
 * // verifier: createAlbVerifier({ keyEndpoint: 'http://127.0.0.1:9800', … })
 * ```
 */
export function createKeyHandler(
  keys: readonly AlbSigningKey[] | (() => readonly AlbSigningKey[]),
): (req: IncomingMessage, res: ServerResponse) => void {
  const list = typeof keys === 'function' ? keys : () => keys
  return (req, res) => {
    const head = req.method === 'HEAD'
    if (req.method !== 'GET' && !head) {
      answer(
        res,
        405,
        'method not allowed\n',
        { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' },
        false,
      )
      return
    }
    const url = req.url ?? ''
    const query = url.indexOf('?')
    const path = query < 0 ? url : url.slice(0, query)
    const kid = path.startsWith('/') ? path.slice(1) : ''
    if (UUID.test(kid)) {
      const wanted = kid.toLowerCase()
      for (const key of list()) {
        if (key.kid.toLowerCase() === wanted) {
          answer(
            res,
            200,
            pemOf(key),
            { 'content-type': 'application/x-pem-file', 'cache-control': 'public, max-age=86400, immutable' },
            head,
          )
          return
        }
      }
    }
    answer(res, 404, 'key not found\n', { 'content-type': 'text/plain; charset=utf-8' }, head)
  }
}
