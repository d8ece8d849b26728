import { type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { Logger } from 'pino'
import type { RequestErrorReason } from '../core/errors.js'
import { http2StreamOf } from '../core/http2.js'
import { sendError } from '../core/responses.js'
import {
  appendListenerPort,
  applyForwardedFor,
  buildUpstreamHeaders,
  isIdentityHeaderName,
  isRenamed,
  isValidHeaderName,
  normalizePeerAddress,
} from '../headers/request-headers.js'
import { modifyResponseHead, type ResponseHeaderModification } from '../headers/response-headers.js'
import { traceIdFor } from '../headers/trace-id.js'
import { type AccessLog, requestType } from '../observability/access-log.js'
import { channels } from '../observability/diagnostics.js'
import type { GatewayMetrics } from '../observability/metrics.js'
import { RuleTransformError } from '../rules/errors.js'
import { SharedStateUnavailable } from '../shared/connection.js'
import { elapsedMs } from '../values/clock.js'
import type { CompiledGateway, CompiledRule } from './compile.js'
import { clientCertificateHeadersOf, clientConnection, takeByteCounts, tlsHeadersOf } from './connection.js'
import { countReceivedBytes, http2ByteCounts } from './http2.js'
import { GatewayRequestContext } from './request-context.js'

/** ALB's limits: 16 KB for the request line or any one header (64 KB in all is the server's `maxHeaderSize`). */
export const MAX_REQUEST_LINE_BYTES = 16 * 1024
export const MAX_HEADER_BYTES = 16 * 1024
export const MAX_HEADERS_TOTAL_BYTES = 64 * 1024

/** The generation of configuration a request runs against; swapped atomically on reload. */
export interface Generation {
  readonly compiled: CompiledGateway
  /** Requests still running on this generation; the old one is torn down at zero. */
  inflight: number
  onIdle: (() => void) | undefined
}

export interface PipelineDependencies {
  readonly logger: Logger
  readonly metrics: GatewayMetrics
  readonly accessLog: AccessLog | undefined
  current(): Generation
}

const CALLBACK_PATH = '/oauth2/idpresponse'
const BACKCHANNEL_LOGOUT_PATH = '/oauth2/backchannel-logout'

/**
 * Handles one request (or upgrade) on a listener: the order of steps is the
 * security argument. Identity headers sent by the client are dropped while the
 * upstream header set is built — the very first look at the request — and the
 * rules match on the client's headers without them, so that nothing after it
 * (rules, authenticate actions, targets) can see one.
 *
 * Never rejects and never throws: this is the per-request error boundary. A
 * bug while handling one request answers that request 500 (ALB's page) and is
 * logged once with its stack; it never reaches the process.
 *
 * Synchronous until an action has to wait (a forward, a redirect or a fixed
 * response never does): a promise, and the microtask turns it costs, only
 * exist for requests that need them. Returns that promise, settled when the
 * pipeline is done with the request, or undefined when it finished at once.
 */
export function handleRequest(
  deps: PipelineDependencies,
  listenerId: string,
  req: IncomingMessage,
  res: ServerResponse,
  upgrade?: { socket: Socket; head: Buffer },
): Promise<void> | undefined {
  const startedAt = Date.now()
  const generation = deps.current()
  const listener = generation.compiled.listeners.get(listenerId)
  if (listener === undefined) {
    // The listener was removed by a reload while this connection was open.
    sendError(res, 503, undefined)
    return
  }
  let ctx: GatewayRequestContext | undefined
  let compiledRule: CompiledRule = listener.defaultRule
  try {
    const { protocol } = listener
    // An HTTP/2 request is one stream of a session: the connection record is the session's.
    const stream = http2StreamOf(req)
    // Everything the request's record needs from the socket is read now: once
    // the body has been handed on and the response has finished, Node detaches it.
    const connection =
      stream === undefined
        ? clientConnection(req.socket, protocol === 'https')
        : clientConnection(stream.session!.socket as Socket, true, stream.session)
    const sourceIp = normalizePeerAddress(req.socket.remoteAddress)
    const url = req.url ?? ''
    const receivedBody = stream === undefined ? undefined : countReceivedBytes(req)
    if (stream !== undefined) {
      // Once the response is out, what is left of the body is drained (also from a forward's pipe, as for
      // HTTP/1.1): held back, it would stall the stream's flow control and the stream would never close.
      // (The stream's 'finish': the compat response emits its own only once the stream has closed.)
      stream.once('finish', () => {
        if (req.complete) return
        req.unpipe()
        req.resume()
      })
    }

    const attrs = generation.compiled.config.loadBalancer.attributes
    if (listener.responseModification !== undefined) modifyResponses(res, listener.responseModification)
    const upstream = buildUpstreamHeaders(
      req.rawHeaders,
      attrs.dropInvalidHeaderFields,
      listener.renamedHeaders,
      stream !== undefined,
    )
    const traceId = traceIdFor(upstream.clientTraceId, startedAt)
    const headers = upstream.headers
    headers['x-amzn-trace-id'] = traceId

    ctx = new GatewayRequestContext({
      req,
      res,
      listener: listener.model,
      rule: listener.defaultRule.model,
      protocol,
      sourceIp,
      connection,
      host: undefined,
      path: '/',
      query: '',
      upstreamHeaders: headers,
      traceId,
      upgrade,
    })
    const started = ctx
    generation.inflight++
    // The one 'close' listener of a request: it aborts a forward in flight and records the request.
    let closed = false
    res.on('close', () => {
      if (closed) return
      closed = true
      if (upgrade === undefined) connection.responses.delete(res)
      // A reset HTTP/2 stream counts as finished to Node (it ends the writable side itself): ended by us is what tells.
      if (!(stream === undefined ? res.writableFinished : res.writableEnded)) started.whenClientGone?.clientGone()
      finish(deps, generation, started, compiledRule, res, startedAt, receivedBody)
    })
    // Streams of a session need no such help: Node closes every one when the session ends.
    if (upgrade === undefined && stream === undefined) connection.responses.add(res)

    // RFC 9113 §8.3.1: `:authority` is the HTTP/2 request's Host (the target, over HTTP/1.1, gets it as
    // Host); a Host header naming another authority makes the request malformed.
    const authority = stream === undefined ? undefined : req.headers[':authority']
    if (typeof authority === 'string') {
      if (headers.host !== undefined && headers.host !== authority) {
        ctx.record.errorReason = 'InvalidHostHeader'
        sendError(res, 400, ctx)
        return
      }
      headers.host = authority
    }
    const invalid = checkRequestShape(req, url, headers)
    if (invalid !== undefined) {
      ctx.record.errorReason = invalid.reason
      sendError(res, invalid.status, ctx)
      return
    }

    // ALB's client_keep_alive.seconds: past it, the connection serves this one
    // request more and closes gracefully (`Connection: close`), busy or not.
    // For HTTP/2, the session is sent GOAWAY: its open streams finish, no new one starts.
    if (upgrade === undefined && elapsedMs() - connection.firstRequestAt >= attrs.clientKeepAliveSeconds * 1000) {
      if (stream === undefined) res.shouldKeepAlive = false
      else if (stream.session?.closed === false) stream.session.close()
    }
    applyForwardedFor(
      headers,
      attrs.xffMode,
      upstream.clientForwardedFor,
      sourceIp,
      attrs.xffClientPort ? connection.port : undefined,
    )
    headers['x-forwarded-proto'] = protocol
    headers['x-forwarded-port'] = listener.forwardedPort
    const names = listener.model.headerModification.requestHeaderNames
    const mtls = listener.model.mutualAuthentication
    if (mtls !== undefined) Object.assign(headers, clientCertificateHeadersOf(connection, mtls, names))
    if (listener.tlsHeaders) Object.assign(headers, tlsHeadersOf(connection, names))

    const q = url.indexOf('?')
    const path = q === -1 ? url : url.slice(0, q)
    const query = q === -1 ? '' : url.slice(q + 1)
    const hostHeader = stream === undefined ? req.headers.host : (headers.host as string | undefined)
    const host = hostWithoutPort(hostHeader)

    // The gateway's own endpoints on an authenticating listener come before every rule.
    if (listener.callback !== undefined && (path === CALLBACK_PATH || path === BACKCHANNEL_LOGOUT_PATH)) {
      ctx.host = host
      ctx.path = path
      ctx.query = query
      ctx.record.actionsExecuted.push('authenticate')
      const served =
        path === CALLBACK_PATH ? listener.callback.handleCallback(ctx) : listener.callback.handleBackchannelLogout(ctx)
      return settle(served, deps, res, ctx, compiledRule, upgrade)
    }

    const matched = listener.ruleSet.match({
      method: req.method ?? 'GET',
      host,
      path,
      query,
      headers:
        stream !== undefined
          ? http2RuleHeaders(req.headers, attrs.dropInvalidHeaderFields, listener.renamedHeaders, hostHeader)
          : upstream.strippedIdentityHeaders + upstream.droppedInvalidHeaders > 0
            ? withoutDroppedHeaders(req.headers, attrs.dropInvalidHeaderFields, listener.renamedHeaders)
            : req.headers,
      sourceIp,
    })
    compiledRule = listener.rules[matched.index]!
    ctx.rule = compiledRule.model
    ctx.host = matched.host
    ctx.path = matched.path
    ctx.query = matched.query
    if (matched.host !== host && matched.host !== undefined) {
      headers.host = matched.host
    }
    if (listener.hostPortSuffix !== undefined) appendListenerPort(headers, listener.hostPortSuffix)
    ctx.record.matchedRulePriority = compiledRule.model.priority
    if (channels.requestMatched.hasSubscribers) channels.requestMatched.publish({ ctx })

    const pending = runActions(ctx, compiledRule, startedAt, 0)
    if (pending !== undefined) return settle(pending, deps, res, ctx, compiledRule, upgrade)
  } catch (error) {
    failed(error, deps, res, ctx, compiledRule, upgrade)
  }
  return undefined
}

/** The rest of a request that had to wait: its failure goes where a synchronous one would. */
function settle(
  pending: Promise<void>,
  deps: PipelineDependencies,
  res: ServerResponse,
  ctx: GatewayRequestContext,
  rule: CompiledRule,
  upgrade: { socket: Socket; head: Buffer } | undefined,
): Promise<void> {
  return pending.then(undefined, (error: unknown) => failed(error, deps, res, ctx, rule, upgrade))
}

/** Answers a request whose handling threw, and logs why. */
function failed(
  error: unknown,
  deps: PipelineDependencies,
  res: ServerResponse,
  ctx: GatewayRequestContext | undefined,
  rule: CompiledRule,
  upgrade: { socket: Socket; head: Buffer } | undefined,
): void {
  if (error instanceof RuleTransformError) {
    // A rewrite produced an invalid host or URL for this request: ALB answers 500.
    deps.logger.warn(
      { traceId: ctx?.record.traceId, rulePriority: String(rule.model.priority), reason: error.message },
      'rule transform failed',
    )
    if (ctx !== undefined) ctx.record.errorReason = 'TransformError'
    sendError(res, 500, ctx)
    return
  }
  if (error instanceof SharedStateUnavailable) {
    // A request that needs the shared state while Redis cannot be asked (its
    // outage is logged once by the connection): ALB's 500, our error_reason.
    if (ctx !== undefined) ctx.record.errorReason = 'SharedStateUnavailable'
    if (!res.headersSent) sendError(res, 500, ctx)
    else res.destroy()
    return
  }
  // An exception here is Portcullis's bug, never the client's: log it with
  // its stack for us, answer a plain 500 without details for them.
  deps.logger.error({ err: error, traceId: ctx?.record.traceId }, 'unhandled error while handling a request')
  if (ctx !== undefined) ctx.record.errorReason ??= 'InternalError'
  try {
    if (!res.headersSent) sendError(res, 500, ctx)
    else res.destroy()
  } catch {
    // The response itself is broken: dropping the connection is all that is left.
    res.destroy()
    upgrade?.socket.destroy()
  }
}

/**
 * Runs the rule's actions from `from` on, synchronously while they answer at
 * once; from the first that returns a promise, the rest run after it.
 */
function runActions(
  ctx: GatewayRequestContext,
  rule: CompiledRule,
  startedAt: number,
  from: number,
): Promise<void> | undefined {
  const { actions, actionNames } = rule
  const last = actions.length - 1
  for (let i = from; i < actions.length; i++) {
    ctx.record.actionsExecuted.push(actionNames[i]!)
    // ALB's request_processing_time: from arrival until the final action (the hand-off to the target).
    if (i === last) ctx.record.requestProcessingTime = (Date.now() - startedAt) / 1000
    const outcome = actions[i]!.run(ctx)
    if (typeof outcome !== 'string') {
      return outcome.then((o) => (o === 'responded' ? undefined : runActions(ctx, rule, startedAt, i + 1)))
    }
    if (outcome === 'responded') return undefined
  }
  // Config validation guarantees a final action; reaching here is a bug.
  throw new Error(`rule ${String(rule.model.priority)} ended without a response`)
}

/**
 * The client's headers as rules see them: without the identity headers it
 * tried to send. A copy, because Node's request objects are not ours to
 * rewrite (for an upgrade request Node builds `req.headers` lazily from
 * `rawHeaders`, and a rewritten `rawHeaders` crashes it).
 */
/** The client's headers as the rules see them: without those the target never gets. */
function withoutDroppedHeaders(
  headers: IncomingHttpHeaders,
  dropInvalidNames: boolean,
  renamed: ReadonlySet<string> | undefined,
): IncomingHttpHeaders {
  const kept: IncomingHttpHeaders = {}
  for (const name of Object.keys(headers)) {
    if (isIdentityHeaderName(name) || (renamed !== undefined && isRenamed(name, renamed))) continue
    if (dropInvalidNames && !isValidHeaderName(name)) continue
    kept[name] = headers[name]
  }
  return kept
}

/**
 * An HTTP/2 request's headers as the rules see them: as an HTTP/1.1 request's
 * would be — no pseudo-headers, `host` from `:authority`, the cookie crumbs
 * already joined by Node with `; ` (RFC 9113 §8.2.3) — and without those the
 * target never gets.
 */
function http2RuleHeaders(
  headers: IncomingHttpHeaders,
  dropInvalidNames: boolean,
  renamed: ReadonlySet<string> | undefined,
  host: string | undefined,
): IncomingHttpHeaders {
  const kept = withoutDroppedHeaders(headers, dropInvalidNames, renamed)
  for (const name of Object.keys(kept)) if (name.charCodeAt(0) === 0x3a /* : */) delete kept[name]
  if (host !== undefined) kept.host = host
  return kept
}

function checkRequestShape(
  req: IncomingMessage,
  url: string,
  upstreamHeaders: OutgoingHttpHeaders,
): { status: 400 | 414 | 431; reason: RequestErrorReason } | undefined {
  if (url.length > MAX_REQUEST_LINE_BYTES) return { status: 414, reason: 'RequestLineTooLong' }
  // Origin-form only: absolute-form and `*` are for proxies and OPTIONS, which
  // a load balancer in front of an application does not serve.
  if (url.charCodeAt(0) !== 0x2f /* / */) return { status: 400, reason: 'InvalidRequestTarget' }
  const raw = req.rawHeaders
  for (let i = 1; i < raw.length; i += 2) {
    if (raw[i]!.length + raw[i - 1]!.length > MAX_HEADER_BYTES) return { status: 431, reason: 'HeaderTooLarge' }
  }
  // RFC 9112 §3.2: more than one Host header is a 400 (Node keeps the first; the copy upstream keeps all),
  // and so is an invalid one (which the upstream client would otherwise fail on: a 502 for the client's bytes).
  const host = upstreamHeaders.host
  if (Array.isArray(host) || (typeof host === 'string' && !HOST_HEADER.test(host))) {
    return { status: 400, reason: 'InvalidHostHeader' }
  }
  return undefined
}

/** RFC 9110 §7.2 `uri-host [ ":" port ]`: an IP literal in brackets, or a reg-name (RFC 3986 §3.2.2). */
const HOST_HEADER = /^(?:\[[\w.~!$&'()*+,;=:%-]+\]|[\w.~!$&'()*+,;=%-]*)(?::\d*)?$/

/** Lower-cased host without port; IPv6 literals keep their brackets. */
export function hostWithoutPort(hostHeader: string | undefined): string | undefined {
  if (hostHeader === undefined || hostHeader === '') return undefined
  let end = hostHeader.length
  if (hostHeader.charCodeAt(0) === 0x5b /* [ */) {
    const close = hostHeader.indexOf(']')
    end = close === -1 ? end : close + 1
  } else {
    const colon = hostHeader.lastIndexOf(':')
    if (colon !== -1) end = colon
  }
  return hostHeader.slice(0, end).toLowerCase()
}

function finish(
  deps: PipelineDependencies,
  generation: Generation,
  ctx: GatewayRequestContext,
  rule: CompiledRule,
  res: ServerResponse,
  startedAt: number,
  receivedBody: { bytes: number } | undefined,
): void {
  try {
    // A tunnelled WebSocket answered 101 on the raw socket; `res` never saw it.
    // A client that left before any answer gets ALB's 460, not the unsent default 200.
    // A gRPC error the load balancer answered (HTTP 200 on the wire) is logged with the status it stands for.
    const status =
      ctx.upgrade !== undefined && ctx.record.targetStatusCode === 101
        ? 101
        : res.headersSent
          ? (ctx.record.elbStatusCode ?? res.statusCode)
          : 460
    const { accessLog } = deps
    const record = ctx.record
    const fromTarget = record.targetStatusCode !== undefined && record.targetStatusCode === status
    rule.tally.count(status, fromTarget, record.targetProcessingTime, requestType(ctx))
    if (accessLog !== undefined) {
      const bytes =
        receivedBody === undefined ? takeByteCounts(ctx.connection) : http2ByteCounts(ctx.req, res, receivedBody.bytes)
      const finishedAt = Date.now()
      accessLog.write(accessLog.entry(ctx, ctx.connection, bytes, status, startedAt, finishedAt), finishedAt)
    }
    if (channels.requestFinished.hasSubscribers) channels.requestFinished.publish({ ctx, statusCode: status })
  } catch (error) {
    // Recording a request must never take the process down with it.
    deps.logger.error({ err: error, traceId: ctx.record.traceId }, 'unhandled error while recording a request')
  } finally {
    if (--generation.inflight === 0) generation.onIdle?.()
  }
}

/**
 * Applies the listener's response-header attributes to whatever writes this
 * response — a target's head, a fixed response, a redirect, the load
 * balancer's own error pages — by wrapping its `writeHead` (Node's implicit
 * head, for responses built with `setHeader`, goes through it too). Only
 * listeners with such attributes pay for the wrapper.
 */
function modifyResponses(res: ServerResponse, mod: ResponseHeaderModification): void {
  const writeHead = res.writeHead
  res.writeHead = function (this: ServerResponse, status: number, ...rest: unknown[]): ServerResponse {
    const reason = typeof rest[0] === 'string' ? rest[0] : undefined
    const given = (reason === undefined ? rest[0] : rest[1]) as OutgoingHttpHeaders | string[] | undefined
    for (const [name] of mod.set) this.removeHeader(name)
    if (!mod.server) this.removeHeader('server')
    const head = modifyResponseHead(given, mod)
    return Reflect.apply(writeHead, this, reason === undefined ? [status, head] : [status, reason, head])
  } as ServerResponse['writeHead']
}

/** A response bound to an upgrade request's socket, so actions can answer it like any request. */
export function responseForUpgrade(req: IncomingMessage, socket: Socket): ServerResponse {
  const res = new ServerResponse(req)
  res.shouldKeepAlive = false
  res.assignSocket(socket)
  res.once('finish', () => {
    socket.end()
  })
  return res
}
