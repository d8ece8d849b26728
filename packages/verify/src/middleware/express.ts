/**
 * `@portcullis/verify/express`: Express 5 middleware. Imports only types
 * from Express, so Express is never a runtime dependency.
 *
 * @packageDocumentation
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express'
import type { AlbIdentity } from '../index.js'
import { type AlbAuthOptions, AlbAuthRejection, createAlbAuthenticator } from './common.js'

export type { AlbIdentity } from '../index.js'
export type { AlbAuthOptions } from './common.js'

declare global {
  namespace Express {
    interface Request {
      /**
       * The ALB identity verified by `albAuth()` from `@portcullis/verify/express`;
       * `undefined` for anonymous requests under `allowAnonymous: true`, and on
       * routes the middleware does not cover.
       */
      alb?: AlbIdentity
    }
  }
}

/**
 * Express middleware that verifies the ALB identity headers and sets
 * `req.alb` to `{ claims, accessToken, identity }`, then calls `next()`.
 * Other requests are answered here and `next` is not called: 401 (JSON body
 * `{ error, message }`, `WWW-Authenticate`), 403 for an untrusted peer
 * (`trustedProxies`, checked against `req.socket.remoteAddress` — never
 * `X-Forwarded-For`), 503 with `Retry-After` when the key server is
 * unreachable.
 *
 * @example
 * ```ts
 * import express from 'express'
 * import { albAuth } from '@portcullis/verify/express'
 *
 * const app = express()
 * app.use(albAuth({ signer: 'arn:aws:elasticloadbalancing:…', issuer: 'https://idp.example.com', clientId: 'my-client-id' }))
 * app.get('/', (req, res) => { res.json({ email: req.alb?.claims.email }) })
 * ```
 */
export function albAuth(options: AlbAuthOptions): RequestHandler {
  const authenticate = createAlbAuthenticator(options)
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const result = await authenticate(req.headers, req.socket.remoteAddress)
    if (result instanceof AlbAuthRejection) {
      res.status(result.status).set(result.headers).send(result.body)
      return
    }
    req.alb = result
    next()
  }
}
