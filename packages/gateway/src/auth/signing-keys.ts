import { generateKeyPairSync, randomUUID } from 'node:crypto'
import { readdir, readFile, stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { type AlbSigningKey, importSigningKey } from '@portcullis/verify/mint'
import { createExclusive, ensurePrivateDirectory, replaceAtomically, withLock } from '../state/files.js'

/**
 * The P-256 key ring that signs `x-amzn-oidc-data`, kept in
 * `{stateDirectory}/signing-keys/`:
 *
 * - `{kid}.pem` — one PKCS#8 private key per key id (a UUID, as ALB's), 0600;
 * - `active` — the key id that signs new tokens;
 * - `{kid}.expires` — for a retired key, the time (seconds since the epoch)
 *   until which its public key stays published so tokens it signed still verify.
 *
 * Instances sharing the directory sign with the same key, so each other's
 * targets accept their tokens.
 */

/** Sub-directory of the state directory holding the signing keys. */
export const SIGNING_KEYS_DIRECTORY = 'signing-keys'
const ACTIVE_FILE = 'active'
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

function keysDirectory(stateDirectory: string): string {
  return join(stateDirectory, SIGNING_KEYS_DIRECTORY)
}

async function writeNewKey(dir: string): Promise<string> {
  const kid = randomUUID()
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }) as string
  if (!(await createExclusive(join(dir, `${kid}.pem`), pem))) throw new Error(`signing key ${kid} already exists`)
  return kid
}

async function readActiveKid(dir: string): Promise<string | undefined> {
  try {
    const kid = (await readFile(join(dir, ACTIVE_FILE), 'utf8')).trim()
    if (!UUID.test(kid)) throw new Error(`${join(dir, ACTIVE_FILE)} does not name a key id`)
    return kid
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

async function loadKey(dir: string, kid: string): Promise<SigningKey> {
  return importSigningKey({ kid, privateKeyPem: await readFile(join(dir, `${kid}.pem`), 'utf8') })
}

async function readExpiry(dir: string, kid: string): Promise<number | undefined> {
  try {
    const value = Number((await readFile(join(dir, `${kid}.expires`), 'utf8')).trim())
    return Number.isFinite(value) ? value : undefined
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

/**
 * Loads the ring, creating the first key atomically when there is none
 * (several workers starting at once agree on a single active key).
 */
export async function loadSigningKeys(stateDirectory: string): Promise<SigningKeyRing> {
  const dir = keysDirectory(stateDirectory)
  await ensurePrivateDirectory(dir)
  let activeKid = await readActiveKid(dir)
  if (activeKid === undefined) {
    const kid = await writeNewKey(dir)
    if (!(await createExclusive(join(dir, ACTIVE_FILE), `${kid}\n`))) {
      // Another process created the first key first: use theirs.
      await unlink(join(dir, `${kid}.pem`)).catch(() => undefined)
    }
    activeKid = (await readActiveKid(dir))!
  }
  const active = await loadKey(dir, activeKid)
  const published: SigningKey[] = [active]
  const now = Date.now() / 1000
  for (const name of await readdir(dir)) {
    if (!name.endsWith('.pem')) continue
    const kid = name.slice(0, -4)
    if (kid === activeKid || !UUID.test(kid)) continue
    const until = await readExpiry(dir, kid)
    if (until !== undefined && until > now) published.push(await loadKey(dir, kid))
  }
  return { active, published }
}

/** Modification time of the `active` marker: a cheap way to notice a rotation. */
export async function activeMarkerVersion(stateDirectory: string): Promise<number> {
  try {
    const info = await stat(join(keysDirectory(stateDirectory), ACTIVE_FILE))
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
  const dir = keysDirectory(stateDirectory)
  return withLock(dir, 'rotate', async () => {
    const previous = await readActiveKid(dir)
    const kid = await writeNewKey(dir)
    const now = Math.floor(Date.now() / 1000)
    if (previous !== undefined) {
      await replaceAtomically(join(dir, `${previous}.expires`), `${now + Math.ceil(graceSeconds)}\n`)
    }
    await replaceAtomically(join(dir, ACTIVE_FILE), `${kid}\n`)
    for (const name of await readdir(dir)) {
      if (!name.endsWith('.expires')) continue
      const old = name.slice(0, -'.expires'.length)
      const until = await readExpiry(dir, old)
      if (UUID.test(old) && until !== undefined && until <= now) {
        await unlink(join(dir, `${old}.pem`)).catch(() => undefined)
        await unlink(join(dir, name)).catch(() => undefined)
      }
    }
    return { kid }
  })
}

/** Lists the active key and every retired key still on disk. */
export async function listSigningKeys(stateDirectory: string): Promise<SigningKeyInfo[]> {
  const { active } = await loadSigningKeys(stateDirectory)
  const dir = keysDirectory(stateDirectory)
  const out: SigningKeyInfo[] = [{ kid: active.kid, active: true, publishedUntil: undefined }]
  for (const name of (await readdir(dir)).sort()) {
    if (!name.endsWith('.pem')) continue
    const kid = name.slice(0, -4)
    if (kid === active.kid || !UUID.test(kid)) continue
    out.push({ kid, active: false, publishedUntil: await readExpiry(dir, kid) })
  }
  return out
}
