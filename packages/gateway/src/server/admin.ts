import { createHash, timingSafeEqual } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { TLSSocket } from 'node:tls'
import type { Registry } from 'prom-client'
import type { AdminModel } from '../config/model.js'
import { GatewayError } from '../core/errors.js'
import { clientCertificateTls } from '../tls/trust-stores.js'

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
  /**
   * A client certificate the admin server verified against
   * `ClientCertificateTrustStore` admits an operator too ({@link createAdminServer}).
   */
  readonly operatorClientCertificate?: boolean
}

/**
 * The admin listener's server, not yet listening: HTTPS with
 * `CertificateFile`/`PrivateKeyFile` (TLS 1.2 and up), asking for a client
 * certificate and verifying it against `ClientCertificateTrustStore` when
 * one is set (its CA bundle and revocation lists, as a `verify` listener
 * does); plain HTTP otherwise. A client without a certificate, or with one
 * the store does not vouch for, still completes the handshake: `/healthz`,
 * `/metrics` and `/keys` are for anyone who reaches the listener, and only
 * the operator endpoints look at the verdict (`socket.authorized`).
 *
 * @throws {GatewayError} `ERR_ADMIN_TLS` when a file cannot be read or the key does not fit the certificate.
 */
export function createAdminServer(
  admin: AdminModel,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Server {
  if (admin.tls === undefined) return createHttpServer({ requestTimeout: 10_000 }, handler)
  try {
    const store = admin.clientCertificateTrustStore
    const clientAuth =
      store === undefined
        ? undefined
        : clientCertificateTls({ mode: 'verify', trustStore: store, ignoreClientCertificateExpiry: false })
    const server = createHttpsServer(
      {
        requestTimeout: 10_000,
        cert: readFileSync(admin.tls.certificateFile),
        key: readFileSync(admin.tls.privateKeyFile),
        minVersion: 'TLSv1.2',
        ...(clientAuth === undefined
          ? {}
          : {
              ca: [...(clientAuth.contextOptions.ca ?? [])],
              crl: [...(clientAuth.contextOptions.crl ?? [])],
              secureOptions: clientAuth.contextOptions.secureOptions,
              ...clientAuth.serverOptions,
            }),
      },
      handler,
    )
    // https.Server carries http.Server's whole request API (closeAllConnections included); the types keep them apart.
    return server as unknown as Server
  } catch (error) {
    throw new GatewayError(
      'ERR_ADMIN_TLS',
      `cannot serve the admin listener over HTTPS (Portcullis.Admin.CertificateFile, PrivateKeyFile, ClientCertificateTrustStore): ${(error as Error).message}`,
      { cause: error },
    )
  }
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
 * sessions) requires an operator credential when one is configured (the
 * bearer token, or a client certificate from the admin trust store), which
 * validation insists on beyond loopback.
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
      const token = deps.operatorToken
      const certificate = deps.operatorClientCertificate === true
      const admitted =
        (token === undefined && !certificate) ||
        (token !== undefined && hasOperatorToken(req, token)) ||
        (certificate && (req.socket as Partial<TLSSocket>).authorized === true)
      if (!admitted) {
        const needs = [
          ...(token === undefined ? [] : ['Authorization: Bearer <the admin token>']),
          ...(certificate ? ['a client certificate from the admin trust store'] : []),
        ].join(' or ')
        // 401 names a way to authenticate over HTTP; a TLS client certificate has none, so alone it is 403.
        res.writeHead(token === undefined ? 403 : 401, {
          'content-type': 'text/plain; charset=utf-8',
          'cache-control': 'no-store',
          ...(token === undefined ? {} : { 'www-authenticate': 'Bearer realm="portcullis-admin"' }),
        })
        res.end(`the operator endpoints need ${needs}\n`)
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
