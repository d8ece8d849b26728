/**
 * The validated, normalised configuration every other part of the gateway
 * consumes. The file on disk follows the ELBv2 API's PascalCase shapes (see
 * `schema.ts`); `load.ts` turns it into this model once, so that rules,
 * actions, targets and listeners never deal with the API's alternative forms
 * (`Values` vs `PathPatternConfig`, names vs ARNs, string-typed attributes).
 *
 * Everything here is plain data: no sockets, no timers, no compiled regexes.
 */
import type { AlbClientCertificateHeaderNames } from '@portcullis/verify'

/** Load-balancer-wide settings (ELBv2 `LoadBalancer` plus its attributes). */
export interface LoadBalancerModel {
  readonly name: string
  readonly region: string
  readonly accountId: string
  /** The ARN used as the `signer` of identity tokens. */
  readonly arn: string
  readonly attributes: LoadBalancerAttributes
}

/** The load balancer attributes Portcullis reads (ELBv2 `ModifyLoadBalancerAttributes` keys), with ALB's defaults. */
export interface LoadBalancerAttributes {
  /** `idle_timeout.timeout_seconds`, default 60. */
  readonly idleTimeoutSeconds: number
  /** `routing.http.xff_header_processing.mode`, default `append`. */
  readonly xffMode: 'append' | 'preserve' | 'remove'
  /** `routing.http.x_amzn_tls_version_and_cipher_suite.enabled`, default false. */
  readonly tlsVersionAndCipherSuiteHeaders: boolean
  /** `routing.http.xff_client_port.enabled`, default false. */
  readonly xffClientPort: boolean
  /** `routing.http.drop_invalid_header_fields.enabled`, default false. */
  readonly dropInvalidHeaderFields: boolean
  /** `client_keep_alive.seconds`, default 3600. */
  readonly clientKeepAliveSeconds: number
  /**
   * `routing.http.preserve_host_header.enabled`, default false: off, the
   * listener port is appended to a Host without one (except on 80 and 443).
   */
  readonly preserveHostHeader: boolean
  /**
   * `routing.http2.enabled`, default true: HTTPS listeners offer `h2` and
   * `http/1.1` by ALPN; off, HTTP/1.1 only. HTTP listeners always speak HTTP/1.1.
   */
  readonly http2Enabled: boolean
  /** Every attribute as given, for the ones Portcullis accepts but does not act on. */
  readonly raw: Readonly<Record<string, string>>
}

/** One certificate of an HTTPS listener; several are chosen by SNI. */
export interface CertificateModel {
  /** Absolute path of the PEM certificate chain. */
  readonly certificateFile: string
  /** Absolute path of the PEM private key. */
  readonly privateKeyFile: string
  /** True for the listener's default certificate (the first one). */
  readonly isDefault: boolean
}

/** The names (lower-case) the load balancer gives its mTLS and TLS request headers, after listener-attribute renames. */
export interface RequestHeaderNames extends AlbClientCertificateHeaderNames {
  readonly tlsVersion: string
  readonly tlsCipherSuite: string
}

/** A listener's header modification (listener attributes `routing.http.response.*` and `routing.http.request.*`). */
export interface HeaderModificationModel {
  /** `routing.http.response.*.header_value` that are set: `[lower-case name, value]`. */
  readonly responseHeaders: readonly (readonly [string, string])[]
  /** `routing.http.response.server.enabled`, default true; false removes `Server` from every response. */
  readonly serverHeader: boolean
  readonly requestHeaderNames: RequestHeaderNames
}

/** A trust store (ELBv2 `CreateTrustStore`): the CAs mutual TLS verifies client certificates against. */
export interface TrustStoreModel {
  readonly name: string
  readonly arn: string
  /** Absolute path of the PEM bundle of CA certificates (`Portcullis.CaCertificatesBundleFile`). */
  readonly caCertificatesBundleFile: string
  /** Absolute paths of the PEM revocation lists (`Portcullis.RevocationFiles`). */
  readonly revocationFiles: readonly string[]
}

/**
 * A listener's mutual TLS (`MutualAuthentication`) when its `Mode` is not
 * `off`: `verify` requires a client certificate the trust store vouches for,
 * `passthrough` asks for one and hands whatever the client sent to targets.
 */
export type MutualAuthenticationModel =
  | {
      readonly mode: 'verify'
      readonly trustStore: TrustStoreModel
      /**
       * `IgnoreClientCertificateExpiry`: a chain whose only fault is an
       * expired or not-yet-valid certificate is admitted. An insecure opt-in, warned about.
       */
      readonly ignoreClientCertificateExpiry: boolean
    }
  | { readonly mode: 'passthrough' }

/** One listener (ELBv2 `CreateListener`): where to accept connections and its rules. */
export interface ListenerModel {
  /** Stable identifier, `listener/{port}` style; used in logs and metrics. */
  readonly id: string
  readonly arn: string
  readonly port: number
  /** Address to bind; default `0.0.0.0` (Portcullis extension `Address`). */
  readonly address: string
  readonly protocol: 'HTTP' | 'HTTPS'
  readonly certificates: readonly CertificateModel[]
  /**
   * Host names of a certificate to issue from the local CA at start
   * (`Portcullis.LocalCertificates`), for an HTTPS listener given no
   * certificate files; undefined otherwise.
   */
  readonly localCertificateNames: readonly string[] | undefined
  /** Listener attributes as given (`describe-listener-attributes`). */
  readonly attributes: Readonly<Record<string, string>>
  /** What the header-modification attributes among them do. */
  readonly headerModification: HeaderModificationModel
  /** Mutual TLS, HTTPS listeners only; undefined for `Mode: off` (no client certificate asked for). */
  readonly mutualAuthentication: MutualAuthenticationModel | undefined
  /** `SslPolicy` name as given; Portcullis always enforces TLS 1.2+. */
  readonly sslPolicy: string | undefined
  /**
   * Rules in evaluation order: ascending priority, the default rule
   * (built from `DefaultActions`) last.
   */
  readonly rules: readonly RuleModel[]
}

/** One rule (ELBv2 `CreateRule`), or the listener's default rule built from `DefaultActions`. */
export interface RuleModel {
  readonly arn: string
  /** 1..50000, or `default` for the listener's default rule. */
  readonly priority: number | 'default'
  readonly conditions: readonly ConditionModel[]
  readonly transforms: readonly TransformModel[]
  /** Sorted by `Order`; zero or more authenticate/jwt actions, then exactly one final action. */
  readonly actions: readonly ActionModel[]
}

// ---------------------------------------------------------------- conditions

/** One rule condition, discriminated by ALB's `Field`; all of a rule's conditions must match. */
export type ConditionModel =
  | HostHeaderCondition
  | PathPatternCondition
  | HttpHeaderCondition
  | HttpRequestMethodCondition
  | QueryStringCondition
  | SourceIpCondition

/** `host-header`: the request's host, without port. */
export interface HostHeaderCondition {
  readonly field: 'host-header'
  /** Wildcard patterns (`*`, `?`), matched case-insensitively. */
  readonly values: readonly string[]
  /** Regular expressions (`RegexValues`). */
  readonly regexValues: readonly string[]
}

/** `path-pattern`: the request path, without query. */
export interface PathPatternCondition {
  readonly field: 'path-pattern'
  /** Wildcard patterns (`*`, `?`), matched case-sensitively against the path only. */
  readonly values: readonly string[]
  readonly regexValues: readonly string[]
}

/** `http-header`: one named request header. */
export interface HttpHeaderCondition {
  readonly field: 'http-header'
  /** Header name as configured (compared case-insensitively). */
  readonly headerName: string
  readonly values: readonly string[]
  readonly regexValues: readonly string[]
}

/** `http-request-method`: the request method. */
export interface HttpRequestMethodCondition {
  readonly field: 'http-request-method'
  /** Exact, case-sensitive method names. */
  readonly values: readonly string[]
}

/** `query-string`: key/value pairs of the query, any of which may match. */
export interface QueryStringCondition {
  readonly field: 'query-string'
  /** `Key` absent means "any key". Wildcards and `\` escapes as in ALB. */
  readonly values: readonly { readonly key: string | undefined; readonly value: string }[]
}

/** `source-ip`: the connection's peer address (never `X-Forwarded-For`). */
export interface SourceIpCondition {
  readonly field: 'source-ip'
  /** CIDR blocks, IPv4 or IPv6. */
  readonly values: readonly string[]
}

// ---------------------------------------------------------------- transforms

/** A rule transform (`host-header-rewrite`, `url-rewrite`): a regex and its replacement, applied after matching. */
export type TransformModel =
  | { readonly type: 'host-header-rewrite'; readonly regex: string; readonly replace: string }
  | { readonly type: 'url-rewrite'; readonly regex: string; readonly replace: string }

// ------------------------------------------------------------------- actions

/** One action of a rule, discriminated by ALB's `Type`. */
export type ActionModel =
  | ForwardAction
  | RedirectAction
  | FixedResponseAction
  | AuthenticateOidcAction
  | AuthenticateCognitoAction
  | JwtValidationAction

/** The actions that end a rule: they answer the request or hand it to a target. */
export type FinalAction = ForwardAction | RedirectAction | FixedResponseAction
/** The actions that run before the final one and may answer instead (login, 401). */
export type AuthenticateAction = AuthenticateOidcAction | AuthenticateCognitoAction | JwtValidationAction

/** `forward`: to one target group, or weighted between several (`ForwardConfig`). */
export interface ForwardAction {
  readonly type: 'forward'
  readonly order: number
  /** One entry for a plain `TargetGroupArn`; several for a weighted `ForwardConfig`. */
  readonly targetGroups: readonly { readonly targetGroupArn: string; readonly weight: number }[]
  /** Target-group stickiness (`AWSALBTG`); undefined when disabled. */
  readonly stickiness: { readonly durationSeconds: number } | undefined
}

/** `redirect`: a 301 or 302 to a URL built from the request's components. */
export interface RedirectAction {
  readonly type: 'redirect'
  readonly order: number
  /** Each field keeps ALB's placeholders (`#{host}` …); defaults are the placeholders themselves. */
  readonly protocol: string
  readonly host: string
  readonly port: string
  readonly path: string
  readonly query: string
  readonly statusCode: 301 | 302
}

/** `fixed-response`: a configured status, content type and body. */
export interface FixedResponseAction {
  readonly type: 'fixed-response'
  readonly order: number
  readonly statusCode: number
  readonly contentType: string | undefined
  readonly messageBody: string | undefined
}

/** What an authenticate action does with a request that has no valid session. */
export type OnUnauthenticatedRequest = 'authenticate' | 'allow' | 'deny'

/** Settings shared by authenticate-oidc and authenticate-cognito once endpoints are resolved. */
export interface AuthenticateCommon {
  readonly order: number
  readonly issuer: string
  readonly authorizationEndpoint: string
  readonly tokenEndpoint: string
  readonly userInfoEndpoint: string
  readonly clientId: string
  readonly clientSecret: string | undefined
  /**
   * For `UseExistingClientSecret: true` without the environment variable:
   * the file in `Portcullis.ClientSecretsDirectory` that `loadConfig` reads
   * the secret from (into `clientSecret`). Undefined otherwise.
   */
  readonly clientSecretFile: string | undefined
  readonly sessionCookieName: string
  readonly scope: string
  readonly sessionTimeoutSeconds: number
  readonly authenticationRequestExtraParams: Readonly<Record<string, string>>
  readonly onUnauthenticatedRequest: OnUnauthenticatedRequest
  /** Portcullis extensions (under `Portcullis` inside the action config). */
  readonly pkce: boolean
  readonly nonce: boolean
  readonly tokenEndpointAuthMethod: 'client_secret_basic' | 'client_secret_post'
  /** JWKS for ID-token signatures; from discovery when undefined and the issuer publishes one. */
  readonly jwksUri: string | undefined
  /** Lifetime of each `x-amzn-oidc-data` token, default 120. */
  readonly identityTokenLifetimeSeconds: number
  /** `Portcullis.LogoutPath`: the request path that ends the session (RP-initiated logout); none when undefined. */
  readonly logoutPath: string | undefined
  /** `Portcullis.PostLogoutRedirectUri`: a same-host path or a full URL, default `/`. */
  readonly postLogoutRedirectUri: string
}

/** `authenticate-oidc`: log users in with any OpenID Connect provider. */
export interface AuthenticateOidcAction extends AuthenticateCommon {
  readonly type: 'authenticate-oidc'
}

/** `authenticate-cognito`: log users in with an Amazon Cognito user pool (endpoints derived from the domain). */
export interface AuthenticateCognitoAction extends AuthenticateCommon {
  readonly type: 'authenticate-cognito'
  readonly userPoolArn: string
  readonly userPoolDomain: string
}

/** `jwt-validation`: accept a request only with a valid bearer JWT from the configured issuer. */
export interface JwtValidationAction {
  readonly type: 'jwt-validation'
  readonly order: number
  readonly jwksEndpoint: string
  readonly issuer: string
  readonly additionalClaims: readonly {
    readonly name: string
    readonly format: 'single-string' | 'string-array' | 'space-separated-values'
    readonly values: readonly string[]
  }[]
  /** Accepted algorithms: `['RS256']`, plus `ES256` when opted in. */
  readonly algorithms: readonly ('RS256' | 'ES256')[]
}

// ------------------------------------------------------------- target groups

/** `load_balancing.algorithm.type`. */
export type LoadBalancingAlgorithm = 'round_robin' | 'least_outstanding_requests' | 'weighted_random'

/** One registered target (ELBv2 `RegisterTargets`). */
export interface TargetModel {
  /** IP address or host name. */
  readonly id: string
  readonly port: number
}

/** A target group's health check, with ALB's defaults. */
export interface HealthCheckModel {
  readonly enabled: boolean
  readonly protocol: 'HTTP' | 'HTTPS'
  /** `traffic-port` resolves to each target's own port (undefined here). */
  readonly port: number | undefined
  readonly path: string
  readonly intervalSeconds: number
  readonly timeoutSeconds: number
  readonly healthyThresholdCount: number
  readonly unhealthyThresholdCount: number
  /**
   * The group's `ProtocolVersion`, which decides how targets are checked:
   * HTTP/1.1 GET (`HTTP1`), HTTP/2 GET (`HTTP2`) or a gRPC call over HTTP/2 (`GRPC`).
   */
  readonly protocolVersion: 'HTTP1' | 'HTTP2' | 'GRPC'
  /**
   * The codes as given: `Matcher.HttpCode` (e.g. `200`, `200,202`, `200-299`),
   * or `Matcher.GrpcCode` (e.g. `12`, `0-5`) for a `GRPC` group.
   */
  readonly matcher: string
}

/** A target group's stickiness (`stickiness.*` attributes). */
export interface StickinessModel {
  readonly type: 'lb_cookie' | 'app_cookie'
  /** `stickiness.lb_cookie.duration_seconds` or `stickiness.app_cookie.duration_seconds`, default 86400. */
  readonly durationSeconds: number
  /** `stickiness.app_cookie.cookie_name`, for app_cookie. */
  readonly appCookieName: string | undefined
}

/** One target group (ELBv2 `CreateTargetGroup`) with its targets and attributes. */
export interface TargetGroupModel {
  readonly name: string
  readonly arn: string
  readonly protocol: 'HTTP' | 'HTTPS'
  /**
   * `ProtocolVersion`, default `HTTP1`: what the load balancer speaks to the
   * targets (`HTTP2` and `GRPC`: HTTP/2, over TLS with ALPN for an HTTPS
   * group, with prior knowledge for an HTTP one).
   */
  readonly protocolVersion: 'HTTP1' | 'HTTP2' | 'GRPC'
  /** Default port for targets registered without one. */
  readonly port: number | undefined
  readonly targets: readonly TargetModel[]
  readonly healthCheck: HealthCheckModel
  readonly algorithm: LoadBalancingAlgorithm
  /** undefined when `stickiness.enabled` is false. */
  readonly stickiness: StickinessModel | undefined
  /**
   * `slow_start.duration_seconds`: 0 (off, the default) or 30..900, round
   * robin only; a target that becomes healthy ramps up to its full share of
   * requests over this many seconds.
   */
  readonly slowStartSeconds: number
  /** `deregistration_delay.timeout_seconds`, default 300; used as the drain deadline on reload. */
  readonly deregistrationDelaySeconds: number
  /** Portcullis: PEM CA file for HTTPS targets (absolute path), undefined for the system store. */
  readonly caFile: string | undefined
  /** Portcullis: per-request timeout to the target (504 after), default the idle timeout. */
  readonly targetTimeoutSeconds: number | undefined
  readonly raw: Readonly<Record<string, string>>
}

// ----------------------------------------------------- Portcullis extensions

/** The admin listener (`Portcullis.Admin`). */
export interface AdminModel {
  readonly address: string
  readonly port: number
  /**
   * Where the operator endpoints' bearer token comes from: a file
   * (`TokenFile`, absolute), the environment (`PORTCULLIS_ADMIN_TOKEN`), or
   * nowhere (then they are open to whoever reaches the listener, which
   * validation allows on a loopback address only).
   */
  readonly operatorToken: { readonly file: string } | { readonly env: 'PORTCULLIS_ADMIN_TOKEN' } | undefined
  /** `CertificateFile` and `PrivateKeyFile` (absolute): the admin listener serves HTTPS; undefined: HTTP. */
  readonly tls: { readonly certificateFile: string; readonly privateKeyFile: string } | undefined
  /**
   * `ClientCertificateTrustStore`: a client certificate this trust store
   * vouches for (chain, dates, purpose, revocation: as a `verify` listener
   * checks) is an operator credential, beside the token. HTTPS only.
   */
  readonly clientCertificateTrustStore: TrustStoreModel | undefined
}

/** Settings that exist only in Portcullis (the top-level `Portcullis` key). */
export interface PortcullisModel {
  /** Absolute path; keys, session secrets and generated certificates live here. */
  readonly stateDirectory: string
  readonly admin: AdminModel | undefined
  /**
   * Development opt-in: allows authenticate actions on HTTP listeners bound
   * to loopback addresses only. Logged as a warning on every start.
   */
  readonly allowInsecureHttpAuthentication: boolean
  /** Extra CA file (PEM) trusted for outbound TLS to IdPs and JWKS endpoints. */
  readonly caFile: string | undefined
  readonly accessLog: AccessLogModel
  /** ALB's connection log (`Portcullis.ConnectionLog`); undefined: not written. */
  readonly connectionLog: ConnectionLogModel | undefined
  /** Redis/Valkey shared by several gateways (`Portcullis.SharedState`); undefined: one machine, no Redis. */
  readonly sharedState: SharedStateModel | undefined
  /** Where authenticate actions keep sessions (`Portcullis.SessionStore`); `shared` requires {@link sharedState}. */
  readonly sessionStore: 'cookie' | 'shared'
  /**
   * Development opt-in: HTTPS listeners given no certificate files get one
   * issued from the local CA in the state directory. Warned about on every start.
   */
  readonly localCertificates: boolean
  /** Absolute path of a directory with one file per client id holding its secret (a mounted Kubernetes secret). */
  readonly clientSecretsDirectory: string | undefined
  /** EC2 instance id → address, for targets registered by instance id. */
  readonly instanceAddresses: Readonly<Record<string, string>>
}

/** `Portcullis.AccessLog`: one file (or stdout), or ALB's delivery files under a directory. */
export interface AccessLogModel {
  readonly format: 'json' | 'alb'
  /** Absolute; undefined: standard output (or {@link delivery}). */
  readonly path: string | undefined
  /** ALB's gzip interval files (`Directory`); `format` is then `alb`. */
  readonly delivery:
    | { readonly directory: string; readonly intervalMinutes: 5 | 60; readonly maxTotalBytes: number }
    | undefined
}

/** `Portcullis.ConnectionLog`: one file (or stdout), JSON or ALB's line. */
export interface ConnectionLogModel {
  readonly format: 'json' | 'alb'
  /** Absolute; undefined: standard output. */
  readonly path: string | undefined
}

/** `Portcullis.SharedState`: where the shared Redis/Valkey is and how long to wait for it. */
export interface SharedStateModel {
  /** `redis://` or `rediss://` URL as written; it may carry a password, so messages use {@link displayUrl}. */
  readonly url: string
  /** The URL without user and password. */
  readonly displayUrl: string
  /** `rediss://`: TLS with the trust of IdP calls. */
  readonly tls: boolean
  /** Prefix of every key Portcullis writes (default `portcullis:`). */
  readonly keyPrefix: string
  readonly connectTimeoutMs: number
  /** Bound on each command: a request waits no longer for shared state. */
  readonly commandTimeoutMs: number
}
/** A whole validated configuration: what `loadConfig` returns and `startGateway` runs. */
export interface GatewayConfig {
  /** Absolute path of the file this was loaded from, undefined when built in code. */
  readonly source: string | undefined
  readonly loadBalancer: LoadBalancerModel
  readonly listeners: readonly ListenerModel[]
  readonly targetGroups: readonly TargetGroupModel[]
  /** `TrustStores` (describe-trust-stores), each with its files. */
  readonly trustStores: readonly TrustStoreModel[]
  readonly portcullis: PortcullisModel
}
