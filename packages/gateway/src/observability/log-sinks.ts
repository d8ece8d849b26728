import { once } from 'node:events'
import { closeSync, mkdirSync, openSync, writev } from 'node:fs'
import { dirname } from 'node:path'

/** Where batches of whole lines go. One owner: the {@link AccessLog}, which calls one method at a time. */
export interface LogSink {
  /** The file or directory written, for messages; undefined for stdout. */
  readonly path: string | undefined
  write(batches: Buffer[]): Promise<void>
  reopen(): Promise<void>
  close(): Promise<void>
}

export class StdoutSink implements LogSink {
  readonly path = undefined

  async write(batches: Buffer[]): Promise<void> {
    for (const batch of batches) {
      if (!process.stdout.write(batch)) await once(process.stdout, 'drain')
    }
    // The stream may still hold the last batch: it is not reused until written.
    await new Promise<void>((resolve) => process.stdout.write('', () => resolve()))
  }

  async reopen(): Promise<void> {}
  async close(): Promise<void> {}
}

/** A file opened with `O_APPEND`: several workers append whole batches to it without a lock. */
export class FileSink implements LogSink {
  readonly path: string
  #fd: number | undefined

  constructor(path: string) {
    this.path = path
    this.#fd = openAppend(path)
  }

  async write(batches: Buffer[]): Promise<void> {
    const fd = this.#fd
    if (fd === undefined) throw new Error('the file is closed')
    await writeAll(fd, batches)
  }

  async reopen(): Promise<void> {
    // Opened before the old one is closed: when the new one cannot be (a missing directory's
    // permissions…), lines keep going to the old file rather than nowhere.
    const fd = openAppend(this.path)
    const old = this.#fd
    this.#fd = fd
    if (old !== undefined) closeSync(old)
  }

  async close(): Promise<void> {
    if (this.#fd !== undefined) closeSync(this.#fd)
    this.#fd = undefined
  }
}

function openAppend(path: string): number {
  mkdirSync(dirname(path), { recursive: true })
  return openSync(path, 'a', 0o640)
}

/** Writes `batches` to `fd` whole, across short writes. */
export async function writeAll(fd: number, batches: Buffer[]): Promise<void> {
  let pending = batches
  while (pending.length > 0) {
    const written = await new Promise<number>((resolve, reject) => {
      writev(fd, pending, (error, bytes) => (error ? reject(error) : resolve(bytes)))
    })
    // A file that takes nothing more without an error would loop forever: treat it as one.
    if (written === 0) throw new Error('the file took no more bytes')
    pending = unwritten(pending, written)
  }
}

/** What is left of `batches` after the first `written` bytes went out (a short write). */
export function unwritten(batches: readonly Buffer[], written: number): Buffer[] {
  const rest: Buffer[] = []
  let skip = written
  for (const batch of batches) {
    if (skip >= batch.length) skip -= batch.length
    else {
      rest.push(skip === 0 ? batch : batch.subarray(skip))
      skip = 0
    }
  }
  return rest
}
