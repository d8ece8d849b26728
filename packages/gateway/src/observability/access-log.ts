import type { IncomingMessage } from 'node:http'
import type { TLSSocket } from 'node:tls'
import { type DestinationStream, pino } from 'pino'
import type { RequestContext } from '../actions/types.js'

/**
 * One access-log entry, with the field names of ALB's access log
 * (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-access-logs.html).
 */
export interface AccessLogEntry {
  type: 'http' | 'https' | 'ws' | 'wss'
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
}

export interface AccessLogOptions {
  format: 'json' | 'alb'
  /** File to append to; stdout when undefined. */
  path: string | undefined
  /** The load balancer's resource id (`app/NAME/ID`), ALB's `elb` field. */
  elb: string
}

/** Writes access-log entries, either as JSON lines or as ALB's own space-separated lines. */
export class AccessLog {
  readonly #format: 'json' | 'alb'
  readonly #destination: DestinationStream
  readonly #elb: string
  readonly #flushTimer: NodeJS.Timeout

  constructor(options: AccessLogOptions) {
    this.#format = options.format
    this.#elb = options.elb
    // Lines are batched up to 8 KiB per write: one write per request cost a
    // third of the throughput of a small-response benchmark (BENCHMARKS.md).
    this.#destination = pino.destination({ dest: options.path ?? 1, sync: false, mkdir: true, minLength: 8 * 1024 })
    // …and never held back longer than a second when traffic is light.
    this.#flushTimer = setInterval(() => this.#flush(), 1000)
    this.#flushTimer.unref()
  }

  #flush(): void {
    const destination = this.#destination as DestinationStream & { fd: number; flush(): void }
    if (destination.fd !== -1) destination.flush()
  }

  /** Builds the entry for a finished request. Cheap: plain field copies. */
  entry(
    ctx: Pick<RequestContext, 'req' | 'record' | 'protocol' | 'sourceIp'>,
    statusCode: number,
    startedAt: number,
    finishedAt: number,
  ): AccessLogEntry {
    const { req, record } = ctx
    const socket = req.socket
    const tls = ctx.protocol === 'https' ? (socket as TLSSocket) : undefined
    const target = record.targetProcessingTime >= 0 ? record.targetProcessingTime : -1
    const total = (finishedAt - startedAt) / 1000
    const requestTime = record.requestProcessingTime
    const isWs = req.headers.upgrade !== undefined
    return {
      type: isWs ? (tls ? 'wss' : 'ws') : ctx.protocol,
      time: new Date(finishedAt).toISOString(),
      elb: this.#elb,
      client_port: `${ctx.sourceIp}:${socket.remotePort ?? 0}`,
      target_port: record.target ?? '-',
      request_processing_time: requestTime,
      target_processing_time: target,
      response_processing_time: target < 0 ? -1 : Math.max(0, round6(total - requestTime - target)),
      elb_status_code: statusCode,
      target_status_code: record.targetStatusCode ?? null,
      received_bytes: socket.bytesRead,
      sent_bytes: socket.bytesWritten,
      request: requestLine(req, ctx.protocol),
      user_agent: req.headers['user-agent'] ?? '-',
      ssl_cipher: tls?.getCipher?.()?.standardName ?? '-',
      ssl_protocol: tls?.getProtocol?.() ?? '-',
      target_group_arn: record.targetGroupArn ?? '-',
      trace_id: record.traceId,
      domain_name: tls ? ((tls as TLSSocket & { servername?: string }).servername ?? '-') : '-',
      matched_rule_priority:
        record.matchedRulePriority === undefined
          ? '-'
          : String(record.matchedRulePriority === 'default' ? 0 : record.matchedRulePriority),
      request_creation_time: new Date(startedAt).toISOString(),
      actions_executed: record.actionsExecuted.length === 0 ? '-' : record.actionsExecuted.join(','),
      redirect_url: record.redirectUrl ?? '-',
      error_reason: record.errorReason ?? '-',
    }
  }

  write(entry: AccessLogEntry): void {
    this.#destination.write(this.#format === 'json' ? `${JSON.stringify(entry)}\n` : `${formatAlbLine(entry)}\n`)
  }

  /** Flushes what is buffered and closes the file. */
  async close(): Promise<void> {
    clearInterval(this.#flushTimer)
    const destination = this.#destination as DestinationStream & NodeJS.EventEmitter & { fd: number; end(): void }
    // sonic-boom opens files asynchronously; ending before it is ready throws.
    if (destination.fd === -1) await new Promise((resolve) => destination.once('ready', resolve))
    await new Promise<void>((resolve) => {
      destination.once('close', () => resolve())
      destination.end()
    })
  }
}

function round6(n: number): number {
  return Math.round(n * 1e6) / 1e6
}

function requestLine(req: IncomingMessage, protocol: 'http' | 'https'): string {
  const host = req.headers.host ?? '-'
  return `${req.method ?? '-'} ${protocol}://${host}${req.url ?? ''} HTTP/${req.httpVersion}`
}

function quote(value: string): string {
  return `"${value.replace(/["\\]/g, (c) => `\\${c}`).replace(/[\r\n]/g, ' ')}"`
}

/** ALB's space-separated line: quoted fields are those ALB quotes. */
export function formatAlbLine(e: AccessLogEntry): string {
  return [
    e.type,
    e.time,
    e.elb,
    e.client_port,
    e.target_port,
    e.request_processing_time,
    e.target_processing_time,
    e.response_processing_time,
    e.elb_status_code,
    e.target_status_code ?? '-',
    e.received_bytes,
    e.sent_bytes,
    quote(e.request),
    quote(e.user_agent),
    e.ssl_cipher,
    e.ssl_protocol,
    e.target_group_arn,
    quote(e.trace_id),
    quote(e.domain_name),
    quote('-'),
    e.matched_rule_priority,
    e.request_creation_time,
    quote(e.actions_executed),
    quote(e.redirect_url),
    quote(e.error_reason),
    quote(e.target_port),
    quote(e.target_status_code === null ? '-' : String(e.target_status_code)),
    quote('-'),
    quote('-'),
  ].join(' ')
}
