import { randomUUID } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import type { TLSSocket } from 'node:tls'
import {
  albCertificateValidity,
  presentedClientCertificateHeaders,
  rfc2253Name,
  verifiedClientCertificateHeaders,
} from '@portcullis/verify/mint'
import type { MutualAuthenticationModel, RequestHeaderNames } from '../config/model.js'
import type { ByteCounts, ConnectionFacts } from '../observability/access-log.js'
import { type ConnectionLogEntry, microsecondTime } from '../observability/connection-log.js'
import { presentedChain } from '../tls/time-tolerant.js'
import { admittedByVerify } from '../tls/trust-stores.js'
import { elapsedMs } from '../values/clock.js'

/**
 * What a request's record needs from its client connection, read while the
 * connection is surely open: when the first request on it starts. Node
 * detaches `req.socket` once a request's body has been consumed and its
 * response finished, and a closed socket no longer knows its peer port or
 * TLS session, so nothing may read them at the end of a request.
 */
export interface ClientConnection extends ConnectionFacts {
  readonly socket: Socket
  /** The socket's byte counters when the previous request on this connection was logged. */
  bytesReadMark: number
  bytesWrittenMark: number
  /**
   * Responses on this connection not yet closed. Node never closes a response
   * queued behind another (pipelining) when the connection dies, and what
   * waits for its 'close' (the abort of the target request, the access-log
   * line, the in-flight count) would wait forever: they are closed here.
   */
  readonly responses: Set<ServerResponse>
  /**
   * When the first request on the connection started ({@link elapsedMs}): what
   * `client_keep_alive.seconds` counts from (Node does not tell when the
   * connection was accepted; before its first request only the idle timeout
   * applies).
   */
  readonly firstRequestAt: number
  /** The mutual-TLS headers of this connection's client certificate, built on its first request. */
  clientCertificateHeaders?: Readonly<Record<string, string>>
  /** `X-Amzn-Tls-Version` and `-Cipher-Suite` of this connection, built on its first request that needs them. */
  tlsHeaders?: Readonly<Record<string, string>>
}

const connections = new WeakMap<object, ClientConnection>()

/** Where a socket keeps its trace id: a property, so that HTTP/2's socket proxies read the TLS socket's. */
const TRACE_ID = Symbol('portcullis.connTraceId')

/**
 * ALB's `conn_trace_id` of a client connection (`TID_` and 32 hex digits),
 * made the first time it is asked for: at the end of the TLS handshake for
 * the connection log, else on the first request, so that both logs name a
 * connection alike.
 */
export function connectionTraceId(socket: Socket): string {
  const holder = socket as Socket & { [TRACE_ID]?: string }
  // randomUUID draws from a buffered pool: one per connection costs next to nothing.
  holder[TRACE_ID] ??= `TID_${randomUUID().replaceAll('-', '')}`
  return holder[TRACE_ID]
}

/**
 * The connection record of `socket`, built on its first request and shared by
 * the requests after it. An HTTP/2 session passes itself as `key` (Node gives
 * each of its streams another `socket` object, a proxy of the session's) and
 * the session's socket proxy as `socket`: its streams share one record.
 */
export function clientConnection(socket: Socket, secure: boolean, key: object = socket): ClientConnection {
  let connection = connections.get(key)
  if (connection === undefined) {
    const tlsSocket = secure ? (socket as TLSSocket & { servername?: string | false }) : undefined
    connection = {
      socket,
      port: socket.remotePort ?? 0,
      localPort: socket.localPort ?? 0,
      traceId: connectionTraceId(socket),
      tls:
        tlsSocket === undefined
          ? undefined
          : {
              // ALB logs OpenSSL's names (ECDHE-RSA-AES128-GCM-SHA256, TLS_AES_128_GCM_SHA256), not the IANA ones.
              cipher: tlsSocket.getCipher?.()?.name ?? '-',
              protocol: tlsSocket.getProtocol?.() ?? '-',
              serverName: typeof tlsSocket.servername === 'string' ? tlsSocket.servername : '-',
            },
      bytesReadMark: 0,
      bytesWrittenMark: 0,
      responses: new Set(),
      firstRequestAt: elapsedMs(),
    }
    const { responses } = connection
    socket.once('close', () => {
      for (const queued of responses) {
        queued.destroy()
        queued.emit('close')
      }
    })
    connections.set(key, connection)
  }
  return connection
}

/**
 * The bytes received and sent on the connection since the previous request
 * on it was logged, so that each keep-alive request counts its own bytes
 * (ALB's `received_bytes` and `sent_bytes`). Readable after the socket closed.
 */
export function takeByteCounts(connection: ClientConnection): ByteCounts {
  const { socket } = connection
  const read = socket.bytesRead
  const written = socket.bytesWritten
  const counts = { received: read - connection.bytesReadMark, sent: written - connection.bytesWrittenMark }
  connection.bytesReadMark = read
  connection.bytesWrittenMark = written
  return counts
}

/**
 * The mutual-TLS request headers of the connection (`verify`: the verified
 * leaf's facts; `passthrough`: the presented chain), built once per
 * connection: its certificate cannot change.
 */
export function clientCertificateHeadersOf(
  connection: ClientConnection,
  mtls: MutualAuthenticationModel,
  names: RequestHeaderNames,
): Readonly<Record<string, string>> {
  connection.clientCertificateHeaders ??= buildClientCertificateHeaders(connection.socket as TLSSocket, mtls, names)
  return connection.clientCertificateHeaders
}

function buildClientCertificateHeaders(
  socket: TLSSocket,
  mtls: MutualAuthenticationModel,
  names: RequestHeaderNames,
): Record<string, string> {
  if (mtls.mode === 'verify') {
    // A connection the listener admitted before a reload turned verify on has no verified certificate.
    const leaf = admittedByVerify(socket) ? socket.getPeerX509Certificate() : undefined
    return leaf === undefined ? {} : verifiedClientCertificateHeaders(leaf, names)
  }
  return presentedClientCertificateHeaders(presentedChain(socket), names)
}

/**
 * `X-Amzn-Tls-Version` (`TLSv1.2`, `TLSv1.3`) and `X-Amzn-Tls-Cipher-Suite`
 * (OpenSSL's cipher name, as ALB spells it: `ECDHE-RSA-AES128-GCM-SHA256`,
 * `TLS_AES_128_GCM_SHA256`) of a TLS connection, under `names`.
 */
export function tlsHeadersOf(
  connection: ClientConnection,
  names: RequestHeaderNames,
): Readonly<Record<string, string>> {
  if (connection.tlsHeaders === undefined) {
    const socket = connection.socket as TLSSocket
    const version = socket.getProtocol?.()
    const cipher = socket.getCipher?.()?.name
    const headers: Record<string, string> = {}
    if (version) headers[names.tlsVersion] = version
    if (cipher) headers[names.tlsCipherSuite] = cipher
    connection.tlsHeaders = headers
  }
  return connection.tlsHeaders
}

/** What the entry needs besides the socket. */
export interface HandshakeFacts {
  /** When the TCP connection was accepted, in {@link performance.now} milliseconds; undefined when unknown. */
  readonly acceptedAt: number | undefined
  readonly listenerPort: number
  readonly verifyStatus: string
  readonly traceId: string
}

/** ALB's connection-log entry of a finished handshake on `socket` (read now, while the socket is open). */
export function connectionLogEntry(socket: TLSSocket, facts: HandshakeFacts): ConnectionLogEntry {
  const now = performance.now()
  const leaf = socket.getPeerX509Certificate()
  return {
    timestamp: microsecondTime(performance.timeOrigin + now),
    client_ip: socket.remoteAddress ?? '-',
    client_port: socket.remotePort ?? 0,
    listener_port: facts.listenerPort,
    tls_protocol: socket.getProtocol() ?? '-',
    tls_cipher: socket.getCipher()?.name ?? '-',
    tls_handshake_latency: facts.acceptedAt === undefined ? -1 : Math.round(Math.max(0, now - facts.acceptedAt)) / 1000,
    leaf_client_cert_subject: leaf === undefined ? '-' : rfc2253Name(leaf.subject),
    leaf_client_cert_validity: leaf === undefined ? '-' : albCertificateValidity(leaf),
    leaf_client_cert_serial_number: leaf === undefined ? '-' : leaf.serialNumber.toUpperCase(),
    tls_verify_status: facts.verifyStatus,
    conn_trace_id: facts.traceId,
  }
}
