import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createSecureServer, type Http2SecureServer, type ServerHttp2Session } from 'node:http2'
import { isIPv4, type Socket } from 'node:net'
import { networkInterfaces } from 'node:os'
import { performance } from 'node:perf_hooks'
import type { TLSSocket } from 'node:tls'
import type { Logger } from 'pino'
import type { AuthRuntime } from '../auth/index.js'
import type { GatewayConfig, ListenerModel, SharedStateModel } from '../config/model.js'
import { GatewayError } from '../core/errors.js'
import { SERVER_HEADER } from '../core/responses.js'
import { compileGateway, needsAuth } from '../listeners/compile.js'
import { connectionLogEntry, connectionTraceId } from '../listeners/connection.js'
import { guardSession, http2ListenerOptions, type SessionAbuseReason } from '../listeners/http2.js'
import { type Generation, handleRequest, MAX_HEADERS_TOTAL_BYTES, responseForUpgrade } from '../listeners/pipeline.js'
import { type ListenerTls, listenerTls } from '../listeners/tls.js'
import { AccessLog } from '../observability/access-log.js'
import type { AlbDeliveryOptions } from '../observability/alb-delivery.js'
import { ConnectionLog } from '../observability/connection-log.js'
import { channels } from '../observability/diagnostics.js'
import { GatewayMetrics } from '../observability/metrics.js'
import type { SharedState } from '../shared/state.js'
import { ensureStickinessSecret } from '../state/index.js'
import { TargetGroupRegistry } from '../targets/target-group.js'
import { refusedClientCertificate, tlsVerifyStatus } from '../tls/trust-stores.js'
import { createAdminHandler, createAdminServer, readOperatorToken } from './admin.js'
import { listen } from './listen.js'

/** How {@link startGateway} runs: where it logs, and which parts it serves in this process. */
export interface StartGatewayOptions {
  readonly logger: Logger
  /** Shared across reloads; one is created when absent. */
  readonly metrics?: GatewayMetrics
  /** Serve the admin listener from this process (cluster workers leave it to the primary). Default true. */
  readonly admin?: boolean
  /** Write the access log (default true). */
  readonly accessLog?: boolean
  /**
   * How long a shared session read from Redis is trusted by this process
   * (default 1000 ms, the revocation delay; 0: never). Not a configuration
   * setting: tests shorten it.
   */
  readonly sessionCacheMs?: number
}

/** One listener as it is bound, with the URL to reach it. */
export interface RunningListener {
  readonly id: string
  readonly protocol: 'HTTP' | 'HTTPS'
  readonly address: string
  readonly port: number
  /** `http://127.0.0.1:8080/` style, with `localhost` for wildcard binds. */
  readonly url: string
}

/** A gateway started by {@link startGateway}: what it serves, and how to reload or stop it. */
export interface RunningGateway {
  readonly listeners: readonly RunningListener[]
  readonly adminUrl: string | undefined
  /** Increases by one on every successful reload. */
  readonly generation: number
  readonly metrics: GatewayMetrics
  /** Resolves when the access-log lines of every request finished so far are written (at once without an access log). */
  flushAccessLog(): Promise<void>
  /** Resolves when the connection-log lines of every handshake so far are written. */
  flushConnectionLog(): Promise<void>
  /**
   * Writes every access-log (and connection-log) line so far to the file
   * open now, then opens the configured path again (after logrotate moved
   * the file). Nothing to do for stdout or ALB's interval files.
   */
  reopenAccessLog(): Promise<void>
  /**
   * Switches to a new configuration without dropping connections: listeners
   * that stay keep their sockets, new ones open, removed ones drain. Rejects
   * (and keeps serving the old configuration) if the new one cannot start:
   * with a `GatewayError` `ERR_LISTEN` when a new listener cannot bind,
   * `ERR_CLOSED` once `close` was called.
   */
  reload(config: GatewayConfig): Promise<void>
  /** Stops accepting, lets in-flight requests finish up to the deadline, then closes everything. */
  close(options?: { deadlineMs?: number }): Promise<void>
}

/** The warning logged, once, for an HTTP/2 session ended for its client's doing (listeners/http2.ts's guardSession). */
const SESSION_ABUSE_MESSAGES: Record<SessionAbuseReason, string> = {
  'rapid-reset': 'HTTP/2 session closed (GOAWAY ENHANCE_YOUR_CALM): too many streams reset by the client',
  'control-flood': 'HTTP/2 session closed (GOAWAY ENHANCE_YOUR_CALM): too many SETTINGS, PING or PRIORITY frames',
  'protocol-error': 'HTTP/2 session closed: protocol error',
}

/** A generation as the server runs it: the pipeline's view plus what it must close when retired. */
type ServedGeneration = Generation & { readonly registry: TargetGroupRegistry; readonly auth: AuthRuntime | undefined }

/**
 * An HTTP listener's `node:http` server, or an HTTPS listener's `node:http2`
 * one, which serves HTTP/1.1 (`allowHTTP1`) through the same connection
 * handling as `node:http`, so both take the same HTTP/1.1 settings.
 */
type ListenerHttpServer = Server | Http2SecureServer

interface ListenerServer {
  readonly key: string
  readonly server: ListenerHttpServer
  listenerId: string
  model: ListenerModel
  readonly sockets: Set<Socket>
  /** The HTTP/2 sessions open on an HTTPS listener, closed with a GOAWAY when it closes. */
  readonly sessions: Set<ServerHttp2Session>
  tls: ListenerTls | undefined
}

/**
 * Starts a gateway in this process: listeners, target groups with health
 * checks, the authentication runtime when a rule needs it, and the admin
 * listener. `portcullis start` runs one of these per worker.
 *
 * @example
 * ```ts
 * const { config } = await loadConfig('portcullis.yaml')
 * const gateway = await startGateway(config, { logger: createLogger('info') })
 * console.log(gateway.listeners.map((l) => l.url))
 * await gateway.close()
 * ```
 */
export async function startGateway(config: GatewayConfig, options: StartGatewayOptions): Promise<RunningGateway> {
  const logger = options.logger
  const metrics = options.metrics ?? new GatewayMetrics()
  const stickinessSecret = await ensureStickinessSecret(config.portcullis.stateDirectory)
  const accessLog =
    options.accessLog === false
      ? undefined
      : new AccessLog({
          format: config.portcullis.accessLog.format,
          path: config.portcullis.accessLog.path,
          delivery: albDelivery(config),
          elb: config.loadBalancer.arn.split(':loadbalancer/')[1] ?? config.loadBalancer.name,
        })
  const connectionModel = config.portcullis.connectionLog
  const connectionLog =
    options.accessLog === false || connectionModel === undefined
      ? undefined
      : new ConnectionLog({ format: connectionModel.format, path: connectionModel.path })

  // The process's one connection to the shared state: opened by the first
  // generation whose authentication needs it, kept across reloads, closed last.
  let shared: { model: SharedStateModel; state: SharedState } | undefined
  async function sharedStateFor(cfg: GatewayConfig): Promise<SharedState | undefined> {
    const model = cfg.portcullis.sharedState
    if (model === undefined) return undefined
    if (shared === undefined) {
      const { connectSharedState } = await import('../shared/state.js')
      shared = { model, state: await connectSharedState(model, { logger, caFile: cfg.portcullis.caFile }) }
    } else if (JSON.stringify(shared.model) !== JSON.stringify(model)) {
      throw new GatewayError(
        'ERR_SHARED_STATE',
        `Portcullis.SharedState changed (${shared.model.displayUrl} → ${model.displayUrl}): restart the gateway to use another shared state`,
      )
    }
    return shared.state
  }

  let generationNumber = 0
  let current = await buildGeneration(config, ++generationNumber, undefined).catch(async (error: unknown) => {
    await shared?.state.close()
    throw error
  })
  const servers = new Map<string, ListenerServer>()
  let admin: { server: Server; url: string } | undefined
  let closing = false

  async function buildGeneration(
    cfg: GatewayConfig,
    number: number,
    previous: ServedGeneration | undefined,
  ): Promise<ServedGeneration> {
    const registry = TargetGroupRegistry.create(cfg.targetGroups, {
      previous: previous?.registry,
      stickinessSecret,
      idleTimeoutSeconds: cfg.loadBalancer.attributes.idleTimeoutSeconds,
      logger,
    })
    let auth: AuthRuntime | undefined
    try {
      if (needsAuth(cfg)) {
        // Loaded on demand: a gateway without authenticate rules never pulls in the OIDC stack.
        const { createAuthRuntime } = await import('../auth/index.js')
        auth = await createAuthRuntime(cfg, {
          logger,
          metrics: authMetrics(metrics),
          shared: await sharedStateFor(cfg),
          sessionCacheMs: options.sessionCacheMs,
        })
      }
      const compiled = compileGateway(cfg, number, { registry, auth, stickinessSecret, metrics })
      registry.start()
      return { compiled, auth, registry, inflight: 0, onIdle: undefined }
    } catch (error) {
      await registry.close()
      await auth?.close()
      throw error
    }
  }

  metrics.hostCounts = function* () {
    for (const group of current.compiled.config.targetGroups) {
      const runtime = current.registry.get(group.arn)
      if (runtime !== undefined)
        yield { targetGroup: group.name, healthy: runtime.healthyCount, unhealthy: runtime.unhealthyCount }
    }
  }

  const pipeline = { logger, metrics, accessLog, current: () => current }

  function listenerKey(l: ListenerModel): string {
    return `${l.protocol}|${l.address}|${l.port}`
  }

  /** Applies the generation's idle timeout (ALB's `idle_timeout.timeout_seconds`) to a listener's server. */
  function applyIdleTimeout(server: ListenerHttpServer, cfg: GatewayConfig): void {
    const idleMs = cfg.loadBalancer.attributes.idleTimeoutSeconds * 1000
    // For an HTTP/2 session, `timeout` is its idle timeout (no frame either way), applied when it opens.
    Object.assign(server, { keepAliveTimeout: idleMs, timeout: idleMs })
  }

  /** Opens a listener with every setting taken from `cfg`, the generation being applied. */
  async function openListener(model: ListenerModel, cfg: GatewayConfig): Promise<ListenerServer> {
    const sockets = new Set<Socket>()
    const sessions = new Set<ServerHttp2Session>()
    const tls = model.protocol === 'HTTPS' ? await listenerTls(model, cfg.portcullis.stateDirectory) : undefined
    const serverOptions = {
      maxHeaderSize: MAX_HEADERS_TOTAL_BYTES,
      requestTimeout: 0,
      headersTimeout: 60_000,
    }
    const entry: ListenerServer = {
      key: listenerKey(model),
      listenerId: model.id,
      model,
      sockets,
      sessions,
      tls,
      server: undefined as unknown as Server,
    }
    const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
      void handleRequest(pipeline, entry.listenerId, req, res)
    }
    let server: ListenerHttpServer
    if (tls === undefined) server = createHttpServer(serverOptions, onRequest)
    else {
      const secure = createSecureServer({
        ...http2ListenerOptions(() => current.compiled.config.loadBalancer.attributes.http2Enabled),
        SNICallback: (name, cb) => entry.tls!.sniCallback(name, cb),
        // The default certificate covers clients that send no SNI at all; the security policy and mutual TLS ride along.
        ...tls.defaultOptions,
      })
      // The HTTP/1.1 side reads these from the server, as node:http's constructor would have set them.
      Object.assign(secure, { ...serverOptions, requireHostHeader: true })
      // Typed for the HTTP/1.1 request the pipeline was written against; HTTP/2 requests are told apart
      // by `httpVersionMajor` where they differ (listeners/http2.ts).
      secure.on('request', onRequest as unknown as (...args: unknown[]) => void)
      secure.on('session', (session: ServerHttp2Session) => {
        sessions.add(session)
        session.once('close', () => sessions.delete(session))
        // Node skips the idle timeout of a session closed gracefully (the client's GOAWAY, or ours at
        // client_keep_alive.seconds): a stream left open there would hold it, and its forward, while the client stays.
        session.on('timeout', () => {
          if (session.closed && !session.destroyed) session.destroy()
        })
        guardSession(session, (abuse) => {
          metrics.rejectedConnectionCount.inc({ listener: entry.listenerId })
          const { reason, remoteAddress: client, frames, error } = abuse
          logger.warn(
            { listener: entry.listenerId, client, reason, ...(error === undefined ? { frames } : { error }) },
            SESSION_ABUSE_MESSAGES[reason],
          )
        })
      })
      // node:http2 turns a failed TLS handshake into a 'clientError' too; like node:https, count it as one only.
      secure.removeAllListeners('tlsClientError')
      server = secure
    }
    ;(entry as { server: ListenerHttpServer }).server = server
    applyIdleTimeout(server, cfg)
    // When each TCP connection of an HTTPS listener was accepted, by peer: the connection log's handshake latency.
    const acceptedAt = new Map<string, number>()
    // Both servers emit these events alike; node:http2's typings lack the HTTP/1.1 ones.
    const events = server as Server
    events.on('connection', (socket: Socket) => {
      if (tls !== undefined && connectionLog !== undefined) {
        const peer = `${socket.remoteAddress}|${socket.remotePort}`
        acceptedAt.set(peer, performance.now())
        socket.once('close', () => acceptedAt.delete(peer))
      }
      sockets.add(socket)
      metrics.activeConnectionCount.inc()
      metrics.newConnectionCount.inc({ listener: entry.listenerId })
      socket.once('close', () => {
        sockets.delete(socket)
        metrics.activeConnectionCount.dec()
        metrics.processedBytes.inc({ listener: entry.listenerId }, socket.bytesRead + socket.bytesWritten)
      })
    })
    events.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      // Node stops handling errors on a socket it hands over: a reset while the upgrade waits or
      // authenticates must not become an uncaught exception (the socket is destroyed, 'close' follows).
      socket.on('error', () => {})
      const handle = (): void => {
        if (socket.destroyed || !socket.writable) return
        // Responses to requests pipelined before the upgrade (Node's own 400 or 417 included) may still own
        // the socket, even once written: Node releases it in its 'finish' listener, which runs before ours.
        const owner = responseOwning(socket)
        if (owner !== undefined) {
          let waited = false
          const next = (): void => {
            if (!waited) {
              waited = true
              handle()
            }
          }
          owner.once('finish', next)
          owner.once('close', next)
          return
        }
        void handleRequest(pipeline, entry.listenerId, req, responseForUpgrade(req, socket), { socket, head })
      }
      handle()
    })
    events.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
      metrics.rejectedConnectionCount.inc({ listener: entry.listenerId })
      if (!socket.writable || (error.code === 'ECONNRESET' && socket.bytesRead === 0)) {
        socket.destroy()
        return
      }
      const status = error.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request'
      socket.end(`HTTP/1.1 ${status}\r\nServer: ${SERVER_HEADER}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`)
    })
    // Mutual TLS verify: OpenSSL has judged the client certificate; a refused one never reaches HTTP.
    events.prependListener('secureConnection', (socket: TLSSocket) => {
      const mtls = entry.model.mutualAuthentication
      const refused = refusedClientCertificate(mtls, socket)
      if (connectionLog !== undefined && (mtls?.mode === 'verify' || mtls?.mode === 'passthrough')) {
        const peer = `${socket.remoteAddress}|${socket.remotePort}`
        connectionLog.write(
          connectionLogEntry(socket, {
            acceptedAt: acceptedAt.get(peer),
            listenerPort: socket.localPort ?? model.port,
            // passthrough verifies nothing: every handshake that completes is admitted.
            verifyStatus: mtls.mode === 'verify' ? tlsVerifyStatus(socket, mtls) : 'Success',
            traceId: connectionTraceId(socket),
          }),
        )
        acceptedAt.delete(peer)
      }
      if (refused === undefined) return
      metrics.clientTlsNegotiationErrorCount.inc({ listener: entry.listenerId })
      logger.info(
        { listener: entry.listenerId, client: socket.remoteAddress, tlsVerifyStatus: refused },
        'client certificate refused',
      )
      socket.destroy()
    })
    events.on('tlsClientError', () => {
      metrics.clientTlsNegotiationErrorCount.inc({ listener: entry.listenerId })
    })
    await listen(server, model.port, model.address, `listener ${model.id}`)
    return entry
  }

  async function closeListener(entry: ListenerServer, deadlineMs: number): Promise<void> {
    const closed = new Promise<void>((resolve) => entry.server.close(() => resolve()))
    ;(entry.server as Server).closeIdleConnections()
    // GOAWAY: no new streams, those open finish.
    for (const session of entry.sessions) session.close()
    const timer = setTimeout(() => {
      if ('closeAllConnections' in entry.server) entry.server.closeAllConnections()
      for (const session of entry.sessions) session.destroy()
      for (const socket of entry.sockets) socket.destroy()
    }, deadlineMs)
    await closed
    clearTimeout(timer)
  }

  async function syncListeners(cfg: GatewayConfig): Promise<ListenerServer[]> {
    const wanted = new Map(cfg.listeners.map((l) => [listenerKey(l), l]))
    const opened: ListenerServer[] = []
    try {
      for (const [key, model] of wanted) {
        const existing = servers.get(key)
        if (existing === undefined) opened.push(await openListener(model, cfg))
      }
    } catch (error) {
      await Promise.all(opened.map((l) => closeListener(l, 0)))
      throw error
    }
    return opened
  }

  try {
    for (const entry of await syncListeners(config)) servers.set(entry.key, entry)
    if (options.admin !== false && config.portcullis.admin !== undefined) {
      const adminHandler = createAdminHandler({
        metrics,
        keysHandler: () => current.auth?.keysHandler,
        sessionsHandler: () => current.auth?.sessionsHandler,
        generation: () => current.compiled.generation,
        operatorToken: readOperatorToken(config.portcullis.admin),
        operatorClientCertificate: config.portcullis.admin.clientCertificateTrustStore !== undefined,
      })
      const server = createAdminServer(config.portcullis.admin, adminHandler)
      await listen(server, config.portcullis.admin.port, config.portcullis.admin.address, 'admin listener')
      admin = {
        server,
        url: urlFor(
          config.portcullis.admin.tls === undefined ? 'http' : 'https',
          config.portcullis.admin.address,
          addressPort(server),
        ),
      }
    }
  } catch (error) {
    await Promise.all([...servers.values()].map((l) => closeListener(l, 0)))
    await current.registry.close()
    await current.auth?.close()
    await accessLog?.close()
    await shared?.state.close()
    throw error
  }
  if (channels.configLoaded.hasSubscribers) channels.configLoaded.publish({ source: config.source, generation: 1 })

  /**
   * Retires a replaced generation once its requests are done or `deadlineMs`
   * passed: its auth runtime, and its target pools — with `next` (a reload)
   * per target, a target the reload removed being deregistered with its
   * group's delay (`TargetGroupRuntime.retire`); without (shutdown), all
   * gracefully.
   */
  async function retire(old: ServedGeneration, deadlineMs: number, next?: ServedGeneration): Promise<void> {
    const idle =
      old.inflight === 0
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, deadlineMs)
            timer.unref()
            old.onIdle = () => {
              clearTimeout(timer)
              resolve()
            }
          })
    await (next === undefined ? idle.then(() => old.registry.close()) : old.registry.retire(next.registry, idle))
    await old.auth?.close()
  }

  async function applyReload(next: GatewayConfig): Promise<void> {
    if (JSON.stringify(next.portcullis.accessLog) !== JSON.stringify(config.portcullis.accessLog)) {
      // The log stays as it was opened: its settings are read at start only. Said, never silently ignored.
      logger.warn(
        { accessLog: config.portcullis.accessLog },
        'Portcullis.AccessLog changed: restart the gateway to apply it; the access log goes on as it was opened',
      )
    }
    if (JSON.stringify(next.portcullis.connectionLog) !== JSON.stringify(config.portcullis.connectionLog)) {
      logger.warn(
        { connectionLog: config.portcullis.connectionLog ?? null },
        'Portcullis.ConnectionLog changed: restart the gateway to apply it; the connection log goes on as it was opened',
      )
    }
    const nextGeneration = await buildGeneration(next, generationNumber + 1, current)
    let opened: ListenerServer[]
    const refreshedTls = new Map<ListenerServer, ListenerTls>()
    try {
      for (const model of next.listeners) {
        const existing = servers.get(listenerKey(model))
        if (existing !== undefined && model.protocol === 'HTTPS')
          refreshedTls.set(existing, await listenerTls(model, next.portcullis.stateDirectory))
      }
      opened = await syncListeners(next)
    } catch (error) {
      await nextGeneration.registry.close()
      await nextGeneration.auth?.close()
      throw error
    }
    generationNumber++
    const previous = current
    current = nextGeneration
    for (const entry of opened) servers.set(entry.key, entry)
    const wanted = new Set(next.listeners.map(listenerKey))
    for (const model of next.listeners) {
      const entry = servers.get(listenerKey(model))!
      entry.listenerId = model.id
      entry.model = model
      applyIdleTimeout(entry.server, next)
      const tls = refreshedTls.get(entry)
      if (tls !== undefined) {
        entry.tls = tls
        ;(entry.server as unknown as { setSecureContext(o: object): void }).setSecureContext(tls.defaultOptions)
      }
    }
    const removed = [...servers.values()].filter((s) => !wanted.has(s.key))
    for (const entry of removed) servers.delete(entry.key)
    const drainMs = maxDeregistrationDelayMs(previous.compiled.config)
    void Promise.all([...removed.map((l) => closeListener(l, drainMs)), retire(previous, drainMs, current)]).catch(
      (error: unknown) => {
        logger.warn({ err: error }, 'error while retiring the previous configuration')
      },
    )
    if (channels.configLoaded.hasSubscribers)
      channels.configLoaded.publish({ source: next.source, generation: generationNumber })
  }

  const gateway: RunningGateway = {
    get listeners() {
      return [...servers.values()].map((entry) => {
        const protocol = entry.model.protocol
        const port = addressPort(entry.server)
        return {
          id: entry.listenerId,
          protocol,
          address: entry.model.address,
          port,
          url: urlFor(protocol === 'HTTPS' ? 'https' : 'http', entry.model.address, port),
        }
      })
    },
    get adminUrl() {
      return admin?.url
    },
    get generation() {
      return current.compiled.generation
    },
    metrics,

    async flushAccessLog(): Promise<void> {
      await accessLog?.flush()
    },

    async reopenAccessLog(): Promise<void> {
      await Promise.all([accessLog?.reopen(), connectionLog?.reopen()])
    },

    async flushConnectionLog(): Promise<void> {
      await connectionLog?.flush()
    },

    async reload(next: GatewayConfig): Promise<void> {
      if (closing) throw new GatewayError('ERR_CLOSED', 'the gateway is shutting down')
      try {
        await applyReload(next)
      } catch (error) {
        if (channels.configRejected.hasSubscribers) channels.configRejected.publish({ error })
        throw error
      }
    },

    async close({ deadlineMs = 30_000 } = {}): Promise<void> {
      if (closing) return
      closing = true
      const listeners = [...servers.values()]
      servers.clear()
      await Promise.all(listeners.map((l) => closeListener(l, deadlineMs)))
      await retire(current, 0)
      if (admin !== undefined) {
        admin.server.closeAllConnections()
        await new Promise<void>((resolve) => admin!.server.close(() => resolve()))
      }
      metrics.hostCounts = undefined
      await accessLog?.close()
      await connectionLog?.close()
      await shared?.state.close()
    },
  }
  return gateway
}

/** What ALB's delivery files need of the configuration, when `Portcullis.AccessLog.Directory` asks for them. */
export function albDelivery(config: GatewayConfig): AlbDeliveryOptions | undefined {
  const delivery = config.portcullis.accessLog.delivery
  if (delivery === undefined) return undefined
  const lb = config.loadBalancer
  return {
    directory: delivery.directory,
    intervalMinutes: delivery.intervalMinutes,
    maxTotalBytes: delivery.maxTotalBytes,
    accountId: lb.accountId,
    region: lb.region,
    name: lb.name,
    id: lb.arn.slice(lb.arn.lastIndexOf('/') + 1),
    ip: nodeAddress(config),
  }
}

/**
 * The address in ALB's file names (there, the load balancer node's): the
 * first listener's when it binds one address, else this machine's first
 * external IPv4 address, else 127.0.0.1.
 */
function nodeAddress(config: GatewayConfig): string {
  const bound = config.listeners.map((l) => l.address).find((a) => isIPv4(a) && a !== '0.0.0.0')
  if (bound !== undefined) return bound
  for (const addresses of Object.values(networkInterfaces())) {
    const external = addresses?.find((a) => a.family === 'IPv4' && !a.internal)
    if (external !== undefined) return external.address
  }
  return '127.0.0.1'
}

/** The response writing on `socket` now, if any. Node keeps it in an undocumented field; nothing public says. */
function responseOwning(socket: Socket): ServerResponse | undefined {
  return (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage ?? undefined
}

function maxDeregistrationDelayMs(config: GatewayConfig): number {
  let max = 0
  for (const group of config.targetGroups) max = Math.max(max, group.deregistrationDelaySeconds)
  return max * 1000
}

function addressPort(server: ListenerHttpServer): number {
  const address = server.address()
  return typeof address === 'object' && address !== null ? address.port : 0
}

function urlFor(scheme: 'http' | 'https', address: string, port: number): string {
  const host =
    address === '0.0.0.0' || address === '::' ? 'localhost' : address.includes(':') ? `[${address}]` : address
  return `${scheme}://${host}:${port}/`
}

function authMetrics(metrics: GatewayMetrics) {
  return {
    authSuccess: () => metrics.authSuccess.inc(),
    authFailure: (reason: string) => metrics.authFailure.inc({ reason }),
    authError: (reason: string) => metrics.authError.inc({ reason }),
    authLatency: (seconds: number) => metrics.authLatency.observe(seconds),
    refreshSuccess: () => metrics.authRefreshTokenSuccess.inc(),
    claimsSizeExceeded: () => metrics.authUserClaimsSizeExceeded.inc(),
  }
}
