import type { RequestContext } from '../../core/request.js'
import { expiredCookie, setCookie } from '../../headers/set-cookie.js'
import { requestHost } from '../oidc/redirects.js'
import type { SessionData } from '../types.js'

/**
 * Session-cookie encoding: the sealed session value is split into shards
 * `NAME-0` … `NAME-3` (as ALB does), each at most {@link SHARD_SIZE}
 * characters so that name and value stay under browsers' 4096-byte limit.
 * The sealed value is base64url, so it is never URL-encoded.
 */

/** Maximum number of shards (16 KB in all, as ALB). */
export const MAX_SHARDS = 4
/** Characters of sealed value per shard. */
export const SHARD_SIZE = 4000
/** The cookie itself lives 7 days whatever the session timeout (ALB). */
export const COOKIE_LIFETIME_SECONDS = 7 * 24 * 3600

/** Cookie attributes that depend on the listener and the request. */
export interface CookieAttributes {
  /** False only on the development opt-in HTTP loopback listener. */
  readonly secure: boolean
  /** `SameSite=None` for CORS requests (needs `Secure`), `Lax` otherwise. */
  readonly sameSite: 'Lax' | 'None'
}

// Three variants, built once: HTTPS or opted-in HTTP, CORS or not.
const ATTRS = {
  secureLax: { secure: true, sameSite: 'Lax' },
  secureNone: { secure: true, sameSite: 'None' },
  plainLax: { secure: false, sameSite: 'Lax' },
} as const satisfies Record<string, CookieAttributes>

/**
 * Cookie attributes for this request: `Secure` except on the development
 * HTTP listener; `SameSite=None` for a CORS request (an `Origin` other than
 * the request's own, as ALB does), which browsers accept only with `Secure`.
 */
export function cookieAttributes(ctx: Pick<RequestContext, 'protocol' | 'req'>): CookieAttributes {
  if (ctx.protocol !== 'https') return ATTRS.plainLax
  const origin = ctx.req.headers.origin
  if (origin === undefined) return ATTRS.secureLax
  return origin === `https://${requestHost(ctx.req) ?? ''}` ? ATTRS.secureLax : ATTRS.secureNone
}

/** The shard names of a session cookie, computed once per action. */
export function shardNames(cookieName: string): readonly string[] {
  return Array.from({ length: MAX_SHARDS }, (_, i) => `${cookieName}-${i}`)
}

/**
 * The shards present in the request, in order from `-0`. A gap ends the
 * value (a missing middle shard then fails authentication when opened).
 * Returns `undefined` when there is no `-0` shard.
 */
export function presentShards(cookies: ReadonlyMap<string, string>, names: readonly string[]): string[] | undefined {
  const first = cookies.get(names[0]!)
  if (first === undefined) return undefined
  const shards = [first]
  for (let i = 1; i < names.length; i++) {
    const shard = cookies.get(names[i]!)
    if (shard === undefined) break
    shards.push(shard)
  }
  return shards
}

/** The sealed value of the shards present in the request ({@link presentShards}, joined). */
export function readShards(cookies: ReadonlyMap<string, string>, names: readonly string[]): string | undefined {
  return presentShards(cookies, names)?.join('')
}

/** True when any shard of this cookie is present in the request. */
export function hasAnyShard(cookies: ReadonlyMap<string, string>, names: readonly string[]): boolean {
  for (const name of names) if (cookies.has(name)) return true
  return false
}

/**
 * `Set-Cookie` values for a sealed session, plus `Max-Age=0` for any
 * higher-numbered shard the request still carries (left from a larger
 * earlier session). Returns `undefined` when the value needs more than
 * {@link MAX_SHARDS} shards.
 */
export function setSessionCookies(
  sealed: string,
  names: readonly string[],
  present: ReadonlyMap<string, string>,
  attrs: CookieAttributes,
  now: number,
): string[] | undefined {
  const count = Math.ceil(sealed.length / SHARD_SIZE)
  if (count > names.length) return undefined
  const shard = { ...attrs, httpOnly: true, expires: new Date((now + COOKIE_LIFETIME_SECONDS) * 1000).toUTCString() }
  const out: string[] = []
  for (let i = 0; i < count; i++) {
    out.push(setCookie(names[i]!, sealed.slice(i * SHARD_SIZE, (i + 1) * SHARD_SIZE), shard))
  }
  for (let i = count; i < names.length; i++) {
    if (present.has(names[i]!)) out.push(clearCookie(names[i]!, attrs))
  }
  return out
}

/** A `Set-Cookie` value expiring the `HttpOnly` cookie `name` (a shard, the nonce cookie) now. */
export function clearCookie(name: string, attrs: CookieAttributes): string {
  return expiredCookie(name, { ...attrs, httpOnly: true })
}

/** `Set-Cookie` values expiring every shard of the session that the request carries. */
export function clearSessionCookies(
  names: readonly string[],
  present: ReadonlyMap<string, string>,
  attrs: CookieAttributes,
): string[] {
  const out: string[] = []
  for (const name of names) if (present.has(name)) out.push(clearCookie(name, attrs))
  return out
}

/**
 * Parses opened (already authenticated) JSON into an object; undefined for
 * anything else, so that a stale or foreign format counts as absent.
 */
export function parseSealedObject(json: Buffer): Record<string, unknown> | undefined {
  let value: unknown
  try {
    value = JSON.parse(json.toString('utf8'))
  } catch {
    return undefined
  }
  return value === null || typeof value !== 'object' ? undefined : (value as Record<string, unknown>)
}

/** Checks the shape of opened session JSON; anything else counts as no session. */
export function parseSessionData(json: Buffer): SessionData | undefined {
  const s = parseSealedObject(json)
  if (s === undefined) return undefined
  if (
    s['v'] !== 1 ||
    s['c'] === null ||
    typeof s['c'] !== 'object' ||
    Array.isArray(s['c']) ||
    typeof s['at'] !== 'string' ||
    typeof s['se'] !== 'number' ||
    (s['rt'] !== undefined && typeof s['rt'] !== 'string') ||
    (s['ae'] !== undefined && typeof s['ae'] !== 'number')
  ) {
    return undefined
  }
  return s as unknown as SessionData
}
