/**
 * What the listener pipeline knows of actions: handlers it runs in order, and
 * the authentication runtime seen only through the two interfaces below, so
 * that listeners never import `auth` (which sits below them).
 */
import type { AuthenticateAction, ListenerModel, RuleModel } from '../config/model.js'
import type { RequestContext } from './request.js'

/**
 * Result of one action: `continue` hands the request to the next action in
 * `Order`; `responded` means the action wrote the whole response itself.
 */
export type ActionOutcome = 'continue' | 'responded'

/** One compiled action of a rule. Built once per configuration load. */
export interface ActionHandler {
  run(ctx: RequestContext): ActionOutcome | Promise<ActionOutcome>
}

/**
 * Serves GET /oauth2/idpresponse: the listener routes it here (before rule
 * evaluation) on every HTTPS listener (and opted-in HTTP ones). The rule
 * comes from the sealed `state`, never from `ctx.rule`.
 */
export interface CallbackHandler {
  handleCallback(ctx: RequestContext): Promise<void>
  /**
   * Serves POST /oauth2/backchannel-logout (OIDC Back-Channel Logout 1.0),
   * routed like the callback: the IdP names the sessions to end in a signed
   * logout token; no cookie, no rule.
   */
  handleBackchannelLogout(ctx: RequestContext): Promise<void>
}

/** Builds, once per configuration load, the handler of each authenticate-oidc/-cognito/jwt-validation action. */
export interface AuthenticateActionFactory {
  createAction(rule: RuleModel, action: AuthenticateAction, listener: ListenerModel): ActionHandler
}
