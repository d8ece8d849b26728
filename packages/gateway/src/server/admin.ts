import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Registry } from 'prom-client'

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
}

const KEYS_PREFIX = '/keys/'

/**
 * The admin listener: `/healthz` (liveness, with the configuration
 * generation), `/metrics` (Prometheus text), `/keys/{kid}` (the identity
 * token signing keys, the endpoint targets point their verifier's
 * `keyEndpoint` at), and `/sessions` (list and revoke shared sessions; see
 * `auth/session/admin.ts`). Meant for a private address: it is bound to 127.0.0.1 by
 * default, and anyone who reaches it can end any user's sessions.
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
