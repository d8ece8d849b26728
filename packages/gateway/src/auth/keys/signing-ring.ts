import { generateKeyPairSync, randomUUID } from 'node:crypto'
import { type AlbSigningKey, importSigningKey } from '@portcullis/verify/mint'

/**
 * The P-256 key ring that signs `x-amzn-oidc-data`, as a value: the policy
 * (key ids, key generation, rotation with a grace period, what is published)
 * written once, for every place the ring is kept (`key-ring-store.ts`: the
 * state directory or the shared state). Pure but for key generation.
 */

/** Default time a rotated-out key stays published: a day, far beyond any token lifetime. */
export const DEFAULT_GRACE_SECONDS = 24 * 3600

/** Key ids are UUIDs, as ALB's. */
export const KEY_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** One signing key (the shape `@portcullis/verify/mint` signs with). */
export type SigningKey = AlbSigningKey

/** The ring as loaded: the active key and every key still published. */
export interface SigningKeyRing {
  readonly active: SigningKey
  /** Active first, then retired keys still within their grace period. */
  readonly published: readonly SigningKey[]
}

/** A key as listed (never the private key). */
export interface SigningKeyInfo {
  readonly kid: string
  readonly active: boolean
  /** Seconds since the epoch until which a retired key stays published. */
  readonly publishedUntil: number | undefined
}

/** One key as stored: the PKCS#8 PEM private key; a retired key has `publishedUntil`. */
export interface StoredSigningKey {
  readonly kid: string
  readonly pem: string
  readonly publishedUntil?: number
}

/** The ring as stored: `{ version, active, keys }`. */
export interface StoredSigningRing {
  readonly version: 1
  readonly active: string
  readonly keys: readonly StoredSigningKey[]
}

/** Checks a stored ring's shape; throws naming `source` when it is not one. */
export function parseSigningRing(value: unknown, source: string): StoredSigningRing {
  const ring = value as StoredSigningRing
  const ok =
    ring !== null &&
    typeof ring === 'object' &&
    ring.version === 1 &&
    Array.isArray(ring.keys) &&
    ring.keys.every(
      (k) =>
        typeof k === 'object' &&
        k !== null &&
        typeof k.kid === 'string' &&
        KEY_ID.test(k.kid) &&
        typeof k.pem === 'string' &&
        (k.publishedUntil === undefined || typeof k.publishedUntil === 'number'),
    ) &&
    ring.keys.some((k) => k.kid === ring.active)
  if (!ok) throw new Error(`${source} is not a valid Portcullis signing key ring`)
  return ring
}

/** A fresh P-256 key with a new key id. */
export function newSigningKey(): StoredSigningKey {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  return { kid: randomUUID(), pem: privateKey.export({ format: 'pem', type: 'pkcs8' }) as string }
}

/** A ring of one fresh key. */
export function newSigningRing(): StoredSigningRing {
  const key = newSigningKey()
  return { version: 1, active: key.kid, keys: [key] }
}

/**
 * The ring after a rotation at `now`: a new active key first; the previous
 * one stays published for `graceSeconds`, and keys past their grace are dropped.
 */
export function rotatedSigningRing(ring: StoredSigningRing, now: number, graceSeconds: number): StoredSigningRing {
  if (!Number.isFinite(graceSeconds) || graceSeconds < 0) throw new RangeError('graceSeconds must be >= 0')
  const key = newSigningKey()
  const kept = ring.keys
    .map((k) => (k.kid === ring.active ? { ...k, publishedUntil: now + Math.ceil(graceSeconds) } : k))
    .filter((k) => k.publishedUntil !== undefined && k.publishedUntil > now)
  return { version: 1, active: key.kid, keys: [key, ...kept] }
}

/** `ring` with its times moved by `by` seconds (from one clock onto another). */
export function shiftSigningRing(ring: StoredSigningRing, by: number): StoredSigningRing {
  if (by === 0) return ring
  return {
    ...ring,
    keys: ring.keys.map((k) => (k.publishedUntil === undefined ? k : { ...k, publishedUntil: k.publishedUntil + by })),
  }
}

/** The keys to sign and publish with at `now`: the active one, and the retired ones still in their grace. */
export function importSigningRing(ring: StoredSigningRing, now: number): SigningKeyRing {
  const load = (k: StoredSigningKey): SigningKey => importSigningKey({ kid: k.kid, privateKeyPem: k.pem })
  const active = load(ring.keys.find((k) => k.kid === ring.active)!)
  const published: SigningKey[] = [active]
  for (const key of ring.keys) {
    if (key.kid !== ring.active && key.publishedUntil !== undefined && key.publishedUntil > now)
      published.push(load(key))
  }
  return { active, published }
}

/** The ring as listed: the active key first, then the retired ones by key id. */
export function describeSigningRing(ring: StoredSigningRing): SigningKeyInfo[] {
  const retired = ring.keys.filter((k) => k.kid !== ring.active).sort((a, b) => a.kid.localeCompare(b.kid))
  return [
    { kid: ring.active, active: true, publishedUntil: undefined },
    ...retired.map((k) => ({ kid: k.kid, active: false, publishedUntil: k.publishedUntil })),
  ]
}
