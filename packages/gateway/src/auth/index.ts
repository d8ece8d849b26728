/**
 * Authentication in the gateway: `authenticate-oidc`, `authenticate-cognito`
 * and `jwt-validation` actions, the `/oauth2/idpresponse` callback, the
 * sealed session cookies and the signing keys behind `x-amzn-oidc-data`.
 *
 * By concept: `keys/` (the sealing and signing rings, where they are kept:
 * the state directory or the shared state, and keeping them current),
 * `session/` (the session store contract, the cookie and shared stores, the
 * operator's `/sessions` API), `oidc/` (the authenticate action, login,
 * logout, the IdP client, identity tokens), and `jwt-validation.ts`.
 * Keys survive reloads and are shared by every instance using the same
 * state directory or shared state; per-process caches (opened sessions,
 * minted identity tokens, JWKS) are rebuilt with each runtime.
 *
 * Decisions where ALB documents nothing (contract "decision" items and ours):
 * - `state` and the session cookie are AES-256-GCM sealed with keys derived
 *   (HKDF) from `{stateDirectory}/session-keys.json`; the cookie name is
 *   authenticated with the cookie value, so one rule's cookie never opens
 *   under another rule's name. Rotation keeps old keys opening for 8 days.
 * - PKCE S256 and an OIDC `nonce` are sent by default; `AWSALBAuthNonce` is
 *   24 alphanumerics, `HttpOnly; SameSite=Lax; Max-Age=900` (`Secure` except
 *   on the opted-in HTTP listener). Lax suffices: the IdP sends the browser
 *   back with a top-level GET. A second login started in another tab
 *   replaces the cookie, so the first tab's callback fails (as on ALB).
 * - The callback's original URI comes only from `state` and must be a path
 *   on the same host (one leading `/`, no `//`, `/\`, whitespace or control
 *   characters); anything else lands on `/`. A used `state` is refused for
 *   the life of the process; across processes the IdP's single-use code is
 *   the guard (`invalid_grant` → 401 `AuthInvalidGrantError`).
 * - Session cookies: shards of ≤ 4000 characters, `HttpOnly; Path=/;
 *   SameSite=Lax`, `SameSite=None` for CORS requests (an `Origin` other than
 *   the request's own), `Secure` on HTTPS, `Expires` 7 days. Claims plus
 *   access token over 11 KB (or a sealed session over 4 shards) → 500
 *   `AuthUserClaimsSizeExceeded`.
 * - `deny` without a session answers a plain 401 without `WWW-Authenticate`
 *   (there is no standard challenge for a cookie session); a failed refresh
 *   under `deny` is also 401, under `allow` the request goes on without
 *   identity and the cookie is cleared.
 * - Refreshes are single-flight per session; requests still carrying the
 *   pre-refresh cookie during the next 60 s get the refreshed session (and
 *   the new cookie) instead of a second refresh that a rotating refresh token
 *   would not survive.
 * - ID-token signatures are checked against `Portcullis.JwksUri` or the
 *   issuer's discovery document (fetched once, bounded); without either the
 *   TLS-protected token response is trusted (OIDC Core 3.1.3.7).
 * - Every IdP and JWKS call is bounded: 5 s, no redirects, 64 KB token and
 *   discovery answers, 16 KB userinfo (`AuthUserinfoResponseSizeExceeded`),
 *   150 KB JWKS.
 *
 * @packageDocumentation
 */
import type { Logger } from 'pino'
import type { AuthenticateAction, GatewayConfig, ListenerModel, RuleModel } from '../config/model.js'
import type { ActionHandler } from '../core/actions.js'
import type { RequestContext } from '../core/request.js'
import type { SharedState } from '../shared/state.js'
import { ensureLocalCa } from '../tls/local-ca.js'
import { type Clock, systemClock } from '../values/clock.js'
import { JwksCache, JwtValidationHandler } from './jwt-validation.js'
import { keyRingsFor } from './keys/key-ring-store.js'
import { liveKeyRings } from './keys/live.js'
import { OidcAuthenticateAction, type OidcEnvironment } from './oidc/authenticate.js'
import { BackchannelLogout } from './oidc/backchannel-logout.js'
import { CallbackRegistry } from './oidc/callback-registry.js'
import { IDP_TIMEOUT_MS } from './oidc/idp-client.js'
import { LoginCallback } from './oidc/login.js'
import { createOutbound } from './outbound.js'
import { createSessionsHandler } from './session/admin.js'
import type { AuthAdmin, AuthMetrics, AuthRuntime } from './types.js'

export {
  type KeyRingStore,
  keyRingsFor,
  openKeyRings,
  sharedKeyRings,
  stateDirectoryKeyRings,
} from './keys/key-ring-store.js'
export { DEFAULT_GRACE_SECONDS, type SigningKeyInfo } from './keys/signing-ring.js'
export type { AuthAdmin, AuthMetrics, AuthRuntime } from './types.js'

/** What a runtime is built with besides its configuration. */
export interface AuthDependencies {
  readonly logger: Logger
  readonly metrics?: AuthMetrics
  /** Bound on each call to an IdP or JWKS endpoint; default 5000 ms. Tests shorten it. */
  readonly idpTimeoutMs?: number
  /**
   * The process's connection to `Portcullis.SharedState` (the server opens
   * it once and owns it): required when the configuration has one.
   */
  readonly shared?: SharedState | undefined
  /** How long a shared session read from Redis is trusted here (default 1000 ms, the revocation delay). Tests shorten it. */
  readonly sessionCacheMs?: number
  /** "Now" for sessions, logins and logout tokens (default the system clock); tests own it. */
  readonly clock?: Clock
}

function sharedStateOf(config: GatewayConfig, deps: { shared?: SharedState | undefined }): SharedState | undefined {
  if (config.portcullis.sharedState !== undefined && deps.shared === undefined) {
    throw new Error('the configuration has Portcullis.SharedState: pass the connection to it (deps.shared)')
  }
  return config.portcullis.sharedState === undefined ? undefined : deps.shared
}

/**
 * Builds the authentication runtime for one configuration load: the key
 * rings (the state directory's, or the shared state's with
 * `Portcullis.SharedState`; kept current, see `liveKeyRings`), the outbound
 * client, and the handlers of every authenticate action, the login callback
 * and back-channel logout.
 *
 * @example
 * ```ts
 * const auth = await createAuthRuntime(config, { logger })
 * const handler = auth.createAction(rule, rule.actions[0], listener)
 * ```
 */
export async function createAuthRuntime(config: GatewayConfig, deps: AuthDependencies): Promise<AuthRuntime> {
  const logger = deps.logger.child({ component: 'auth' })
  const shared = sharedStateOf(config, deps)
  const keys = await liveKeyRings(keyRingsFor(config, shared), logger)
  // LocalCertificates is the local-development opt-in: the provider it runs beside (`portcullis idp`) serves a
  // certificate from the same local CA, so the gateway trusts that CA too and the configuration needs no CaFile path.
  const localCa = config.portcullis.localCertificates
    ? await ensureLocalCa(config.portcullis.stateDirectory)
    : undefined
  const outbound = createOutbound({ caFile: config.portcullis.caFile, localCaFile: localCa?.caCertPath })
  // Sessions live in Redis only with SessionStore: shared; the replay markers whenever there is a shared state.
  const sessionRecords = config.portcullis.sessionStore === 'shared' ? shared?.sessions : undefined
  const env: OidcEnvironment = {
    logger,
    metrics: deps.metrics,
    ring: keys.sealing,
    signer: config.loadBalancer.arn,
    allowInsecureHttp: config.portcullis.allowInsecureHttpAuthentication,
    outbound,
    idpTimeoutMs: deps.idpTimeoutMs ?? IDP_TIMEOUT_MS,
    markers: shared?.markers,
    sessionRecords,
    sessionCacheMs: deps.sessionCacheMs,
    clock: deps.clock ?? systemClock,
    signingKey: () => keys.signing.active,
  }
  // Every OIDC action of this generation registers its login here; the
  // callback resolves the one named in `state`.
  const logins = new CallbackRegistry()
  const callback = new LoginCallback(env, logins)
  const jwksCaches = new Map<string, JwksCache>()
  const jwks = (url: string) => {
    let cache = jwksCaches.get(url)
    if (cache === undefined) {
      cache = new JwksCache(url, outbound, logger, env.idpTimeoutMs)
      jwksCaches.set(url, cache)
    }
    return cache
  }
  const backchannel = new BackchannelLogout({
    shared: sessionRecords === undefined ? undefined : shared,
    logger,
    jwks,
    clock: env.clock,
  })

  return {
    handleCallback: (ctx: RequestContext) => callback.handle(ctx),

    createAction(rule: RuleModel, action: AuthenticateAction, listener: ListenerModel): ActionHandler {
      if (action.type === 'jwt-validation') {
        return new JwtValidationHandler(action, jwks(action.jwksEndpoint), {
          allowInsecureHttp: env.allowInsecureHttp,
        })
      }
      const handler = new OidcAuthenticateAction(env, rule, action, listener)
      logins.register(handler.login.key, handler.login)
      backchannel.register(handler.backchannelClient)
      return handler
    },

    handleBackchannelLogout: (ctx: RequestContext) => backchannel.handle(ctx),

    sessionsHandler: createSessionsHandler(config, shared?.sessions, logger),

    keysHandler: keys.keysHandler,

    async close() {
      keys.close()
      await outbound.close()
    },
  }
}

/**
 * What the admin listener serves from authentication — `/keys/{kid}` (every
 * published signing key) and `/sessions` (the operator's session API) —
 * without an OIDC runtime: the cluster primary serves these while its
 * workers run the actions.
 */
export async function createAuthAdmin(config: GatewayConfig, deps: AuthDependencies): Promise<AuthAdmin> {
  const logger = deps.logger.child({ component: 'auth' })
  const shared = sharedStateOf(config, deps)
  const keys = await liveKeyRings(keyRingsFor(config, shared), logger)
  return {
    keysHandler: keys.keysHandler,
    sessionsHandler: createSessionsHandler(config, shared?.sessions, logger),
    close: () => keys.close(),
  }
}
