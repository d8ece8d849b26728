import { createHash, timingSafeEqual } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Registry } from 'prom-client'
import type { AdminModel } from '../config/model.js'
import { GatewayError } from '../core/errors.js'

export interface AdminDependencies {
  /** Where `/metrics` is read from: this process's registry, or the cluster aggregate in the primary. */
  readonly metrics:
    | { readonly registry: Pick<Registry, 'metrics' | 'contentType'> }
    | { clusterMetrics(): Promise<string>; readonly contentType: string }
  /** The signing-key handler of the configuration now serving, if any rule authenticates. */
  keysHandler(): ((req: IncomingMessage, res: ServerResponse) => void) | undefined
  /** The `/sessions` handler (list and revoke shared sessions) of the configuration now serving, if any rule authenticates. */
  sessionsHandler(): ((req: IncomingMessage, res: ServerResponse) => void) | undefined
  /** The configuration generation now serving, for `/healthz`. */
  generation(): number | undefined
  /** The bearer token the operator endpoints require ({@link readOperatorToken}); undefined: none (loopback only). */
  readonly operatorToken?: string
}

/**
 * The operator endpoints' bearer token, read once when the admin listener
 * starts: the `TokenFile`'s content (one line; the trailing newline a
 * mounted secret has is dropped) or `PORTCULLIS_ADMIN_TOKEN`.
 *
 * @throws {GatewayError} `ERR_ADMIN_TOKEN` when the file cannot be read or the token is shorter than 16 characters.
 */
export function readOperatorToken(admin: AdminModel, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const source = admin.operatorToken
  if (source === undefined) return undefined
  let token: string
  if ('file' in source) {
    try {
      token = readFileSync(source.file, 'utf8').replace(/\r?\n$/, '')
    } catch (error) {
      throw new GatewayError(
        'ERR_ADMIN_TOKEN',
        `cannot read Portcullis.Admin.TokenFile ${source.file}: ${(error as Error).message}`,
      )
    }
  } else token = env[source.env] ?? ''
  if (token.length < 16) {
    throw new GatewayError(
      'ERR_ADMIN_TOKEN',
      'the admin token (Portcullis.Admin.TokenFile or PORTCULLIS_ADMIN_TOKEN) must be at least 16 characters',
    )
  }
  return token
}

/** True when `req` carries `Authorization: Bearer <token>`; compared in constant time (digests of equal length). */
function hasOperatorToken(req: IncomingMessage, token: string): boolean {
  const header = req.headers.authorization
  if (typeof header !== 'string' || !/^Bearer /i.test(header)) return false
  const digest = (s: string) => createHash('sha256').update(s).digest()
  return timingSafeEqual(digest(header.slice(7)), digest(token))
}

const KEYS_PREFIX = '/keys/'

/**
 * The admin listener: `/healthz` (liveness, with the configuration
 * generation), `/metrics` (Prometheus text), `/keys/{kid}` (the identity
 * token signing keys, the endpoint targets point their verifier's
 * `keyEndpoint` at), and `/sessions` (list and revoke shared sessions; see
 * `auth/session/admin.ts`). `/healthz`, `/metrics` and `/keys` are for anyone
 * who reaches the listener; `/sessions` (which reveals and ends users'
 * sessions) requires the operator's bearer token when one is configured,
 * which validation insists on beyond loopback.
 */
export function createAdminHandler(deps: AdminDependencies): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const url = req.url ?? '/'
    const path = url.split('?', 1)[0]!
    if (path.startsWith(KEYS_PREFIX)) {
      const keys = deps.keysHandler()
      if (keys === undefined) return text(res, 404, 'no signing keys: no rule authenticates users\n')
      req.url = url.slice(KEYS_PREFIX.length - 1)
      keys(req, res)
      return
    }
    if (path === '/sessions' || path.startsWith('/sessions/')) {
      if (deps.operatorToken !== undefined && !hasOperatorToken(req, deps.operatorToken)) {
        res.writeHead(401, {
          'content-type': 'text/plain; charset=utf-8',
          'cache-control': 'no-store',
          'www-authenticate': 'Bearer realm="portcullis-admin"',
        })
        res.end('the operator endpoints need Authorization: Bearer <the admin token>\n')
        return
      }
      const sessions = deps.sessionsHandler()
      if (sessions === undefined) return text(res, 409, 'no sessions: no rule authenticates users\n')
      sessions(req, res)
      return
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return text(res, 405, 'method not allowed\n')
    if (path === '/healthz') {
      const body = JSON.stringify({ status: 'ok', generation: deps.generation() ?? null })
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
      res.end(body)
      return
    }
    if (path === '/metrics') {
      const m = deps.metrics
      const render = 'registry' in m ? m.registry.metrics() : m.clusterMetrics()
      const contentType = 'registry' in m ? m.registry.contentType : m.contentType
      render.then(
        (body) => {
          res.writeHead(200, { 'content-type': contentType })
          res.end(body)
        },
        () => text(res, 500, 'metrics unavailable\n'),
      )
      return
    }
    text(res, 404, 'not found\n')
  }
}

function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' })
  res.end(body)
}
