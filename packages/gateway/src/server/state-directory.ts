import { randomBytes } from 'node:crypto'
import { link, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

/**
 * Reads a secret from the state directory, creating it on first use. Several
 * worker processes (or instances sharing the directory) may start at once:
 * the secret is written to a private temporary file and hard-linked into
 * place, which fails if another process won the race — then its secret is
 * read, so every process ends up with the same bytes.
 */
export async function ensureSecret(stateDirectory: string, name: string, bytes = 32): Promise<Buffer> {
  await mkdir(stateDirectory, { recursive: true, mode: 0o700 })
  const path = join(stateDirectory, name)
  try {
    return await readSecret(path, bytes)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }
  const temporary = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`
  await writeFile(temporary, randomBytes(bytes).toString('base64'), { mode: 0o600, flag: 'wx' })
  try {
    await link(temporary, path)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
  } finally {
    await rm(temporary, { force: true })
  }
  return readSecret(path, bytes)
}

async function readSecret(path: string, bytes: number): Promise<Buffer> {
  const secret = Buffer.from((await readFile(path, 'utf8')).trim(), 'base64')
  if (secret.length !== bytes) throw new Error(`${path} does not hold a ${bytes}-byte secret; delete it to regenerate`)
  return secret
}
