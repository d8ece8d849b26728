import { generateKeyPairSync, randomUUID } from 'node:crypto'
import { readdir, readFile, stat, unlink } from 'node:fs/promises'
import { type AlbSigningKey, importSigningKey } from '@portcullis/verify/mint'
import {
  createExclusive,
  ensurePrivateDirectory,
  readIfPresent,
  replaceAtomically,
  type SigningKeyFiles,
  signingKeyFiles,
  withLock,
} from '../../state/index.js'

/**
 * The P-256 key ring that signs `x-amzn-oidc-data`, kept in
 * `{stateDirectory}/signing-keys/` (paths and file I/O from `state/`):
 *
 * - `{kid}.pem` — one PKCS#8 private key per key id (a UUID, as ALB's), 0600;
 * - `active` — the key id that signs new tokens;
 * - `{kid}.expires` — for a retired key, the time (seconds since the epoch)
 *   until which its public key stays published so tokens it signed still verify.
 *
 * Instances sharing the directory sign with the same key, so each other's
 * targets accept their tokens.
 */

/** Default time a rotated-out key stays published: a day, far beyond any token lifetime. */
export const DEFAULT_GRACE_SECONDS = 24 * 3600

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** One signing key (the shape `@portcullis/verify/mint` signs with). */
export type SigningKey = AlbSigningKey

/** The ring as loaded: the active key and every key still published. */
export interface SigningKeyRing {
  readonly active: SigningKey
  /** Active first, then retired keys still within their grace period. */
  readonly published: readonly SigningKey[]
}

/** A key as listed by {@link listSigningKeys}. */
export interface SigningKeyInfo {
  readonly kid: string
  readonly active: boolean
  /** Seconds since the epoch until which a retired key stays published. */
  readonly publishedUntil: number | undefined
}

async function writeNewKey(files: SigningKeyFiles): Promise<string> {
  const kid = randomUUID()
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }) as string
  if (!(await createExclusive(files.key(kid), pem))) throw new Error(`signing key ${kid} already exists`)
  return kid
}

async function readActiveKid(files: SigningKeyFiles): Promise<string | undefined> {
  const kid = (await readIfPresent(files.active))?.trim()
  if (kid !== undefined && !UUID.test(kid)) throw new Error(`${files.active} does not name a key id`)
  return kid
}

async function loadKey(files: SigningKeyFiles, kid: string): Promise<SigningKey> {
  return importSigningKey({ kid, privateKeyPem: await readFile(files.key(kid), 'utf8') })
}

async function readExpiry(files: SigningKeyFiles, kid: string): Promise<number | undefined> {
  const text = await readIfPresent(files.expiry(kid))
  if (text === undefined) return undefined
  const value = Number(text.trim())
  return Number.isFinite(value) ? value : undefined
}

/**
 * Loads the ring, creating the first key atomically when there is none
 * (several workers starting at once agree on a single active key).
 */
export async function loadSigningKeys(stateDirectory: string): Promise<SigningKeyRing> {
  const files = signingKeyFiles(stateDirectory)
  await ensurePrivateDirectory(files.directory)
  let activeKid = await readActiveKid(files)
  if (activeKid === undefined) {
    const kid = await writeNewKey(files)
    if (!(await createExclusive(files.active, `${kid}\n`))) {
      // Another process created the first key first: use theirs.
      await unlink(files.key(kid)).catch(() => undefined)
    }
    activeKid = (await readActiveKid(files))!
  }
  const active = await loadKey(files, activeKid)
  const published: SigningKey[] = [active]
  const now = Date.now() / 1000
  for (const name of await readdir(files.directory)) {
    const kid = files.kidOfKeyFile(name)
    if (kid === undefined || kid === activeKid || !UUID.test(kid)) continue
    const until = await readExpiry(files, kid)
    if (until !== undefined && until > now) published.push(await loadKey(files, kid))
  }
  return { active, published }
}

/** Modification time of the `active` marker: a cheap way to notice a rotation. */
export async function activeMarkerVersion(stateDirectory: string): Promise<number> {
  try {
    const info = await stat(signingKeyFiles(stateDirectory).active)
    return info.mtimeMs + info.ino
  } catch {
    return 0
  }
}

/**
 * Makes a new key the active signer. The previous active key stays published
 * for `graceSeconds` (default 24 h) so tokens it signed keep verifying;
 * retired keys past their grace period are deleted. Running instances pick the
 * new key up within a few seconds (they watch the `active` marker) or on reload.
 *
 * @example
 * ```ts
 * const { kid } = await rotateSigningKey('/var/lib/portcullis', { graceSeconds: 3600 })
 * ```
 */
export async function rotateSigningKey(
  stateDirectory: string,
  options: { graceSeconds?: number } = {},
): Promise<{ kid: string }> {
  const graceSeconds = options.graceSeconds ?? DEFAULT_GRACE_SECONDS
  if (!Number.isFinite(graceSeconds) || graceSeconds < 0) throw new RangeError('graceSeconds must be >= 0')
  await loadSigningKeys(stateDirectory)
  const files = signingKeyFiles(stateDirectory)
  return withLock(files.directory, files.rotateLock, async () => {
    const previous = await readActiveKid(files)
    const kid = await writeNewKey(files)
    const now = Math.floor(Date.now() / 1000)
    if (previous !== undefined) {
      await replaceAtomically(files.expiry(previous), `${now + Math.ceil(graceSeconds)}\n`)
    }
    await replaceAtomically(files.active, `${kid}\n`)
    for (const name of await readdir(files.directory)) {
      const old = files.kidOfExpiryFile(name)
      if (old === undefined) continue
      const until = await readExpiry(files, old)
      if (UUID.test(old) && until !== undefined && until <= now) {
        await unlink(files.key(old)).catch(() => undefined)
        await unlink(files.expiry(old)).catch(() => undefined)
      }
    }
    return { kid }
  })
}

/** Lists the active key and every retired key still on disk. */
export async function listSigningKeys(stateDirectory: string): Promise<SigningKeyInfo[]> {
  const { active } = await loadSigningKeys(stateDirectory)
  const files = signingKeyFiles(stateDirectory)
  const out: SigningKeyInfo[] = [{ kid: active.kid, active: true, publishedUntil: undefined }]
  for (const name of (await readdir(files.directory)).sort()) {
    const kid = files.kidOfKeyFile(name)
    if (kid === undefined || kid === active.kid || !UUID.test(kid)) continue
    out.push({ kid, active: false, publishedUntil: await readExpiry(files, kid) })
  }
  return out
}
