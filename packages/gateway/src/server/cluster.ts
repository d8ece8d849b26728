import cluster, { type Worker } from 'node:cluster'
import { once } from 'node:events'
import { watch } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { Logger } from 'pino'
import { AggregatorRegistry } from 'prom-client'
import type { AuthRuntime } from '../auth/index.js'
import { ConfigError } from '../config/errors.js'
import { loadConfig } from '../config/load.js'
import type { GatewayConfig } from '../config/model.js'
import { channels } from '../observability/diagnostics.js'
import { GatewayMetrics } from '../observability/metrics.js'
import { createAdminHandler } from './admin.js'
import { needsAuth } from './compile.js'
import { type RunningGateway, startGateway } from './gateway.js'

/** Messages between the primary and its workers. */
type PrimaryMessage = { type: 'portcullis:reload' } | { type: 'portcullis:shutdown'; deadlineMs: number }
type WorkerMessage =
  | { type: 'portcullis:ready'; listeners: RunningGateway['listeners'] }
  | { type: 'portcullis:reloaded'; generation: number }
  | { type: 'portcullis:reload-failed'; message: string }

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

/** True inside a worker forked by {@link serve}. */
export function isGatewayWorker(): boolean {
  return cluster.isWorker && process.env[WORKER_ENV] === '1'
}

/**
 * Runs the gateway for `portcullis start`: with one worker, in this process;
 * with more, as a `node:cluster` primary that forks the workers (which share
 * the listening sockets), serves the admin listener itself with metrics
 * aggregated over the workers, reloads on `SIGHUP` (and file changes with
 * `--watch`), restarts crashed workers, and drains on `SIGTERM`/`SIGINT`.
 * Resolves when the gateway has stopped.
 */
export async function serve(options: ServeOptions): Promise<void> {
  const { config, warnings } = await loadConfig(options.configPath)
  // Warnings (quotas, the insecure-HTTP development opt-in …) are repeated on every start.
  for (const w of warnings) options.logger.warn({ path: w.path, line: w.line, column: w.column }, w.message)
  if (options.workers <= 1) return serveSingle(options, config)
  return servePrimary(options, config)
}

async function reloadConfig(options: ServeOptions): Promise<GatewayConfig | undefined> {
  try {
    const { config, warnings } = await loadConfig(options.configPath)
    for (const w of warnings) options.logger.warn({ path: w.path, line: w.line, column: w.column }, w.message)
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

async function serveSingle(options: ServeOptions, config: GatewayConfig): Promise<void> {
  const { logger } = options
  const gateway = await startGateway(config, { logger })
  options.onReady({ listeners: gateway.listeners, adminUrl: gateway.adminUrl, config })
  let reloading = Promise.resolve()
  const stopReload = onReloadSignal(options, () => {
    reloading = reloading.then(async () => {
      const next = await reloadConfig(options)
      if (next === undefined) return
      try {
        await gateway.reload(next)
        logger.info({ generation: gateway.generation }, 'configuration reloaded')
      } catch (error) {
        logger.error({ err: error }, 'configuration could not be applied, still serving the previous one')
      }
    })
  })
  await new Promise<void>((resolve) => onStopSignal(resolve))
  stopReload()
  logger.info('shutting down: draining in-flight requests')
  await gateway.close({ deadlineMs: options.shutdownDeadlineMs })
}

async function servePrimary(options: ServeOptions, config: GatewayConfig): Promise<void> {
  const { logger } = options
  cluster.setupPrimary({ execArgv: process.execArgv, args: process.argv.slice(2) })
  const aggregator = new AggregatorRegistry()
  let current = config
  // The primary serves /keys from the same state directory the workers sign with.
  let auth = await keysRuntime(config, logger)
  let admin: Server | undefined
  let adminUrl: string | undefined
  if (config.portcullis.admin !== undefined) {
    const handler = createAdminHandler({
      metrics: { clusterMetrics: () => aggregator.clusterMetrics(), contentType: aggregator.contentType },
      keysHandler: () => auth?.keysHandler,
      // Workers own the configuration generations; the primary only says it is alive.
      generation: () => undefined,
    })
    admin = createServer({ requestTimeout: 10_000 }, handler)
    admin.listen(config.portcullis.admin.port, config.portcullis.admin.address)
    await once(admin, 'listening')
    const address = admin.address()
    const port = typeof address === 'object' && address !== null ? address.port : 0
    adminUrl = `http://${config.portcullis.admin.address.includes(':') ? `[${config.portcullis.admin.address}]` : config.portcullis.admin.address}:${port}/`
  }

  let stopping = false
  const workers = new Set<Worker>()
  const fork = (): Worker => {
    const worker = cluster.fork({ [WORKER_ENV]: '1' })
    workers.add(worker)
    worker.on('exit', (code, signal) => {
      workers.delete(worker)
      if (!stopping) {
        logger.error({ pid: worker.process.pid, code, signal }, 'worker exited; starting a new one')
        fork()
      }
    })
    return worker
  }

  const readyListeners = await new Promise<RunningGateway['listeners']>((resolve, reject) => {
    let ready = 0
    for (let i = 0; i < options.workers; i++) {
      const worker = fork()
      worker.on('message', (message: WorkerMessage) => {
        if (message.type === 'portcullis:ready' && ++ready === options.workers) resolve(message.listeners)
      })
      worker.once('exit', (code) => {
        if (ready < options.workers) reject(new Error(`a worker exited with code ${code} before it was ready`))
      })
    }
  })
  options.onReady({ listeners: readyListeners, adminUrl, config })

  const stopReload = onReloadSignal(options, () => {
    void reloadConfig(options).then(async (next) => {
      if (next === undefined) return
      current = next
      const nextAuth = await keysRuntime(next, logger)
      const previousAuth = auth
      auth = nextAuth
      await previousAuth?.close()
      for (const worker of workers) worker.send({ type: 'portcullis:reload' } satisfies PrimaryMessage)
    })
  })
  await new Promise<void>((resolve) => onStopSignal(resolve))
  stopping = true
  stopReload()
  logger.info({ workers: workers.size }, 'shutting down: draining in-flight requests')
  const exits = [...workers].map((w) => once(w, 'exit'))
  for (const worker of workers) {
    worker.send({ type: 'portcullis:shutdown', deadlineMs: options.shutdownDeadlineMs } satisfies PrimaryMessage)
  }
  await Promise.all(exits)
  await auth?.close()
  if (admin !== undefined) await new Promise<void>((resolve) => admin!.close(() => resolve()))
  logger.info({ generation: current.source }, 'stopped')
}

/** The primary's auth runtime, used only to serve `/keys` from the shared state directory. */
async function keysRuntime(config: GatewayConfig, logger: Logger): Promise<AuthRuntime | undefined> {
  if (!needsAuth(config)) return undefined
  const { createAuthRuntime } = await import('../auth/index.js')
  return createAuthRuntime(config, { logger })
}

/**
 * The body of a forked worker: starts a gateway without the admin listener,
 * reports readiness, reloads when the primary says so (reading the file
 * itself), and drains on shutdown.
 */
export async function runGatewayWorker(configPath: string, logger: Logger): Promise<void> {
  const { config } = await loadConfig(configPath)
  const metrics = new GatewayMetrics()
  // Answer the primary's metric requests with this worker's registry.
  // prom-client installs its worker-side message listener only when an
  // AggregatorRegistry is constructed, hence the otherwise unused instance.
  new AggregatorRegistry()
  AggregatorRegistry.setRegistries([metrics.registry])
  const gateway = await startGateway(config, { logger, metrics, admin: false })
  const send = (message: WorkerMessage): void => {
    process.send?.(message)
  }
  send({ type: 'portcullis:ready', listeners: gateway.listeners })
  // The primary handles signals for the whole group.
  process.on('SIGINT', () => {})
  process.on('SIGTERM', () => {})
  process.on('SIGHUP', () => {})
  process.on('message', (message: PrimaryMessage) => {
    if (message.type === 'portcullis:reload') {
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
