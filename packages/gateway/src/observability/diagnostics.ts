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
