/**
 * ALB's connection log: one line per TLS handshake on a listener with mutual
 * TLS, admitted or refused, with the client certificate's facts and the
 * verification's outcome (`tls_verify_status`), as ALB documents it
 * (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-connection-logs.html).
 * Its `conn_trace_id` is the one the access log writes for the requests on
 * the same connection.
 */
import { LogFile } from './access-log.js'

/** One connection-log entry, with ALB's field names, in ALB's order. */
export interface ConnectionLogEntry {
  /** When the handshake ended, ISO 8601 with microseconds (`2023-10-04T17:31:50.474089Z`). */
  readonly timestamp: string
  readonly client_ip: string
  readonly client_port: number
  readonly listener_port: number
  /** `TLSv1.2`, `TLSv1.3`; `-` when unknown. */
  readonly tls_protocol: string
  /** OpenSSL's name of the cipher (`ECDHE-RSA-AES128-GCM-SHA256`), as ALB writes it. */
  readonly tls_cipher: string
  /** Seconds from the TCP connection to the end of the handshake, to the millisecond. */
  readonly tls_handshake_latency: number
  /** The client certificate's subject, RFC 2253; `-` without one. */
  readonly leaf_client_cert_subject: string
  /** `NotBefore=…;NotAfter=…`; `-` without one. */
  readonly leaf_client_cert_validity: string
  /** Upper-case hexadecimal; `-` without one. */
  readonly leaf_client_cert_serial_number: string
  /** `Success`, or `Failed:` and ALB's error reason code. */
  readonly tls_verify_status: string
  readonly conn_trace_id: string
}

/** `2023-10-04T17:31:50.474089Z` for a time in milliseconds with a fraction. */
export function microsecondTime(ms: number): string {
  const whole = Math.floor(ms)
  const micro = Math.min(999, Math.floor((ms - whole) * 1000))
  return `${new Date(whole).toISOString().slice(0, -1)}${String(micro).padStart(3, '0')}Z`
}

/**
 * ALB's space-separated line: the subject in double quotes (it holds
 * spaces and commas), every other field bare, as Athena's documented
 * pattern for the connection log reads it. The subject is RFC 2253 text, in
 * which a `"` is already escaped (`\"`), so it goes in as it is.
 */
export function formatConnectionAlbLine(e: ConnectionLogEntry): string {
  const subject = `"${e.leaf_client_cert_subject.replace(/[\r\n]/g, ' ')}"`
  return `${[
    e.timestamp,
    e.client_ip,
    e.client_port,
    e.listener_port,
    e.tls_protocol,
    e.tls_cipher,
    e.tls_handshake_latency,
    subject,
    e.leaf_client_cert_validity,
    e.leaf_client_cert_serial_number,
    e.tls_verify_status,
    e.conn_trace_id,
  ].join(' ')}\n`
}

/** The entry as one JSON line. */
export function formatConnectionJsonLine(e: ConnectionLogEntry): string {
  return `${JSON.stringify(e)}\n`
}

/** Where and how the connection log is written. */
export interface ConnectionLogOptions {
  readonly format: 'json' | 'alb'
  /** A file appended to; stdout when undefined. */
  readonly path: string | undefined
}

/**
 * The connection log, written through a {@link LogFile} as the access log
 * is: batched, bounded, and reopened on the same SIGUSR2.
 */
export class ConnectionLog extends LogFile {
  readonly #format: 'json' | 'alb'

  constructor(options: ConnectionLogOptions) {
    super({ path: options.path, label: 'connection log' })
    this.#format = options.format
  }

  /** Appends the entry's line. */
  write(entry: ConnectionLogEntry): void {
    this.writeLine(this.#format === 'json' ? formatConnectionJsonLine(entry) : formatConnectionAlbLine(entry))
  }
}
