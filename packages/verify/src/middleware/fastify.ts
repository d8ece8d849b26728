/**
 * `@portcullis/verify/fastify`: a Fastify 5 plugin. Imports only types from
 * Fastify, so Fastify is never a runtime dependency, and does not need
 * `fastify-plugin`: it carries the same markers that package would add.
 *
 * @packageDocumentation
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import type { AlbIdentity } from '../index.js'
import { type AlbAuthOptions, AlbAuthRejection, createAlbAuthenticator } from './common.js'

export type { AlbIdentity } from '../index.js'
export type { AlbAuthOptions } from './common.js'

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * The ALB identity verified by `albAuthPlugin` from
     * `@portcullis/verify/fastify`; `undefined` for anonymous requests under
     * `allowAnonymous: true`.
     */
    alb: AlbIdentity | undefined
  }
}

// Options Fastify's `register` itself understands; they are not verifier options.
type RegisterOptions = { prefix?: string; logLevel?: string; logSerializers?: unknown }

const plugin: FastifyPluginAsync<AlbAuthOptions> = async (fastify, options) => {
  const { prefix: _p, logLevel: _l, logSerializers: _s, ...albOptions } = options as AlbAuthOptions & RegisterOptions
  const authenticate = createAlbAuthenticator(albOptions)
  // Declared up front so every request object has the same shape (Fastify's
  // advice for decorators); the hook sets it on every request.
  if (!fastify.hasRequestDecorator('alb')) fastify.decorateRequest('alb', undefined)
  fastify.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const result = await authenticate(request.headers, request.raw.socket.remoteAddress)
    if (result instanceof AlbAuthRejection) {
      return reply.code(result.status).headers(result.headers).send(result.body)
    }
    request.alb = result
    return undefined
  })
}

/**
 * Fastify plugin that verifies the ALB identity headers in an `onRequest`
 * hook and sets `request.alb` to `{ claims, accessToken, identity }`.
 * Other requests are answered from the hook: 401 (JSON body
 * `{ error, message }`, `WWW-Authenticate`), 403 for an untrusted peer
 * (`trustedProxies`, checked against `request.raw.socket.remoteAddress`),
 * 503 with `Retry-After` when the key server is unreachable.
 *
 * The plugin is not encapsulated (like a `fastify-plugin` plugin): it guards
 * every route of the context it is registered in. To guard only some routes,
 * register it inside a child context together with those routes.
 *
 * @example
 * ```ts
 * import Fastify from 'fastify'
 * import { albAuthPlugin } from '@portcullis/verify/fastify'
 *
 * const app = Fastify()
 * await app.register(albAuthPlugin, { signer: 'arn:aws:elasticloadbalancing:…', issuer: 'https://idp.example.com', clientId: 'my-client-id' })
 * app.get('/', async (request) => ({ email: request.alb?.claims.email }))
 * ```
 */
export const albAuthPlugin: FastifyPluginAsync<AlbAuthOptions> = Object.assign(plugin, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: '@portcullis/verify',
  [Symbol.for('plugin-meta')]: { name: '@portcullis/verify', fastify: '5.x' },
})
