import type { IncomingMessage, ServerResponse } from 'node:http'
import {
  constants,
  Http2ServerResponse,
  type SecureServerOptions,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2'
import type { ByteCounts } from '../observability/access-log.js'

/**
 * The bounds every HTTP/2 session of an HTTPS listener runs under. ALB
 * advertises 128 concurrent streams; the rest are ours (AWS documents none):
 * a header list as large as an HTTP/1.1 head may be (64 KB), and budgets
 * that end a session which only costs work — pings and settings it never
 * lets us acknowledge, frames nghttp2 finds invalid, streams it resets.
 */
export const HTTP2_LIMITS = {
  /** SETTINGS_MAX_CONCURRENT_STREAMS, as ALB sends it. */
  maxConcurrentStreams: 128,
  /** SETTINGS_MAX_HEADER_LIST_SIZE: the decoded header list of one request, as for HTTP/1.1 (pipeline.ts's MAX_HEADERS_TOTAL_BYTES). */
  maxHeaderListSize: 64 * 1024,
  /** Header fields (pseudo-headers included) in one request. */
  maxHeaderListPairs: 256,
  /** Memory nghttp2 may hold for one session, in MB, before it refuses new streams. */
  maxSessionMemory: 10,
  /** Unacknowledged PINGs and SETTINGS a client may have in flight. */
  maxOutstandingPings: 10,
  maxOutstandingSettings: 10,
  /** Invalid frames, and streams refused for being over the limit, before the session ends. */
  maxSessionInvalidFrames: 100,
  maxSessionRejectedStreams: 100,
  /**
   * Client resets (CVE-2023-44487, rapid reset): a session may cancel this
   * many streams at once, and earns back `resetsPerSecond`; past that it gets
   * GOAWAY ENHANCE_YOUR_CALM and is closed.
   */
  resetBurst: 100,
  resetsPerSecond: 10,
  /**
   * SETTINGS, PING and PRIORITY frames (floods that cost work and carry no
   * request): this many at once, `controlFramesPerSecond` earned back; past
   * that GOAWAY ENHANCE_YOUR_CALM. A browser sends a handful per connection,
   * gRPC's keepalive and BDP pings a few a second.
   */
  controlFrameBurst: 1000,
  controlFramesPerSecond: 100,
} as const

/**
 * The options that make a TLS listener speak HTTP/2 beside HTTP/1.1: ALPN
 * chosen per connection by `http2Enabled()` (the load balancer's
 * `routing.http2.enabled`, read at every handshake so a reload changes it
 * without reopening the listener), the limits above, and the response class
 * the pipeline needs.
 */
export function http2ListenerOptions(http2Enabled: () => boolean): SecureServerOptions {
  return {
    allowHTTP1: true,
    // A client offering neither protocol still gets HTTP/1.1 (no ALPN), as from ALB.
    ALPNCallback: ({ protocols }) =>
      http2Enabled() && protocols.includes('h2') ? 'h2' : protocols.includes('http/1.1') ? 'http/1.1' : undefined,
    settings: {
      maxConcurrentStreams: HTTP2_LIMITS.maxConcurrentStreams,
      maxHeaderListSize: HTTP2_LIMITS.maxHeaderListSize,
      enablePush: false,
    },
    maxHeaderListPairs: HTTP2_LIMITS.maxHeaderListPairs,
    maxSessionMemory: HTTP2_LIMITS.maxSessionMemory,
    maxOutstandingPings: HTTP2_LIMITS.maxOutstandingPings,
    maxSessionInvalidFrames: HTTP2_LIMITS.maxSessionInvalidFrames,
    maxSessionRejectedStreams: HTTP2_LIMITS.maxSessionRejectedStreams,
    // Node's options for SETTINGS frames (not in @types/node 20's options type): unacknowledged ones, entries in one.
    ...({ maxOutstandingSettings: HTTP2_LIMITS.maxOutstandingSettings, maxSettings: 32 } as object),
    Http2ServerResponse: GatewayHttp2Response as typeof Http2ServerResponse,
  }
}

/**
 * Node's compatibility response with what the pipeline reads of an HTTP/1.1
 * one: `destroyed`, and the bytes of its body (ALB's `sent_bytes` per
 * request; on a multiplexed connection the socket's counters belong to every
 * stream at once).
 */
export class GatewayHttp2Response extends Http2ServerResponse {
  /** DATA payload written so far. */
  bodyBytes = 0

  // biome-ignore lint/suspicious/noExplicitAny: the overloads of Http2ServerResponse.write, passed through
  override write(chunk: any, ...rest: any[]): boolean {
    if (chunk !== null && chunk !== undefined) {
      this.bodyBytes += typeof chunk === 'string' ? Buffer.byteLength(chunk, rest[0]) : chunk.length
    }
    return (super.write as (...a: unknown[]) => boolean)(chunk, ...rest)
  }
}

// Typed on Http2ServerResponse, but Node 20 to 24 never define it there. A stream the client reset is
// closed before Node destroys it: either way nothing more may be done for it (a forward would be wasted).
Object.defineProperty(GatewayHttp2Response.prototype, 'destroyed', {
  get(this: GatewayHttp2Response): boolean {
    return this.stream.destroyed || this.stream.closed
  },
})

/**
 * Counts an HTTP/2 request's received DATA payload as Node's compatibility
 * request takes it in (its `push`). Not with a 'data' listener on the stream:
 * that switches the stream to flowing mode, and the compatibility request,
 * which pulls from the stream only while it is read, then loses every chunk
 * that arrives before the body is piped — a forward after an asynchronous
 * action (jwt-validation, authentication) reached the target without a body.
 */
export function countReceivedBytes(req: IncomingMessage): { bytes: number } {
  const counter = { bytes: 0 }
  const push = req.push
  req.push = function (this: IncomingMessage, chunk: unknown, encoding?: BufferEncoding): boolean {
    if (typeof chunk === 'string') counter.bytes += Buffer.byteLength(chunk, encoding)
    else if (chunk instanceof Uint8Array) counter.bytes += chunk.length
    return push.call(this, chunk, encoding)
  }
  return counter
}

/**
 * ALB's `received_bytes` / `sent_bytes` of one HTTP/2 request: the header
 * fields as decoded (name and value, the pseudo-headers included; HPACK's
 * compression and the frame headers are not visible from Node) plus the DATA
 * payload each way.
 */
export function http2ByteCounts(req: IncomingMessage, res: ServerResponse, receivedBody: number): ByteCounts {
  const raw = req.rawHeaders
  let received = receivedBody
  for (let i = 0; i < raw.length; i++) received += raw[i]!.length
  const h2res = res as unknown as GatewayHttp2Response
  let sent = h2res.bodyBytes
  const head = h2res.stream.sentHeaders as Record<string, string | string[] | number | undefined> | undefined
  if (head !== undefined) {
    for (const [name, value] of Object.entries(head)) {
      if (Array.isArray(value)) for (const v of value) sent += name.length + v.length
      else if (value !== undefined) sent += name.length + String(value).length
    }
  }
  return { received, sent }
}

/** Why {@link guardSession} ended a session. */
export type SessionAbuseReason = 'rapid-reset' | 'control-flood' | 'protocol-error'

/** What {@link guardSession} reports about a session it ends. */
export interface SessionAbuse {
  readonly reason: SessionAbuseReason
  readonly remoteAddress: string | undefined
  /** Streams reset (rapid-reset) or control frames received (control-flood) by then. */
  readonly frames: number
  /** nghttp2's or Node's words for a protocol error. */
  readonly error?: string
}

/**
 * A token bucket: `burst` at once, `perSecond` earned back. `take()` is
 * false once the bucket is empty.
 */
function tokenBucket(burst: number, perSecond: number): { take(): boolean; taken: number } {
  let tokens = burst
  let refilledAt = performance.now()
  const bucket = {
    taken: 0,
    take(): boolean {
      bucket.taken++
      const now = performance.now()
      tokens = Math.min(burst, tokens + ((now - refilledAt) / 1000) * perSecond)
      refilledAt = now
      tokens -= 1
      return tokens >= 0
    },
  }
  return bucket
}

/**
 * Applies the budgets of {@link HTTP2_LIMITS} to one session, and reports
 * once (`onAbuse`) a session that is ended for its client's doing:
 * - every stream the client cancels before its response ended costs a token
 *   of the reset budget (rapid reset; nghttp2 has a reset rate limit of its
 *   own since 1.57, at 1000 a burst; ours is lower because each stream here
 *   may have opened a request to a target);
 * - every SETTINGS, PING and PRIORITY frame costs a token of the control
 *   budget: each costs work (an acknowledgement, a JavaScript event, a walk
 *   of the priority tree) and none is a request, and nghttp2 only bounds
 *   the acknowledgements a client leaves unread;
 * a session out of either budget gets GOAWAY ENHANCE_YOUR_CALM and is
 * destroyed. A session nghttp2 or Node ends for a protocol error (a bad
 * preface, too many CONTINUATION frames, a flood of acknowledgements left
 * unread, too many invalid frames) is reported too.
 */
export function guardSession(session: ServerHttp2Session, onAbuse: (abuse: SessionAbuse) => void): void {
  const resets = tokenBucket(HTTP2_LIMITS.resetBurst, HTTP2_LIMITS.resetsPerSecond)
  const control = tokenBucket(HTTP2_LIMITS.controlFrameBurst, HTTP2_LIMITS.controlFramesPerSecond)
  // Read now: a destroyed session has no socket left to ask.
  const remoteAddress = session.socket?.remoteAddress
  let ended = false
  const end = (reason: SessionAbuseReason, frames: number): void => {
    ended = true
    onAbuse({ reason, remoteAddress, frames })
    session.goaway(constants.NGHTTP2_ENHANCE_YOUR_CALM)
    // Once the GOAWAY is out (nghttp2 writes it on the next turn), the session goes, whatever it has open.
    setImmediate(() => session.destroy())
  }
  const controlFrame = (): void => {
    if (!ended && !control.take()) end('control-flood', control.taken)
  }
  session.on('ping', controlFrame)
  session.on('remoteSettings', controlFrame)
  // PRIORITY for a stream that exists is emitted on the stream, for any other on the session (Node 20 and 22:
  // Node 24.2 removed priority signalling, and nghttp2 drops the frame without a tree to reorder).
  session.on('priority', controlFrame)
  session.on('stream', (stream: ServerHttp2Stream) => {
    stream.on('priority', controlFrame)
    stream.once('aborted', () => {
      // A session being destroyed (idle timeout, an error) aborts every stream it has: not the client's resets.
      if (ended || session.destroyed || stream.rstCode === constants.NGHTTP2_NO_ERROR) return
      if (!resets.take()) end('rapid-reset', resets.taken)
    })
  })
  session.once('error', (error: NodeJS.ErrnoException) => {
    // Node's NghttpError (ERR_HTTP2_ERROR, or a code of Node's own for limits it enforces); a socket error is not one.
    if (ended || error.code === undefined || !error.code.startsWith('ERR_HTTP2_')) return
    ended = true
    onAbuse({ reason: 'protocol-error', remoteAddress, frames: 0, error: error.message })
  })
}
