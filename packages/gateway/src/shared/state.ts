import type { SharedStateModel } from '../config/model.js'
import { type ConnectOptions, connectRedis } from './connection.js'
import { KeyRingRecords } from './key-rings.js'
import { ReplayMarkers } from './markers.js'
import { SessionRecords } from './sessions.js'

export { SharedStateUnavailable } from './connection.js'
export type { RingName, RingText } from './key-rings.js'
export type { MarkerKind } from './markers.js'
export type { SessionIndex } from './sessions.js'
export type { KeyRingRecords, ReplayMarkers, SessionRecords }

/**
 * The shared state of several gateways (`Portcullis.SharedState`, Redis or
 * Valkey) as typed records: sessions, replay markers and key rings. It owns
 * the keyspace (every key name is in `shared/`) and the connection, which
 * never leaves it; one per process, opened by the server and passed in.
 * Every record rejects with `SharedStateUnavailable` when Redis cannot be
 * asked (within `CommandTimeoutMs`).
 *
 * @example
 * ```ts
 * const shared = await connectSharedState(config.portcullis.sharedState, { logger, caFile: undefined })
 * const first = await shared.markers.markOnce('login-state', nonce, 960)
 * ```
 */
export interface SharedState {
  /** `redis://host:port/db` without credentials. */
  readonly displayUrl: string
  readonly keyPrefix: string
  /** True while the last command or heartbeat succeeded. */
  readonly healthy: boolean
  readonly sessions: SessionRecords
  readonly markers: ReplayMarkers
  readonly keyRings: KeyRingRecords
  close(): Promise<void>
}

/**
 * Connects to the shared state and waits until it answers, or throws a
 * `GatewayError` `ERR_SHARED_STATE` saying why (see `connectRedis`).
 */
export async function connectSharedState(model: SharedStateModel, options: ConnectOptions): Promise<SharedState> {
  const redis = await connectRedis(model, options)
  return {
    displayUrl: redis.displayUrl,
    keyPrefix: redis.keyPrefix,
    get healthy() {
      return redis.healthy
    },
    sessions: new SessionRecords(redis),
    markers: new ReplayMarkers(redis),
    keyRings: new KeyRingRecords(redis),
    close: () => redis.close(),
  }
}
