import type { RequestContext } from '../../core/request.js'
import type { StateData } from '../types.js'

/** The second half of a login, done by the action that started it. */
export interface LoginCompletion {
  /** Exchanges the code, stores the session and redirects back; `state` and the nonce cookie already checked out. */
  complete(ctx: RequestContext, state: StateData, stateParam: string, host: string): Promise<void>
}

/** How `state` names the action that started a login: `{rule ARN}#{order}` (the `r` and `o` it carries). */
export function loginKey(ruleArn: string, order: number): string {
  return `${ruleArn}#${order}`
}

/**
 * The actions `/oauth2/idpresponse` may hand a login back to, for one
 * configuration generation. Each authenticate action registers itself when
 * the runtime builds it; the callback resolves the action named in `state`.
 * A name registered twice is a bug (two actions would claim one login).
 */
export class CallbackRegistry {
  readonly #actions = new Map<string, LoginCompletion>()

  /** Makes `action` the one that completes logins started under `key` (see {@link loginKey}). */
  register(key: string, action: LoginCompletion): void {
    if (this.#actions.has(key)) throw new Error(`two authenticate actions under one login key: ${key}`)
    this.#actions.set(key, action)
  }

  /** The action registered under `key`; `undefined` for a `state` from another configuration. */
  resolve(key: string): LoginCompletion | undefined {
    return this.#actions.get(key)
  }
}
