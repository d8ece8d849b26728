import { randomBytes } from 'node:crypto'
import { createWriteStream, type WriteStream } from 'node:fs'
import { mkdir, readdir, rename, stat, unlink } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { createGzip, type Gzip } from 'node:zlib'
import type { LogSink } from './log-sinks.js'

/** `Portcullis.AccessLog` with a `Directory`: ALB's own delivery of access-log files. */
export interface AlbDeliveryOptions {
  /** Absolute; plays the part of ALB's S3 bucket (and prefix): `AWSLogs/…` is created under it. */
  readonly directory: string
  /** One file per interval and process, closed when the interval ends: 5 or 60 minutes. */
  readonly intervalMinutes: number
  /** The load balancer, as its ARN names it. */
  readonly accountId: string
  readonly region: string
  readonly name: string
  /** The 16 hex digits that end the load balancer's ARN. */
  readonly id: string
  /** The node's address in the file name (ALB: the load balancer node's IP). */
  readonly ip: string
  /** Delivered files beyond this total are deleted, oldest first; undefined: no bound. */
  readonly maxTotalBytes: number | undefined
}

/** Where an unfinished file is written before it is renamed into `AWSLogs/`, under the directory. */
export const PARTIAL_DIRECTORY = '.partial'

/**
 * ALB's access-log file path, relative to the bucket: `AWSLogs/{account}/
 * elasticloadbalancing/{region}/{yyyy}/{mm}/{dd}/{account}_elasticloadbalancing_
 * {region}_app.{name}.{id}_{end time}_{ip}_{random}.log.gz`, the end time
 * being the interval's end in UTC to the minute (`20140215T2340Z`). The date
 * directories are the end time's (AWS does not say; the file name carries it).
 */
export function albLogFilePath(
  o: Pick<AlbDeliveryOptions, 'accountId' | 'region' | 'name' | 'id' | 'ip'>,
  intervalEndMs: number,
  random: string,
): string {
  const end = new Date(intervalEndMs).toISOString() // 2014-02-15T23:40:00.000Z
  const [yyyy, mm, dd] = [end.slice(0, 4), end.slice(5, 7), end.slice(8, 10)]
  const stamp = `${yyyy}${mm}${dd}T${end.slice(11, 13)}${end.slice(14, 16)}Z`
  const file = `${o.accountId}_elasticloadbalancing_${o.region}_app.${o.name}.${o.id}_${stamp}_${o.ip}_${random}.log.gz`
  return join('AWSLogs', o.accountId, 'elasticloadbalancing', o.region, yyyy, mm, dd, file)
}

/** The end time a delivered file's name carries, as it sorts (`20140215T2340Z`); undefined for other names. */
export function endTimeOf(fileName: string): string | undefined {
  return /_(\d{8}T\d{4}Z)_[^_]+_[a-z0-9]+\.log\.gz$/.exec(fileName)?.[1]
}

/** ALB's random part of a file name: 8 lowercase letters and digits. */
function randomName(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789'
  return [...randomBytes(8)].map((b) => alphabet[b % alphabet.length]).join('')
}

interface OpenFile {
  readonly gzip: Gzip
  readonly out: WriteStream
  readonly partialPath: string
  readonly finalPath: string
  readonly closed: Promise<void>
}

/**
 * Writes access-log lines as ALB delivers them: gzip files, one per interval
 * (and per process: every worker is a node of the load balancer, so workers
 * never share a file, and the random part keeps their names apart without
 * coordinating), laid out and named as in ALB's S3 bucket. A file is written
 * under `.partial/` and renamed into `AWSLogs/` only once the gzip stream is
 * complete, so a reader never sees a partial file under a final name. An
 * interval without requests leaves no file, as with ALB.
 *
 * Compression runs on libuv's thread pool (zlib's asynchronous API), not on
 * the event loop that serves requests.
 */
export class AlbDeliverySink implements LogSink {
  readonly path: string
  readonly #options: AlbDeliveryOptions
  readonly #intervalMs: number
  /** The end of the interval now being written. */
  #end: number
  #file: OpenFile | undefined

  constructor(options: AlbDeliveryOptions, now = Date.now()) {
    this.#options = options
    this.path = options.directory
    this.#intervalMs = options.intervalMinutes * 60_000
    this.#end = this.intervalEndAfter(now)
  }

  /** When the interval being written ends (ms since the epoch). */
  get intervalEnd(): number {
    return this.#end
  }

  /** The end of the interval that `now` falls in: the first boundary after it. */
  intervalEndAfter(now: number): number {
    return Math.floor(now / this.#intervalMs) * this.#intervalMs + this.#intervalMs
  }

  async write(batches: Buffer[]): Promise<void> {
    const file = this.#file ?? (await this.#open())
    let last: Promise<void> | undefined
    for (const batch of batches) {
      last = new Promise<void>((resolve, reject) => {
        file.gzip.write(batch, (error) => (error ? reject(error) : resolve()))
      })
    }
    // The callback runs once zlib has taken the batch in, which frees it for reuse (and is the backpressure).
    try {
      await Promise.race([last, file.closed])
    } catch (error) {
      // A file that failed (a full disk) is abandoned under .partial/, never delivered half-written:
      // the next batch starts a new one.
      if (this.#file === file) this.#file = undefined
      file.gzip.destroy()
      file.out.destroy()
      throw error
    }
  }

  async #open(): Promise<OpenFile> {
    const random = randomName()
    const finalPath = join(this.#options.directory, albLogFilePath(this.#options, this.#end, random))
    const partialPath = join(this.#options.directory, PARTIAL_DIRECTORY, `${random}.log.gz`)
    await mkdir(dirname(partialPath), { recursive: true })
    const gzip = createGzip()
    const out = createWriteStream(partialPath, { mode: 0o640 })
    gzip.pipe(out)
    const closed = new Promise<void>((resolve, reject) => {
      gzip.once('error', reject)
      out.once('error', reject)
      out.once('close', resolve)
    })
    // A failure surfaces through write() or deliver(); never as an unhandled rejection.
    closed.catch(() => {})
    this.#file = { gzip, out, partialPath, finalPath, closed }
    return this.#file
  }

  /** Ends the interval being written: its file (if it has lines) is completed and moved to its final name. */
  async deliver(nextEnd: number): Promise<void> {
    const file = this.#file
    this.#file = undefined
    this.#end = nextEnd
    if (file === undefined) return
    file.gzip.end()
    await file.closed
    await mkdir(dirname(file.finalPath), { recursive: true })
    await rename(file.partialPath, file.finalPath)
    if (this.#options.maxTotalBytes !== undefined) {
      await enforceBound(this.#options.directory, this.#options.maxTotalBytes, file.finalPath)
    }
  }

  /** Nothing to reopen: these files are never renamed by anyone else. */
  async reopen(): Promise<void> {}

  /** Delivers what this process wrote of the current interval, under that interval's name. */
  async close(): Promise<void> {
    await this.deliver(this.#end)
  }
}

/**
 * Deletes delivered files under `directory/AWSLogs`, oldest end time first,
 * until they total at most `maxBytes`; never `newest`, the file just
 * delivered. Each deleted file nobody read since it was written (its access
 * time not after its modification time) is a warning. Several workers may
 * run this at once: a file another one deleted first is skipped.
 */
export async function enforceBound(directory: string, maxBytes: number, newest: string): Promise<void> {
  const root = join(directory, 'AWSLogs')
  const names = (await readdir(root, { recursive: true })).filter((name) => endTimeOf(name) !== undefined)
  const files: { path: string; end: string; size: number; read: boolean }[] = []
  for (const name of names) {
    const path = join(root, name)
    const info = await stat(path).catch(() => undefined)
    if (info === undefined) continue
    files.push({ path, end: endTimeOf(name)!, size: info.size, read: info.atimeMs > info.mtimeMs })
  }
  let total = files.reduce((sum, f) => sum + f.size, 0)
  files.sort((a, b) => (a.end === b.end ? a.path.localeCompare(b.path) : a.end < b.end ? -1 : 1))
  for (const file of files) {
    if (total <= maxBytes) break
    if (file.path === newest) continue
    const gone = await unlink(file.path).then(
      () => true,
      (error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return true
        throw error
      },
    )
    if (gone) total -= file.size
    if (!file.read) {
      process.emitWarning(
        `access log: deleted ${file.path} (${file.size} bytes), not read since it was delivered, to keep ${directory} within MaxTotalSizeMB`,
        { type: 'PortcullisWarning', code: 'PORTCULLIS_ACCESS_LOG_DELETED' },
      )
    }
  }
}
