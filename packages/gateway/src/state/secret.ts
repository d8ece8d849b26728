import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createExclusive, ensurePrivateDirectory } from '../state/files.js'

/**
 * Reads a secret from the state directory, creating it on first use. Several
 * worker processes (or instances sharing the directory) may start at once:
 * the secret is published only if no other process won the race — then its
 * secret is read, so every process ends up with the same bytes.
 */
export async function ensureSecret(stateDirectory: string, name: string, bytes = 32): Promise<Buffer> {
  await ensurePrivateDirectory(stateDirectory)
  const path = join(stateDirectory, name)
  try {
    return await readSecret(path, bytes)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }
  await createExclusive(path, randomBytes(bytes).toString('base64'))
  return readSecret(path, bytes)
}

async function readSecret(path: string, bytes: number): Promise<Buffer> {
  const secret = Buffer.from((await readFile(path, 'utf8')).trim(), 'base64')
  if (secret.length !== bytes) throw new Error(`${path} does not hold a ${bytes}-byte secret; delete it to regenerate`)
  return secret
}
