import { randomUUID } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { TLSSocket } from 'node:tls'
import type { ByteCounts, ConnectionFacts } from '../observability/access-log.js'
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
}

const connections = new WeakMap<object, ClientConnection>()

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
      // randomUUID draws from a buffered pool: one per connection costs next to nothing.
      traceId: `TID_${randomUUID().replaceAll('-', '')}`,
      tls:
        tlsSocket === undefined
          ? undefined
          : {
              cipher: tlsSocket.getCipher?.()?.standardName ?? '-',
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
