import type { Logger } from 'pino'
import type { AuthenticateCognitoAction, AuthenticateOidcAction, ListenerModel, RuleModel } from '../../config/model.js'
import type { ActionHandler, ActionOutcome } from '../../core/actions.js'
import type { RequestContext } from '../../core/request.js'
import { sendError } from '../../core/responses.js'
import type { ReplayMarkers, SessionRecords } from '../../shared/state.js'
import type { Clock } from '../../values/clock.js'
import { AuthError } from '../errors.js'
import type { SecretRing } from '../keys/sealing-ring.js'
import type { SigningKey } from '../keys/signing-ring.js'
import type { Outbound } from '../outbound.js'
import { CookieSessionStore } from '../session/cookie-store.js'
import { SharedSessionStore } from '../session/shared-store.js'
import { type SessionStore, sessionFromTokens, sessionSubject } from '../session/store.js'
import type { AuthMetrics, SessionData } from '../types.js'
import type { BackchannelClient } from './backchannel-logout.js'
import { IdentityTokens } from './identity-token.js'
import { IdpClient } from './idp-client.js'
import { Login } from './login.js'
import { logOut } from './logout.js'
import { type NoSession, onUnauthenticated } from './unauthenticated.js'

/** What every authenticate action of one runtime uses. */
export interface OidcEnvironment {
  readonly logger: Logger
  readonly metrics: AuthMetrics | undefined
  readonly ring: SecretRing
  /** `LoadBalancer.Arn`: the `signer` of identity tokens. */
  readonly signer: string
  readonly allowInsecureHttp: boolean
  readonly outbound: Outbound
  /** Bound on every call to an IdP, in milliseconds. */
  readonly idpTimeoutMs: number
  /** Used-once markers on every gateway (`Portcullis.SharedState`), when configured. */
  readonly markers: ReplayMarkers | undefined
  /** Where sessions live with `Portcullis.SessionStore: shared`; cookies otherwise. */
  readonly sessionRecords: SessionRecords | undefined
  /** How long a shared session read from Redis is trusted (the store's default when undefined). */
  readonly sessionCacheMs: number | undefined
  /** "Now" for sessions and logins. */
  readonly clock: Clock
  /** The key that signs identity tokens now (changes on rotation). */
  signingKey(): SigningKey
}

type OidcAction = AuthenticateOidcAction | AuthenticateCognitoAction

/** The path the browser asked for (before any rule transform): what `LogoutPath` names. */
function requestPath(ctx: RequestContext): string {
  const url = ctx.req.url ?? '/'
  const q = url.indexOf('?')
  return q === -1 ? url : url.slice(0, q)
}

/**
 * One compiled `authenticate-oidc` / `authenticate-cognito` action: opens the
 * session from its {@link SessionStore}, has it renewed when the access token
 * expired, adds the identity headers, or — without a usable session — does
 * what `OnUnauthenticatedRequest` says (contract §5).
 */
export class OidcAuthenticateAction implements ActionHandler {
  readonly #action: OidcAction
  readonly #idp: IdpClient
  readonly #store: SessionStore
  readonly #identity: IdentityTokens
  readonly #clock: Clock
  /** Starts logins here; the callback finishes them (register it under {@link Login.key}). */
  readonly login: Login

  constructor(env: OidcEnvironment, rule: RuleModel, action: OidcAction, listener: ListenerModel) {
    if (listener.protocol !== 'HTTPS' && !env.allowInsecureHttp) {
      throw new Error(`${action.type} on HTTP listener ${listener.id} needs the development opt-in`)
    }
    this.#action = action
    this.#clock = env.clock
    const log = env.logger.child({ rule: rule.arn, cookie: action.sessionCookieName })
    this.#idp = new IdpClient(action, env.outbound, {
      allowInsecureHttp: env.allowInsecureHttp,
      logger: log,
      timeoutMs: env.idpTimeoutMs,
    })
    this.#store =
      env.sessionRecords !== undefined
        ? new SharedSessionStore({
            ...action,
            ring: env.ring,
            records: env.sessionRecords,
            logger: log,
            metrics: env.metrics,
            // Token grant plus userinfo, each bounded by the IdP timeout.
            refreshLockMs: 2 * env.idpTimeoutMs + 1000,
            clock: env.clock,
            cacheMs: env.sessionCacheMs,
          })
        : new CookieSessionStore({ ...action, ring: env.ring, logger: log, metrics: env.metrics, clock: env.clock })
    this.#identity = new IdentityTokens({
      signer: env.signer,
      issuer: action.issuer,
      clientId: action.clientId,
      lifetimeSeconds: action.identityTokenLifetimeSeconds,
      signingKey: () => env.signingKey(),
    })
    this.login = new Login(env, action, rule.arn, this.#idp, this.#store)
  }

  /**
   * A shared session with Redis unreachable rejects with
   * `SharedStateUnavailable`: the pipeline answers ALB's 500 with that
   * `error_reason`, within the command timeout.
   */
  async run(ctx: RequestContext): Promise<ActionOutcome> {
    const logoutPath = this.#action.logoutPath
    if (logoutPath !== undefined && requestPath(ctx) === logoutPath) {
      await logOut(ctx, this.#action, this.#store, this.#idp)
      return 'responded'
    }
    const opened = await this.#store.open(ctx)
    if (opened === undefined) return this.#unauthenticated(ctx, 'none')
    const now = this.#clock()
    // The session timeout is a hard stop, whatever the tokens say.
    if (now >= opened.session.se) return this.#unauthenticated(ctx, 'expired')
    const current = await this.#store.refresh(ctx, opened, this.#renew)
    if (current === undefined) return this.#unauthenticated(ctx, 'refresh-failed')
    this.#identity.addHeaders(ctx.upstreamHeaders, current.session, now)
    return 'continue'
  }

  /** Whom back-channel logout tokens for this action's sessions come from. */
  get backchannelClient(): BackchannelClient {
    return { issuer: this.#action.issuer, clientId: this.#action.clientId, idp: this.#idp }
  }

  /** No usable session: whatever the request carried is cleared, then `OnUnauthenticatedRequest` decides. */
  async #unauthenticated(ctx: RequestContext, why: NoSession): Promise<ActionOutcome> {
    await this.#store.clear(ctx)
    switch (onUnauthenticated(this.#action.onUnauthenticatedRequest, why)) {
      case 'allow':
        return 'continue'
      case 'deny':
        sendError(ctx.res, 401, ctx)
        return 'responded'
      case 'authenticate':
        await this.login.start(ctx)
        return 'responded'
    }
  }

  /** The refresh grant, then userinfo for the same user; the session keeps its end. */
  readonly #renew = async (session: SessionData): Promise<SessionData> => {
    const subject = sessionSubject(session)
    const tokens = await this.#idp.refresh(session.rt!)
    if (tokens.subject !== undefined && tokens.subject !== subject) throw new AuthError(401, 'AuthInvalidIdToken')
    const claims = await this.#idp.userinfo(tokens.accessToken, subject)
    const next = sessionFromTokens(tokens, claims, session.se, this.#clock())
    // A refresh may bring no new ID token; the IdP session stays the login's.
    const idToken = next.it ?? session.it
    return {
      ...next,
      ...(idToken === undefined ? {} : { it: idToken }),
      ...(session.sid === undefined ? {} : { sid: session.sid }),
    }
  }
}
