import { join } from 'node:path'
import { insecureEndpointProblem, isLoopbackHost } from '../../values/loopback.js'
import { parseUserPoolArn } from '../arn.js'
import { type FieldPath, formatPath } from '../document.js'
import type { ActionModel, AuthenticateCommon, OnUnauthenticatedRequest } from '../model.js'
import type { ActionFile } from '../schema.js'
import { COOKIE_NAME, checkLength, inRange, toInt } from './checks.js'
import type { ListenerScope, NormaliseContext } from './context.js'

/** ALB's default `SessionCookieName`. */
export const DEFAULT_SESSION_COOKIE_NAME = 'AWSELBAuthSessionCookie'
/** ALB's default `Scope`. */
export const DEFAULT_SCOPE = 'openid'
/** ALB's default `SessionTimeout` (7 days). */
export const DEFAULT_SESSION_TIMEOUT_SECONDS = 604800
/** Lifetime of each `x-amzn-oidc-data` token unless `IdentityTokenLifetimeSeconds` says otherwise. */
export const DEFAULT_IDENTITY_TOKEN_LIFETIME_SECONDS = 120
/** Claims jwt-validation always checks, so they cannot be additional claims. */
const RESERVED_CLAIMS = new Set(['exp', 'iss', 'nbf', 'iat'])
// Parameters the login flow itself sets; extra params must not override them.
const RESERVED_AUTH_PARAMS = new Set([
  'client_id',
  'redirect_uri',
  'response_type',
  'scope',
  'state',
  'nonce',
  'code_challenge',
  'code_challenge_method',
])

/**
 * An `authenticate-oidc`, `authenticate-cognito` or `jwt-validation` action:
 * only on HTTPS listeners (or loopback HTTP ones under the development
 * opt-in), with https IdP endpoints (or loopback http ones, likewise).
 */
export function normaliseAuthenticateAction(
  a: ActionFile,
  type: 'authenticate-oidc' | 'authenticate-cognito' | 'jwt-validation',
  path: FieldPath,
  order: number,
  listener: ListenerScope,
  ctx: NormaliseContext,
): ActionModel {
  checkAuthenticationListener(path, type, listener, ctx)
  switch (type) {
    case 'authenticate-oidc':
      return authenticateOidc(a.AuthenticateOidcConfig!, [...path, 'AuthenticateOidcConfig'], order, ctx)
    case 'authenticate-cognito':
      return authenticateCognito(a.AuthenticateCognitoConfig!, [...path, 'AuthenticateCognitoConfig'], order, ctx)
    case 'jwt-validation':
      return jwtValidation(a.JwtValidationConfig!, [...path, 'JwtValidationConfig'], order, ctx)
  }
}

/** ALB accepts authentication on HTTPS listeners only; Portcullis adds a loopback-only development opt-in. */
function checkAuthenticationListener(
  path: FieldPath,
  type: string,
  listener: ListenerScope,
  ctx: NormaliseContext,
): void {
  if (listener.protocol === 'HTTPS') return
  if (!ctx.allowInsecureHttpAuthentication) {
    ctx.report.error(
      path,
      `${type} is only accepted on HTTPS listeners. For local development, set Portcullis.AllowInsecureHttpAuthentication: true and bind this listener to a loopback address (Portcullis: { Address: 127.0.0.1 })`,
      'Type',
    )
  } else if (!isLoopbackHost(listener.address)) {
    ctx.report.error(
      path,
      `${type} on an HTTP listener is allowed (AllowInsecureHttpAuthentication) only when the listener binds a loopback address; ${formatPath(listener.path)} binds ${listener.address} — set Portcullis: { Address: 127.0.0.1 }`,
      'Type',
    )
  } else {
    ctx.report.warn(
      path,
      `${type} on a plain HTTP listener (development opt-in AllowInsecureHttpAuthentication): session cookies and tokens travel unencrypted`,
      'Type',
    )
  }
}

/** Checks an IdP URL: https, or http on a loopback host under the development opt-in. */
function endpoint(value: string, path: FieldPath, ctx: NormaliseContext): string {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    ctx.report.error(path, `expected a full URL such as https://idp.example.com/…, got "${value}"`)
    return value
  }
  const problem = insecureEndpointProblem(url, ctx.allowInsecureHttpAuthentication)
  if (problem === 'not-https') ctx.report.error(path, `must be an https URL, got "${value}"`)
  if (problem === 'needs-opt-in') {
    ctx.report.error(
      path,
      `must be an https URL; http is allowed for loopback hosts only with Portcullis.AllowInsecureHttpAuthentication: true`,
    )
  }
  if (url.username || url.password) ctx.report.error(path, 'must not contain credentials')
  if (url.hash) ctx.report.error(path, 'must not contain a fragment')
  return value
}

function authenticateCommon(
  ctx: NormaliseContext,
  cfg: {
    SessionCookieName?: string | undefined
    Scope?: string | undefined
    SessionTimeout?: number | string | undefined
    AuthenticationRequestExtraParams?: Record<string, string> | undefined
    OnUnauthenticatedRequest?: OnUnauthenticatedRequest | undefined
    Portcullis?:
      | {
          Pkce?: boolean | undefined
          Nonce?: boolean | undefined
          TokenEndpointAuthMethod?: 'client_secret_basic' | 'client_secret_post' | undefined
          JwksUri?: string | undefined
          IdentityTokenLifetimeSeconds?: number | string | undefined
          LogoutPath?: string | undefined
          PostLogoutRedirectUri?: string | undefined
        }
      | undefined
  },
  path: FieldPath,
): Omit<
  AuthenticateCommon,
  | 'order'
  | 'issuer'
  | 'authorizationEndpoint'
  | 'tokenEndpoint'
  | 'userInfoEndpoint'
  | 'clientId'
  | 'clientSecret'
  | 'clientSecretFile'
> {
  const sessionCookieName = cfg.SessionCookieName ?? DEFAULT_SESSION_COOKIE_NAME
  if (!COOKIE_NAME.test(sessionCookieName)) {
    ctx.report.error([...path, 'SessionCookieName'], `"${sessionCookieName}" is not a valid cookie name`)
  }
  const scope = cfg.Scope ?? DEFAULT_SCOPE
  if (!scope.split(' ').includes('openid')) {
    ctx.report.warn([...path, 'Scope'], 'the scope has no "openid": the IdP will not return an ID token')
  }
  let sessionTimeoutSeconds = DEFAULT_SESSION_TIMEOUT_SECONDS
  if (cfg.SessionTimeout !== undefined) {
    const n = toInt(cfg.SessionTimeout)
    if (inRange(ctx, [...path, 'SessionTimeout'], n, 1, 604800, 'SessionTimeout')) sessionTimeoutSeconds = n
  }
  const extra = cfg.AuthenticationRequestExtraParams ?? {}
  const keys = Object.keys(extra)
  if (keys.length > 10) {
    ctx.report.error([...path, 'AuthenticationRequestExtraParams'], `at most 10 parameters, got ${keys.length}`)
  }
  for (const key of keys) {
    if (RESERVED_AUTH_PARAMS.has(key)) {
      ctx.report.error(
        [...path, 'AuthenticationRequestExtraParams'],
        `"${key}" is set by the login flow and cannot be overridden`,
        key,
      )
    }
  }
  const ext = cfg.Portcullis
  let identityTokenLifetimeSeconds = DEFAULT_IDENTITY_TOKEN_LIFETIME_SECONDS
  if (ext?.IdentityTokenLifetimeSeconds !== undefined) {
    const n = toInt(ext.IdentityTokenLifetimeSeconds)
    const ok = inRange(
      ctx,
      [...path, 'Portcullis', 'IdentityTokenLifetimeSeconds'],
      n,
      1,
      3600,
      'IdentityTokenLifetimeSeconds',
    )
    if (ok) identityTokenLifetimeSeconds = n
  }
  return {
    sessionCookieName,
    scope,
    sessionTimeoutSeconds,
    authenticationRequestExtraParams: { ...extra },
    onUnauthenticatedRequest: cfg.OnUnauthenticatedRequest ?? 'authenticate',
    pkce: ext?.Pkce ?? true,
    nonce: ext?.Nonce ?? true,
    tokenEndpointAuthMethod: ext?.TokenEndpointAuthMethod ?? 'client_secret_basic',
    jwksUri: ext?.JwksUri === undefined ? undefined : endpoint(ext.JwksUri, [...path, 'Portcullis', 'JwksUri'], ctx),
    identityTokenLifetimeSeconds,
    logoutPath:
      ext?.LogoutPath === undefined
        ? undefined
        : logoutPath(ext.LogoutPath, [...path, 'Portcullis', 'LogoutPath'], ctx),
    postLogoutRedirectUri:
      ext?.PostLogoutRedirectUri === undefined
        ? '/'
        : postLogoutRedirect(ext.PostLogoutRedirectUri, [...path, 'Portcullis', 'PostLogoutRedirectUri'], ctx),
  }
}

/** Paths the gateway serves itself on every authenticating listener; a logout path cannot be one. */
const RESERVED_PATHS = new Set(['/oauth2/idpresponse', '/oauth2/backchannel-logout'])

/** `Portcullis.LogoutPath`: an origin-form path without query or fragment, not one the gateway reserves. */
function logoutPath(value: string, path: FieldPath, ctx: NormaliseContext): string {
  if (!/^\/[\x21-\x7e]*$/.test(value) || /[?#]/.test(value) || value.startsWith('//') || value.length > 1024) {
    ctx.report.error(path, `expected a path such as /logout (no query, no fragment), got "${value}"`)
  } else if (RESERVED_PATHS.has(value)) {
    ctx.report.error(path, `${value} is served by the gateway itself`)
  }
  return value
}

/** `Portcullis.PostLogoutRedirectUri`: a path on the request's host, or a full URL checked like an IdP endpoint. */
function postLogoutRedirect(value: string, path: FieldPath, ctx: NormaliseContext): string {
  if (value.startsWith('/')) {
    // As the callback's redirects: one leading slash, visible ASCII, no backslash (browsers read `//` and `/\` as a host).
    if (!/^\/(?![/\\])[\x21-\x5b\x5d-\x7e]*$/.test(value)) {
      ctx.report.error(path, `"${value}" is not a path on this host`)
    }
    return value
  }
  return endpoint(value, path, ctx)
}

/**
 * The environment variable that holds the client secret of `clientId` when
 * the file says `UseExistingClientSecret: true`: `PORTCULLIS_CLIENT_SECRET_`
 * followed by the client id in upper case, every character other than a
 * letter or digit as `_` (`my-app.web` → `PORTCULLIS_CLIENT_SECRET_MY_APP_WEB`).
 *
 * @example
 * ```ts
 * clientSecretVariable('0oa1b2c3-web') // 'PORTCULLIS_CLIENT_SECRET_0OA1B2C3_WEB'
 * ```
 */
export function clientSecretVariable(clientId: string): string {
  return `PORTCULLIS_CLIENT_SECRET_${clientId.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`
}

/**
 * The name of the file in `Portcullis.ClientSecretsDirectory` that holds the
 * secret of `clientId`: the client id itself when it is a valid Kubernetes
 * secret key (letters, digits, `-`, `_`, `.`), else the client id with every
 * other character as `_`.
 *
 * @example
 * ```ts
 * clientSecretFileName('0oa1b2c3-web') // '0oa1b2c3-web'
 * clientSecretFileName('https://app.example.com') // 'https___app.example.com'
 * ```
 */
export function clientSecretFileName(clientId: string): string {
  const name = clientId.replace(/[^A-Za-z0-9._-]/g, '_')
  return name === '.' || name === '..' ? name.replaceAll('.', '_') : name
}

/**
 * Where the secret of an `authenticate-oidc` action with
 * `UseExistingClientSecret: true` may come from, for messages: the
 * environment variable, and the file when a directory is configured.
 */
function secretSources(clientId: string, directory: string | undefined): string {
  const variable = `the environment variable ${clientSecretVariable(clientId)}`
  return directory === undefined
    ? `${variable} (or a file named ${clientSecretFileName(clientId)} in Portcullis.ClientSecretsDirectory)`
    : `${variable} or the file ${join(directory, clientSecretFileName(clientId))}`
}

/**
 * The client secret of an `authenticate-oidc` action. `describe-rules` prints
 * `UseExistingClientSecret: true` and no secret (AWS keeps it); Portcullis
 * then reads it from the environment, keyed by client id, so that it never
 * sits in the file (a Kubernetes secret arrives through `secretKeyRef`), or
 * else from a file in `Portcullis.ClientSecretsDirectory` (a secret volume),
 * which `loadConfig` reads: this function reads no files. An audit reads no
 * secret at all: it reports where `start` would take it from.
 */
function oidcClientSecret(
  cfg: NonNullable<ActionFile['AuthenticateOidcConfig']>,
  path: FieldPath,
  ctx: NormaliseContext,
): { secret: string | undefined; file: string | undefined } {
  const none = { secret: undefined, file: undefined }
  if (cfg.UseExistingClientSecret !== true) {
    if (cfg.ClientSecret === undefined) {
      ctx.report.need(
        path,
        `ClientSecret is required; or, to keep it out of the file, set UseExistingClientSecret: true and the environment variable ${clientSecretVariable(cfg.ClientId)}`,
        'ClientId',
      )
    }
    return { secret: cfg.ClientSecret, file: undefined }
  }
  if (cfg.ClientSecret !== undefined) {
    // As AWS: CreateRule refuses a ClientSecret together with UseExistingClientSecret: true.
    ctx.report.error(
      [...path, 'ClientSecret'],
      'ClientSecret cannot be given with UseExistingClientSecret: true (AWS refuses the pair); remove one of them',
    )
    return none
  }
  const directory = ctx.clientSecretsDirectory
  if (ctx.purpose === 'audit') {
    ctx.report.need([...path, 'UseExistingClientSecret'], secretSourceMessage(cfg.ClientId, directory))
    return none
  }
  const secret = ctx.env[clientSecretVariable(cfg.ClientId)]
  if (secret !== undefined && secret !== '') return { secret, file: undefined }
  if (directory !== undefined) return { secret: undefined, file: join(directory, clientSecretFileName(cfg.ClientId)) }
  ctx.report.need([...path, 'UseExistingClientSecret'], missingSecretMessage(cfg.ClientId, directory))
  return none
}

/** Where `UseExistingClientSecret: true` takes the secret of `clientId` from. */
function secretSourceMessage(clientId: string, directory: string | undefined): string {
  return `UseExistingClientSecret: true takes the secret of client ${JSON.stringify(clientId)} from ${secretSources(clientId, directory)}`
}

/** The error when neither source holds the secret of `clientId`. */
export function missingSecretMessage(clientId: string, directory: string | undefined): string {
  return `${secretSourceMessage(clientId, directory)}; neither has it`
}

function authenticateOidc(
  cfg: NonNullable<ActionFile['AuthenticateOidcConfig']>,
  path: FieldPath,
  order: number,
  ctx: NormaliseContext,
): ActionModel {
  const { secret: clientSecret, file: clientSecretFile } = oidcClientSecret(cfg, path, ctx)
  return {
    type: 'authenticate-oidc',
    order,
    issuer: endpoint(cfg.Issuer, [...path, 'Issuer'], ctx),
    authorizationEndpoint: endpoint(cfg.AuthorizationEndpoint, [...path, 'AuthorizationEndpoint'], ctx),
    tokenEndpoint: endpoint(cfg.TokenEndpoint, [...path, 'TokenEndpoint'], ctx),
    userInfoEndpoint: endpoint(cfg.UserInfoEndpoint, [...path, 'UserInfoEndpoint'], ctx),
    clientId: cfg.ClientId,
    clientSecret,
    clientSecretFile,
    ...authenticateCommon(ctx, cfg, path),
  }
}

function authenticateCognito(
  cfg: NonNullable<ActionFile['AuthenticateCognitoConfig']>,
  path: FieldPath,
  order: number,
  ctx: NormaliseContext,
): ActionModel {
  const pool = parseUserPoolArn(cfg.UserPoolArn)
  if (!pool) {
    ctx.report.error(
      [...path, 'UserPoolArn'],
      `expected arn:aws:cognito-idp:REGION:ACCOUNT:userpool/POOL_ID, got "${cfg.UserPoolArn}"`,
    )
  }
  const region = pool?.region ?? ctx.region
  const issuer = `https://cognito-idp.${region}.amazonaws.com/${pool?.userPoolId ?? 'invalid'}`
  const base = cognitoDomain(cfg.UserPoolDomain, region, [...path, 'UserPoolDomain'], ctx)
  const common = authenticateCommon(ctx, cfg, path)
  return {
    type: 'authenticate-cognito',
    order,
    userPoolArn: cfg.UserPoolArn,
    userPoolDomain: cfg.UserPoolDomain,
    issuer,
    authorizationEndpoint: `${base}/oauth2/authorize`,
    tokenEndpoint: `${base}/oauth2/token`,
    userInfoEndpoint: `${base}/oauth2/userInfo`,
    clientId: cfg.UserPoolClientId,
    clientSecret: cfg.Portcullis?.ClientSecret,
    clientSecretFile: undefined,
    ...common,
    jwksUri: common.jwksUri ?? `${issuer}/.well-known/jwks.json`,
  }
}

/** `https://PREFIX.auth.REGION.amazoncognito.com` for a prefix, `https://DOMAIN` for a custom domain. */
function cognitoDomain(domain: string, region: string, path: FieldPath, ctx: NormaliseContext): string {
  if (domain.includes('://')) return endpoint(domain, path, ctx).replace(/\/+$/, '')
  if (domain.includes('.')) {
    if (!/^[A-Za-z0-9.-]+$/.test(domain)) ctx.report.error(path, `"${domain}" is not a valid domain name`)
    return `https://${domain}`
  }
  if (!/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(domain)) {
    ctx.report.error(path, `a domain prefix is lower-case letters, digits and hyphens, got "${domain}"`)
  }
  return `https://${domain}.auth.${region}.amazoncognito.com`
}

function jwtValidation(
  cfg: NonNullable<ActionFile['JwtValidationConfig']>,
  path: FieldPath,
  order: number,
  ctx: NormaliseContext,
): ActionModel {
  const jwksEndpoint = endpoint(cfg.JwksEndpoint, [...path, 'JwksEndpoint'], ctx)
  checkLength(ctx, cfg.JwksEndpoint, [...path, 'JwksEndpoint'], 256)
  checkLength(ctx, cfg.Issuer, [...path, 'Issuer'], 256)
  const claims = cfg.AdditionalClaims ?? []
  if (claims.length > 10) {
    ctx.report.error([...path, 'AdditionalClaims'], `at most 10 additional claims, got ${claims.length}`)
  }
  const names = new Map<string, number>()
  claims.forEach((claim, n) => {
    const cpath = [...path, 'AdditionalClaims', n]
    if (RESERVED_CLAIMS.has(claim.Name)) {
      ctx.report.error([...cpath, 'Name'], `${claim.Name} is always validated and cannot be an additional claim`)
    }
    const first = names.get(claim.Name)
    if (first !== undefined) {
      ctx.report.error(
        [...cpath, 'Name'],
        `claim ${claim.Name} is already listed at ${formatPath([...path, 'AdditionalClaims', first])}`,
      )
    }
    names.set(claim.Name, n)
    if (claim.Values.length === 0 || claim.Values.length > 10) {
      ctx.report.error([...cpath, 'Values'], `1..10 values, got ${claim.Values.length}`)
    }
  })
  return {
    type: 'jwt-validation',
    order,
    jwksEndpoint,
    issuer: cfg.Issuer,
    additionalClaims: claims.map((c) => ({ name: c.Name, format: c.Format, values: [...c.Values] })),
    algorithms: cfg.Portcullis?.AllowEs256 === true ? ['RS256', 'ES256'] : ['RS256'],
  }
}
