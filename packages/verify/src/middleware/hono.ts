/**
 * `@portcullis/verify/hono`: Hono 4 middleware. Imports only types from Hono,
 * so Hono is never a runtime dependency.
 *
 * @packageDocumentation
 */
import type { MiddlewareHandler } from 'hono'
import type { GetConnInfo } from 'hono/conninfo'
import type { AlbIdentity } from '../index.js'
import { type AlbAuthOptions, AlbAuthRejection, type AlbRequestHeaders, createAlbAuthenticator } from './common.js'

export type { AlbIdentity } from '../index.js'
export type { AlbAuthOptions } from './common.js'

/** Hono `Env` of an app or route guarded by {@link albAuth}: `c.get('alb')` is the identity. */
export type AlbEnv = { Variables: { alb: AlbIdentity } }

/** Hono `Env` under `allowAnonymous: true`: `c.get('alb')` may be `undefined`. */
export type AlbAnonymousEnv = { Variables: { alb: AlbIdentity | undefined } }

/** Options of the Hono middleware. */
export type AlbHonoOptions = AlbAuthOptions & {
  /**
   * How to learn the TCP peer address checked against `trustedProxies`.
   * Default: `c.env.incoming.socket.remoteAddress`, which is set by
   * `@hono/node-server`. On other runtimes pass that runtime's Hono helper,
   * e.g. `getConnInfo` from `hono/bun`, `hono/deno` or
   * `hono/cloudflare-workers`. Without either, the address is unknown, and a
   * configured `trustedProxies` rejects every request.
   */
  readonly getConnInfo?: GetConnInfo
}

// The shape `@hono/node-server` gives `c.env` (its `HttpBindings`), spelled
// structurally so that it is not required here. Its header record is read in
// preference to `c.req.raw.headers`, which the adapter builds lazily.
type NodeServerBindings = { incoming?: { headers?: AlbRequestHeaders; socket?: { remoteAddress?: string } } }

/**
 * Hono middleware that verifies the ALB identity headers and sets
 * `c.set('alb', { claims, accessToken, identity })`, then calls `next()`.
 * Other requests are answered here: 401 (JSON body `{ error, message }`,
 * `WWW-Authenticate`), 403 for an untrusted peer (`trustedProxies`), 503
 * with `Retry-After` when the key server is unreachable.
 *
 * @example
 * ```ts
 * import { Hono } from 'hono'
 * import { albAuth, type AlbEnv } from '@portcullis/verify/hono'
 *
 * const app = new Hono<AlbEnv>()
 * app.use(albAuth({ signer: 'arn:aws:elasticloadbalancing:…', issuer: 'https://idp.example.com', clientId: 'my-client-id' }))
 * app.get('/', (c) => c.json({ email: c.get('alb').claims.email }))
 * ```
 */
export function albAuth(options: AlbHonoOptions & { readonly allowAnonymous: true }): MiddlewareHandler<AlbAnonymousEnv>
export function albAuth(options: AlbHonoOptions & { readonly allowAnonymous?: false }): MiddlewareHandler<AlbEnv>
export function albAuth(options: AlbHonoOptions): MiddlewareHandler<AlbAnonymousEnv>
export function albAuth(options: AlbHonoOptions): MiddlewareHandler<AlbAnonymousEnv> | MiddlewareHandler<AlbEnv> {
  const { getConnInfo, ...albOptions } = options
  const authenticate = createAlbAuthenticator(albOptions)
  const middleware: MiddlewareHandler<AlbAnonymousEnv> = async (c, next) => {
    const incoming = (c.env as NodeServerBindings | undefined)?.incoming
    const remoteAddress = getConnInfo ? getConnInfo(c).remote.address : incoming?.socket?.remoteAddress
    const result = await authenticate(incoming?.headers ?? c.req.raw.headers, remoteAddress)
    if (result instanceof AlbAuthRejection) return c.body(result.body, result.status, result.headers)
    c.set('alb', result)
    await next()
    return undefined
  }
  return middleware
}
