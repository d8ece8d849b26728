import { generateKeyPairSync, randomUUID } from 'node:crypto'
import { importSigningKey } from '@portcullis/verify/mint'
import type { SharedState } from '../../shared/connection.js'
import { newRing, parseRing, rotatedRing, type StoredRing } from './sealing-ring.js'
import { DEFAULT_GRACE_SECONDS, type SigningKey, type SigningKeyInfo, type SigningKeyRing } from './signing-keys.js'

/**
 * The key rings in the shared state (`Portcullis.SharedState`), so that every
 * gateway seals, opens and signs with the same keys and every admin listener
 * publishes every key:
 *
 * - `{prefix}session-keys` — the session/state sealing ring, the JSON of
 *   `session-keys.json`;
 * - `{prefix}signing-keys` — `{ version, active, keys: [{ kid, pem, publishedUntil? }] }`,
 *   the P-256 identity-token keys (PKCS#8 PEM, kid a UUID).
 *
 * Each is created once, atomically (`SET NX`: whichever gateway comes first,
 * every other one reads its ring), and changed only by compare-and-set, so
 * that two rotations at once cannot lose a key. Rotation keeps the grace
 * periods of the state directory: 24 h (or `graceSeconds`) for a signing key,
 * 8 days for a sealing key. The private keys are as sensitive as the state
 * directory: protect Redis (ACL, `rediss://`, a private network).
 *
 * Times in a shared ring (`createdAt`, `retiresAt`, `publishedUntil`) are on
 * Redis's clock, the one clock every gateway can read: each ring is read
 * together with Redis's `TIME`, and a gateway moves the times onto its own
 * clock as it reads them (and back as it writes). Gateways whose clocks
 * disagree therefore retire a key at the same moment.
 */

const SESSION_KEYS = 'session-keys'
const SIGNING_KEYS = 'signing-keys'
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
/** Rotations racing on one ring retry this often before giving up. */
const CAS_ATTEMPTS = 10

// Replaces KEYS[1] only if it still holds ARGV[1]: a rotation computed from a
// ring another rotation changed meanwhile is retried, not written over it.
const COMPARE_AND_SET = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2]) return 1 end return 0`

interface StoredSigningKey {
  readonly kid: string
  readonly pem: string
  /** For a retired key: until when (seconds since the epoch) it stays published. */
  readonly publishedUntil?: number
}

interface StoredSigningRing {
  readonly version: 1
  readonly active: string
  readonly keys: readonly StoredSigningKey[]
}

function parseSigningRing(text: string): StoredSigningRing {
  const value = JSON.parse(text) as StoredSigningRing
  const ok =
    value !== null &&
    typeof value === 'object' &&
    value.version === 1 &&
    Array.isArray(value.keys) &&
    value.keys.every(
      (k) =>
        typeof k === 'object' &&
        k !== null &&
        typeof k.kid === 'string' &&
        UUID.test(k.kid) &&
        typeof k.pem === 'string' &&
        (k.publishedUntil === undefined || typeof k.publishedUntil === 'number'),
    ) &&
    value.keys.some((k) => k.kid === value.active)
  if (!ok) throw new Error(`the shared state's ${SIGNING_KEYS} is not a valid Portcullis signing key ring`)
  return value
}

function newSigningKey(): StoredSigningKey {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  return { kid: randomUUID(), pem: privateKey.export({ format: 'pem', type: 'pkcs8' }) as string }
}

/** A ring as stored, and how far our clock is ahead of Redis's (seconds) when it was read. */
export interface SharedRingText {
  readonly text: string
  /** Added to a time on Redis's clock, puts it on this machine's. */
  readonly toLocal: number
}

/** `key` and Redis's clock, read at once. */
async function readWithClock(shared: SharedState, key: string): Promise<{ text: string | null; toLocal: number }> {
  const [text, time] = await shared.run(`read ${key}`, async (r) => {
    const replies = await r.multi().get(key).time().exec()
    const failed = replies?.find(([err]) => err !== null)
    if (replies === null || failed !== undefined) throw failed?.[0] ?? new Error('MULTI aborted')
    return [replies[0]![1] as string | null, replies[1]![1] as [string, string]]
  })
  const redisNow = Number(time[0]) + Number(time[1]) / 1e6
  return { text, toLocal: Math.round(Date.now() / 1000 - redisNow) }
}

/**
 * Reads `key`, creating it from `create(toRedis)` with SET NX when absent
 * (`toRedis` puts a time on this machine's clock onto Redis's); returns the
 * text everyone agrees on.
 */
async function readOrCreate(
  shared: SharedState,
  key: string,
  create: (toRedis: number) => string,
): Promise<SharedRingText> {
  const existing = await readWithClock(shared, key)
  if (existing.text !== null) return { text: existing.text, toLocal: existing.toLocal }
  await shared.run(`create ${key}`, (r) => r.set(key, create(-existing.toLocal), 'NX'))
  const agreed = await readWithClock(shared, key)
  if (agreed.text === null) throw new Error(`${key} vanished from the shared state while it was created`)
  return { text: agreed.text, toLocal: agreed.toLocal }
}

/**
 * Applies `change` to the text at `key` by compare-and-set, retrying when
 * another writer got there first. `change` is given "now" on Redis's clock.
 */
async function update(
  shared: SharedState,
  key: string,
  create: (toRedis: number) => string,
  change: (text: string, redisNow: number) => string,
) {
  for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
    const { text: current, toLocal } = await readOrCreate(shared, key, create)
    const next = change(current, Math.floor(Date.now() / 1000) - toLocal)
    const swapped = await shared.run(`rotate ${key}`, (r) => r.eval(COMPARE_AND_SET, 1, key, current, next))
    if (swapped === 1) return next
  }
  throw new Error(`${key}: ${CAS_ATTEMPTS} concurrent rotations in a row; try again`)
}

/** `ring` with its times moved by `by` seconds (from one clock onto another). */
function shiftRing(ring: StoredRing, by: number): StoredRing {
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

const freshSessionRing = (toRedis: number) => JSON.stringify(shiftRing(newRing(), toRedis))
const freshSigningRing = () => {
  const key = newSigningKey()
  return JSON.stringify({ version: 1, active: key.kid, keys: [key] } satisfies StoredSigningRing)
}

/**
 * The session/state sealing ring of the shared state, created on first use,
 * its times on this machine's clock. `known` is the ring this gateway last
 * read: when the shared state lost it (a Redis restarted without its data),
 * that ring is written back instead of a new one, so that every session
 * sealed before stays open.
 */
export async function loadSharedSessionRing(shared: SharedState, known?: StoredRing): Promise<StoredRing> {
  const create = known === undefined ? freshSessionRing : (toRedis: number) => JSON.stringify(shiftRing(known, toRedis))
  const { text, toLocal } = await readOrCreate(shared, SESSION_KEYS, create)
  return shiftRing(parseRing(text, `the shared state's ${SESSION_KEYS}`), toLocal)
}

/** Adds a new active sealing key to the shared ring; older keys keep opening values for 8 days. */
export async function rotateSharedSessionKeys(shared: SharedState): Promise<{ id: string }> {
  const next = await update(shared, SESSION_KEYS, freshSessionRing, (text, redisNow) =>
    JSON.stringify(rotatedRing(parseRing(text, SESSION_KEYS), redisNow)),
  )
  return { id: (JSON.parse(next) as StoredRing).active }
}

/**
 * The shared signing keys as stored, for cheap change detection (a rotation
 * elsewhere). `known`, the text this gateway last read, is written back when
 * the shared state lost the ring, as for {@link loadSharedSessionRing}.
 */
export async function sharedSigningRingVersion(shared: SharedState, known?: string): Promise<SharedRingText> {
  return readOrCreate(shared, SIGNING_KEYS, known === undefined ? freshSigningRing : () => known)
}

/** Imports a ring read with {@link sharedSigningRingVersion}: the active key and the retired ones still published. */
export function importSharedSigningKeys({ text, toLocal }: SharedRingText): SigningKeyRing {
  const ring = parseSigningRing(text)
  const now = Date.now() / 1000 - toLocal
  const load = (k: StoredSigningKey): SigningKey => importSigningKey({ kid: k.kid, privateKeyPem: k.pem })
  const active = load(ring.keys.find((k) => k.kid === ring.active)!)
  const published: SigningKey[] = [active]
  for (const key of ring.keys) {
    if (key.kid !== ring.active && key.publishedUntil !== undefined && key.publishedUntil > now)
      published.push(load(key))
  }
  return { active, published }
}

/** The signing keys of the shared state (created on first use). */
export async function loadSharedSigningKeys(shared: SharedState): Promise<SigningKeyRing> {
  return importSharedSigningKeys(await sharedSigningRingVersion(shared))
}

/**
 * Makes a new shared signing key active; the previous one stays published for
 * `graceSeconds` (default 24 h), and keys past their grace are dropped.
 * Every gateway picks the new key up within 5 s.
 */
export async function rotateSharedSigningKey(
  shared: SharedState,
  options: { graceSeconds?: number } = {},
): Promise<{ kid: string }> {
  const graceSeconds = options.graceSeconds ?? DEFAULT_GRACE_SECONDS
  if (!Number.isFinite(graceSeconds) || graceSeconds < 0) throw new RangeError('graceSeconds must be >= 0')
  const next = await update(shared, SIGNING_KEYS, freshSigningRing, (text, now) => {
    const ring = parseSigningRing(text)
    const key = newSigningKey()
    const kept = ring.keys
      .map((k) => (k.kid === ring.active ? { ...k, publishedUntil: now + Math.ceil(graceSeconds) } : k))
      .filter((k) => k.publishedUntil !== undefined && k.publishedUntil > now)
    return JSON.stringify({ version: 1, active: key.kid, keys: [key, ...kept] } satisfies StoredSigningRing)
  })
  return { kid: (JSON.parse(next) as StoredSigningRing).active }
}

/** Lists the shared signing keys (never the private keys): the active one, then retired ones. */
export async function listSharedSigningKeys(shared: SharedState): Promise<SigningKeyInfo[]> {
  const { text, toLocal } = await sharedSigningRingVersion(shared)
  const ring = parseSigningRing(text)
  return ring.keys.map((k) => ({
    kid: k.kid,
    active: k.kid === ring.active,
    publishedUntil: k.publishedUntil === undefined ? undefined : k.publishedUntil + toLocal,
  }))
}
