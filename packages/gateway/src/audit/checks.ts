/**
 * The configuration checks: pure functions of the normalised model
 * (`config/model.ts`), the same model the gateway runs and the live audit
 * builds from the ELBv2 API, so a file and a deployed load balancer are judged
 * alike. Each check returns raw findings that point at a model element;
 * `finding()` turns one into a {@link Finding} with a resource and location.
 */

import { isIP } from 'node:net'
import { compileCidrMatcher, parseCidr } from '@portcullis/verify/net'
import type {
  ActionModel,
  AuthenticateCognitoAction,
  AuthenticateOidcAction,
  ConditionModel,
  GatewayConfig,
  ListenerModel,
  RuleModel,
} from '../config/model.js'
import { GRPC_HEALTH_CHECK_PATH } from '../config/normalise/target-group.js'
import { outdatedBecause, securityPolicy } from '../tls/security-policies.js'
import { type Matcher, matches, parseGrpcMatcher } from '../values/http-codes.js'
import { CATALOGUE, type Finding, type FindingId, type FindingLocation } from './findings.js'
import { findOverlap } from './witness.js'

/** The part of a configuration the checks read. */
export type AuditModel = Pick<GatewayConfig, 'loadBalancer' | 'listeners' | 'targetGroups'>

/** The model element a finding is about; a locator turns it into a file position. */
export type ResourceRef =
  | { readonly kind: 'load-balancer'; readonly attribute?: string }
  | { readonly kind: 'listener'; readonly listener: number; readonly field?: string }
  | {
      readonly kind: 'rule'
      readonly listener: number
      readonly rule: RuleModel
      /** The action within the rule, and a field path inside it (`['AuthenticateOidcConfig', 'Scope']`). */
      readonly action?: ActionModel
      readonly field?: readonly string[]
    }
  | {
      readonly kind: 'target-group'
      readonly targetGroup: number
      readonly target?: number
      /** A field of the group (`['Matcher', 'GrpcCode']`), where the file has it. */
      readonly field?: readonly string[]
    }

/** A finding before it has a resource string: the check, the element, and what was seen. */
export interface RawFinding {
  readonly id: FindingId
  readonly ref: ResourceRef
  readonly message: string
}

/** Options of the audits (`auditConfigFile`, `auditConfigText`, `auditAwsAccount`) and of {@link checkModel}. */
export interface CheckOptions {
  /** Sessions longer than this are reported (`auth-session-timeout-long`); default 86400 (one day). */
  readonly maxSessionTimeoutSeconds?: number
}

/** ALB's default and longest `SessionTimeout` are both 7 days, so "too long" needs a lower bound of its own. */
const DEFAULT_MAX_SESSION_TIMEOUT_SECONDS = 86400

/**
 * Runs every configuration check on one load balancer's model.
 *
 * @example
 * ```ts
 * const { config } = parseConfig(text, { source: 'portcullis.yaml' })
 * for (const raw of checkModel(config)) console.log(raw.id, raw.message)
 * ```
 */
export function checkModel(model: AuditModel, options: CheckOptions = {}): RawFinding[] {
  return [
    ...loadBalancerAttributes(model),
    ...listenerProtocols(model),
    ...authenticationSettings(model, options.maxSessionTimeoutSeconds ?? DEFAULT_MAX_SESSION_TIMEOUT_SECONDS),
    ...authenticationReachability(model),
    ...shadowedRules(model),
    ...publicTargets(model),
    ...grpcHealthChecks(model),
  ]
}

/**
 * A {@link Finding} for one raw finding: the catalogue's fixed fields, the
 * element's ARN, and its file position when `locate` knows it.
 */
export function finding(
  raw: RawFinding,
  model: AuditModel,
  locate?: (ref: ResourceRef) => FindingLocation | undefined,
): Finding {
  const check = CATALOGUE[raw.id]
  const arn = arnOf(raw.ref, model)
  const location = locate?.(raw.ref)
  return {
    id: raw.id,
    severity: check.severity,
    control: check.control,
    title: check.title,
    loadBalancer: model.loadBalancer.arn,
    resource: location ? `${location.file}:${location.line}:${location.column}` : arn,
    arn,
    location,
    message: raw.message,
    remediation: check.remediation,
  }
}

function arnOf(ref: ResourceRef, model: AuditModel): string {
  switch (ref.kind) {
    case 'load-balancer':
      return model.loadBalancer.arn
    case 'listener':
      return model.listeners[ref.listener]!.arn
    case 'rule':
      return ref.rule.arn
    case 'target-group':
      return model.targetGroups[ref.targetGroup]!.arn
  }
}

// ---------------------------------------------------------- load balancer

function loadBalancerAttributes(model: AuditModel): RawFinding[] {
  const out: RawFinding[] = []
  const raw = model.loadBalancer.attributes.raw
  if (!model.loadBalancer.attributes.dropInvalidHeaderFields) {
    out.push({
      id: 'lb-drop-invalid-header-fields-off',
      ref: { kind: 'load-balancer', attribute: 'routing.http.drop_invalid_header_fields.enabled' },
      message: `routing.http.drop_invalid_header_fields.enabled is ${raw['routing.http.drop_invalid_header_fields.enabled'] ?? 'false (the default)'}: header names outside [A-Za-z0-9-] reach the targets`,
    })
  }
  const desync = raw['routing.http.desync_mitigation_mode']
  if (desync !== undefined && desync !== 'defensive' && desync !== 'strictest') {
    out.push({
      id: 'lb-desync-mitigation-weak',
      ref: { kind: 'load-balancer', attribute: 'routing.http.desync_mitigation_mode' },
      message: `routing.http.desync_mitigation_mode is ${desync}: ambiguous requests that risk HTTP desync reach the targets`,
    })
  }
  if (raw['access_logs.s3.enabled'] !== 'true') {
    out.push({
      id: 'lb-access-logs-off',
      ref: { kind: 'load-balancer', attribute: 'access_logs.s3.enabled' },
      message: `access_logs.s3.enabled is ${raw['access_logs.s3.enabled'] ?? 'false (the default)'}: AWS ALB keeps no record of requests (Portcullis writes its own access log either way)`,
    })
  }
  return out
}

// -------------------------------------------------------------- listeners

/** Why the listener's named security policy is outdated (ELB.17), from the policy table; undefined when it is not, or unknown. */
function outdatedPolicy(policy: string): string | undefined {
  const known = securityPolicy(policy)
  return known === undefined ? undefined : outdatedBecause(known)
}

function listenerProtocols(model: AuditModel): RawFinding[] {
  const out: RawFinding[] = []
  model.listeners.forEach((listener, l) => {
    if (listener.protocol === 'HTTPS') {
      const mtls = listener.mutualAuthentication
      if (mtls?.mode === 'passthrough') {
        out.push({
          id: 'listener-mtls-passthrough',
          ref: { kind: 'listener', listener: l, field: 'MutualAuthentication' },
          message: `${listenerName(listener)} accepts any client certificate (passthrough): only targets that verify X-Amzn-Mtls-Clientcert themselves authenticate clients`,
        })
      } else if (mtls?.mode === 'verify') {
        if (mtls.trustStore.revocationFiles.length === 0) {
          out.push({
            id: 'listener-mtls-no-revocation',
            ref: { kind: 'listener', listener: l, field: 'MutualAuthentication' },
            message: `${listenerName(listener)} verifies client certificates against trust store ${mtls.trustStore.name}, which has no revocation list: a revoked certificate is accepted until it expires`,
          })
        }
        if (mtls.ignoreClientCertificateExpiry) {
          out.push({
            id: 'listener-mtls-ignore-expiry',
            ref: { kind: 'listener', listener: l, field: 'MutualAuthentication' },
            message: `${listenerName(listener)} admits expired and not-yet-valid client certificates (IgnoreClientCertificateExpiry): a leaked certificate keeps working after it expires`,
          })
        }
      }
      const outdated = listener.sslPolicy === undefined ? undefined : outdatedPolicy(listener.sslPolicy)
      if (outdated !== undefined) {
        out.push({
          id: 'listener-tls-policy-outdated',
          ref: { kind: 'listener', listener: l, field: 'SslPolicy' },
          message: `${listenerName(listener)} uses ${listener.sslPolicy}, which ${outdated}`,
        })
      }
      return
    }
    const plain = listener.rules.filter((rule) => {
      const final = rule.actions[rule.actions.length - 1]
      if (final === undefined) return false
      if (final.type === 'forward') return true
      return rule.priority === 'default' && !(final.type === 'redirect' && final.protocol === 'HTTPS')
    })
    if (plain.length > 0) {
      out.push({
        id: 'listener-http-no-redirect',
        ref: { kind: 'listener', listener: l, field: 'Protocol' },
        message: `${listenerName(listener)} serves ${plain.map((r) => `${ruleName(r)} (${finalDescription(r, model)})`).join(', ')} over plain HTTP instead of redirecting to HTTPS`,
      })
    }
    for (const rule of listener.rules) {
      for (const action of rule.actions) {
        if (
          action.type === 'authenticate-oidc' ||
          action.type === 'authenticate-cognito' ||
          action.type === 'jwt-validation'
        ) {
          out.push({
            id: 'listener-authenticate-on-http',
            ref: { kind: 'rule', listener: l, rule, action },
            message: `${listenerName(listener)} ${ruleName(rule)} runs ${action.type} over plain HTTP: session cookies, authorization codes and tokens cross the network unencrypted`,
          })
        }
      }
    }
  })
  return out
}

// --------------------------------------------------------- authentication

type Login = AuthenticateOidcAction | AuthenticateCognitoAction

function logins(rule: RuleModel): Login[] {
  return rule.actions.filter((a): a is Login => a.type === 'authenticate-oidc' || a.type === 'authenticate-cognito')
}

function configKey(action: Login): string {
  return action.type === 'authenticate-oidc' ? 'AuthenticateOidcConfig' : 'AuthenticateCognitoConfig'
}

function authenticationSettings(model: AuditModel, maxSessionTimeout: number): RawFinding[] {
  const out: RawFinding[] = []
  model.listeners.forEach((listener, l) => {
    for (const rule of listener.rules) {
      for (const action of logins(rule)) {
        if (!action.scope.split(' ').includes('openid')) {
          out.push({
            id: 'auth-scope-without-openid',
            ref: { kind: 'rule', listener: l, rule, action, field: [configKey(action), 'Scope'] },
            message: `${listenerName(listener)} ${ruleName(rule)} asks for scope "${action.scope}": without openid the IdP issues no ID token`,
          })
        }
        if (action.sessionTimeoutSeconds > maxSessionTimeout) {
          out.push({
            id: 'auth-session-timeout-long',
            ref: { kind: 'rule', listener: l, rule, action, field: [configKey(action), 'SessionTimeout'] },
            message: `${listenerName(listener)} ${ruleName(rule)} keeps sessions for ${duration(action.sessionTimeoutSeconds)} (more than ${duration(maxSessionTimeout)})`,
          })
        }
      }
    }
  })
  return out
}

/** `required`: no request reaches the target without credentials; `optional`: `allow`; `none`: no authentication. */
type AuthState = 'required' | 'optional' | 'none'

function authState(rule: RuleModel): AuthState {
  if (rule.actions.some((a) => a.type === 'jwt-validation')) return 'required'
  const login = logins(rule)[0]
  if (login === undefined) return 'none'
  return login.onUnauthenticatedRequest === 'allow' ? 'optional' : 'required'
}

interface Route {
  readonly listener: number
  readonly rule: RuleModel
  readonly state: AuthState
}

function forwardedGroups(rule: RuleModel): string[] {
  const final = rule.actions[rule.actions.length - 1]
  return final?.type === 'forward' ? final.targetGroups.map((tg) => tg.targetGroupArn) : []
}

function authenticationReachability(model: AuditModel): RawFinding[] {
  const out: RawFinding[] = []
  const routes = new Map<string, Route[]>()
  model.listeners.forEach((listener, l) => {
    for (const rule of listener.rules) {
      for (const arn of forwardedGroups(rule)) {
        const list = routes.get(arn) ?? []
        list.push({ listener: l, rule, state: authState(rule) })
        routes.set(arn, list)
      }
    }
  })
  for (const [arn, list] of routes) {
    const protectedRoutes = list.filter((r) => r.state === 'required')
    if (protectedRoutes.length === 0) continue
    const group = groupName(model, arn)
    const behind = protectedRoutes.map((r) => routeName(model, r)).join('; ')
    for (const route of list) {
      if (route.state === 'required') continue
      out.push({
        id: route.state === 'none' ? 'auth-bypass-target-group' : 'auth-allow-shares-target-group',
        ref: { kind: 'rule', listener: route.listener, rule: route.rule },
        message:
          route.state === 'none'
            ? `target group ${group} is behind authentication on ${behind}, but ${routeName(model, route)} forwards to it without any: a login bypass`
            : `target group ${group} is behind authentication on ${behind}, but ${routeName(model, route)} lets requests without a session through (OnUnauthenticatedRequest: allow)`,
      })
    }
  }
  return out
}

function shadowedRules(model: AuditModel): RawFinding[] {
  const out: RawFinding[] = []
  model.listeners.forEach((listener, l) => {
    const rules = listener.rules
    rules.forEach((later, j) => {
      // The default rule is a catch-all: earlier public rules are how public paths are carved out of it.
      if (later.priority === 'default' || authState(later) !== 'required') return
      for (const earlier of rules.slice(0, j)) {
        if (authState(earlier) === 'required' || forwardedGroups(earlier).length === 0) continue
        const witness = findOverlap(earlier, later)
        if (witness === undefined) continue
        out.push({
          id: 'rule-shadows-authenticated-rule',
          ref: { kind: 'rule', listener: l, rule: earlier },
          message: `${listenerName(listener)} ${ruleName(earlier)} (${conditionsText(earlier.conditions)}, ${authState(earlier) === 'optional' ? 'OnUnauthenticatedRequest: allow' : 'no authentication'}) comes before ${ruleName(later)} (${conditionsText(later.conditions)}, ${authLabel(later)}) and answers some of its requests without a login, e.g. ${witness.text}`,
        })
        break
      }
    })
  })
  return out
}

// ---------------------------------------------------------------- targets

/** Address space that is not reachable from the internet: RFC 1918, loopback, link-local, CGNAT, ULA. */
const NON_PUBLIC = compileCidrMatcher(
  [
    '0.0.0.0/8',
    '10.0.0.0/8',
    '100.64.0.0/10',
    '127.0.0.0/8',
    '169.254.0.0/16',
    '172.16.0.0/12',
    '192.168.0.0/16',
    '::1/128',
    'fc00::/7',
    'fe80::/10',
  ].map(parseCidr),
)

/** True for an IP address outside private, loopback, link-local and shared address space; host names are not judged. */
function isPublicAddress(address: string): boolean {
  return isIP(address) !== 0 && !NON_PUBLIC(address)
}

function publicTargets(model: AuditModel): RawFinding[] {
  const out: RawFinding[] = []
  model.targetGroups.forEach((tg, g) => {
    tg.targets.forEach((target, t) => {
      if (isPublicAddress(target.id)) {
        out.push({
          id: 'target-public-address',
          ref: { kind: 'target-group', targetGroup: g, target: t },
          message: `target group ${tg.name} sends traffic to ${target.id}:${target.port}, a public address anyone can reach without the load balancer`,
        })
      }
    })
  })
  return out
}

/** The status codes gRPC defines (OK … UNAUTHENTICATED); ALB's matcher allows up to 99. */
const GRPC_STATUS_CODES = 17
/** What a gRPC server answers for a method it does not implement, such as ALB's default `/AWS.ALB/healthcheck`. */
const UNIMPLEMENTED = 12

/**
 * A `GRPC` group whose health check can never pass: its matcher holds no
 * status gRPC defines, or it checks ALB's default path — which no service
 * implements, so every live server answers UNIMPLEMENTED (12) — with a matcher
 * without 12 (the usual mistake: `GrpcCode: "0"` without a health method in
 * `HealthCheckPath`). Every target turns unhealthy and the load balancer fails
 * open: health checks stop protecting the group.
 */
function grpcHealthChecks(model: AuditModel): RawFinding[] {
  const out: RawFinding[] = []
  model.targetGroups.forEach((tg, g) => {
    const hc = tg.healthCheck
    if (tg.protocolVersion !== 'GRPC' || !hc.enabled) return
    let matcher: Matcher
    try {
      matcher = parseGrpcMatcher(hc.matcher)
    } catch {
      return // refused by validation already
    }
    const ref = { kind: 'target-group', targetGroup: g, field: ['Matcher', 'GrpcCode'] } as const
    const defined = Array.from({ length: GRPC_STATUS_CODES }, (_, code) => code).filter((code) =>
      matches(matcher, code),
    )
    if (defined.length === 0) {
      out.push({
        id: 'target-grpc-health-check-never-passes',
        ref,
        message: `target group ${tg.name} counts gRPC status ${hc.matcher} as healthy, and gRPC defines only 0..16: every target turns unhealthy, and the load balancer then routes to all of them`,
      })
    } else if (hc.path === GRPC_HEALTH_CHECK_PATH && !matches(matcher, UNIMPLEMENTED)) {
      out.push({
        id: 'target-grpc-health-check-never-passes',
        ref,
        message: `target group ${tg.name} checks ${GRPC_HEALTH_CHECK_PATH}, which gRPC servers answer UNIMPLEMENTED (12), but counts only ${hc.matcher} as healthy: every target turns unhealthy, and the load balancer then routes to all of them`,
      })
    }
  })
  return out
}

// ---------------------------------------------------------------- wording

/** `HTTPS:8443` */
export function listenerName(listener: ListenerModel): string {
  return `${listener.protocol}:${listener.port}`
}

/** `rule 10` or `default rule` */
export function ruleName(rule: RuleModel): string {
  return rule.priority === 'default' ? 'default rule' : `rule ${rule.priority}`
}

function routeName(model: AuditModel, route: Route): string {
  return `${listenerName(model.listeners[route.listener]!)} ${ruleName(route.rule)} (${conditionsText(route.rule.conditions)})`
}

function authLabel(rule: RuleModel): string {
  const action = rule.actions.find((a) => a.type !== 'forward' && a.type !== 'redirect' && a.type !== 'fixed-response')
  return action?.type ?? 'no authentication'
}

function groupName(model: AuditModel, arn: string): string {
  return model.targetGroups.find((tg) => tg.arn === arn)?.name ?? arn
}

function finalDescription(rule: RuleModel, model: AuditModel): string {
  const final = rule.actions[rule.actions.length - 1]!
  switch (final.type) {
    case 'forward':
      return `forward to ${final.targetGroups.map((tg) => groupName(model, tg.targetGroupArn)).join(', ')}`
    case 'fixed-response':
      return `fixed-response ${final.statusCode}`
    case 'redirect':
      return `redirect to ${final.protocol}`
    default:
      return final.type
  }
}

/** The conditions as a reader says them: `path /api/*, host api.example.com`; `every request` for none. */
export function conditionsText(conditions: readonly ConditionModel[]): string {
  if (conditions.length === 0) return 'every request'
  return conditions.map(conditionText).join(', ')
}

function conditionText(c: ConditionModel): string {
  switch (c.field) {
    case 'path-pattern':
      return `path ${[...c.values, ...c.regexValues.map((r) => `~${r}`)].join(' | ')}`
    case 'host-header':
      return `host ${[...c.values, ...c.regexValues.map((r) => `~${r}`)].join(' | ')}`
    case 'http-header':
      return `header ${c.headerName}: ${[...c.values, ...c.regexValues.map((r) => `~${r}`)].join(' | ')}`
    case 'http-request-method':
      return `method ${c.values.join(' | ')}`
    case 'query-string':
      return `query ${c.values.map((v) => `${v.key ?? '*'}=${v.value}`).join(' | ')}`
    case 'source-ip':
      return `source ${c.values.join(' | ')}`
  }
}

function duration(seconds: number): string {
  if (seconds % 86400 === 0) return `${seconds / 86400} day${seconds === 86400 ? '' : 's'}`
  if (seconds % 3600 === 0) return `${seconds / 3600} hours`
  return `${seconds} s`
}
