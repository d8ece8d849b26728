import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { ListenerModel, RuleModel } from '../config/model.js'
import type { ErrorReason } from './errors.js'

/**
 * What one request accumulates for its access-log line and metrics. Actions
 * fill in what they learn; the listener writes the line when the response ends.
 * Field names follow ALB's access log.
 */
export interface RequestRecord {
  /** `X-Amzn-Trace-Id` value sent upstream. */
  traceId: string
  /** Priority of the matched rule (`default` for the default rule), once matched. */
  matchedRulePriority: number | 'default' | undefined
  /** `target:port` that served the request. */
  target: string | undefined
  /** Target group ARN the request was forwarded to. */
  targetGroupArn: string | undefined
  targetStatusCode: number | undefined
  /** Seconds spent before the request was sent to the target (or -1). */
  requestProcessingTime: number
  /** Seconds from sending to the target until its response headers arrived (or -1). */
  targetProcessingTime: number
  /** ALB's `error_reason` (e.g. `AuthInvalidStateParam`, `TargetConnectionError`). */
  errorReason: ErrorReason | undefined
  /** Action types executed, comma-separated in the log (`authenticate,forward`). */
  actionsExecuted: string[]
  /** Redirect `Location`, when the gateway answered with a redirect. */
  redirectUrl: string | undefined
  /**
   * The HTTP status the load balancer's own error stands for when it answered
   * a gRPC request with a gRPC status (HTTP 200 on the wire): what the access
   * log and metrics record, as ALB's `elb_status_code`.
   */
  elbStatusCode: number | undefined
}

/**
 * The per-request state every action receives. Built by the listener after it
 * has stripped client-sent `x-amzn-oidc-*` headers, added `X-Forwarded-*` and
 * `X-Amzn-Trace-Id`, matched a rule and applied its transforms.
 */
export interface RequestContext {
  readonly req: IncomingMessage
  readonly res: ServerResponse
  readonly listener: ListenerModel
  readonly rule: RuleModel
  /** `http` or `https`: the listener's protocol as the client used it. */
  readonly protocol: 'http' | 'https'
  /** The connection's peer address (never from `X-Forwarded-For`). */
  readonly sourceIp: string
  /** Host header after `host-header-rewrite`, without port, lower-cased; undefined when absent. */
  host: string | undefined
  /** Path after `url-rewrite` (always starts with `/`). */
  path: string
  /** Raw query string after `url-rewrite`, without `?` (empty string when none). */
  query: string
  /**
   * Headers to send to the target: lower-case names, hop-by-hop headers
   * removed. Authenticate actions add the `x-amzn-oidc-*` identity headers here.
   */
  readonly upstreamHeaders: OutgoingHttpHeaders
  /** Request cookies, parsed once on first use. */
  readonly cookies: ReadonlyMap<string, string>
  /**
   * `Set-Cookie` values that must reach the client with whatever response
   * ends this request (the target's, a redirect, a fixed response).
   */
  readonly responseCookies: string[]
  readonly record: RequestRecord
  /**
   * Present for an HTTP/1.1 `Upgrade` request (WebSocket). `res` is then a
   * response bound to `socket`, usable for redirects and errors; `forward`
   * tunnels the socket to the target instead.
   */
  readonly upgrade: { readonly socket: Socket; readonly head: Buffer } | undefined
  /**
   * Set by an action whose work outlives its call (the proxy): told once if
   * the client leaves before the response has finished.
   */
  whenClientGone: ClientGoneListener | undefined
}

/** See `RequestContext.whenClientGone`. */
export interface ClientGoneListener {
  clientGone(): void
}

/** A request's record before any action has filled it in (`-1` times: not measured). */
export function newRequestRecord(traceId: string): RequestRecord {
  return {
    traceId,
    matchedRulePriority: undefined,
    target: undefined,
    targetGroupArn: undefined,
    targetStatusCode: undefined,
    requestProcessingTime: -1,
    targetProcessingTime: -1,
    errorReason: undefined,
    actionsExecuted: [],
    redirectUrl: undefined,
    elbStatusCode: undefined,
  }
}
