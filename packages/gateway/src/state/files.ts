import { randomBytes } from 'node:crypto'
import { link, mkdir, open, readFile, rename, rmdir, stat, unlink } from 'node:fs/promises'
import { dirname, join } from 'node:path'

/**
 * The one way Portcullis writes files in its state directory (signing keys,
 * session key rings, the stickiness secret, the local CA), where several
 * worker processes may write at the same moment. A file is written to a
 * temporary file in the same directory, with its final mode, flushed to disk
 * (fsync), and only then published by a rename or a hard link: a reader never
 * sees half a file, two racing writers never both win, and a crash never
 * leaves an empty key behind.
 */

/** The text of `path`, or undefined when there is no such file (any other error is thrown). */
export async function readIfPresent(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8')
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined
    throw err
  }
}

/** Creates `dir` (and parents) readable only by the owner. */
export async function ensurePrivateDirectory(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
}

async function writeTemporary(path: string, content: string, mode: number): Promise<string> {
  const tmp = join(dirname(path), `.${process.pid}.${randomBytes(6).toString('hex')}.tmp`)
  const handle = await open(tmp, 'wx', mode)
  try {
    await handle.writeFile(content)
    // The umask may have narrowed the mode given to open; the file gets exactly `mode`.
    await handle.chmod(mode)
    await handle.sync()
  } catch (err) {
    await handle.close()
    await unlink(tmp).catch(() => undefined)
    throw err
  }
  await handle.close()
  return tmp
}

/**
 * Publishes `content` at `path` with `mode` (default owner-only) only if
 * nothing is there yet (hard link of a complete temporary file: atomic and
 * exclusive). Returns false when another process got there first.
 */
export async function createExclusive(path: string, content: string, mode = 0o600): Promise<boolean> {
  const tmp = await writeTemporary(path, content, mode)
  try {
    await link(tmp, path)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw err
  } finally {
    await unlink(tmp).catch(() => undefined)
  }
}

/** Replaces `path` atomically with `content` and `mode` (default owner-only), by renaming a complete temporary file. */
export async function replaceAtomically(path: string, content: string, mode = 0o600): Promise<void> {
  const tmp = await writeTemporary(path, content, mode)
  try {
    await rename(tmp, path)
  } catch (err) {
    await unlink(tmp).catch(() => undefined)
    throw err
  }
}

function isErrno(err: unknown, code: string): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === code
}

/**
 * Runs `fn` while holding `{dir}/{name}.lock` (an exclusively created
 * directory). Waits briefly for another holder; a lock older than
 * `staleMs` is considered abandoned by a crashed process and broken.
 */
export async function withLock<T>(dir: string, name: string, fn: () => Promise<T>, staleMs = 10_000): Promise<T> {
  const lockPath = join(dir, `${name}.lock`)
  for (let attempt = 0; ; attempt++) {
    try {
      await mkdir(lockPath, { mode: 0o700 })
      break
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err
      const info = await stat(lockPath).catch(() => undefined)
      if (info !== undefined && Date.now() - info.mtimeMs > staleMs) {
        await rmdir(lockPath).catch(() => undefined)
        continue
      }
      if (attempt > 200) throw new Error(`timed out waiting for ${lockPath}`)
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
  }
  try {
    return await fn()
  } finally {
    await rmdir(lockPath).catch(() => undefined)
  }
}
