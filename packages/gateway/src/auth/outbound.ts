import { Agent, fetch as undiciFetch } from 'undici'
import { outboundTrust } from '../tls/trust.js'
import { PortcullisError } from '../values/errors.js'
import { lookupLocalhostAsLoopback } from '../values/loopback.js'

/**
 * Outbound HTTP(S) to identity providers and JWKS endpoints: every call is
 * bounded in time (connect + headers + body under one deadline) and in size,
 * never follows redirects, and verifies TLS against the system trust store
 * plus `NODE_EXTRA_CA_CERTS` plus the optional `Portcullis.CaFile` (and the
 * local development CA with `Portcullis.LocalCertificates`).
 */

/** Why an outbound call failed before an HTTP answer could be judged. */
export type OutboundFailure = 'timeout' | 'network' | 'too-large'

/** Raised by {@link Outbound.fetch}; callers map `kind` to ALB's `error_reason`. */
export class OutboundError extends PortcullisError {
  declare readonly code: 'ERR_OUTBOUND'
  constructor(
    readonly kind: OutboundFailure,
    readonly url: string,
    options?: { cause?: unknown },
  ) {
    super('ERR_OUTBOUND', `outbound request ${kind}`, options)
    this.name = 'OutboundError'
  }
}

/** Per-call bounds. */
export interface OutboundLimits {
  readonly timeoutMs: number
  readonly maxBytes: number
}

/** A bounded fetch bound to one trust configuration. */
export interface Outbound {
  /** Fetches `url` and buffers the body; the answer is a standard `Response` whatever its status. */
  fetch(
    url: string,
    init: { method?: string; headers?: Record<string, string>; body?: string | URLSearchParams },
    limits: OutboundLimits,
  ): Promise<Response>
  close(): Promise<void>
}

/**
 * Builds the outbound client. With neither a CA file nor a system store to
 * add, Node's defaults (bundled roots + `NODE_EXTRA_CA_CERTS`) apply as is.
 *
 * @example
 * ```ts
 * const outbound = createOutbound({ caFile: '/etc/portcullis/idp-ca.pem' })
 * const res = await outbound.fetch('https://idp.example/jwks', {}, { timeoutMs: 5000, maxBytes: 150 * 1024 })
 * ```
 */
export function createOutbound(options: { caFile: string | undefined; localCaFile?: string | undefined }): Outbound {
  const ca = outboundTrust(options.caFile, options.localCaFile)
  const dispatcher = new Agent({
    // *.localhost must reach this machine whatever the system resolver does (see values/loopback.ts).
    connect: { ...(ca === undefined ? {} : { ca }), timeout: 5000, lookup: lookupLocalhostAsLoopback },
    keepAliveTimeout: 10_000,
  })

  return {
    async fetch(url, init, limits) {
      const controller = new AbortController()
      const timer = setTimeout(() => controller.abort(), limits.timeoutMs)
      try {
        const res = await undiciFetch(url, {
          method: init.method ?? 'GET',
          headers: init.headers,
          body: init.body,
          redirect: 'manual',
          signal: controller.signal,
          dispatcher,
        })
        const declared = Number(res.headers.get('content-length') ?? '0')
        if (declared > limits.maxBytes) {
          await res.body?.cancel().catch(() => undefined)
          throw new OutboundError('too-large', url)
        }
        const chunks: Uint8Array[] = []
        let size = 0
        if (res.body !== null) {
          for await (const chunk of res.body) {
            size += chunk.byteLength
            if (size > limits.maxBytes) {
              controller.abort()
              throw new OutboundError('too-large', url)
            }
            chunks.push(chunk)
          }
        }
        const nullBody = res.status === 204 || res.status === 304
        return new Response(nullBody ? null : Buffer.concat(chunks), {
          status: res.status,
          statusText: res.statusText,
          headers: Object.fromEntries(res.headers),
        })
      } catch (err) {
        if (err instanceof OutboundError) throw err
        throw new OutboundError(controller.signal.aborted ? 'timeout' : 'network', url, { cause: err })
      } finally {
        clearTimeout(timer)
      }
    },
    close: () => dispatcher.close(),
  }
}
