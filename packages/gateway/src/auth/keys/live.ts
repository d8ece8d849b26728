import type { IncomingMessage, ServerResponse } from 'node:http'
import { createKeyHandler } from '@portcullis/verify/mint'
import type { Logger } from 'pino'
import { SharedStateUnavailable } from '../../shared/state.js'
import { elapsedMs, systemClock } from '../../values/clock.js'
import type { KeyRingStore } from './key-ring-store.js'
import { SecretRing, type StoredRing } from './sealing-ring.js'
import { importSigningRing, type SigningKeyRing } from './signing-ring.js'

/** How often a process looks for a rotation made elsewhere. */
const KEY_CHECK_INTERVAL_MS = 5000
/** Retired signing keys leave the published set when their grace ends: re-imported at least this often. */
const KEY_RELOAD_INTERVAL_MS = 60_000

/** The key rings a process seals, signs and publishes with, kept current. */
export interface LiveKeyRings {
  /** Seals and opens session cookies and `state` (re-read at once for an unknown key id). */
  readonly sealing: SecretRing
  /** The signing keys now: the active one and every one still published. */
  readonly signing: SigningKeyRing
  /** `GET /keys/{kid}` of the admin listener: every published key's public PEM. */
  readonly keysHandler: (req: IncomingMessage, res: ServerResponse) => void
  close(): void
}

/**
 * Loads both rings from `store` and keeps them current: a rotation made by
 * `portcullis keys rotate` or another instance is picked up within 5 s
 * (polled: cheaper and more portable than `fs.watch`, which misses changes
 * on some network file systems, and the same for Redis), and the sealing
 * ring is re-read at once when a cookie names a key it does not know. What
 * was last read is written back if the store lost it (a Redis restarted
 * empty), so the rings survive that.
 *
 * @example
 * ```ts
 * const keys = await liveKeyRings(stateDirectoryKeyRings('.portcullis'), logger)
 * const token = signAlbToken({ key: keys.signing.active, … })
 * ```
 */
export async function liveKeyRings(store: KeyRingStore, logger: Logger): Promise<LiveKeyRings> {
  let sealingKnown: StoredRing | undefined
  const sealing = await SecretRing.from(async () => {
    sealingKnown = await store.sessionRing(sealingKnown)
    return sealingKnown
  })
  let { ring: signingKnown, marker } = await store.signingRing()
  let signing = importSigningRing(signingKnown, systemClock())
  let importedAt = elapsedMs()
  let checking = false
  const timer = setInterval(async () => {
    if (checking) return
    checking = true
    try {
      const next = await store.signingRing(signingKnown)
      signingKnown = next.ring
      if (next.marker !== marker || elapsedMs() - importedAt > KEY_RELOAD_INTERVAL_MS) {
        const previousKid = signing.active.kid
        signing = importSigningRing(next.ring, systemClock())
        // A rotation is a new active key. A changed key set alone is not one: a retired key leaving, or the
        // first key that another process starting on the same fresh directory wrote and removed again.
        if (signing.active.kid !== previousKid) {
          logger.info({ kid: signing.active.kid, previousKid }, 'signing key rotation picked up')
        }
        marker = next.marker
        importedAt = elapsedMs()
      }
      const before = sealingKnown
      const ring = await store.sessionRing(sealingKnown)
      const ids = (r: StoredRing | undefined) => r?.keys.map((k) => k.id).join(',')
      if (ring.active !== before?.active || ids(ring) !== ids(before)) await sealing.reload()
    } catch (err) {
      // The keys in memory go on serving. The shared state's outages are logged once by its connection.
      if (!(err instanceof SharedStateUnavailable)) {
        logger.error(
          { cause: err instanceof Error ? err.message : String(err), keyStore: store.where },
          'could not re-read the key rings',
        )
      }
    } finally {
      checking = false
    }
  }, KEY_CHECK_INTERVAL_MS)
  timer.unref()
  return {
    sealing,
    get signing() {
      return signing
    },
    keysHandler: createKeyHandler(() => signing.published),
    close: () => clearInterval(timer),
  }
}
