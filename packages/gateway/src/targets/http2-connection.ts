import { type ClientHttp2Session, connect, constants } from 'node:http2'

/*
 * Why node:http2 and not undici for HTTP/2 targets: undici 7 (`allowH2`)
 * negotiates h2 only by ALPN over TLS, and ALB's most common gRPC setup is
 * an HTTP target group (h2 with prior knowledge, "h2c"), which undici cannot
 * open; its HTTP/2 client also hides response trailers behind its legacy
 * handler and cannot reset a stream with a chosen code. node:http2 does all
 * three, and the gateway already runs it for its listeners.
 */

/**
 * The one HTTP/2 session the load balancer keeps to a target of an `HTTP2`
 * or `GRPC` target group: opened on first use, every request a stream on it,
 * replaced when the target closes it (GOAWAY) or it fails. HTTPS groups
 * negotiate `h2` by ALPN; HTTP groups speak HTTP/2 with prior knowledge.
 */
export class TargetHttp2Connection {
  readonly #origin: string
  readonly #ca: Buffer | undefined
  #session: ClientHttp2Session | undefined

  constructor(origin: string, ca: Buffer | undefined) {
    this.#origin = origin
    this.#ca = ca
  }

  /** The open session, or a new one. */
  session(): ClientHttp2Session {
    const open = this.#session
    if (open !== undefined && !open.closed && !open.destroyed) return open
    const session = connect(this.#origin, {
      ...(this.#ca === undefined ? {} : { ca: this.#ca }),
      ALPNProtocols: ['h2'],
      settings: { enablePush: false },
    })
    const forget = (): void => {
      if (this.#session === session) this.#session = undefined
    }
    // A failed session fails its streams, and each request reports its own: nothing to do here but forget it.
    session.on('error', forget)
    session.once('goaway', forget)
    session.once('close', forget)
    // An idle session must not keep a process that is shutting down alive.
    session.unref()
    this.#session = session
    return session
  }

  /** Lets the open streams finish, then closes the session. */
  close(): Promise<void> {
    const session = this.#session
    this.#session = undefined
    if (session === undefined || session.closed) return Promise.resolve()
    return new Promise((resolve) => session.close(() => resolve()))
  }

  /** Closes the session now, its open streams with it. */
  destroy(): void {
    this.#session?.destroy(undefined, constants.NGHTTP2_CANCEL)
    this.#session = undefined
  }
}
