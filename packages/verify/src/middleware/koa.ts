/**
 * `@portcullis/verify/koa`: Koa 3 middleware. Imports only types from Koa,
 * so Koa is never a runtime dependency.
 *
 * @packageDocumentation
 */
import type { Middleware } from 'koa'
import type { AlbIdentity } from '../index.js'
import { type AlbAuthOptions, AlbAuthRejection, createAlbAuthenticator } from './common.js'

export type { AlbIdentity } from '../index.js'
export type { AlbAuthOptions } from './common.js'

/** Koa state of a route guarded by {@link albAuth}: `ctx.state.alb` is the identity. */
export type AlbState = { alb: AlbIdentity }

/** Koa state under `allowAnonymous: true`: `ctx.state.alb` may be `undefined`. */
export type AlbAnonymousState = { alb: AlbIdentity | undefined }

/**
 * Koa middleware that verifies the ALB identity headers and sets
 * `ctx.state.alb` to `{ claims, accessToken, identity }`, then calls
 * `next()`. Other requests are answered here: 401 (JSON body
 * `{ error, message }`, `WWW-Authenticate`), 403 for an untrusted peer
 * (`trustedProxies`, checked against `ctx.req.socket.remoteAddress` — never
 * `X-Forwarded-For`, whatever `app.proxy` says), 503 with `Retry-After` when
 * the key server is unreachable.
 *
 * @example
 * ```ts
 * import Koa from 'koa'
 * import { albAuth, type AlbState } from '@portcullis/verify/koa'
 *
 * const app = new Koa<AlbState>()
 * app.use(albAuth({ signer: 'arn:aws:elasticloadbalancing:…', issuer: 'https://idp.example.com', clientId: 'my-client-id' }))
 * app.use((ctx) => { ctx.body = { email: ctx.state.alb.claims.email } })
 * ```
 */
export function albAuth(options: AlbAuthOptions & { readonly allowAnonymous: true }): Middleware<AlbAnonymousState>
export function albAuth(options: AlbAuthOptions & { readonly allowAnonymous?: false }): Middleware<AlbState>
export function albAuth(options: AlbAuthOptions): Middleware<AlbAnonymousState>
export function albAuth(options: AlbAuthOptions): Middleware<AlbAnonymousState> {
  const authenticate = createAlbAuthenticator(options)
  return async (ctx, next) => {
    const result = await authenticate(ctx.req.headers, ctx.req.socket.remoteAddress)
    if (result instanceof AlbAuthRejection) {
      ctx.status = result.status
      ctx.set(result.headers)
      ctx.body = result.body
      return
    }
    ctx.state.alb = result
    await next()
  }
}
