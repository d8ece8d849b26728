/**
 * `@portcullis/verify/grpc`: the ALB identity of a gRPC call. A gRPC target
 * behind ALB (target group `ProtocolVersion: GRPC`) receives the same
 * `x-amzn-oidc-*` headers as any target, and gRPC servers hand them to the
 * method as call metadata. Nothing is imported from `@grpc/grpc-js`: the call
 * and its metadata are typed by the few members read here, so grpc-js is never
 * a dependency of this package.
 *
 * @packageDocumentation
 */
import { isIP } from 'node:net'
import { AlbVerifyError, type AlbVerifyErrorCode, isAlbVerifyError } from './errors.js'
import type { AlbIdentity, AlbVerifier } from './verifier.js'

/** What is read of `@grpc/grpc-js`'s `Metadata`: `get(key)`, every value sent under that key. */
export interface GrpcMetadataLike {
  get(key: string): readonly (string | Uint8Array)[]
}

/** What is read of a `@grpc/grpc-js` server call (`ServerUnaryCall`, `ServerReadableStream`, …). */
export interface GrpcServerCallLike {
  readonly metadata: GrpcMetadataLike
  /** grpc-js: `address:port` of the peer, or `unknown`. */
  getPeer?(): string
}

const IDENTITY_KEYS = ['x-amzn-oidc-data', 'x-amzn-oidc-identity', 'x-amzn-oidc-accesstoken'] as const

/**
 * The ALB identity headers of a call's metadata, as a header record for
 * {@link AlbVerifier.verifyRequest}. A key sent twice stays a list, which the
 * verifier refuses (`ERR_MALFORMED`), as it refuses a repeated HTTP header.
 *
 * @throws {AlbVerifyError} `ERR_MALFORMED` when a value is binary (these keys carry text).
 */
export function albHeadersFromMetadata(metadata: GrpcMetadataLike): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {}
  for (const key of IDENTITY_KEYS) {
    const values = metadata.get(key)
    if (values.length === 0) continue
    const text: string[] = []
    for (const value of values) {
      if (typeof value !== 'string') throw new AlbVerifyError('ERR_MALFORMED', `metadata ${key} is binary`)
      text.push(value)
    }
    headers[key] = text.length === 1 ? text[0]! : text
  }
  return headers
}

/**
 * The peer's IP address from grpc-js's `getPeer()` (`10.0.1.5:41234`; an IPv6
 * address unbracketed before its port, `::1:41234`), or undefined when it is
 * not an address. The port is taken off first: `::1:41234` is itself a valid
 * IPv6 address, but grpc-js always appends the port of a TCP peer.
 */
export function grpcPeerAddress(peer: string | undefined): string | undefined {
  if (peer === undefined) return undefined
  const host = peer.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1')
  if (isIP(host) !== 0) return host
  return isIP(peer) !== 0 ? peer : undefined
}

/**
 * Verifies the ALB identity of a gRPC server call: the peer (when the
 * verifier has `trustedProxies`), `x-amzn-oidc-data`, and
 * `x-amzn-oidc-identity` against its `sub` — {@link AlbVerifier.verifyRequest}
 * on the call's metadata. Rejects only with {@link AlbVerifyError}; answer the
 * call with {@link grpcStatusOf} its code.
 *
 * @example
 * ```ts
 * import * as grpc from '@grpc/grpc-js'
 * import { createAlbVerifier } from '@portcullis/verify'
 * import { grpcStatusOf, verifyGrpcCall } from '@portcullis/verify/grpc'
 *
 * const verifier = createAlbVerifier({ signer: 'arn:aws:elasticloadbalancing:…', issuer: 'https://idp.example.com', clientId: 'my-client-id' })
 * server.addService(GreeterService, {
 *   async sayHello(call: grpc.ServerUnaryCall<HelloRequest, HelloReply>, callback: grpc.sendUnaryData<HelloReply>) {
 *     try {
 *       const { claims } = await verifyGrpcCall(verifier, call)
 *       callback(null, { message: `hello ${claims.email}` })
 *     } catch (error) {
 *       callback({ code: grpcStatusOf(error), details: 'not authenticated' })
 *     }
 *   },
 * })
 * ```
 */
export async function verifyGrpcCall(verifier: AlbVerifier, call: GrpcServerCallLike): Promise<AlbIdentity> {
  const headers = albHeadersFromMetadata(call.metadata)
  return verifier.verifyRequest(headers, { remoteAddress: grpcPeerAddress(call.getPeer?.()) })
}

/** gRPC status codes (grpc/doc/statuscodes.md) {@link grpcStatusOf} answers with. */
export const GRPC_STATUS = { PERMISSION_DENIED: 7, INTERNAL: 13, UNAVAILABLE: 14, UNAUTHENTICATED: 16 } as const

const SERVER_SIDE: ReadonlySet<AlbVerifyErrorCode> = new Set(['ERR_KEY_FETCH', 'ERR_KEY_INVALID'])

/**
 * The gRPC status for a failed {@link verifyGrpcCall}, as the HTTP middleware
 * answers 401/403/503: UNAVAILABLE (14) when the key server failed (the call
 * may be retried), PERMISSION_DENIED (7) for a peer outside `trustedProxies`,
 * UNAUTHENTICATED (16) for every other verification failure, INTERNAL (13)
 * for an error that is not the verifier's.
 */
export function grpcStatusOf(error: unknown): number {
  if (!isAlbVerifyError(error)) return GRPC_STATUS.INTERNAL
  if (SERVER_SIDE.has(error.code)) return GRPC_STATUS.UNAVAILABLE
  return error.code === 'ERR_UNTRUSTED_PROXY' ? GRPC_STATUS.PERMISSION_DENIED : GRPC_STATUS.UNAUTHENTICATED
}
