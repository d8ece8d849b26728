import type { FieldPath } from '../document.js'
import type { SharedStateModel } from '../model.js'
import type { PortcullisFile } from '../schema.js'
import { inRange, toInt } from './checks.js'
import type { BaseContext } from './context.js'

/** `SharedState.KeyPrefix` when absent. */
export const DEFAULT_KEY_PREFIX = 'portcullis:'
/** `SharedState.ConnectTimeoutMs` when absent. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 2000
/** `SharedState.CommandTimeoutMs` when absent: well under a browser's patience, above a loaded Redis's latency. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 500

const KEY_PREFIX = /^[\x21-\x7e]{1,64}$/

type SharedStateFile = NonNullable<NonNullable<PortcullisFile['Portcullis']>['SharedState']>

/** A URL for messages: scheme, host, port and database, never the user or password. */
export function redactRedisUrl(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname === '/' ? '' : url.pathname}`
}

/**
 * `Portcullis.SharedState` and `Portcullis.SessionStore`: a `redis://` or
 * `rediss://` URL with a host, an optional database number as the path and
 * nothing else; a printable key prefix; bounded timeouts. `SessionStore:
 * shared` needs SharedState. Plain `redis://` to a host other than loopback
 * is warned about: session ids and key rings would cross the network in clear.
 */
export function normaliseSharedState(
  file: PortcullisFile,
  ctx: BaseContext,
): { sharedState: SharedStateModel | undefined; sessionStore: 'cookie' | 'shared' } {
  const p = file.Portcullis ?? {}
  const sessionStore = p.SessionStore ?? 'cookie'
  const sharedState = p.SharedState === undefined ? undefined : sharedStateModel(p.SharedState, ctx)
  if (sessionStore === 'shared' && p.SharedState === undefined) {
    ctx.report.error(['Portcullis', 'SessionStore'], 'SessionStore: shared needs Portcullis.SharedState (a Redis URL)')
  }
  return { sharedState, sessionStore }
}

function sharedStateModel(s: SharedStateFile, ctx: BaseContext): SharedStateModel | undefined {
  const path: FieldPath = ['Portcullis', 'SharedState']
  let ok = true
  let url: URL | undefined
  try {
    url = new URL(s.Url)
  } catch {
    ctx.report.error(
      [...path, 'Url'],
      'expected a URL such as redis://127.0.0.1:6379 or rediss://redis.internal:6380/0',
    )
    ok = false
  }
  if (url !== undefined) {
    if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
      ctx.report.error([...path, 'Url'], `expected redis:// or rediss://, got ${url.protocol}//`)
      ok = false
    } else if (url.hostname === '') {
      ctx.report.error([...path, 'Url'], 'the URL names no host')
      ok = false
    } else if (!/^\/?(?:\d{1,5})?$/.test(url.pathname) || url.search !== '' || url.hash !== '') {
      ctx.report.error([...path, 'Url'], 'only a database number may follow the host (redis://host:port/0)')
      ok = false
    } else if (url.protocol === 'redis:' && !isLoopback(url.hostname)) {
      ctx.report.warn(
        [...path, 'Url'],
        `redis:// to ${url.hostname} is not encrypted: session ids and key rings cross the network in clear; use rediss://`,
      )
    }
  }
  const keyPrefix = s.KeyPrefix ?? DEFAULT_KEY_PREFIX
  if (!KEY_PREFIX.test(keyPrefix)) {
    ctx.report.error([...path, 'KeyPrefix'], 'expected 1..64 printable ASCII characters without spaces')
    ok = false
  }
  const connectTimeoutMs = s.ConnectTimeoutMs === undefined ? DEFAULT_CONNECT_TIMEOUT_MS : toInt(s.ConnectTimeoutMs)
  ok = inRange(ctx, [...path, 'ConnectTimeoutMs'], connectTimeoutMs, 100, 60_000, 'ConnectTimeoutMs') && ok
  const commandTimeoutMs = s.CommandTimeoutMs === undefined ? DEFAULT_COMMAND_TIMEOUT_MS : toInt(s.CommandTimeoutMs)
  ok = inRange(ctx, [...path, 'CommandTimeoutMs'], commandTimeoutMs, 10, 60_000, 'CommandTimeoutMs') && ok
  if (!ok || url === undefined) return undefined
  return {
    url: s.Url,
    displayUrl: redactRedisUrl(url),
    tls: url.protocol === 'rediss:',
    keyPrefix,
    connectTimeoutMs,
    commandTimeoutMs,
  }
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host)
}
