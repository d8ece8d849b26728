import diagnosticsChannel from 'node:diagnostics_channel'
import type { RequestContext } from '../core/request.js'

/**
 * Named diagnostics channels, in the style of undici's: subscribers (APM
 * agents, tests) observe the gateway without it knowing about them, and a
 * channel without subscribers costs one boolean check.
 */
export const channels = {
  /** A request has been matched to a rule; message `{ ctx }`. */
  requestMatched: diagnosticsChannel.channel('portcullis:request:matched'),
  /** The response to a request has finished; message `{ ctx, statusCode }`. */
  requestFinished: diagnosticsChannel.channel('portcullis:request:finished'),
  /** The configuration was (re)loaded; message `{ source, generation }`. */
  configLoaded: diagnosticsChannel.channel('portcullis:config:loaded'),
  /** A reload was refused; message `{ error }`. */
  configRejected: diagnosticsChannel.channel('portcullis:config:rejected'),
  /** A login finished: the session is stored; message {@link LoginCompletedMessage}. */
  loginCompleted: diagnosticsChannel.channel('portcullis:login:completed'),
  /** A login callback was refused or failed; message {@link LoginFailedMessage}. */
  loginFailed: diagnosticsChannel.channel('portcullis:login:failed'),
  /** A session's tokens were renewed at the IdP and stored; message {@link SessionRefreshedMessage}. */
  sessionRefreshed: diagnosticsChannel.channel('portcullis:session:refreshed'),
  /** Renewing a session failed: the session is over; message {@link SessionRefreshFailedMessage}. */
  sessionRefreshFailed: diagnosticsChannel.channel('portcullis:session:refresh-failed'),
  /** Shared sessions were deleted by an operator or a back-channel logout; message {@link SessionsRevokedMessage}. */
  sessionsRevoked: diagnosticsChannel.channel('portcullis:sessions:revoked'),
  /** The shared state became unreachable (once per outage); message {@link SharedStateDownMessage}. */
  sharedStateDown: diagnosticsChannel.channel('portcullis:shared-state:down'),
  /** The shared state answers again after an outage; message {@link SharedStateUpMessage}. */
  sharedStateUp: diagnosticsChannel.channel('portcullis:shared-state:up'),
  /** A batch of access-log lines went to the file (or stdout), or failed to; message {@link AccessLogWrittenMessage}. */
  accessLogWritten: diagnosticsChannel.channel('portcullis:access-log:written'),
} as const

/** What `portcullis:request:matched` publishes. */
export interface RequestMatchedMessage {
  readonly ctx: RequestContext
}

/** What `portcullis:request:finished` publishes: the context and the status the client got. */
export interface RequestFinishedMessage {
  readonly ctx: RequestContext
  readonly statusCode: number
}

/** What `portcullis:login:completed` publishes: the callback's request and whose session it stored. */
export interface LoginCompletedMessage {
  readonly ctx: RequestContext
  readonly issuer: string
  readonly clientId: string
  /** The user's `sub`. */
  readonly subject: string
}

/** What `portcullis:login:failed` publishes: the callback's request and the answer it got. */
export interface LoginFailedMessage {
  readonly ctx: RequestContext
  /** The status answered (401, 500, or 561 for an error from the IdP). */
  readonly status: number
  /** The access log's `error_reason`; undefined for an IdP error, which ALB logs without one. */
  readonly reason: string | undefined
  /** What went wrong, with its cause. */
  readonly error: Error
}

/** What `portcullis:session:refreshed` publishes: the action's IdP and client, the user, and where sessions live. */
export interface SessionRefreshedMessage {
  readonly issuer: string
  readonly clientId: string
  /** The user's `sub`. */
  readonly subject: string
  readonly store: 'cookie' | 'shared'
}

/** What `portcullis:session:refresh-failed` publishes: the session, and why it ended. */
export interface SessionRefreshFailedMessage extends SessionRefreshedMessage {
  /** The failure's `error_reason` (`AuthUnhandledException` for anything unexpected; none for an IdP error). */
  readonly reason: string | undefined
  readonly error: unknown
}

/** What `portcullis:sessions:revoked` publishes: who ended which sessions, and how many still existed. */
export interface SessionsRevokedMessage {
  readonly by: 'operator' | 'backchannel-logout'
  readonly revoked: number
  /** The one session named, by its public name (operator). */
  readonly session: string | undefined
  /** The user named (`sub`). */
  readonly subject: string | undefined
  /** The IdP session named (`sid`, back-channel logout). */
  readonly idpSession: string | undefined
  /** The client named; undefined when every configured client was meant. */
  readonly issuer: string | undefined
  readonly clientId: string | undefined
}

/** What `portcullis:shared-state:down` publishes. */
export interface SharedStateDownMessage {
  /** `redis://host:port/db`, without credentials. */
  readonly url: string
  /** Why, as logged. */
  readonly reason: string
}

/** What `portcullis:shared-state:up` publishes. */
export interface SharedStateUpMessage {
  readonly url: string
  /** How long the outage lasted. */
  readonly downForMs: number
}

/** What `portcullis:access-log:written` publishes. */
export interface AccessLogWrittenMessage {
  /** The log file; undefined for stdout. */
  readonly path: string | undefined
  readonly bytes: number
  /** Set when the write failed (the batch is lost). */
  readonly error: Error | undefined
}
