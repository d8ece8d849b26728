import type { IncomingMessage } from 'node:http'
import type { Http2ServerRequest, ServerHttp2Stream } from 'node:http2'

/**
 * The HTTP/2 stream of a request, or undefined for HTTP/1.x. HTTP/2 requests
 * reach the pipeline as Node's compatibility request (`Http2ServerRequest`),
 * typed as the `IncomingMessage` it mostly mimics: this is where the two are
 * told apart.
 */
export function http2StreamOf(req: IncomingMessage): ServerHttp2Stream | undefined {
  return req.httpVersionMajor === 2 ? (req as unknown as Http2ServerRequest).stream : undefined
}

/**
 * True when the request is gRPC: HTTP/2 with a `content-type` of
 * `application/grpc` or one of its subtypes (`application/grpc+proto`).
 * gRPC-Web (`application/grpc-web*`) is not: it carries its status in the body.
 */
export function isGrpcRequest(req: IncomingMessage): boolean {
  if (req.httpVersionMajor !== 2) return false
  const type = req.headers['content-type']
  return (
    type !== undefined &&
    (type === 'application/grpc' || type.startsWith('application/grpc+') || type.startsWith('application/grpc;'))
  )
}
