/**
 * `portcullis` as a library: load an ALB-shaped configuration and run the
 * gateway in your own process (tests, custom launchers), or use its
 * development OpenID provider and local CA in your own test suites.
 *
 * The command line (`portcullis start | validate | keys | …`) loads,
 * validates and rotates keys through these same exports; what it adds on top
 * (the `node:cluster` supervisor behind `start`, the demo, the audit) is the
 * command line's own and not part of this API. The development OpenID
 * provider lives in its own entry point, `portcullis/idp`, so that importing
 * the gateway never loads it; the configuration checks in `portcullis/audit`.
 *
 * @example
 * ```ts
 * import { loadConfig, startGateway, createLogger } from 'portcullis'
 *
 * const { config, warnings } = await loadConfig('portcullis.yaml')
 * const gateway = await startGateway(config, { logger: createLogger('info') })
 * console.log(gateway.listeners.map((l) => l.url), gateway.adminUrl)
 * await gateway.close()
 * ```
 *
 * @packageDocumentation
 */

// Key rotation straight from its modules: importing `portcullis` never loads the OIDC stack.
export { type KeyRingStore, openKeyRings, stateDirectoryKeyRings } from './auth/keys/key-ring-store.js'
export type { SessionKeyInfo } from './auth/keys/sealing-ring.js'
export type { SigningKeyInfo } from './auth/keys/signing-ring.js'
export { ConfigError, type ConfigIssue, type ConfigIssueSeverity, formatIssue } from './config/errors.js'
export { portcullisJsonSchema } from './config/json-schema.js'
export { type LoadedConfig, loadConfig, type ParseConfigOptions, parseConfig } from './config/load.js'
export type {
  ActionModel,
  AuthenticateAction,
  AuthenticateCognitoAction,
  AuthenticateCommon,
  AuthenticateOidcAction,
  CertificateModel,
  ConditionModel,
  FinalAction,
  FixedResponseAction,
  ForwardAction,
  GatewayConfig,
  HealthCheckModel,
  HostHeaderCondition,
  HttpHeaderCondition,
  HttpRequestMethodCondition,
  JwtValidationAction,
  ListenerModel,
  LoadBalancerAttributes,
  LoadBalancerModel,
  LoadBalancingAlgorithm,
  OnUnauthenticatedRequest,
  PathPatternCondition,
  PortcullisModel,
  QueryStringCondition,
  RedirectAction,
  RuleModel,
  SourceIpCondition,
  StickinessModel,
  TargetGroupModel,
  TargetModel,
  TransformModel,
} from './config/model.js'
export {
  type AuthErrorReason,
  type ErrorReason,
  GatewayError,
  type GatewayErrorCode,
  type RequestErrorReason,
  type TargetErrorReason,
} from './core/errors.js'
// The diagnostics channels' messages carry the request context.
export type { RequestContext, RequestRecord } from './core/request.js'
export {
  type AccessLogWrittenMessage,
  channels as diagnosticsChannels,
  type LoginCompletedMessage,
  type LoginFailedMessage,
  type RequestFinishedMessage,
  type RequestMatchedMessage,
  type SessionRefreshedMessage,
  type SessionRefreshFailedMessage,
  type SessionsRevokedMessage,
  type SharedStateDownMessage,
  type SharedStateUpMessage,
} from './observability/diagnostics.js'
export { createLogger } from './observability/logger.js'
export { GatewayMetrics } from './observability/metrics.js'
export { type RunningGateway, type RunningListener, type StartGatewayOptions, startGateway } from './server/gateway.js'
export { ensureLeafCertificate, ensureLocalCa, type LeafCertificate, type LocalCa } from './tls/local-ca.js'
export { PortcullisError, type PortcullisErrorCode } from './values/errors.js'
