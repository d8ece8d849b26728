import type { IncomingMessage } from 'node:http'
import type { RequestContext } from '../core/request.js'
import { type AlbDeliveryOptions, AlbDeliverySink } from './alb-delivery.js'
import { channels } from './diagnostics.js'
import { FileSink, type LogSink, StdoutSink } from './log-sinks.js'

export { unwritten } from './log-sinks.js'

/**
 * One access-log entry, with the field names of ALB's access log
 * (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-access-logs.html).
 */
export interface AccessLogEntry {
  type: 'http' | 'https' | 'h2' | 'grpcs' | 'ws' | 'wss'
  time: string
  elb: string
  client_port: string
  target_port: string
  request_processing_time: number
  target_processing_time: number
  response_processing_time: number
  elb_status_code: number
  target_status_code: number | null
  received_bytes: number
  sent_bytes: number
  request: string
  user_agent: string
  ssl_cipher: string
  ssl_protocol: string
  target_group_arn: string
  trace_id: string
  domain_name: string
  matched_rule_priority: string
  request_creation_time: string
  actions_executed: string
  redirect_url: string
  error_reason: string
  /** ALB's connection traceability id: the same for every request on one client connection. */
  conn_trace_id: string
}

/** What the log needs of the client connection; read when the connection's first request started. */
export interface ConnectionFacts {
  /** The peer's port. */
  readonly port: number
  /** The listener's port as bound (the real one when the configuration says 0). */
  readonly localPort: number
  /** An opaque id of this connection, ALB's `conn_trace_id` (`TID_` and 32 hex digits). */
  readonly traceId: string
  /** The negotiated TLS session, for HTTPS listeners. */
  readonly tls: { readonly cipher: string; readonly protocol: string; readonly serverName: string } | undefined
}

/** Bytes received from and sent to the client for this one request. */
export interface ByteCounts {
  readonly received: number
  readonly sent: number
}

export interface AccessLogOptions {
  format: 'json' | 'alb'
  /**
   * Where the lines go: a file appended to (`path`), ALB's delivery files
   * ({@link AlbDeliveryOptions}), or stdout when undefined.
   */
  path: string | undefined
  /** ALB's interval files under a directory instead of `path` (ALB line format only). */
  delivery?: AlbDeliveryOptions
  /** The load balancer's resource id (`app/NAME/ID`), ALB's `elb` field. */
  elb: string
}

/** Lines are encoded into batches of this many bytes. */
const BATCH_BYTES = 64 * 1024
/** Batches waiting for the file beyond this are dropped (a stalled disk must not exhaust memory). */
const MAX_QUEUED_BYTES = 16 * 1024 * 1024
/** Written batches kept for reuse. */
const SPARE_BATCHES = 4

/**
 * An operation on the destination that must happen between two batches, in
 * queue order: what was queued before goes to the old file, what comes after
 * to the new one.
 */
interface Control {
  readonly run: (sink: LogSink) => Promise<void>
  /** Settles the caller's promise: with the error `run` threw, if any. */
  readonly done: (error?: Error) => void
}

/** Where a {@link LogFile} writes. */
export interface LogFileOptions {
  /** A file appended to, or stdout when undefined (and no `delivery`). */
  path: string | undefined
  /** ALB's interval files under a directory instead of `path`. */
  delivery?: AlbDeliveryOptions
  /** What the log is, for warnings (`access log`, `connection log`). */
  label?: string
}

/**
 * Writes whole lines to a file, to stdout, or to ALB's gzip interval files:
 * the one writer of the access log and the connection log, so that both are
 * batched, bounded and reopened (SIGUSR2) the same way.
 *
 * Written by hand rather than through pino's destination (sonic-boom): each
 * line is encoded at once into a reused 64 KiB buffer and full buffers go to
 * the file with one `writev`. Holding lines as strings until a batch was
 * joined cost 3–4 µs a request (the join re-copied every line, as two-byte
 * text), sonic-boom's string appends about 9 µs (BENCHMARKS.md). A batch is
 * written as soon as it is full, at the latest a second after its first line,
 * or at once on {@link flush}. Batches hold whole lines only, so a line is
 * never split between two files by {@link reopen} or an interval's end.
 */
export class LogFile {
  readonly #label: string
  readonly #sink: LogSink
  #batch: Buffer = Buffer.allocUnsafeSlow(BATCH_BYTES)
  #used = 0
  /** Full batches not yet written, as the views to write, and controls in their order. */
  #queue: (Buffer | Control)[] = []
  #queuedBytes = 0
  #spare: Buffer[] = []
  #writing: Promise<void> | undefined
  readonly #flushTimer: NodeJS.Timeout
  /** When the current delivery interval ends (ms since the epoch); Infinity without intervals. */
  #intervalEnd = Number.POSITIVE_INFINITY
  #failed = false

  constructor(options: LogFileOptions) {
    this.#label = options.label ?? 'access log'
    if (options.delivery !== undefined) {
      const delivery = new AlbDeliverySink(options.delivery)
      this.#sink = delivery
      this.#intervalEnd = delivery.intervalEnd
    } else {
      this.#sink = options.path === undefined ? new StdoutSink() : new FileSink(options.path)
    }
    this.#flushTimer = setInterval(() => {
      this.#endIntervalIfDue(Date.now())
      this.#seal()
      this.#drain()
    }, 1000)
    this.#flushTimer.unref()
  }

  /** Moves the current batch to the queue. */
  #seal(): void {
    if (this.#used === 0) return
    this.#enqueue(this.#batch.subarray(0, this.#used))
    this.#batch = this.#spare.pop() ?? Buffer.allocUnsafeSlow(BATCH_BYTES)
    this.#used = 0
  }

  #enqueue(data: Buffer): void {
    if (this.#queuedBytes + data.length > MAX_QUEUED_BYTES) {
      this.#warnOnce('dropping lines: the log cannot keep up')
      return
    }
    this.#queue.push(data)
    this.#queuedBytes += data.length
  }

  /** Seals the lines written so far and queues `run` after them; settles once it ran. */
  #control(run: (sink: LogSink) => Promise<void>): Promise<void> {
    this.#seal()
    const ran = new Promise<void>((resolve, reject) => {
      this.#queue.push({ run, done: (error) => (error === undefined ? resolve() : reject(error)) })
    })
    this.#drain()
    return ran
  }

  #drain(): void {
    if (this.#writing !== undefined || this.#queue.length === 0) return
    const items = this.#queue
    this.#queue = []
    this.#queuedBytes = 0
    this.#writing = this.#writeOut(items).then(() => {
      for (const written of items) {
        // Only whole batch buffers are reused; an oversized single line is not.
        if (
          Buffer.isBuffer(written) &&
          written.buffer.byteLength === BATCH_BYTES &&
          this.#spare.length < SPARE_BATCHES
        ) {
          this.#spare.push(Buffer.from(written.buffer, written.byteOffset, BATCH_BYTES))
        }
      }
      this.#writing = undefined
      this.#drain()
    })
  }

  async #writeOut(items: (Buffer | Control)[]): Promise<void> {
    let batches: Buffer[] = []
    for (const item of items) {
      if (Buffer.isBuffer(item)) {
        batches.push(item)
        continue
      }
      if (batches.length > 0) await this.#writeBatches(batches)
      batches = []
      let failure: Error | undefined
      try {
        await item.run(this.#sink)
      } catch (error) {
        failure = error as Error
      }
      item.done(failure)
    }
    if (batches.length > 0) await this.#writeBatches(batches)
  }

  async #writeBatches(batches: Buffer[]): Promise<void> {
    let failure: Error | undefined
    try {
      await this.#sink.write(batches)
    } catch (error) {
      failure = error as Error
      this.#warnOnce(failure.message)
    }
    if (channels.accessLogWritten.hasSubscribers) {
      const bytes = batches.reduce((sum, batch) => sum + batch.length, 0)
      channels.accessLogWritten.publish({ path: this.#sink.path, bytes, error: failure })
    }
  }

  /** Losing log lines must never take requests down; say so once. */
  #warnOnce(why: string): void {
    if (this.#failed) return
    this.#failed = true
    process.emitWarning(`${this.#label} ${this.#sink.path ?? 'stdout'}: ${why}`, 'PortcullisWarning')
  }

  /** Closes the delivery interval that ended by `now`: its lines go to its file, later ones to the next. */
  #endIntervalIfDue(now: number): void {
    if (now < this.#intervalEnd) return
    const next = (this.#sink as AlbDeliverySink).intervalEndAfter(now)
    this.#intervalEnd = next
    this.#control((sink) => (sink as AlbDeliverySink).deliver(next)).catch((error: unknown) => {
      this.#warnOnce(`could not deliver a file: ${(error as Error).message}`)
    })
  }

  /**
   * Appends `line` (ending in a newline) to the batch: see the class's note
   * on when it is written. `now` decides the delivery interval whose file
   * takes the line.
   */
  writeLine(line: string, now = Date.now()): void {
    if (now >= this.#intervalEnd) this.#endIntervalIfDue(now)
    // UTF-8 needs at most 3 bytes per UTF-16 unit: a line that may not fit starts a new batch,
    // and one that may not fit even an empty batch goes out as a buffer of its own.
    const worstCase = line.length * 3
    if (this.#used + worstCase > BATCH_BYTES) {
      this.#seal()
      if (worstCase > BATCH_BYTES) this.#enqueue(Buffer.from(line, 'utf8'))
      this.#drain()
    }
    if (worstCase <= BATCH_BYTES) this.#used += this.#batch.write(line, this.#used)
  }

  /** Resolves when every line written so far is in the file (or on stdout), without waiting for the timer. */
  async flush(): Promise<void> {
    await this.#control(async () => {})
  }

  /**
   * Writes every line so far to the file open now, then opens the path
   * again: after logrotate (or anyone) renamed the file, later lines go to a
   * new file under the configured name. Resolves once reopened. Nothing to
   * do for stdout; for ALB's interval files it delivers the current file.
   */
  async reopen(): Promise<void> {
    await this.#control((sink) => sink.reopen())
  }

  /** Writes what is pending and closes the file (delivering the current interval's file). */
  async close(): Promise<void> {
    clearInterval(this.#flushTimer)
    await this.#control((sink) => sink.close())
  }
}

/**
 * The access log: ALB's access-log entries, as JSON lines or as ALB's own
 * space-separated lines, through a {@link LogFile}.
 */
export class AccessLog extends LogFile {
  readonly #format: 'json' | 'alb'
  readonly #elb: string

  constructor(options: AccessLogOptions) {
    super({ path: options.path, delivery: options.delivery, label: 'access log' })
    this.#format = options.format
    this.#elb = options.elb
  }

  /**
   * Builds the entry for a finished request. Cheap: plain field copies. Reads
   * nothing from the socket: a finished request's socket may be detached or
   * closed, so what the entry needs of it comes in `connection` and `bytes`.
   */
  entry(
    ctx: Pick<RequestContext, 'req' | 'record' | 'protocol' | 'sourceIp' | 'upgrade'>,
    connection: ConnectionFacts,
    bytes: ByteCounts,
    statusCode: number,
    startedAt: number,
    finishedAt: number,
  ): AccessLogEntry {
    const { req, record } = ctx
    const tls = connection.tls
    const target = record.targetProcessingTime >= 0 ? record.targetProcessingTime : -1
    const total = (finishedAt - startedAt) / 1000
    const requestTime = record.requestProcessingTime
    return {
      type: requestType(ctx),
      time: isoTime(finishedAt),
      elb: this.#elb,
      client_port: `${ctx.sourceIp}:${connection.port}`,
      target_port: record.target ?? '-',
      request_processing_time: seconds(requestTime),
      target_processing_time: seconds(target),
      response_processing_time: target < 0 ? -1 : Math.max(0, seconds(total - requestTime - target)),
      elb_status_code: statusCode,
      target_status_code: record.targetStatusCode ?? null,
      received_bytes: bytes.received,
      sent_bytes: bytes.sent,
      request: requestLine(req, ctx.protocol, connection.localPort),
      user_agent: req.headers['user-agent'] ?? '-',
      ssl_cipher: tls?.cipher ?? '-',
      ssl_protocol: tls?.protocol ?? '-',
      target_group_arn: record.targetGroupArn ?? '-',
      trace_id: record.traceId,
      domain_name: tls?.serverName ?? '-',
      matched_rule_priority:
        record.matchedRulePriority === undefined
          ? '-'
          : String(record.matchedRulePriority === 'default' ? 0 : record.matchedRulePriority),
      request_creation_time: isoTime(startedAt),
      actions_executed: record.actionsExecuted.length === 0 ? '-' : record.actionsExecuted.join(','),
      redirect_url: record.redirectUrl ?? '-',
      error_reason: record.errorReason ?? '-',
      conn_trace_id: connection.traceId,
    }
  }

  /**
   * Appends the entry's line (see {@link LogFile} on when it is written).
   * `now` is the entry's `time`, which decides the delivery interval whose
   * file takes the line.
   */
  write(entry: AccessLogEntry, now = Date.now()): void {
    this.writeLine(this.#format === 'json' ? formatJsonLine(entry) : `${formatAlbLine(entry)}\n`, now)
  }
}

let isoSecond = Number.NaN
let isoPrefix = ''

/**
 * `new Date(ms).toISOString()` for a time after 1970: the part up to
 * the second is formatted once per second, as two ISO times per request
 * were a measurable part of a log line's cost.
 */
export function isoTime(ms: number): string {
  const second = Math.floor(ms / 1000)
  if (second !== isoSecond) {
    isoSecond = second
    isoPrefix = new Date(second * 1000).toISOString().slice(0, 20)
  }
  const milli = Math.floor(ms) - second * 1000
  return `${isoPrefix}${milli < 10 ? '00' : milli < 100 ? '0' : ''}${milli}Z`
}

/** Seconds with millisecond precision, as ALB writes them (`0.001`); -1 stays -1. */
function seconds(n: number): number {
  return n < 0 ? -1 : Math.round(n * 1000) / 1000
}

/**
 * ALB's access-log `type` of a request: `ws`/`wss` for a WebSocket upgrade,
 * `h2`/`grpcs` for HTTP/2, else the listener's `http`/`https`.
 */
export function requestType(ctx: Pick<RequestContext, 'req' | 'protocol' | 'upgrade'>): AccessLogEntry['type'] {
  if (ctx.upgrade !== undefined) return ctx.protocol === 'https' ? 'wss' : 'ws'
  return ctx.req.httpVersionMajor === 2 ? http2Type(ctx.req) : ctx.protocol
}

/** ALB's `type` of an HTTP/2 request: `grpcs` for gRPC (over TLS, the only way ALB serves it), else `h2`. */
function http2Type(req: IncomingMessage): 'h2' | 'grpcs' {
  const type = req.headers['content-type']
  return type !== undefined && /^application\/grpc(?:$|[+;])/.test(type) ? 'grpcs' : 'h2'
}

/**
 * ALB's `request` field: `METHOD protocol://host:port/uri HTTP/version`, the
 * port always written (the listener's), the host as the client sent it
 * without its own port; `-` for what the request lacks.
 */
function requestLine(req: IncomingMessage, protocol: 'http' | 'https', port: number): string {
  // HTTP/2: `GET https://host:443/path HTTP/2.0`, the host from `:authority` (ALB's h2 example entry).
  const authority = req.httpVersionMajor === 2 ? req.headers[':authority'] : undefined
  const header = typeof authority === 'string' ? authority : req.headers.host
  let host = '-'
  if (header !== undefined && header !== '') {
    const close = header.charCodeAt(0) === 0x5b /* [ */ ? header.indexOf(']') : -1
    const colon = header.indexOf(':', close + 1)
    host = colon === -1 ? header : header.slice(0, colon)
  }
  return `${req.method ?? '-'} ${protocol}://${host}:${port}${req.url ?? ''} HTTP/${req.httpVersion}`
}

/** Characters after which a string is no longer its own JSON text between quotes (lone surrogates included). */
const JSON_UNSAFE = /["\\\u0000-\u001f\ud800-\udfff]/

/** `JSON.stringify(value)` for a string, without its cost when nothing needs escaping (the usual case). */
function jsonString(value: string): string {
  return JSON_UNSAFE.test(value) ? JSON.stringify(value) : `"${value}"`
}

/**
 * The JSON text of the last string seen in one field. Fields that come from
 * the configuration or the connection (the load balancer, target, target
 * group, TLS session) repeat from one request to the next; an equal string
 * skips the escaping check, a third of the line's cost.
 */
class JsonStringMemo {
  #last: string | undefined
  #json = ''

  of(value: string): string {
    if (value !== this.#last) {
      this.#last = value
      this.#json = jsonString(value)
    }
    return this.#json
  }
}

const elbJson = new JsonStringMemo()
const targetJson = new JsonStringMemo()
const targetGroupJson = new JsonStringMemo()
const cipherJson = new JsonStringMemo()
const protocolJson = new JsonStringMemo()
const domainJson = new JsonStringMemo()

/**
 * `JSON.stringify(entry)` and a newline, byte for byte (a test holds it to
 * that), written out by hand: the generic serializer was the largest single
 * cost of a forwarded request (about 4 µs of CPU, BENCHMARKS.md), and the
 * entry's shape is fixed. Strings that come from the client, a target or the
 * configuration are escaped; numbers and the fields Portcullis formats itself
 * (times, type, ports, rule priority, action names, reasons, ids) cannot need it.
 */
export function formatJsonLine(e: AccessLogEntry): string {
  return (
    `{"type":"${e.type}","time":"${e.time}","elb":${elbJson.of(e.elb)},"client_port":${jsonString(e.client_port)}` +
    `,"target_port":${targetJson.of(e.target_port)},"request_processing_time":${e.request_processing_time}` +
    `,"target_processing_time":${e.target_processing_time},"response_processing_time":${e.response_processing_time}` +
    `,"elb_status_code":${e.elb_status_code},"target_status_code":${e.target_status_code}` +
    `,"received_bytes":${e.received_bytes},"sent_bytes":${e.sent_bytes},"request":${jsonString(e.request)}` +
    `,"user_agent":${jsonString(e.user_agent)},"ssl_cipher":${cipherJson.of(e.ssl_cipher)}` +
    `,"ssl_protocol":${protocolJson.of(e.ssl_protocol)},"target_group_arn":${targetGroupJson.of(e.target_group_arn)}` +
    `,"trace_id":${jsonString(e.trace_id)},"domain_name":${domainJson.of(e.domain_name)}` +
    `,"matched_rule_priority":"${e.matched_rule_priority}","request_creation_time":"${e.request_creation_time}"` +
    `,"actions_executed":"${e.actions_executed}","redirect_url":${jsonString(e.redirect_url)}` +
    `,"error_reason":"${e.error_reason}","conn_trace_id":"${e.conn_trace_id}"}\n`
  )
}

/** What ALB's line cannot hold as it is in a quoted field: quotes and backslashes are escaped, CR and LF become spaces. */
const ALB_UNSAFE = /["\\\r\n]/

/** A quoted field of ALB's line; the usual value needs no escaping and skips the replacing. */
function quote(value: string): string {
  if (!ALB_UNSAFE.test(value)) return `"${value}"`
  return `"${value.replace(/["\\]/g, (c) => `\\${c}`).replace(/[\r\n]/g, ' ')}"`
}

/**
 * ALB's space-separated line: quoted fields are those ALB quotes. One
 * template rather than an array joined, and quoting only what needs it: the
 * array and a regular-expression replace per quoted field made this line
 * dearer than the JSON one (`formatJsonLine`).
 */
export function formatAlbLine(e: AccessLogEntry): string {
  const target = e.target_status_code === null ? '-' : e.target_status_code
  return (
    `${e.type} ${e.time} ${e.elb} ${e.client_port} ${e.target_port} ${e.request_processing_time}` +
    ` ${e.target_processing_time} ${e.response_processing_time} ${e.elb_status_code} ${target}` +
    ` ${e.received_bytes} ${e.sent_bytes} ${quote(e.request)} ${quote(e.user_agent)} ${e.ssl_cipher}` +
    ` ${e.ssl_protocol} ${e.target_group_arn} ${quote(e.trace_id)} ${quote(e.domain_name)} "-"` +
    ` ${e.matched_rule_priority} ${e.request_creation_time} ${quote(e.actions_executed)} ${quote(e.redirect_url)}` +
    ` ${quote(e.error_reason)} ${quote(e.target_port)} "${target}" "-" "-" ${e.conn_trace_id}`
  )
}
