import type { Redis, RedisOptions } from 'ioredis'
import type { Logger } from 'pino'
import type { SharedStateModel } from '../config/model.js'
import { GatewayError } from '../core/errors.js'
import { channels } from '../observability/diagnostics.js'
import { outboundTrust } from '../tls/trust.js'
import { PortcullisError } from '../values/errors.js'

/** How often the connection is checked: drives the outage log lines and recovery from a server that stopped answering. */
const HEARTBEAT_MS = 1000
/** Longest pause between reconnection attempts. */
const MAX_RECONNECT_DELAY_MS = 2000

/**
 * A command on the shared state failed: Redis is unreachable, did not answer
 * within `CommandTimeoutMs`, or refused the command. Callers that need the
 * answer turn it into a 500 with `error_reason` `SharedStateUnavailable`;
 * callers that can do without it go on.
 */
export class SharedStateUnavailable extends PortcullisError {
  declare readonly code: 'ERR_SHARED_STATE_UNAVAILABLE'
  constructor(what: string, options?: { cause?: unknown }) {
    super('ERR_SHARED_STATE_UNAVAILABLE', `shared state unavailable (${what})`, options)
    this.name = 'SharedStateUnavailable'
  }
}

/**
 * One process's connection to the shared Redis/Valkey (`Portcullis.SharedState`).
 * Every key it touches carries the configured prefix. Only the modules of
 * `shared/` hold one: the rest of the gateway sees the typed records of
 * {@link SharedState} (`state.ts`), which name every key in one place.
 */
export interface RedisConnection {
  /** `redis://host:port/db` without credentials. */
  readonly displayUrl: string
  readonly keyPrefix: string
  /** True while the last command or heartbeat succeeded. */
  readonly healthy: boolean
  /**
   * Runs `command` on the connection. Never waits longer than the command
   * timeout and never queues while disconnected; any failure becomes a
   * {@link SharedStateUnavailable} naming `what`. Failures are not logged
   * here: the connection logs once per outage.
   */
  run<T>(what: string, command: (redis: Redis) => Promise<T>): Promise<T>
  close(): Promise<void>
}

/** What {@link connectSharedState} needs besides the settings. */
export interface ConnectOptions {
  readonly logger: Logger
  /** `Portcullis.CaFile`: trusted for `rediss://` as for the IdP calls. */
  readonly caFile: string | undefined
}

/** A short description of why something failed, without credentials (ioredis messages carry none). */
function reason(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown }
  const text = typeof e?.message === 'string' ? e.message : String(err)
  return (typeof e?.code === 'string' && !text.includes(e.code) ? `${e.code} ${text}` : text).slice(0, 200)
}

/**
 * Connects to the shared Redis and waits until it answers, or throws a
 * {@link GatewayError} `ERR_SHARED_STATE` saying why (refused, timed out,
 * TLS, authentication) within `ConnectTimeoutMs`. ioredis is imported here,
 * on demand: a gateway without `SharedState` never loads it.
 *
 * After that the connection heals itself: it reconnects with a backoff of up
 * to 2 s, and a heartbeat (PING every second) notices a server that accepts
 * connections but stopped answering and reconnects. An outage is logged
 * (and published on `portcullis:shared-state:down` / `:up`) once when it
 * starts and once when it ends.
 *
 * @example
 * ```ts
 * const redis = await connectRedis(config.portcullis.sharedState, { logger, caFile: config.portcullis.caFile })
 * await redis.run('ping', (client) => client.ping())
 * ```
 */
export async function connectRedis(model: SharedStateModel, options: ConnectOptions): Promise<RedisConnection> {
  const { Redis: RedisClient } = await import('ioredis')
  const log = options.logger.child({ component: 'shared-state', redis: model.displayUrl })
  const ca = model.tls ? outboundTrust(options.caFile) : undefined
  const redisOptions: RedisOptions = {
    lazyConnect: true,
    keyPrefix: model.keyPrefix,
    connectTimeout: model.connectTimeoutMs,
    commandTimeout: model.commandTimeoutMs,
    // Fail at once while disconnected instead of queueing: a request must
    // never wait for a reconnection (the fault behaviour the README promises).
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: (attempt) => Math.min(100 * 2 ** Math.min(attempt, 5), MAX_RECONNECT_DELAY_MS),
    ...(model.tls ? { tls: ca === undefined ? {} : { ca } } : {}),
  }
  const redis = new RedisClient(model.url, redisOptions)

  let healthy = false
  let lastError = ''
  let downSince: number | undefined
  const down = (err: unknown): void => {
    lastError = reason(err)
    healthy = false
    if (downSince !== undefined) return
    downSince = Date.now()
    log.warn({ reason: lastError }, 'shared state unreachable: requests that need it answer 500 until it is back')
    if (channels.sharedStateDown.hasSubscribers) {
      channels.sharedStateDown.publish({ url: model.displayUrl, reason: lastError })
    }
  }
  const up = (): void => {
    healthy = true
    if (downSince === undefined) return
    const downForMs = Date.now() - downSince
    log.info({ downForMs }, 'shared state reachable again')
    downSince = undefined
    if (channels.sharedStateUp.hasSubscribers) channels.sharedStateUp.publish({ url: model.displayUrl, downForMs })
  }
  // ioredis reports every failed attempt as an 'error' event; without a
  // listener it would print each one. The outage is logged once, in down().
  redis.on('error', (err: unknown) => {
    lastError = reason(err)
    if (downSince !== undefined || healthy) down(err)
  })
  redis.on('close', () => {
    if (healthy) down(new Error('connection closed'))
  })

  try {
    await Promise.race([
      redis.connect(),
      new Promise((_, reject) =>
        setTimeout(
          () => reject(new Error(`timed out after ${model.connectTimeoutMs} ms`)),
          model.connectTimeoutMs,
        ).unref(),
      ),
    ])
    await redis.ping()
  } catch (err) {
    redis.disconnect()
    // ioredis closes a connection whose first command timed out; the timeout is the news.
    const timedOut = /timed out/i.test(`${lastError} ${reason(err)}`)
    const why = timedOut
      ? `the server accepted the connection but did not answer within ${Math.min(model.commandTimeoutMs, model.connectTimeoutMs)} ms`
      : lastError !== '' && lastError !== reason(err)
        ? `${reason(err)} (${lastError})`
        : reason(err)
    throw new GatewayError('ERR_SHARED_STATE', `cannot reach the shared state at ${model.displayUrl}: ${why}`, {
      cause: err,
    })
  }
  healthy = true
  redis.on('ready', up)

  let beating = false
  const heartbeat = setInterval(() => {
    if (beating) return
    beating = true
    redis
      .ping()
      .then(up, (err: unknown) => {
        down(err)
        // A server that accepts connections and never answers leaves the
        // connection "up": start over, so that its recovery is noticed.
        if (redis.status === 'ready' || redis.status === 'connect') redis.disconnect(true)
      })
      .finally(() => {
        beating = false
      })
  }, HEARTBEAT_MS)
  heartbeat.unref()

  return {
    displayUrl: model.displayUrl,
    keyPrefix: model.keyPrefix,
    get healthy() {
      return healthy
    },
    async run<T>(what: string, command: (client: Redis) => Promise<T>): Promise<T> {
      try {
        return await command(redis)
      } catch (err) {
        throw new SharedStateUnavailable(what, { cause: err })
      }
    },
    async close() {
      clearInterval(heartbeat)
      redis.removeAllListeners('ready')
      await redis.quit().catch(() => redis.disconnect())
    },
  }
}
