import * as oidc from 'openid-client'
import type { Logger } from 'pino'
import type { AuthenticateCognitoAction, AuthenticateOidcAction } from '../../config/model.js'
import { insecureEndpointProblem } from '../../values/loopback.js'
import { AuthError } from '../errors.js'
import { type Outbound, OutboundError } from '../outbound.js'

/**
 * The relying-party side of one authenticate action, on `openid-client`:
 * authorization URL, code exchange with ID-token validation, userinfo and
 * refresh. Every IdP call goes through the bounded {@link Outbound} fetch,
 * and every failure becomes an {@link AuthError} carrying ALB's status and
 * `error_reason`.
 *
 * ID-token signatures: checked against `action.jwksUri` when configured;
 * otherwise the issuer's `/.well-known/openid-configuration` is fetched once
 * (bounded, its `issuer` must match) for its `jwks_uri`. When the issuer
 * publishes no discovery document the TLS-protected token response is
 * trusted (OIDC Core 3.1.3.7); a failed discovery is retried after a minute.
 */

type OidcAction = AuthenticateOidcAction | AuthenticateCognitoAction

/** Every call to the IdP must answer within this time. */
export const IDP_TIMEOUT_MS = 5000
const TOKEN_MAX_BYTES = 64 * 1024
/** A userinfo answer above this can never fit the 11 KB claims limit. */
export const USERINFO_MAX_BYTES = 16 * 1024
const JWKS_MAX_BYTES = 150 * 1024
const DISCOVERY_MAX_BYTES = 64 * 1024
const DISCOVERY_RETRY_MS = 60_000

/** Tokens obtained from the token endpoint. */
export interface TokenSet {
  readonly accessToken: string
  readonly refreshToken: string | undefined
  /** Seconds until the access token expires, when the IdP said. */
  readonly expiresIn: number | undefined
  /** `sub` of the validated ID token (undefined for a refresh without ID token). */
  readonly subject: string | undefined
  /** The ID token itself, for `id_token_hint` at logout (kept only by shared sessions). */
  readonly idToken?: string | undefined
  /** The ID token's `sid` (the IdP's session), which back-channel logout names. */
  readonly sid?: string | undefined
}

/** The IdP's logout endpoints, from discovery (see {@link IdpClient.logoutMetadata}). */
export interface LogoutMetadata {
  /** RP-Initiated Logout: where the browser ends its IdP session. */
  readonly endSessionEndpoint: string | undefined
  /** The keys that sign back-channel logout tokens. */
  readonly jwksUri: string | undefined
}

type Phase = 'token' | 'userinfo'

// What may travel in the identity headers: visible ASCII only (OIDC Core
// limits `sub` to 255 ASCII characters; access tokens are token68-like).
const HEADER_SAFE = /^[\x21-\x7e]+$/

function checkAccessToken(token: string): string {
  if (token.length > 8192 || !HEADER_SAFE.test(token)) throw new AuthError(500, 'AuthInvalidTokenResponse')
  return token
}

function causes(err: unknown): unknown[] {
  const out: unknown[] = []
  let current: unknown = err
  while (current !== undefined && current !== null && out.length < 8) {
    out.push(current)
    current = (current as { cause?: unknown }).cause
  }
  return out
}

function messages(chain: unknown[]): string {
  return chain.map((e) => (e instanceof Error ? e.message : '')).join(' | ')
}

const ID_TOKEN_CODES = new Set([
  'OAUTH_JWT_CLAIM_COMPARISON_FAILED',
  'OAUTH_JWT_TIMESTAMP_CHECK_FAILED',
  'OAUTH_KEY_SELECTION_FAILED',
])

/** Longest `error` and `error_description` of an IdP's error answer that reach the log. */
const IDP_ERROR_MAX = 64
const IDP_ERROR_DESCRIPTION_MAX = 256

/**
 * An IdP-supplied string made safe for a log line: control characters (C0,
 * DEL, C1, line and paragraph separators) as `\uXXXX`, cut to `max` characters.
 */
export function logSafe(value: unknown, max: number): string | undefined {
  if (typeof value !== 'string') return undefined
  const cut = value.length > max ? `${value.slice(0, max)}…` : value
  return cut.replace(
    /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  )
}

/**
 * Logs the token endpoint's own account of a refusal (RFC 6749 §5.2 `error`
 * and `error_description`, bounded and escaped), which openid-client's
 * message ("server responded with an error in the response body") omits.
 */
function logTokenEndpointError(logger: Logger, err: unknown, grant: 'authorization_code' | 'refresh_token'): void {
  if (!(err instanceof oidc.ResponseBodyError)) return
  logger.warn(
    {
      grant,
      status: err.status,
      error: logSafe(err.error, IDP_ERROR_MAX),
      errorDescription: logSafe(err.error_description, IDP_ERROR_DESCRIPTION_MAX),
    },
    'the token endpoint refused the request',
  )
}

/** Maps whatever openid-client or the transport threw to ALB's status and reason. */
export function classifyIdpError(err: unknown, phase: Phase): AuthError {
  if (err instanceof AuthError) return err
  const chain = causes(err)
  const transport = chain.find((e): e is OutboundError => e instanceof OutboundError)
  if (transport !== undefined) {
    const isUserinfo = phase === 'userinfo'
    if (transport.kind === 'too-large') {
      return new AuthError(500, isUserinfo ? 'AuthUserinfoResponseSizeExceeded' : 'AuthInvalidTokenResponse', {
        cause: err,
      })
    }
    const ep = isUserinfo ? 'AuthUserinfoEp' : 'AuthTokenEp'
    return new AuthError(500, `${ep}${transport.kind === 'timeout' ? 'RequestTimeout' : 'RequestFailed'}`, {
      cause: err,
    })
  }
  const text = messages(chain)
  const code = chain.map((e) => (e as { code?: unknown }).code).find((c) => typeof c === 'string') as string | undefined
  if (phase === 'userinfo') {
    if (err instanceof oidc.ResponseBodyError || err instanceof oidc.WWWAuthenticateChallengeError) {
      return new AuthError(500, 'AuthUserinfoEpRequestFailed', { cause: err })
    }
    if (code === 'OAUTH_RESPONSE_IS_NOT_CONFORM')
      return new AuthError(500, 'AuthUserinfoEpRequestFailed', { cause: err })
    return new AuthError(500, 'AuthInvalidUserinfoResponse', { cause: err })
  }
  if (err instanceof oidc.ResponseBodyError) {
    // A replayed or expired code (or a revoked refresh token) is the client's problem, not a fault.
    if (err.error === 'invalid_grant') return new AuthError(401, 'AuthInvalidGrantError', { cause: err })
    return new AuthError(500, 'AuthTokenEpRequestFailed', { cause: err })
  }
  if (err instanceof oidc.WWWAuthenticateChallengeError || code === 'OAUTH_RESPONSE_IS_NOT_CONFORM') {
    return new AuthError(500, 'AuthTokenEpRequestFailed', { cause: err })
  }
  if ((code !== undefined && ID_TOKEN_CODES.has(code)) || /id_token|JWT|JWS/.test(text)) {
    return new AuthError(401, 'AuthInvalidIdToken', { cause: err })
  }
  if (code?.startsWith('OAUTH_')) return new AuthError(500, 'AuthInvalidTokenResponse', { cause: err })
  return new AuthError(500, 'AuthUnhandledException', { cause: err })
}

/**
 * True when `url` may be used: `https:`, or `http:` on a loopback host under
 * the development opt-in.
 */
export function endpointAllowed(url: string, allowInsecure: boolean): boolean {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return false
  }
  return insecureEndpointProblem(parsed, allowInsecure) === undefined
}

/** The relying party for one authenticate action. */
export class IdpClient {
  readonly #action: OidcAction
  readonly #outbound: Outbound
  readonly #insecure: boolean
  readonly #logger: Logger
  readonly #timeoutMs: number
  /** For the authorization URL: needs no JWKS. */
  readonly #base: oidc.Configuration
  #verifying: oidc.Configuration | undefined
  #discovery: Promise<oidc.Configuration> | undefined
  #discoveryFailedAt = 0
  #logoutMetadata: { ok: boolean; at: number; value: LogoutMetadata } | undefined
  #logoutFlight: Promise<LogoutMetadata> | undefined

  constructor(
    action: OidcAction,
    outbound: Outbound,
    options: { allowInsecureHttp: boolean; logger: Logger; timeoutMs?: number },
  ) {
    this.#action = action
    this.#timeoutMs = options.timeoutMs ?? IDP_TIMEOUT_MS
    this.#outbound = outbound
    this.#logger = options.logger
    const endpoints = [action.authorizationEndpoint, action.tokenEndpoint, action.userInfoEndpoint]
    if (action.jwksUri !== undefined) endpoints.push(action.jwksUri)
    for (const url of endpoints) {
      if (!endpointAllowed(url, options.allowInsecureHttp)) {
        throw new Error(`IdP endpoint ${url} must be https (http only on loopback under the development opt-in)`)
      }
    }
    this.#insecure = endpoints.some((url) => url.startsWith('http:'))
    if (this.#insecure) {
      this.#logger.warn({ issuer: action.issuer }, 'IdP endpoints over plain HTTP (development opt-in, loopback only)')
    }
    this.#base = this.#configuration(undefined)
    if (action.jwksUri !== undefined) this.#verifying = this.#configuration({ jwks_uri: action.jwksUri })
  }

  #configuration(extra: Partial<oidc.ServerMetadata> | undefined): oidc.Configuration {
    const a = this.#action
    const server: oidc.ServerMetadata = {
      issuer: a.issuer,
      authorization_endpoint: a.authorizationEndpoint,
      token_endpoint: a.tokenEndpoint,
      userinfo_endpoint: a.userInfoEndpoint,
      ...extra,
    }
    const secret = a.clientSecret
    const auth =
      secret === undefined
        ? oidc.None()
        : a.tokenEndpointAuthMethod === 'client_secret_post'
          ? oidc.ClientSecretPost(secret)
          : oidc.ClientSecretBasic(secret)
    const config = new oidc.Configuration(
      server,
      a.clientId,
      secret === undefined ? {} : { client_secret: secret },
      auth,
    )
    config.timeout = Math.ceil(this.#timeoutMs / 1000)
    config[oidc.customFetch] = (url, options) => {
      const maxBytes =
        url === a.userInfoEndpoint ? USERINFO_MAX_BYTES : url === server.jwks_uri ? JWKS_MAX_BYTES : TOKEN_MAX_BYTES
      return this.#outbound.fetch(
        url,
        {
          method: options.method,
          headers: options.headers,
          body: options.body as string | URLSearchParams | undefined,
        },
        { timeoutMs: this.#timeoutMs, maxBytes },
      )
    }
    if (this.#insecure) oidc.allowInsecureRequests(config)
    if (server.jwks_uri !== undefined) oidc.enableNonRepudiationChecks(config)
    return config
  }

  /** The configuration that validates ID tokens, discovering the JWKS on first use. */
  async #verifyingConfiguration(): Promise<oidc.Configuration> {
    if (this.#verifying !== undefined) return this.#verifying
    if (Date.now() - this.#discoveryFailedAt < DISCOVERY_RETRY_MS) return this.#base
    this.#discovery ??= this.#discover().finally(() => {
      this.#discovery = undefined
    })
    return this.#discovery
  }

  /** The issuer's discovery document (bounded); `undefined` when it publishes none (404); throws otherwise. */
  async #fetchDiscoveryDocument(): Promise<Record<string, unknown> | undefined> {
    const a = this.#action
    const url = `${a.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`
    if (!endpointAllowed(url, this.#insecure)) throw new Error('discovery URL not allowed')
    const res = await this.#outbound.fetch(
      url,
      { headers: { accept: 'application/json' } },
      { timeoutMs: this.#timeoutMs, maxBytes: DISCOVERY_MAX_BYTES },
    )
    if (res.status === 404) return undefined
    if (res.status !== 200) throw new Error(`discovery answered ${res.status}`)
    const doc = (await res.json()) as Record<string, unknown>
    if (doc['issuer'] !== a.issuer) throw new Error('discovery document names another issuer')
    return doc
  }

  async #discover(): Promise<oidc.Configuration> {
    const a = this.#action
    try {
      const doc = await this.#fetchDiscoveryDocument()
      if (doc === undefined) {
        this.#logger.info(
          { issuer: a.issuer },
          'issuer publishes no discovery document; ID-token signatures rely on TLS',
        )
        this.#verifying = this.#base
        return this.#base
      }
      const jwks = doc['jwks_uri']
      if (typeof jwks !== 'string' || !endpointAllowed(jwks, this.#insecure)) {
        this.#verifying = this.#base
        return this.#base
      }
      const algs = doc['id_token_signing_alg_values_supported']
      this.#verifying = this.#configuration({
        jwks_uri: jwks,
        ...(Array.isArray(algs) && algs.every((x) => typeof x === 'string')
          ? { id_token_signing_alg_values_supported: algs as string[] }
          : {}),
      })
      return this.#verifying
    } catch (err) {
      this.#discoveryFailedAt = Date.now()
      this.#logger.warn(
        { issuer: a.issuer, cause: err instanceof Error ? err.message : String(err) },
        'OIDC discovery failed; ID-token signatures rely on TLS until it succeeds',
      )
      return this.#base
    }
  }

  /**
   * What logout needs from the issuer's discovery document: its
   * `end_session_endpoint` (RP-Initiated Logout) and the JWKS that signs
   * logout tokens (`Portcullis.JwksUri` first). Fetched once; a failure is
   * retried after a minute. Endpoints that are not https (or loopback http
   * under the development opt-in) are ignored.
   */
  async logoutMetadata(): Promise<LogoutMetadata> {
    const cached = this.#logoutMetadata
    if (cached !== undefined && (cached.ok || Date.now() - cached.at < DISCOVERY_RETRY_MS)) return cached.value
    this.#logoutFlight ??= this.#fetchDiscoveryDocument()
      .then(
        (doc) => {
          const pick = (name: string) => {
            const url = doc?.[name]
            return typeof url === 'string' && endpointAllowed(url, this.#insecure) ? url : undefined
          }
          return { ok: true, value: { endSessionEndpoint: pick('end_session_endpoint'), jwksUri: pick('jwks_uri') } }
        },
        (err: unknown) => {
          this.#logger.warn(
            { issuer: this.#action.issuer, cause: err instanceof Error ? err.message : String(err) },
            'OIDC discovery failed; logout goes without the end-session endpoint until it succeeds',
          )
          return { ok: false, value: { endSessionEndpoint: undefined, jwksUri: undefined } }
        },
      )
      .then((result) => {
        const value = { ...result.value, jwksUri: this.#action.jwksUri ?? result.value.jwksUri }
        this.#logoutMetadata = { ok: result.ok, at: Date.now(), value }
        return value
      })
      .finally(() => {
        this.#logoutFlight = undefined
      })
    return this.#logoutFlight
  }

  /** The IdP URL to send the browser to. */
  authorizationUrl(params: Record<string, string>): string {
    return oidc.buildAuthorizationUrl(this.#base, params).href
  }

  /** Exchanges the code of `callbackUrl` and validates the ID token (iss, aud, exp, nonce, signature). */
  async exchangeCode(
    callbackUrl: URL,
    checks: { pkceCodeVerifier: string | undefined; expectedNonce: string | undefined; expectedState: string },
  ): Promise<TokenSet> {
    try {
      const config = await this.#verifyingConfiguration()
      const tokens = await oidc.authorizationCodeGrant(config, callbackUrl, {
        pkceCodeVerifier: checks.pkceCodeVerifier,
        expectedNonce: checks.expectedNonce,
        expectedState: checks.expectedState,
        idTokenExpected: true,
      })
      const claims = tokens.claims()
      if (claims === undefined) throw new AuthError(401, 'AuthInvalidIdToken')
      return {
        accessToken: checkAccessToken(tokens.access_token),
        refreshToken: tokens.refresh_token,
        expiresIn: tokens.expiresIn(),
        subject: claims.sub,
        idToken: tokens.id_token,
        sid: typeof claims['sid'] === 'string' ? claims['sid'] : undefined,
      }
    } catch (err) {
      logTokenEndpointError(this.#logger, err, 'authorization_code')
      throw classifyIdpError(err, 'token')
    }
  }

  /** Refreshes the access token. */
  async refresh(refreshToken: string): Promise<TokenSet> {
    try {
      const config = await this.#verifyingConfiguration()
      const tokens = await oidc.refreshTokenGrant(config, refreshToken)
      return {
        accessToken: checkAccessToken(tokens.access_token),
        refreshToken: tokens.refresh_token ?? refreshToken,
        expiresIn: tokens.expiresIn(),
        subject: tokens.claims()?.sub,
        idToken: tokens.id_token,
      }
    } catch (err) {
      logTokenEndpointError(this.#logger, err, 'refresh_token')
      throw classifyIdpError(err, 'token')
    }
  }

  /** Reads the user claims; their `sub` must equal `expectedSubject`. */
  async userinfo(accessToken: string, expectedSubject: string): Promise<Record<string, unknown>> {
    try {
      const claims = await oidc.fetchUserInfo(this.#base, accessToken, expectedSubject)
      if (claims.sub.length > 255 || !HEADER_SAFE.test(claims.sub)) {
        throw new AuthError(500, 'AuthInvalidUserinfoResponse')
      }
      return { ...claims }
    } catch (err) {
      throw classifyIdpError(err, 'userinfo')
    }
  }
}
