import { randomBytes } from 'node:crypto'
import { dirname } from 'node:path'
import { createExclusive, ensurePrivateDirectory, readIfPresent } from './files.js'
import { stickinessSecretFile } from './layout.js'

/**
 * Reads the secret at `path`, creating it on first use. Several worker
 * processes (or instances sharing the directory) may start at once: the
 * secret is published only if no other process won the race — then its
 * secret is read, so every process ends up with the same bytes.
 */
async function ensureSecret(path: string, bytes: number): Promise<Buffer> {
  await ensurePrivateDirectory(dirname(path))
  const existing = await readIfPresent(path)
  if (existing !== undefined) return parseSecret(existing, path, bytes)
  await createExclusive(path, randomBytes(bytes).toString('base64'))
  return parseSecret((await readIfPresent(path))!, path, bytes)
}

function parseSecret(text: string, path: string, bytes: number): Buffer {
  const secret = Buffer.from(text.trim(), 'base64')
  if (secret.length !== bytes) throw new Error(`${path} does not hold a ${bytes}-byte secret; delete it to regenerate`)
  return secret
}

/**
 * The 32-byte key of the stickiness cookie values in `stateDirectory`
 * (`stickiness.key`), created on first use; the same in every worker and
 * instance sharing the directory, and across restarts.
 *
 * @example
 * const stickinessSecret = await ensureStickinessSecret(config.portcullis.stateDirectory)
 */
export function ensureStickinessSecret(stateDirectory: string): Promise<Buffer> {
  return ensureSecret(stickinessSecretFile(stateDirectory), 32)
}
