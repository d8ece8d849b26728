import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto'
import { systemClock } from '../../values/clock.js'

/**
 * The secret key ring behind the session cookies and the `state` parameter:
 * its policy (key ids, rotation, retirement) as pure functions over the
 * stored ring, and {@link SecretRing}, which seals and opens with it. Where
 * the ring is kept — `session-keys.json` in the state directory, or the
 * shared state — is `key-ring-store.ts`'s. Every instance reading the same
 * ring seals and opens with the same keys. Rotation adds a new active key;
 * older keys stay for opening until they retire (after the longest a cookie
 * can live), so rotating never logs anyone out.
 *
 * Sealed format (then base64url): `0x01 | key id (4) | iv (12) | AES-256-GCM ciphertext | tag (16)`.
 * Each purpose (session cookie, state) uses its own HKDF-derived key, and the
 * caller's associated data (e.g. the cookie name) is authenticated with it.
 */

/** Retired keys keep opening cookies this long: the 7-day cookie lifetime plus a day. */
const RETIRED_KEY_LIFETIME_SECONDS = 8 * 24 * 3600

const VERSION = 0x01
const KEY_ID_BYTES = 4
const IV_BYTES = 12
const TAG_BYTES = 16
const HEADER_BYTES = 1 + KEY_ID_BYTES + IV_BYTES

/** What a sealed value is for; each purpose has its own derived key. */
export type SealPurpose = 'session' | 'state'

/** One key of the ring as stored (on disk or in the shared state). */
export interface StoredKey {
  readonly id: string
  readonly secret: string
  readonly createdAt: number
  /** When set, the key no longer seals and is dropped after this time (seconds since the epoch). */
  readonly retiresAt?: number
}

/** The ring as stored: `session-keys.json` on disk, the same JSON in the shared state. */
export interface StoredRing {
  readonly version: 1
  readonly active: string
  readonly keys: readonly StoredKey[]
}

interface DerivedKey {
  readonly id: Buffer
  readonly session: Buffer
  readonly state: Buffer
}

const KEY_ID = /^[0-9a-f]{8}$/
const SECRET = /^[A-Za-z0-9_-]{43}$/

/** Checks a stored ring's shape; throws naming `source` (a path or a Redis key) when it is not one. */
export function parseRing(stored: unknown, source: string): StoredRing {
  const value = stored as StoredRing
  const ok =
    value !== null &&
    typeof value === 'object' &&
    value.version === 1 &&
    Array.isArray(value.keys) &&
    value.keys.length > 0 &&
    value.keys.every(
      (k) =>
        typeof k === 'object' &&
        k !== null &&
        typeof k.id === 'string' &&
        KEY_ID.test(k.id) &&
        typeof k.secret === 'string' &&
        SECRET.test(k.secret) &&
        typeof k.createdAt === 'number' &&
        (k.retiresAt === undefined || typeof k.retiresAt === 'number'),
    ) &&
    value.keys.some((k) => k.id === value.active)
  if (!ok) throw new Error(`${source} is not a valid Portcullis session key ring`)
  return value
}

/** A new ring of one fresh key. */
export function newRing(): StoredRing {
  const key = newKey()
  return { version: 1, active: key.id, keys: [key] }
}

/**
 * The ring after a rotation at `now`: a new active key first; the previous
 * keys retire 8 days from now (the longest a cookie can live, plus a day) and
 * those already retired are dropped.
 */
export function rotatedRing(ring: StoredRing, now: number): StoredRing {
  const key = newKey()
  const kept = ring.keys
    .filter((k) => k.retiresAt === undefined || k.retiresAt > now)
    .map((k) => (k.retiresAt === undefined ? { ...k, retiresAt: now + RETIRED_KEY_LIFETIME_SECONDS } : k))
  return { version: 1, active: key.id, keys: [key, ...kept] }
}

function newKey(): StoredKey {
  return {
    id: randomBytes(KEY_ID_BYTES).toString('hex'),
    secret: randomBytes(32).toString('base64url'),
    createdAt: systemClock(),
  }
}

function derive(key: StoredKey): DerivedKey {
  const secret = Buffer.from(key.secret, 'base64url')
  const sub = (info: string) => Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), `portcullis ${info} v1`, 32))
  return { id: Buffer.from(key.id, 'hex'), session: sub('session-cookie'), state: sub('state') }
}

/** `ring` with its times moved by `by` seconds (from one clock onto another). */
export function shiftRing(ring: StoredRing, by: number): StoredRing {
  if (by === 0) return ring
  return {
    ...ring,
    keys: ring.keys.map((k) => ({
      ...k,
      createdAt: k.createdAt + by,
      ...(k.retiresAt === undefined ? {} : { retiresAt: k.retiresAt + by }),
    })),
  }
}

/** A key as listed (never the secret). */
export interface SessionKeyInfo {
  readonly id: string
  readonly active: boolean
  readonly createdAt: number
  readonly retiresAt: number | undefined
}

/** The ring's key ids, newest first. */
export function describeRing(ring: StoredRing): SessionKeyInfo[] {
  return ring.keys.map((k) => ({
    id: k.id,
    active: k.id === ring.active,
    createdAt: k.createdAt,
    retiresAt: k.retiresAt,
  }))
}

/**
 * The loaded ring: seals with the active key and opens with any key still in
 * the ring. A value sealed under a key this process does not know triggers a
 * (rate-limited) re-read of the ring (the file, or the shared state), so a
 * rotation done by another instance is picked up without a reload.
 */
export class SecretRing {
  #active: DerivedKey
  #byId: Map<number, DerivedKey>
  #lastReload = 0
  #reloading: Promise<void> | undefined

  private constructor(
    private readonly source: () => Promise<StoredRing>,
    ring: StoredRing,
  ) {
    this.#active = derive(ring.keys.find((k) => k.id === ring.active)!)
    this.#byId = SecretRing.#index(ring)
  }

  static #index(ring: StoredRing): Map<number, DerivedKey> {
    const now = Math.floor(Date.now() / 1000)
    const map = new Map<number, DerivedKey>()
    for (const key of ring.keys) {
      if (key.retiresAt !== undefined && key.retiresAt <= now) continue
      const derived = derive(key)
      map.set(derived.id.readUInt32BE(0), derived)
    }
    return map
  }

  /** A ring read (and re-read on {@link reload}) from `source`, such as the shared state. */
  static async from(source: () => Promise<StoredRing>): Promise<SecretRing> {
    return new SecretRing(source, await source())
  }

  /** Re-reads the ring (at most once a second, single-flight). */
  reload(): Promise<void> {
    if (this.#reloading !== undefined) return this.#reloading
    if (Date.now() - this.#lastReload < 1000) return Promise.resolve()
    this.#lastReload = Date.now()
    this.#reloading = this.source()
      .then((ring) => {
        this.#active = derive(ring.keys.find((k) => k.id === ring.active)!)
        this.#byId = SecretRing.#index(ring)
      })
      .finally(() => {
        this.#reloading = undefined
      })
    return this.#reloading
  }

  /** {@link open}, re-reading the ring once when the key id is unknown (a rotation by another instance). */
  async openFresh(purpose: SealPurpose, sealed: string, aad: Buffer): Promise<Buffer | undefined> {
    let opened = this.open(purpose, sealed, aad)
    if (opened === 'unknown-key') {
      // Unreadable ring (the shared state down): the value simply does not open.
      await this.reload().catch(() => undefined)
      opened = this.open(purpose, sealed, aad)
    }
    return opened === 'unknown-key' ? undefined : opened
  }

  /** Encrypts and authenticates `plaintext` (with `aad`) under the active key; returns base64url. */
  seal(purpose: SealPurpose, plaintext: Buffer, aad: Buffer): string {
    const key = this.#active
    const iv = randomBytes(IV_BYTES)
    const cipher = createCipheriv('aes-256-gcm', key[purpose], iv)
    cipher.setAAD(aad)
    const out = Buffer.concat([
      Buffer.of(VERSION),
      key.id,
      iv,
      cipher.update(plaintext),
      cipher.final(),
      cipher.getAuthTag(),
    ])
    return out.toString('base64url')
  }

  /**
   * Opens a sealed value. Returns `undefined` for anything malformed, tampered,
   * sealed for another purpose/`aad`, or under a key no longer in the ring;
   * `'unknown-key'` when the key id is not known (the caller may `reload()`).
   */
  open(purpose: SealPurpose, sealed: string, aad: Buffer): Buffer | undefined | 'unknown-key' {
    const raw = Buffer.from(sealed, 'base64url')
    // Buffer.from ignores invalid characters; a round-trip check rejects them.
    if (raw.length < HEADER_BYTES + TAG_BYTES || raw[0] !== VERSION || raw.toString('base64url') !== sealed) {
      return undefined
    }
    const key = this.#byId.get(raw.readUInt32BE(1))
    if (key === undefined) return 'unknown-key'
    try {
      const decipher = createDecipheriv('aes-256-gcm', key[purpose], raw.subarray(1 + KEY_ID_BYTES, HEADER_BYTES))
      decipher.setAAD(aad)
      decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES))
      return Buffer.concat([decipher.update(raw.subarray(HEADER_BYTES, raw.length - TAG_BYTES)), decipher.final()])
    } catch {
      return undefined
    }
  }
}
