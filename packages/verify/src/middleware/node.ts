/**
 * `@portcullis/verify/node`: protect a plain `node:http` request listener.
 *
 * @packageDocumentation
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AlbIdentity } from '../index.js'
import { type AlbAuthOptions, AlbAuthRejection, createAlbAuthenticator } from './common.js'

export type { AlbIdentity } from '../index.js'
export {
  type AlbAuthenticator,
  type AlbAuthOptions,
  AlbAuthRejection,
  type AlbAuthResult,
  type AlbRequestHeaders,
  createAlbAuthenticator,
  DEFAULT_RETRY_AFTER_SECONDS,
  rejectionFor,
} from './common.js'

/**
 * A `node:http` request listener that also receives the verified identity.
 * `identity` is `undefined` only for anonymous requests under
 * `allowAnonymous: true`.
 */
export type AlbRequestListener<I extends AlbIdentity | undefined = AlbIdentity> = (
  req: IncomingMessage,
  res: ServerResponse,
  identity: I,
) => void | Promise<void>

// A WeakMap rather than a property on IncomingMessage: no global type
// augmentation (IncomingMessage is also the type of every client response),
// and the entry goes away with the request.
const identities = new WeakMap<IncomingMessage, AlbIdentity>()

/**
 * Wraps a `node:http` request listener so that it runs only for requests
 * whose ALB identity verified. The identity is passed as a third argument
 * and is also available anywhere through {@link getAlbIdentity}. Other
 * requests are answered here: 401 (JSON body with the error code and a
 * `WWW-Authenticate` header), 403 for an untrusted peer (`trustedProxies`),
 * 503 with `Retry-After` when the key server is unreachable.
 *
 * The peer address checked against `trustedProxies` is
 * `req.socket.remoteAddress`.
 *
 * The returned listener resolves once the handler has finished; an error the
 * handler throws propagates (as it would from an unwrapped listener) and is
 * not turned into a response here.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http'
 * import { withAlbAuth } from '@portcullis/verify/node'
 *
 * const options = { signer: 'arn:aws:elasticloadbalancing:…', issuer: 'https://idp.example.com', clientId: 'my-client-id' }
 * createServer(withAlbAuth(options, (req, res, { claims }) => {
 *   res.end(`hello ${String(claims.email)}`)
 * })).listen(8080)
 * ```
 */
export function withAlbAuth(
  options: AlbAuthOptions & { readonly allowAnonymous: true },
  handler: AlbRequestListener<AlbIdentity | undefined>,
): (req: IncomingMessage, res: ServerResponse) => Promise<void>
export function withAlbAuth(
  options: AlbAuthOptions & { readonly allowAnonymous?: false },
  handler: AlbRequestListener<AlbIdentity>,
): (req: IncomingMessage, res: ServerResponse) => Promise<void>
export function withAlbAuth(
  options: AlbAuthOptions,
  handler: AlbRequestListener<AlbIdentity | undefined>,
): (req: IncomingMessage, res: ServerResponse) => Promise<void>
export function withAlbAuth(
  options: AlbAuthOptions,
  handler: AlbRequestListener<AlbIdentity>,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const authenticate = createAlbAuthenticator(options)
  return async (req, res) => {
    const result = await authenticate(req.headers, req.socket.remoteAddress)
    if (result instanceof AlbAuthRejection) {
      res.writeHead(result.status, result.headers).end(result.body)
      return
    }
    if (result !== undefined) identities.set(req, result)
    // `undefined` only under allowAnonymous, whose overloads demand a handler accepting it.
    await handler(req, res, result as AlbIdentity)
  }
}

/**
 * The identity {@link withAlbAuth} verified for this request, or `undefined`
 * (anonymous request, or a request that did not go through `withAlbAuth`).
 *
 * @example
 * ```ts
 * const sub = getAlbIdentity(req)?.identity
 * ```
 */
export function getAlbIdentity(req: IncomingMessage): AlbIdentity | undefined {
  return identities.get(req)
}
