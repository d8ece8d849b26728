/**
 * Authentication in the gateway: `authenticate-oidc`, `authenticate-cognito`
 * and `jwt-validation` actions, the `/oauth2/idpresponse` callback, the
 * sealed session cookies and the signing keys behind `x-amzn-oidc-data`.
 *
 * Keys and secrets live in the state directory so that they survive reloads
 * and are shared by every instance using the same directory; per-process
 * caches (opened sessions, minted identity tokens, JWKS) are rebuilt with
 * each runtime.
 *
 * @packageDocumentation
 */
import { createKeyHandler } from '@portcullis/verify/mint'
import type { Logger } from 'pino'
import type { ActionHandler, RequestContext } from '../actions/types.js'
import type { AuthenticateAction, GatewayConfig, ListenerModel, RuleModel } from '../config/model.js'
import { type AuthShared, handleCallback, OidcAuthenticateAction } from './authenticate.js'
import { IDP_TIMEOUT_MS } from './idp-client.js'
import { JwksCache, JwtValidationHandler } from './jwt-validation.js'
import { Lru } from './lru.js'
import { createOutbound } from './outbound.js'
import { SecretRing } from './secret-ring.js'
import { activeMarkerVersion, loadSigningKeys, type SigningKeyRing } from './signing-keys.js'
import type { AuthMetrics, AuthRuntime } from './types.js'

export { rotateSessionKeys } from './secret-ring.js'
export { DEFAULT_GRACE_SECONDS, listSigningKeys, rotateSigningKey } from './signing-keys.js'
export type { AuthMetrics, AuthRuntime } from './types.js'

/** How often a runtime checks the state directory for a key rotation done elsewhere. */
const KEY_CHECK_INTERVAL_MS = 5000
/** Retired signing keys leave the published set when their grace ends: re-read at least this often. */
const KEY_RELOAD_INTERVAL_MS = 60_000

/**
 * Builds the authentication runtime for one configuration load: loads (or
 * creates) the session key ring and the signing key ring in
 * `config.portcullis.stateDirectory`, and prepares the outbound client.
 *
 * A rotation made by `portcullis keys rotate` (or another instance) is picked
 * up without a reload: the runtime stats the `active` signing-key marker and
 * the session key file every 5 s (cheaper and more portable than `fs.watch`,
 * which misses changes on some network file systems), and re-reads the
 * session ring at once when a cookie names a key it does not know.
 *
 * @example
 * ```ts
 * const auth = await createAuthRuntime(config, { logger })
 * const handler = auth.createAction(rule, rule.actions[0], listener)
 * ```
 */
export async function createAuthRuntime(
  config: GatewayConfig,
  deps: {
    logger: Logger
    metrics?: AuthMetrics
    /** Bound on each call to an IdP or JWKS endpoint; default 5000 ms. Tests shorten it. */
    idpTimeoutMs?: number
  },
): Promise<AuthRuntime> {
  const stateDirectory = config.portcullis.stateDirectory
  const logger = deps.logger.child({ component: 'auth' })
  const ring = await SecretRing.load(stateDirectory)
  let signing: SigningKeyRing = await loadSigningKeys(stateDirectory)
  let marker = await activeMarkerVersion(stateDirectory)
  let loadedAt = Date.now()
  const outbound = createOutbound({ caFile: config.portcullis.caFile })
  const shared: AuthShared = {
    logger,
    metrics: deps.metrics,
    ring,
    signer: config.loadBalancer.arn,
    allowInsecureHttp: config.portcullis.allowInsecureHttpAuthentication,
    outbound,
    idpTimeoutMs: deps.idpTimeoutMs ?? IDP_TIMEOUT_MS,
    signingKey: () => signing.active,
    oidcActions: new Map(),
    usedStates: new Lru(100_000),
  }
  const jwksCaches = new Map<string, JwksCache>()

  let checking = false
  const timer = setInterval(async () => {
    if (checking) return
    checking = true
    try {
      const current = await activeMarkerVersion(stateDirectory)
      if (current !== marker || Date.now() - loadedAt > KEY_RELOAD_INTERVAL_MS) {
        signing = await loadSigningKeys(stateDirectory)
        if (current !== marker) logger.info({ kid: signing.active.kid }, 'signing key rotation picked up')
        marker = current
        loadedAt = Date.now()
        await ring.reload()
      }
    } catch (err) {
      logger.error({ err: err instanceof Error ? err.message : String(err) }, 'could not re-read the key rings')
    } finally {
      checking = false
    }
  }, KEY_CHECK_INTERVAL_MS)
  timer.unref()

  return {
    handleCallback: (ctx: RequestContext) => handleCallback(shared, ctx),

    createAction(rule: RuleModel, action: AuthenticateAction, listener: ListenerModel): ActionHandler {
      if (action.type === 'jwt-validation') {
        let cache = jwksCaches.get(action.jwksEndpoint)
        if (cache === undefined) {
          cache = new JwksCache(action.jwksEndpoint, outbound, logger, shared.idpTimeoutMs)
          jwksCaches.set(action.jwksEndpoint, cache)
        }
        return new JwtValidationHandler(action, cache, { allowInsecureHttp: shared.allowInsecureHttp })
      }
      const handler = new OidcAuthenticateAction(shared, rule, action, listener)
      shared.oidcActions.set(handler.key, handler)
      return handler
    },

    keysHandler: createKeyHandler(() => signing.published),

    async close() {
      clearInterval(timer)
      await outbound.close()
    },
  }
}
