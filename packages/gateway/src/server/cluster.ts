import cluster, { type Worker } from 'node:cluster'
import { once } from 'node:events'
import { watch } from 'node:fs'
import { readFile, rm, writeFile } from 'node:fs/promises'
import type { Server } from 'node:http'
import { join } from 'node:path'
import type { Logger } from 'pino'
import { AggregatorRegistry, Counter, Registry } from 'prom-client'
import type { AuthAdmin } from '../auth/index.js'
import { ConfigError, type ConfigIssue } from '../config/errors.js'
import { loadConfig } from '../config/load.js'
import type { GatewayConfig } from '../config/model.js'
import { GatewayError, type GatewayErrorCode } from '../core/errors.js'
import { needsAuth } from '../listeners/compile.js'
import { issueLocalCertificates } from '../listeners/tls.js'
import { recoverPartialFiles } from '../observability/alb-delivery.js'
import { channels } from '../observability/diagnostics.js'
import { GatewayMetrics } from '../observability/metrics.js'
import type { SharedState } from '../shared/state.js'
import { createAdminHandler, createAdminServer, readOperatorToken } from './admin.js'
import { albDelivery, type RunningGateway, startGateway } from './gateway.js'
import { listen } from './listen.js'

/** Messages between the primary and its workers. */
type PrimaryMessage =
  | { type: 'portcullis:reload' }
  | { type: 'portcullis:reopen-logs' }
  | { type: 'portcullis:shutdown'; deadlineMs: number }
type WorkerMessage =
  | { type: 'portcullis:ready'; listeners: RunningGateway['listeners'] }
  | { type: 'portcullis:logs-reopened'; error: string | undefined }
  | { type: 'portcullis:reloaded'; generation: number }
  | { type: 'portcullis:reload-failed'; message: string }
  | { type: 'portcullis:start-failed'; code: GatewayErrorCode | undefined; message: string }

export interface ServeOptions {
  readonly configPath: string
  readonly workers: number
  readonly watch: boolean
  readonly logger: Logger
  /** Deadline for draining in-flight requests on SIGTERM. */
  readonly shutdownDeadlineMs: number
  /** Called once every worker listens, with what `start` prints. */
  readonly onReady: (info: {
    listeners: RunningGateway['listeners']
    adminUrl: string | undefined
    config: GatewayConfig
  }) => void
}

const WORKER_ENV = 'PORTCULLIS_WORKER'
/**
 * Reopens the access log (after logrotate moved it). Not SIGUSR1, nginx's
 * choice: Node reserves that one for its inspector, and a worker that got it
 * without a handler would open a debugger port.
 */
export const REOPEN_SIGNAL = 'SIGUSR2'
/** A worker that exits sooner than this after its start counts towards a crash loop. */
const QUICK_DEATH_MS = 5000
const MAX_RESTART_DELAY_MS = 5000

/** True inside a worker forked by {@link serve}. */
export function isGatewayWorker(): boolean {
  return cluster.isWorker && process.env[WORKER_ENV] === '1'
}

/**
 * Runs the gateway for `portcullis start` as a `node:cluster` primary that
 * forks the workers (which share the listening sockets) — even for one
 * worker, so that a worker that dies is replaced at once, as nginx's master
 * does. The primary serves the admin listener itself with metrics aggregated
 * over the workers plus its own (`portcullis_worker_restarts_total`), reloads
 * on `SIGHUP` (and file changes with `--watch`), has every worker reopen its
 * access log on {@link REOPEN_SIGNAL}, and drains on `SIGTERM`/`SIGINT`.
 * While it runs, `{stateDirectory}/portcullis.pid` holds its process id
 * ({@link PID_FILE}). Resolves when the gateway has stopped.
 */
export async function serve(options: ServeOptions): Promise<void> {
  const { config, warnings } = await loadConfig(options.configPath)
  // Warnings (quotas, the insecure-HTTP development opt-in …) are repeated on every start.
  for (const w of warnings) logConfigWarning(options, w)
  // Handled from here on: the signal's default action would end the process. One that comes
  // while the workers start is acted on once they are ready (they may have opened the file already).
  const reopen: ReopenRequests = { asked: false, run: undefined }
  const onReopen = (): void => {
    if (reopen.run === undefined) reopen.asked = true
    else reopen.run()
  }
  process.on(REOPEN_SIGNAL, onReopen)
  try {
    const shared = await connectShared(config, options.logger)
    try {
      return await servePrimary(options, config, shared, reopen)
    } finally {
      await shared?.close()
    }
  } finally {
    process.off(REOPEN_SIGNAL, onReopen)
  }
}

/**
 * Delivers the ALB access-log files that stopped workers left half-written
 * (`Portcullis.AccessLog.Directory`): at start those of any earlier process
 * of this host, after a worker's death that worker's. Never fails the
 * primary: a file it cannot recover stays where it is, with a warning.
 */
async function recoverAccessLogFiles(config: GatewayConfig, logger: Logger, workerPid?: number): Promise<void> {
  const delivery = albDelivery(config)
  if (delivery === undefined) return
  try {
    const pids = workerPid === undefined ? undefined : new Set([workerPid])
    for (const file of await recoverPartialFiles(delivery, pids)) {
      logger.warn(
        { workerPid: file.pid, lines: file.lines, file: file.path },
        'access log: delivered the lines of a file a stopped worker left unfinished',
      )
    }
  } catch (error) {
    logger.warn({ err: error }, 'access log: could not recover the files a stopped worker left')
  }
}

/** {@link REOPEN_SIGNAL} in the primary: `run` once the workers are ready, `asked` if it came before. */
interface ReopenRequests {
  asked: boolean
  run: (() => void) | undefined
}

/**
 * The primary's connection to `Portcullis.SharedState`, opened before any
 * worker starts so that `start` fails at once, saying why
 * (`ERR_SHARED_STATE`), when it cannot be reached. The primary keeps it for
 * the admin listener's `/keys` and `/sessions`; each worker has its own.
 */
async function connectShared(config: GatewayConfig, logger: Logger): Promise<SharedState | undefined> {
  const model = config.portcullis.sharedState
  if (model === undefined) return undefined
  const { connectSharedState } = await import('../shared/state.js')
  const shared = await connectSharedState(model, { logger, caFile: config.portcullis.caFile })
  logger.info({ redisUrl: model.displayUrl, keyPrefix: model.keyPrefix }, 'connected to the shared state')
  return shared
}

/** A configuration warning, located as the validator locates it (`configFile`, `line`, `column`, `path`). */
function logConfigWarning(options: ServeOptions, w: ConfigIssue): void {
  options.logger.warn({ configFile: options.configPath, line: w.line, column: w.column, path: w.path }, w.message)
}

async function reloadConfig(options: ServeOptions): Promise<GatewayConfig | undefined> {
  try {
    const { config, warnings } = await loadConfig(options.configPath)
    for (const w of warnings) logConfigWarning(options, w)
    return config
  } catch (error) {
    const message = error instanceof ConfigError ? error.format() : (error as Error).message
    if (channels.configRejected.hasSubscribers) channels.configRejected.publish({ error })
    options.logger.error(
      { configPath: options.configPath },
      `configuration rejected, still serving the previous one:\n${message}`,
    )
    return undefined
  }
}

function onReloadSignal(options: ServeOptions, reload: () => void): () => void {
  process.on('SIGHUP', reload)
  let watcher: ReturnType<typeof watch> | undefined
  let debounce: NodeJS.Timeout | undefined
  if (options.watch) {
    watcher = watch(options.configPath, () => {
      clearTimeout(debounce)
      debounce = setTimeout(reload, 200)
    })
  }
  return () => {
    process.off('SIGHUP', reload)
    clearTimeout(debounce)
    watcher?.close()
  }
}

function onStopSignal(stop: () => void): () => void {
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
  return () => {
    process.off('SIGTERM', stop)
    process.off('SIGINT', stop)
  }
}

async function servePrimary(
  options: ServeOptions,
  config: GatewayConfig,
  shared: SharedState | undefined,
  reopen: ReopenRequests,
): Promise<void> {
  const { logger } = options
  cluster.setupPrimary({ execArgv: process.execArgv, args: process.argv.slice(2) })
  const aggregator = new AggregatorRegistry()
  const supervisor = new Registry()
  const restarts = new Counter({
    name: 'portcullis_worker_restarts_total',
    help: 'Workers that exited unexpectedly and were replaced',
    registers: [supervisor],
  })
  let current = config
  // Issued here, once, so that workers starting together only read the files.
  await issueLocalCertificates(config)
  // Files a killed worker of an earlier run left, before this run's workers write theirs.
  await recoverAccessLogFiles(config, logger)
  // The primary serves /keys and /sessions from the same rings and sessions the workers use.
  let auth = await authAdmin(config, logger, shared)
  let admin: Server | undefined
  let adminUrl: string | undefined
  if (config.portcullis.admin !== undefined) {
    const handler = createAdminHandler({
      metrics: {
        clusterMetrics: async () => `${await aggregator.clusterMetrics()}\n${await supervisor.metrics()}`,
        contentType: aggregator.contentType,
      },
      keysHandler: () => auth?.keysHandler,
      sessionsHandler: () => auth?.sessionsHandler,
      // Workers own the configuration generations; the primary only says it is alive.
      generation: () => undefined,
      operatorToken: readOperatorToken(config.portcullis.admin),
      operatorClientCertificate: config.portcullis.admin.clientCertificateTrustStore !== undefined,
    })
    admin = createAdminServer(config.portcullis.admin, handler)
    await listen(admin, config.portcullis.admin.port, config.portcullis.admin.address, 'admin listener')
    const address = admin.address()
    const port = typeof address === 'object' && address !== null ? address.port : 0
    const scheme = config.portcullis.admin.tls === undefined ? 'http' : 'https'
    adminUrl = `${scheme}://${config.portcullis.admin.address.includes(':') ? `[${config.portcullis.admin.address}]` : config.portcullis.admin.address}:${port}/`
  }

  let stopping = false
  const workers = new Set<Worker>()
  // A worker that dies soon after its start (a crash loop) is replaced after
  // a growing pause instead of at once, so the primary does not spin.
  let quickDeaths = 0
  const fork = (): Worker => {
    const forkedAt = Date.now()
    const worker = cluster.fork({ [WORKER_ENV]: '1' })
    workers.add(worker)
    worker.on('exit', (code, signal) => {
      workers.delete(worker)
      if (stopping) return
      void recoverAccessLogFiles(config, logger, worker.process.pid)
      restarts.inc()
      quickDeaths = Date.now() - forkedAt < QUICK_DEATH_MS ? quickDeaths + 1 : 0
      const delayMs = quickDeaths === 0 ? 0 : Math.min(MAX_RESTART_DELAY_MS, 100 * 2 ** quickDeaths)
      logger.error(
        { workerPid: worker.process.pid, exitCode: code, signal, restartInMs: delayMs },
        'worker exited; starting a new one',
      )
      setTimeout(() => {
        if (!stopping) fork()
      }, delayMs)
    })
    return worker
  }

  const readyListeners = await new Promise<RunningGateway['listeners']>((resolve, reject) => {
    let ready = 0
    for (let i = 0; i < options.workers; i++) {
      const worker = fork()
      worker.on('message', (message: WorkerMessage) => {
        if (message.type === 'portcullis:ready' && ++ready === options.workers) resolve(message.listeners)
        if (message.type === 'portcullis:start-failed') {
          reject(
            message.code === undefined
              ? new GatewayError('ERR_WORKER_EXIT', `a worker could not start: ${message.message}`)
              : new GatewayError(message.code, message.message),
          )
        }
      })
      worker.once('exit', (code) => {
        if (ready < options.workers)
          reject(new GatewayError('ERR_WORKER_EXIT', `a worker exited with code ${code} before it was ready`))
      })
    }
  }).catch(async (error: unknown) => {
    // A start that fails (a listener that cannot bind) fails in every new worker too: stop, do not respawn.
    stopping = true
    for (const worker of workers) worker.kill()
    await auth?.close()
    if (admin !== undefined) await new Promise<void>((resolve) => admin!.close(() => resolve()))
    throw error
  })
  // The pid file and the SIGUSR2/SIGHUP handlers come before the banner (onReady, below): once
  // `start` says it is running, `portcullis reopen-logs` finds this process and is acted on at once.
  const pidFile = join(config.portcullis.stateDirectory, PID_FILE)
  await writePidFile(pidFile, logger)

  const reopenLogs = (): void => {
    const asked = [...workers]
    let answered = 0
    const failures: string[] = []
    const onAnswer = (worker: Worker) => (message: WorkerMessage) => {
      if (message.type !== 'portcullis:logs-reopened') return
      worker.off('message', listeners.get(worker)!)
      if (message.error !== undefined) failures.push(`worker ${worker.process.pid}: ${message.error}`)
      if (++answered < asked.length) return
      if (failures.length === 0) logger.info({ workerCount: asked.length }, 'access log reopened')
      else logger.error({ workerCount: asked.length, failures }, 'access log could not be reopened in every worker')
    }
    const listeners = new Map(asked.map((worker) => [worker, onAnswer(worker)]))
    for (const worker of asked) {
      worker.on('message', listeners.get(worker)!)
      worker.send({ type: 'portcullis:reopen-logs' } satisfies PrimaryMessage)
    }
  }
  reopen.run = reopenLogs
  if (reopen.asked) reopenLogs()

  const stopReload = onReloadSignal(options, () => {
    void reloadConfig(options).then(async (next) => {
      if (next === undefined) return
      current = next
      // A worker that cannot find a certificate issues it itself; the reload goes on either way.
      await issueLocalCertificates(next).catch((error: unknown) => {
        logger.warn({ err: error }, 'could not issue a local certificate before the reload')
      })
      if (JSON.stringify(next.portcullis.sharedState) !== JSON.stringify(config.portcullis.sharedState)) {
        // The workers refuse this reload too (GatewayError ERR_SHARED_STATE): one connection per process.
        logger.error('Portcullis.SharedState changed: restart the gateway to use another shared state')
        return
      }
      const nextAuth = await authAdmin(next, logger, shared)
      const previousAuth = auth
      auth = nextAuth
      await previousAuth?.close()
      for (const worker of workers) worker.send({ type: 'portcullis:reload' } satisfies PrimaryMessage)
    })
  })
  options.onReady({ listeners: readyListeners, adminUrl, config })
  await new Promise<void>((resolve) => onStopSignal(resolve))
  stopping = true
  stopReload()
  reopen.run = undefined
  logger.info({ workerCount: workers.size }, 'shutting down: draining in-flight requests')
  const exits = [...workers].map((w) => once(w, 'exit'))
  for (const worker of workers) {
    worker.send({ type: 'portcullis:shutdown', deadlineMs: options.shutdownDeadlineMs } satisfies PrimaryMessage)
  }
  await Promise.all(exits)
  await auth?.close()
  if (admin !== undefined) await new Promise<void>((resolve) => admin!.close(() => resolve()))
  await removePidFile(pidFile)
  logger.info({ configFile: current.source }, 'stopped')
}

/** What the primary's admin listener serves from authentication (no OIDC runtime: the workers run the actions). */
async function authAdmin(
  config: GatewayConfig,
  logger: Logger,
  shared: SharedState | undefined,
): Promise<AuthAdmin | undefined> {
  if (!needsAuth(config)) return undefined
  const { createAuthAdmin } = await import('../auth/index.js')
  return createAuthAdmin(config, { logger, shared })
}

/**
 * The body of a forked worker: starts a gateway without the admin listener,
 * reports readiness, reloads when the primary says so (reading the file
 * itself), and drains on shutdown.
 */
export async function runGatewayWorker(configPath: string, logger: Logger): Promise<void> {
  // The primary handles signals for the whole group; a worker must not die of this one while it starts.
  process.on(REOPEN_SIGNAL, () => {})
  const { config } = await loadConfig(configPath)
  const metrics = new GatewayMetrics()
  // Answer the primary's metric requests with this worker's registry.
  // prom-client installs its worker-side message listener only when an
  // AggregatorRegistry is constructed, hence the otherwise unused instance.
  new AggregatorRegistry()
  AggregatorRegistry.setRegistries([metrics.registry])
  // A bug that escapes every per-request boundary leaves this process in an
  // unknown state: log it once, with its stack, and exit; the primary replaces us.
  process.once('uncaughtException', (error) => {
    logger.fatal({ err: error }, 'uncaught exception; the worker exits and the primary starts a new one')
    const exit = (): never => process.exit(70)
    setTimeout(exit, 1000).unref()
    logger.flush(exit)
  })
  const send = (message: WorkerMessage, then?: () => void): void => {
    process.send?.(message, undefined, undefined, then)
  }
  let gateway: RunningGateway
  try {
    gateway = await startGateway(config, { logger, metrics, admin: false })
  } catch (error) {
    // The primary reports why; leave once it knows, as the IPC channel would keep this process waiting.
    const code = error instanceof GatewayError ? error.code : undefined
    send({ type: 'portcullis:start-failed', code, message: (error as Error).message }, () => process.exit(1))
    return
  }
  send({ type: 'portcullis:ready', listeners: gateway.listeners })
  // The primary handles signals for the whole group.
  process.on('SIGINT', () => {})
  process.on('SIGTERM', () => {})
  process.on('SIGHUP', () => {})
  process.on('message', (message: PrimaryMessage) => {
    if (message.type === 'portcullis:reopen-logs') {
      void gateway.reopenAccessLog().then(
        () => send({ type: 'portcullis:logs-reopened', error: undefined }),
        (error: unknown) => send({ type: 'portcullis:logs-reopened', error: (error as Error).message }),
      )
    } else if (message.type === 'portcullis:reload') {
      void loadConfig(configPath)
        .then(({ config: next }) => gateway.reload(next))
        .then(
          () => send({ type: 'portcullis:reloaded', generation: gateway.generation }),
          (error: unknown) => {
            logger.error({ err: error }, 'configuration could not be applied, still serving the previous one')
            send({ type: 'portcullis:reload-failed', message: (error as Error).message })
          },
        )
    } else if (message.type === 'portcullis:shutdown') {
      void gateway.close({ deadlineMs: message.deadlineMs }).then(() => {
        process.disconnect?.()
        process.exit(0)
      })
    }
  })
}

/** The primary's process id, in the state directory, for `portcullis reopen-logs` (and logrotate's postrotate). */
export const PID_FILE = 'portcullis.pid'

/** Writes the pid file; a gateway that cannot (a read-only state directory) runs on and says so. */
async function writePidFile(path: string, logger: Logger): Promise<void> {
  try {
    await writeFile(path, `${process.pid}\n`, { mode: 0o644 })
  } catch (error) {
    logger.warn({ err: error, path }, 'could not write the pid file: portcullis reopen-logs will not find this gateway')
  }
}

/** Removes the pid file if it still names this process (another gateway may have started on the same directory). */
async function removePidFile(path: string): Promise<void> {
  const text = await readFile(path, 'utf8').catch(() => undefined)
  if (text?.trim() === String(process.pid)) await rm(path, { force: true })
}
