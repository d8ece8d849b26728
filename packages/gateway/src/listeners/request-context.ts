import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { ListenerModel, RuleModel } from '../config/model.js'
import { type ClientGoneListener, newRequestRecord, type RequestContext, type RequestRecord } from '../core/request.js'
import { parseCookieHeader } from '../headers/cookies.js'
import type { ClientConnection } from './connection.js'

/** The concrete per-request context the listener hands to actions. */
export class GatewayRequestContext implements RequestContext {
  readonly req: IncomingMessage
  readonly res: ServerResponse
  readonly listener: ListenerModel
  rule: RuleModel
  readonly protocol: 'http' | 'https'
  readonly sourceIp: string
  /** The client connection, as read when its first request started. */
  readonly connection: ClientConnection
  host: string | undefined
  path: string
  query: string
  readonly upstreamHeaders: OutgoingHttpHeaders
  readonly responseCookies: string[] = []
  readonly record: RequestRecord
  readonly upgrade: { readonly socket: Socket; readonly head: Buffer } | undefined
  whenClientGone: ClientGoneListener | undefined = undefined
  #cookies: Map<string, string> | undefined

  constructor(init: {
    req: IncomingMessage
    res: ServerResponse
    listener: ListenerModel
    rule: RuleModel
    protocol: 'http' | 'https'
    sourceIp: string
    connection: ClientConnection
    host: string | undefined
    path: string
    query: string
    upstreamHeaders: OutgoingHttpHeaders
    traceId: string
    upgrade: { socket: Socket; head: Buffer } | undefined
  }) {
    this.req = init.req
    this.res = init.res
    this.listener = init.listener
    this.rule = init.rule
    this.protocol = init.protocol
    this.sourceIp = init.sourceIp
    this.connection = init.connection
    this.host = init.host
    this.path = init.path
    this.query = init.query
    this.upstreamHeaders = init.upstreamHeaders
    this.upgrade = init.upgrade
    this.record = newRequestRecord(init.traceId)
  }

  get cookies(): ReadonlyMap<string, string> {
    if (this.#cookies === undefined) {
      const header = this.req.headers.cookie
      this.#cookies = parseCookieHeader(header)
    }
    return this.#cookies
  }
}
