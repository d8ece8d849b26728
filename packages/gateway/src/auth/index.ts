/**
 * Authentication in the gateway: `authenticate-oidc`, `authenticate-cognito`
 * and `jwt-validation` actions, the `/oauth2/idpresponse` callback, the
 * sealed session cookies and the signing keys behind `x-amzn-oidc-data`.
 *
 * Keys and secrets live in the state directory so that they survive reloads
 * and are shared by every instance using the same directory — or, with
 * `Portcullis.SharedState`, in Redis (`shared-keys.ts`), shared by every
 * gateway connected to it; per-process
 * caches (opened sessions, minted identity tokens, JWKS) are rebuilt with
 * each runtime.
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
import { hash } from 'node:crypto'
import { createKeyHandler } from '@portcullis/verify/mint'
import type { Logger } from 'pino'
import type { AuthenticateAction, GatewayConfig, ListenerModel, RuleModel } from '../config/model.js'
import type { ActionHandler } from '../core/actions.js'
import type { RequestContext } from '../core/request.js'
import type { SharedState } from '../shared/connection.js'
import { JwksCache, JwtValidationHandler } from './jwt-validation.js'
import { SecretRing, type StoredRing } from './keys/sealing-ring.js'
import {
  importSharedSigningKeys,
  loadSharedSessionRing,
  type SharedRingText,
  sharedSigningRingVersion,
} from './keys/shared-keys.js'
import { activeMarkerVersion, loadSigningKeys, type SigningKeyRing } from './keys/signing-keys.js'
import { type AuthShared, OidcAuthenticateAction } from './oidc/authenticate.js'
import { CallbackRegistry } from './oidc/callback-registry.js'
import { IDP_TIMEOUT_MS } from './oidc/idp-client.js'
import { LoginCallback } from './oidc/login.js'
import { BackchannelLogout, createSessionsHandler } from './oidc/logout.js'
import { createOutbound } from './outbound.js'
import type { AuthMetrics, AuthRuntime } from './types.js'

export { rotateSessionKeys } from './keys/sealing-ring.js'
export { DEFAULT_GRACE_SECONDS, listSigningKeys, rotateSigningKey } from './keys/signing-keys.js'
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
  // With SharedState the key rings live in Redis (shared-keys.ts), else in the state directory.
  const sharedState =
    config.portcullis.sharedState === undefined
      ? undefined
      : await (await import('../shared/connection.js')).connectSharedState(config.portcullis.sharedState, {
          logger: deps.logger,
          caFile: config.portcullis.caFile,
        })
  const keySource = sharedState === undefined ? fileKeySource(stateDirectory) : sharedKeySource(sharedState)
  let ring: SecretRing
  let signing: SigningKeyRing
  let marker: string
  try {
    ring = await keySource.sessionRing()
    ;({ signing, marker } = await keySource.signing())
  } catch (err) {
    await sharedState?.close()
    throw err
  }
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
    shared: sharedState,
    sessionStore: config.portcullis.sessionStore,
    signingKey: () => signing.active,
  }
  // Every OIDC action of this generation registers its login here; the
  // callback resolves the one named in `state`.
  const logins = new CallbackRegistry()
  const callback = new LoginCallback(shared, logins)
  const jwksCaches = new Map<string, JwksCache>()
  const jwks = (url: string) => {
    let cache = jwksCaches.get(url)
    if (cache === undefined) {
      cache = new JwksCache(url, outbound, logger, shared.idpTimeoutMs)
      jwksCaches.set(url, cache)
    }
    return cache
  }
  const sessionsShared = config.portcullis.sessionStore === 'shared' ? sharedState : undefined
  const backchannel = new BackchannelLogout({ shared: sessionsShared, logger, jwks })

  let checking = false
  const timer = setInterval(async () => {
    if (checking) return
    checking = true
    try {
      const current = await keySource.marker()
      if (current !== marker || Date.now() - loadedAt > KEY_RELOAD_INTERVAL_MS) {
        const next = await keySource.signing()
        signing = next.signing
        if (next.marker !== marker) logger.info({ kid: signing.active.kid }, 'signing key rotation picked up')
        marker = next.marker
        loadedAt = Date.now()
        await ring.reload()
      }
    } catch (err) {
      // The shared state's outages are logged once by its connection; the keys in memory go on serving.
      if (sharedState === undefined) {
        logger.error({ err: err instanceof Error ? err.message : String(err) }, 'could not re-read the key rings')
      }
    } finally {
      checking = false
    }
  }, KEY_CHECK_INTERVAL_MS)
  timer.unref()

  return {
    handleCallback: (ctx: RequestContext) => callback.handle(ctx),

    createAction(rule: RuleModel, action: AuthenticateAction, listener: ListenerModel): ActionHandler {
      if (action.type === 'jwt-validation') {
        return new JwtValidationHandler(action, jwks(action.jwksEndpoint), {
          allowInsecureHttp: shared.allowInsecureHttp,
        })
      }
      const handler = new OidcAuthenticateAction(shared, rule, action, listener)
      logins.register(handler.login.key, handler.login)
      backchannel.register(handler.backchannelClient)
      return handler
    },

    handleBackchannelLogout: (ctx: RequestContext) => backchannel.handle(ctx),

    sessionsHandler: createSessionsHandler(config, sessionsShared, logger),

    keysHandler: createKeyHandler(() => signing.published),

    async close() {
      clearInterval(timer)
      await outbound.close()
      await sharedState?.close()
    },
  }
}

/** Where a runtime reads its key rings, and how it notices a rotation made elsewhere. */
interface KeySource {
  sessionRing(): Promise<SecretRing>
  signing(): Promise<{ signing: SigningKeyRing; marker: string }>
  /** Changes when the signing keys were rotated. */
  marker(): Promise<string>
}

function fileKeySource(stateDirectory: string): KeySource {
  const marker = async () => String(await activeMarkerVersion(stateDirectory))
  return {
    sessionRing: () => SecretRing.load(stateDirectory),
    async signing() {
      const m = await marker()
      return { signing: await loadSigningKeys(stateDirectory), marker: m }
    },
    marker,
  }
}

function sharedKeySource(shared: SharedState): KeySource {
  // What was last read is what gets written back if Redis comes back empty;
  // both rings are checked every few seconds, so a restarted, empty Redis
  // gets them back before a new gateway could create different ones.
  let sessionRing: StoredRing | undefined
  let signing: SharedRingText | undefined
  const readSessionRing = async (): Promise<StoredRing> => {
    sessionRing = await loadSharedSessionRing(shared, sessionRing)
    return sessionRing
  }
  const readBoth = async (): Promise<string> => {
    signing = await sharedSigningRingVersion(shared, signing?.text)
    const ring = await readSessionRing()
    // A digest, not the rings (they hold the private keys); the session ring by
    // its key ids, as its times are moved onto our clock on every read.
    return hash('sha256', `${signing.text}\n${ring.active}\n${ring.keys.map((k) => k.id).join(',')}`, 'base64url')
  }
  return {
    sessionRing: () => SecretRing.from(readSessionRing),
    async signing() {
      const marker = await readBoth()
      return { signing: importSharedSigningKeys(signing!), marker }
    },
    marker: readBoth,
  }
}
