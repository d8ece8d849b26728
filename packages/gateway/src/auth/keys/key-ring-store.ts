import { hash } from 'node:crypto'
import { readdir, readFile, unlink } from 'node:fs/promises'
import type { Logger } from 'pino'
import type { GatewayConfig } from '../../config/model.js'
import type { KeyRingRecords, RingName, SharedState } from '../../shared/state.js'
import {
  createExclusive,
  ensurePrivateDirectory,
  readIfPresent,
  replaceAtomically,
  type SigningKeyFiles,
  sessionKeyFiles,
  signingKeyFiles,
  withLock,
} from '../../state/index.js'
import { systemClock } from '../../values/clock.js'
import {
  describeRing,
  newRing,
  parseRing,
  rotatedRing,
  type SessionKeyInfo,
  type StoredRing,
  shiftRing,
} from './sealing-ring.js'
import {
  DEFAULT_GRACE_SECONDS,
  describeSigningRing,
  KEY_ID,
  newSigningKey,
  newSigningRing,
  parseSigningRing,
  rotatedSigningRing,
  type SigningKeyInfo,
  type StoredSigningKey,
  type StoredSigningRing,
  shiftSigningRing,
} from './signing-ring.js'

/** The signing ring as read, and a value that changes whenever it does. */
export interface SigningRingRead {
  readonly ring: StoredSigningRing
  readonly marker: string
}

/**
 * Where the two key rings live — the session/state sealing ring and the
 * identity-token signing ring — behind one interface, used alike by the
 * running gateway, `portcullis keys` and the library: the state directory
 * ({@link stateDirectoryKeyRings}) or the shared state
 * ({@link sharedKeyRings}). The policy (rotation, grace periods, shapes) is
 * the rings' own (`sealing-ring.ts`, `signing-ring.ts`), written once.
 * Times come back on this machine's clock.
 *
 * @example
 * ```ts
 * const keys = stateDirectoryKeyRings('/var/lib/portcullis')
 * const { kid } = await keys.rotateSigningKey({ graceSeconds: 3600 })
 * ```
 */
export interface KeyRingStore {
  /** Where the rings are, for messages: a directory, or `the shared state redis://…`. */
  readonly where: string
  /**
   * The sealing ring, created on first use. `known` is the ring this process
   * last read: a store that lost its ring (a Redis restarted empty) gets it
   * back instead of a new one, so that sessions sealed before stay open.
   */
  sessionRing(known?: StoredRing): Promise<StoredRing>
  /** The signing ring, created on first use; `known` as for {@link sessionRing}. */
  signingRing(known?: StoredSigningRing): Promise<SigningRingRead>
  /** A new active sealing key; older keys keep opening values for 8 days. */
  rotateSessionKeys(): Promise<{ id: string }>
  /** A new active signing key; the previous one stays published for `graceSeconds` (default 24 h). */
  rotateSigningKey(options?: { graceSeconds?: number }): Promise<{ kid: string }>
  listSigningKeys(): Promise<SigningKeyInfo[]>
  listSessionKeys(): Promise<SessionKeyInfo[]>
}

/** The rings a configuration uses: the shared state's when it has one (`shared` is its connection), else its state directory's. */
export function keyRingsFor(config: GatewayConfig, shared: SharedState | undefined): KeyRingStore {
  return shared === undefined
    ? stateDirectoryKeyRings(config.portcullis.stateDirectory)
    : sharedKeyRings(shared.keyRings, shared.displayUrl)
}

/**
 * The key rings of a configuration, ready to rotate or list: its shared
 * state's (connected here; `close()` disconnects) or its state directory's.
 *
 * @example
 * ```ts
 * const keys = await openKeyRings((await loadConfig('portcullis.yaml')).config)
 * try {
 *   const { kid } = await keys.rotateSigningKey()
 * } finally {
 *   await keys.close()
 * }
 * ```
 */
export async function openKeyRings(
  config: GatewayConfig,
  options: { logger?: Logger } = {},
): Promise<KeyRingStore & { close(): Promise<void> }> {
  const model = config.portcullis.sharedState
  if (model === undefined) return { ...stateDirectoryKeyRings(config.portcullis.stateDirectory), close: async () => {} }
  const logger = options.logger ?? (await import('../../observability/logger.js')).createLogger('silent')
  const { connectSharedState } = await import('../../shared/state.js')
  const shared = await connectSharedState(model, { logger, caFile: config.portcullis.caFile })
  return { ...keyRingsFor(config, shared), close: () => shared.close() }
}

/** A marker of a signing ring: its key ids, active key and grace ends (never the private keys). */
function signingMarker(ring: StoredSigningRing): string {
  const keys = ring.keys.map((k) => `${k.kid}:${k.publishedUntil ?? ''}`).join(',')
  return hash('sha256', `${ring.active}\n${keys}`, 'base64url')
}

// ----------------------------------------------------------- state directory

/**
 * The rings of a state directory (0700, files 0600; paths from `state/`):
 * `session-keys.json`, and `signing-keys/` with `{kid}.pem` (PKCS#8), an
 * `active` marker naming the signing key id, and `{kid}.expires` (seconds
 * since the epoch) for a retired key. Instances sharing the directory use
 * the same keys; creation is atomic and rotation holds a lock, so several
 * processes starting or rotating at once agree.
 */
export function stateDirectoryKeyRings(stateDirectory: string): KeyRingStore {
  const signing = signingKeyFiles(stateDirectory)
  const sealing = sessionKeyFiles(stateDirectory)

  const readSealing = async (): Promise<StoredRing> => {
    const existing = await readIfPresent(sealing.ring)
    if (existing !== undefined) return parseRing(JSON.parse(existing), sealing.ring)
    await ensurePrivateDirectory(sealing.directory)
    await createExclusive(sealing.ring, `${JSON.stringify(newRing(), null, 2)}\n`)
    // Whoever won the race, everyone uses what is on disk now.
    return parseRing(JSON.parse(await readFile(sealing.ring, 'utf8')), sealing.ring)
  }

  const readSigning = async (): Promise<StoredSigningRing> => {
    await ensurePrivateDirectory(signing.directory)
    let active = await readActiveKid(signing)
    if (active === undefined) {
      const first = newSigningKey()
      if (!(await createExclusive(signing.key(first.kid), first.pem))) {
        throw new Error(`signing key ${first.kid} already exists`)
      }
      if (!(await createExclusive(signing.active, `${first.kid}\n`))) {
        // Another process created the first key first: use theirs.
        await unlink(signing.key(first.kid)).catch(() => undefined)
      }
      active = (await readActiveKid(signing))!
    }
    const keys: StoredSigningKey[] = []
    for (const name of (await readdir(signing.directory)).sort()) {
      const kid = signing.kidOfKeyFile(name)
      if (kid === undefined || !KEY_ID.test(kid)) continue
      // A key another process created and removed again (it lost the race to be first) is gone.
      const pem = await readIfPresent(signing.key(kid))
      if (pem === undefined) continue
      const until = kid === active ? undefined : await readExpiry(signing, kid)
      keys.push(until === undefined ? { kid, pem } : { kid, pem, publishedUntil: until })
    }
    return parseSigningRing({ version: 1, active, keys }, signing.directory)
  }

  return {
    where: stateDirectory,
    sessionRing: () => readSealing(),
    async signingRing() {
      const ring = await readSigning()
      return { ring, marker: signingMarker(ring) }
    },
    async rotateSessionKeys() {
      await readSealing()
      return withLock(sealing.directory, sealing.rotateLock, async () => {
        const next = rotatedRing(await readSealing(), systemClock())
        await replaceAtomically(sealing.ring, `${JSON.stringify(next, null, 2)}\n`)
        return { id: next.active }
      })
    },
    async rotateSigningKey(options = {}) {
      const graceSeconds = options.graceSeconds ?? DEFAULT_GRACE_SECONDS
      if (!Number.isFinite(graceSeconds) || graceSeconds < 0) throw new RangeError('graceSeconds must be >= 0')
      await readSigning()
      return withLock(signing.directory, signing.rotateLock, async () => {
        const ring = await readSigning()
        const next = rotatedSigningRing(ring, systemClock(), graceSeconds)
        const added = next.keys.find((k) => k.kid === next.active)!
        if (!(await createExclusive(signing.key(added.kid), added.pem))) {
          throw new Error(`signing key ${added.kid} already exists`)
        }
        for (const key of next.keys) {
          if (key.publishedUntil !== undefined) {
            await replaceAtomically(signing.expiry(key.kid), `${key.publishedUntil}\n`)
          }
        }
        await replaceAtomically(signing.active, `${next.active}\n`)
        const kept = new Set(next.keys.map((k) => k.kid))
        for (const key of ring.keys) {
          if (kept.has(key.kid)) continue
          await unlink(signing.key(key.kid)).catch(() => undefined)
          await unlink(signing.expiry(key.kid)).catch(() => undefined)
        }
        return { kid: next.active }
      })
    },
    listSigningKeys: async () => describeSigningRing(await readSigning()),
    listSessionKeys: async () => describeRing(await readSealing()),
  }
}

async function readActiveKid(files: SigningKeyFiles): Promise<string | undefined> {
  const kid = (await readIfPresent(files.active))?.trim()
  if (kid !== undefined && !KEY_ID.test(kid)) throw new Error(`${files.active} does not name a key id`)
  return kid
}

async function readExpiry(files: SigningKeyFiles, kid: string): Promise<number | undefined> {
  const text = await readIfPresent(files.expiry(kid))
  if (text === undefined) return undefined
  const value = Number(text.trim())
  return Number.isFinite(value) ? value : undefined
}

// -------------------------------------------------------------- shared state

/** Rotations racing on one ring retry this often before giving up. */
const CAS_ATTEMPTS = 10

/**
 * The rings in the shared state (`{prefix}session-keys`, `{prefix}signing-keys`,
 * each the JSON of its stored ring), so that every gateway seals, opens and
 * signs with the same keys and every admin listener publishes every key.
 * Created once (whoever comes first, everyone reads theirs), changed only by
 * compare-and-set, so that two rotations at once cannot lose a key. Times
 * in them are on Redis's clock (see `KeyRingRecords`): gateways whose clocks
 * disagree retire a key at the same moment. The private keys are as
 * sensitive as the state directory: protect Redis (ACL, `rediss://`, a
 * private network).
 */
export function sharedKeyRings(records: KeyRingRecords, where: string): KeyRingStore {
  /** Reads `name`, creating it from `create(toRedis)` when absent; the ring everyone agrees on, on our clock. */
  const readOrCreate = async <R>(
    name: RingName,
    parse: (value: unknown) => R,
    shift: (ring: R, by: number) => R,
    create: () => R,
  ): Promise<{ ring: R; text: string; toLocal: number }> => {
    let read = await records.read(name)
    if (read.text === undefined) {
      await records.create(name, JSON.stringify(shift(create(), -read.toLocal)))
      read = await records.read(name)
      if (read.text === undefined) throw new Error(`${name} vanished from the shared state while it was created`)
    }
    return { ring: shift(parse(JSON.parse(read.text)), read.toLocal), text: read.text, toLocal: read.toLocal }
  }
  /** Applies `change` (given "now" on our clock) by compare-and-set, retrying when another writer got there first. */
  const update = async <R>(
    name: RingName,
    parse: (value: unknown) => R,
    shift: (ring: R, by: number) => R,
    create: () => R,
    change: (ring: R, now: number) => R,
  ): Promise<R> => {
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const { ring, text, toLocal } = await readOrCreate(name, parse, shift, create)
      const next = change(ring, systemClock())
      if (await records.compareAndSet(name, text, JSON.stringify(shift(next, -toLocal)))) return next
    }
    throw new Error(`${name}: ${CAS_ATTEMPTS} concurrent rotations in a row; try again`)
  }
  const sealing = (value: unknown) => parseRing(value, `the shared state's session-keys`)
  const signing = (value: unknown) => parseSigningRing(value, `the shared state's signing-keys`)

  return {
    where: `the shared state ${where}`,
    async sessionRing(known) {
      return (await readOrCreate('session-keys', sealing, shiftRing, () => known ?? newRing())).ring
    },
    async signingRing(known) {
      const { ring } = await readOrCreate('signing-keys', signing, shiftSigningRing, () => known ?? newSigningRing())
      return { ring, marker: signingMarker(ring) }
    },
    async rotateSessionKeys() {
      const next = await update('session-keys', sealing, shiftRing, newRing, rotatedRing)
      return { id: next.active }
    },
    async rotateSigningKey(options = {}) {
      const graceSeconds = options.graceSeconds ?? DEFAULT_GRACE_SECONDS
      if (!Number.isFinite(graceSeconds) || graceSeconds < 0) throw new RangeError('graceSeconds must be >= 0')
      const next = await update('signing-keys', signing, shiftSigningRing, newSigningRing, (ring, now) =>
        rotatedSigningRing(ring, now, graceSeconds),
      )
      return { kid: next.active }
    },
    listSigningKeys: async () =>
      describeSigningRing((await readOrCreate('signing-keys', signing, shiftSigningRing, newSigningRing)).ring),
    listSessionKeys: async () => describeRing((await readOrCreate('session-keys', sealing, shiftRing, newRing)).ring),
  }
}
