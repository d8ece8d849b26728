/**
 * From the shape-checked file (`schema.ts`) to the model (`model.ts`): applies
 * ELBv2's defaults, resolves names to ARNs and paths to absolute paths, and
 * enforces the API's own constraints with messages that name the field.
 * Every problem is reported (not just the first) so a user fixes a file in
 * one pass; the caller refuses the file when any error was reported.
 */
import { isIP } from 'node:net'
import { isAbsolute, resolve } from 'node:path'
import { CidrError, parseCidr } from '@portcullis/verify/net'
import { RuleCompileError } from '../values/errors.js'
import { parseMatcher } from '../values/http-codes.js'
import { insecureEndpointProblem, isLoopbackHost } from '../values/loopback.js'
import { compileRuleRegex } from '../values/regex.js'
import { compileRewrite } from '../values/rewrite.js'
import {
  DEFAULT_ACCOUNT_ID,
  DEFAULT_REGION,
  deriveListenerArn,
  deriveLoadBalancerArn,
  deriveRuleArn,
  deriveTargetGroupArn,
  parseLoadBalancerArn,
  parseTargetGroupArn,
  parseUserPoolArn,
} from './arn.js'
import { type FieldPath, formatPath } from './document.js'
import type {
  ActionModel,
  AuthenticateCommon,
  CertificateModel,
  ConditionModel,
  GatewayConfig,
  HealthCheckModel,
  ListenerModel,
  LoadBalancerAttributes,
  LoadBalancerModel,
  LoadBalancingAlgorithm,
  OnUnauthenticatedRequest,
  PortcullisModel,
  RuleModel,
  StickinessModel,
  TargetGroupModel,
  TargetModel,
  TransformModel,
} from './model.js'
import type {
  ActionFile,
  AttributeFile,
  ConditionFile,
  ListenerFile,
  PortcullisFile,
  RuleFile,
  TargetGroupFile,
  TransformFile,
} from './schema.js'

/** Where `normalise` sends what it finds; `key` points the position at that key of the mapping at `path`. */
export interface IssueReporter {
  error(path: FieldPath, message: string, key?: string): void
  warn(path: FieldPath, message: string, key?: string): void
}

/** Context `normalise` needs beyond the file itself. */
export interface NormaliseOptions {
  /** Directory relative paths in the file are resolved against (the config file's directory). */
  readonly baseDir: string
  /** Absolute path of the file, recorded in `GatewayConfig.source`. */
  readonly source: string | undefined
}

// ALB's documented defaults and limits (contract §6, §8, §9).
/** ALB's default `SessionCookieName`. */
export const DEFAULT_SESSION_COOKIE_NAME = 'AWSELBAuthSessionCookie'
/** ALB's default `Scope`. */
export const DEFAULT_SCOPE = 'openid'
/** ALB's default `SessionTimeout` (7 days). */
export const DEFAULT_SESSION_TIMEOUT_SECONDS = 604800
/** Lifetime of each `x-amzn-oidc-data` token unless `IdentityTokenLifetimeSeconds` says otherwise. */
export const DEFAULT_IDENTITY_TOKEN_LIFETIME_SECONDS = 120
/** The admin listener when `Portcullis.Admin` is absent. */
export const DEFAULT_ADMIN = { address: '127.0.0.1', port: 9800 } as const
/** `Portcullis.StateDirectory` when absent, relative to the config file. */
export const DEFAULT_STATE_DIRECTORY = './.portcullis'
const MAX_PRIORITY = 50000
const MAX_ORDER = 50000
const RULES_QUOTA = 100
const CONDITION_VALUES_QUOTA = 5
const WILDCARDS_PER_RULE = 5
const TARGET_GROUPS_PER_FORWARD = 5
const MAX_FIXED_RESPONSE_BODY = 1024
const FIXED_RESPONSE_CONTENT_TYPES = [
  'text/plain',
  'text/css',
  'text/html',
  'application/javascript',
  'application/json',
] as const
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
const HTTP_TOKEN = /^[!#$%&'+\-.^_`|~0-9A-Za-z]+$/
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const RESOURCE_NAME = /^(?!-)[A-Za-z0-9-]{1,32}(?<!-)$/

/** Load-balancer attributes ALB defines that Portcullis accepts without acting on them. */
const PASSIVE_LB_ATTRIBUTES = new Set([
  'access_logs.s3.enabled',
  'access_logs.s3.bucket',
  'access_logs.s3.prefix',
  'connection_logs.s3.enabled',
  'connection_logs.s3.bucket',
  'connection_logs.s3.prefix',
  'health_check_logs.s3.enabled',
  'health_check_logs.s3.bucket',
  'health_check_logs.s3.prefix',
  'deletion_protection.enabled',
  'routing.http.desync_mitigation_mode',
  'routing.http.preserve_host_header.enabled',
  'routing.http.x_amzn_tls_version_and_cipher_suite.enabled',
  'waf.fail_open.enabled',
  'zonal_shift.config.enabled',
  'load_balancing.cross_zone.enabled',
  'ipv6.deny_all_igw_traffic',
])
/** Target-group attributes ALB defines that Portcullis accepts without acting on them. */
const PASSIVE_TG_ATTRIBUTES = new Set([
  'load_balancing.algorithm.anomaly_mitigation',
  'load_balancing.cross_zone.enabled',
  'lambda.multi_value_headers.enabled',
])
const PASSIVE_TG_ATTRIBUTE_PREFIXES = ['target_group_health.', 'target_health_state.', 'target_failover.']

/**
 * Normalises a shape-checked file into the model, reporting every violated
 * constraint through `report`. The returned model is only meaningful when no
 * error was reported.
 *
 * @example
 * ```ts
 * const errors: string[] = []
 * const model = normalise(file, { baseDir: '/etc/portcullis', source: undefined }, {
 *   error: (path, message) => errors.push(`${formatPath(path)}: ${message}`),
 *   warn: () => {},
 * })
 * ```
 */
export function normalise(file: PortcullisFile, options: NormaliseOptions, report: IssueReporter): GatewayConfig {
  return new Normaliser(options, report).run(file)
}

interface TargetGroupEntry {
  readonly name: string
  readonly arn: string
  /** True when the ARN was derived (not written in the file). */
  readonly derived: boolean
}

/** The listener a rule belongs to, as far as validating its actions needs. */
interface ListenerContext {
  readonly path: FieldPath
  readonly protocol: 'HTTP' | 'HTTPS'
  readonly port: number
  readonly address: string
}

class Normaliser {
  private region = DEFAULT_REGION
  private accountId = DEFAULT_ACCOUNT_ID
  private allowInsecureHttpAuthentication = false
  private readonly targetGroupsByArn = new Map<string, TargetGroupEntry>()
  private readonly targetGroupsByName = new Map<string, TargetGroupEntry>()

  constructor(
    private readonly options: NormaliseOptions,
    private readonly report: IssueReporter,
  ) {}

  run(file: PortcullisFile): GatewayConfig {
    const portcullis = this.portcullis(file)
    const loadBalancer = this.loadBalancer(file)
    const targetGroups = (file.TargetGroups ?? []).map((tg, i) => this.targetGroup(tg, ['TargetGroups', i]))
    if (file.Listeners.length === 0) this.report.error(['Listeners'], 'at least one listener is required')
    const listeners = file.Listeners.map((l, i) => this.listener(l, i, loadBalancer.arn))
    this.checkPorts(file, listeners, portcullis)
    return { source: this.options.source, loadBalancer, listeners, targetGroups, portcullis }
  }

  // ------------------------------------------------------------------ helpers

  private path(p: string): string {
    return isAbsolute(p) ? p : resolve(this.options.baseDir, p)
  }

  /** Reports and returns false when `value` is outside `min..max`. */
  private inRange(path: FieldPath, value: number, min: number, max: number, what: string): boolean {
    if (Number.isInteger(value) && value >= min && value <= max) return true
    this.report.error(path, `${what} must be ${min}..${max}, got ${value}`)
    return false
  }

  private int(value: number | string): number {
    return typeof value === 'number' ? value : Number.parseInt(value, 10)
  }

  private attributes(list: readonly AttributeFile[] | undefined, path: FieldPath): Map<string, string> {
    const map = new Map<string, string>()
    const seen = new Map<string, number>()
    list?.forEach((attribute, i) => {
      const first = seen.get(attribute.Key)
      if (first !== undefined) {
        this.report.error(
          [...path, i, 'Key'],
          `attribute ${attribute.Key} is already set by ${formatPath([...path, first])}`,
        )
      }
      seen.set(attribute.Key, i)
      map.set(attribute.Key, String(attribute.Value))
    })
    return map
  }

  private attributePath(list: readonly AttributeFile[] | undefined, path: FieldPath, key: string): FieldPath {
    const i = list?.findIndex((a) => a.Key === key) ?? -1
    return i >= 0 ? [...path, i, 'Value'] : path
  }

  private boolAttribute(
    map: Map<string, string>,
    key: string,
    fallback: boolean,
    list: readonly AttributeFile[] | undefined,
    path: FieldPath,
  ): boolean {
    const value = map.get(key)
    if (value === undefined) return fallback
    if (value === 'true' || value === 'false') return value === 'true'
    this.report.error(this.attributePath(list, path, key), `${key} must be "true" or "false", got "${value}"`)
    return fallback
  }

  private intAttribute(
    map: Map<string, string>,
    key: string,
    fallback: number,
    range: readonly [number, number],
    list: readonly AttributeFile[] | undefined,
    path: FieldPath,
  ): number {
    const value = map.get(key)
    if (value === undefined) return fallback
    const n = /^\d+$/.test(value) ? Number(value) : Number.NaN
    if (!this.inRange(this.attributePath(list, path, key), n, range[0], range[1], key)) return fallback
    return n
  }

  private enumAttribute<T extends string>(
    map: Map<string, string>,
    key: string,
    allowed: readonly T[],
    fallback: T,
    list: readonly AttributeFile[] | undefined,
    path: FieldPath,
  ): T {
    const value = map.get(key)
    if (value === undefined) return fallback
    if ((allowed as readonly string[]).includes(value)) return value as T
    this.report.error(
      this.attributePath(list, path, key),
      `${key} must be one of ${allowed.join(', ')}, got "${value}"`,
    )
    return fallback
  }

  // ---------------------------------------------------------- Portcullis block

  private portcullis(file: PortcullisFile): PortcullisModel {
    const p = file.Portcullis ?? {}
    const path: FieldPath = ['Portcullis']
    this.allowInsecureHttpAuthentication = p.AllowInsecureHttpAuthentication === true
    let admin: PortcullisModel['admin']
    if (p.Admin !== false) {
      const address = p.Admin?.Address ?? DEFAULT_ADMIN.address
      this.checkAddress([...path, 'Admin', 'Address'], address)
      const port = p.Admin?.Port === undefined ? DEFAULT_ADMIN.port : this.int(p.Admin.Port)
      this.inRange([...path, 'Admin', 'Port'], port, 0, 65535, 'the admin port')
      admin = { address, port }
    }
    return {
      stateDirectory: this.path(p.StateDirectory ?? DEFAULT_STATE_DIRECTORY),
      admin,
      allowInsecureHttpAuthentication: this.allowInsecureHttpAuthentication,
      caFile: p.CaFile === undefined ? undefined : this.path(p.CaFile),
      accessLog: {
        format: p.AccessLog?.Format ?? 'json',
        path: p.AccessLog?.Path === undefined ? undefined : this.path(p.AccessLog.Path),
      },
    }
  }

  private checkAddress(path: FieldPath, address: string): void {
    if (isIP(address) === 0 && address !== 'localhost') {
      this.report.error(path, `expected an IPv4 or IPv6 address (or localhost), got "${address}"`)
    }
  }

  // ------------------------------------------------------------- load balancer

  private loadBalancer(file: PortcullisFile): LoadBalancerModel {
    const lb = file.LoadBalancer ?? {}
    const path: FieldPath = ['LoadBalancer']
    if (lb.Name !== undefined && lb.LoadBalancerName !== undefined && lb.Name !== lb.LoadBalancerName) {
      this.report.error([...path, 'LoadBalancerName'], `conflicts with Name "${lb.Name}"`)
    }
    if (lb.Arn !== undefined && lb.LoadBalancerArn !== undefined && lb.Arn !== lb.LoadBalancerArn) {
      this.report.error([...path, 'LoadBalancerArn'], `conflicts with Arn "${lb.Arn}"`)
    }
    const arnKey = lb.Arn !== undefined ? 'Arn' : 'LoadBalancerArn'
    const givenArn = lb.Arn ?? lb.LoadBalancerArn
    const parsed = givenArn === undefined ? undefined : parseLoadBalancerArn(givenArn)
    if (givenArn !== undefined && !parsed) {
      this.report.error(
        [...path, arnKey],
        `expected an application load balancer ARN, arn:aws:elasticloadbalancing:REGION:ACCOUNT:loadbalancer/app/NAME/16-HEX-ID, got "${givenArn}"`,
      )
    }
    const nameKey = lb.Name !== undefined ? 'Name' : 'LoadBalancerName'
    const name = lb.Name ?? lb.LoadBalancerName ?? parsed?.name ?? 'portcullis'
    if (!RESOURCE_NAME.test(name) || name.startsWith('internal-')) {
      this.report.error(
        [...path, nameKey],
        `a load balancer name is 1..32 letters, digits and hyphens, not starting or ending with a hyphen nor with "internal-"; got "${name}"`,
      )
    }
    if (parsed && (lb.Name ?? lb.LoadBalancerName) !== undefined && parsed.name !== name) {
      this.report.error([...path, arnKey], `the ARN names load balancer "${parsed.name}" but ${nameKey} is "${name}"`)
    }
    this.region = lb.Region ?? parsed?.region ?? DEFAULT_REGION
    if (!/^[a-z]{2}(-[a-z]+)+-\d+$/.test(this.region)) {
      this.report.error([...path, 'Region'], `expected an AWS region such as us-east-1, got "${this.region}"`)
    }
    if (parsed && lb.Region !== undefined && parsed.region !== lb.Region) {
      this.report.error([...path, arnKey], `the ARN is in region ${parsed.region} but Region is ${lb.Region}`)
    }
    this.accountId = lb.AccountId ?? parsed?.accountId ?? DEFAULT_ACCOUNT_ID
    if (!/^\d{12}$/.test(this.accountId)) {
      this.report.error([...path, 'AccountId'], `expected a 12-digit account id, got "${this.accountId}"`)
    }
    if (parsed && lb.AccountId !== undefined && parsed.accountId !== lb.AccountId) {
      this.report.error([...path, arnKey], `the ARN is in account ${parsed.accountId} but AccountId is ${lb.AccountId}`)
    }
    const arn = parsed && givenArn ? givenArn : deriveLoadBalancerArn(this.region, this.accountId, name)
    return { name, region: this.region, accountId: this.accountId, arn, attributes: this.lbAttributes(lb.Attributes) }
  }

  private lbAttributes(list: readonly AttributeFile[] | undefined): LoadBalancerAttributes {
    const path: FieldPath = ['LoadBalancer', 'Attributes']
    const map = this.attributes(list, path)
    const acted = new Set([
      'idle_timeout.timeout_seconds',
      'routing.http.xff_header_processing.mode',
      'routing.http.xff_client_port.enabled',
      'routing.http.drop_invalid_header_fields.enabled',
      'routing.http2.enabled',
      'client_keep_alive.seconds',
    ])
    list?.forEach((attribute, i) => {
      if (acted.has(attribute.Key) || PASSIVE_LB_ATTRIBUTES.has(attribute.Key)) return
      if (attribute.Key.startsWith('routing.http.response.')) return
      this.report.warn([...path, i, 'Key'], `unknown load balancer attribute ${attribute.Key}; it has no effect`)
    })
    return {
      idleTimeoutSeconds: this.intAttribute(map, 'idle_timeout.timeout_seconds', 60, [1, 4000], list, path),
      xffMode: this.enumAttribute(
        map,
        'routing.http.xff_header_processing.mode',
        ['append', 'preserve', 'remove'] as const,
        'append',
        list,
        path,
      ),
      xffClientPort: this.boolAttribute(map, 'routing.http.xff_client_port.enabled', false, list, path),
      dropInvalidHeaderFields: this.boolAttribute(
        map,
        'routing.http.drop_invalid_header_fields.enabled',
        false,
        list,
        path,
      ),
      http2: this.boolAttribute(map, 'routing.http2.enabled', true, list, path),
      clientKeepAliveSeconds: this.intAttribute(map, 'client_keep_alive.seconds', 3600, [60, 604800], list, path),
      raw: Object.fromEntries(map),
    }
  }

  // ------------------------------------------------------------- target groups

  private targetGroup(tg: TargetGroupFile, path: FieldPath): TargetGroupModel {
    const name = tg.TargetGroupName
    if (!RESOURCE_NAME.test(name)) {
      this.report.error(
        [...path, 'TargetGroupName'],
        `a target group name is 1..32 letters, digits and hyphens, not starting or ending with a hyphen; got "${name}"`,
      )
    }
    let arn = deriveTargetGroupArn(this.region, this.accountId, name)
    let derived = true
    if (tg.TargetGroupArn !== undefined) {
      const parsed = parseTargetGroupArn(tg.TargetGroupArn)
      if (!parsed) {
        this.report.error(
          [...path, 'TargetGroupArn'],
          `expected arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/16-HEX-ID, got "${tg.TargetGroupArn}"`,
        )
      } else if (parsed.name !== name) {
        this.report.error(
          [...path, 'TargetGroupArn'],
          `the ARN names target group "${parsed.name}" but TargetGroupName is "${name}"`,
        )
      } else {
        arn = tg.TargetGroupArn
        derived = false
      }
    }
    const entry: TargetGroupEntry = { name, arn, derived }
    if (this.targetGroupsByName.has(name)) {
      this.report.error([...path, 'TargetGroupName'], `target group name "${name}" is used twice`)
    } else if (this.targetGroupsByArn.has(arn)) {
      this.report.error([...path, 'TargetGroupArn'], `target group ARN ${arn} is used twice`)
    } else {
      this.targetGroupsByName.set(name, entry)
      this.targetGroupsByArn.set(arn, entry)
    }

    const targetType = (tg as { TargetType?: unknown }).TargetType
    if (targetType !== undefined && targetType !== 'ip' && targetType !== 'instance') {
      this.report.error(
        [...path, 'TargetType'],
        `Portcullis forwards to IP addresses and host names; TargetType ${String(targetType)} is not supported`,
      )
    }
    const protocolVersion = (tg as { ProtocolVersion?: unknown }).ProtocolVersion
    if (protocolVersion !== undefined && protocolVersion !== 'HTTP1') {
      this.report.warn(
        [...path, 'ProtocolVersion'],
        `Portcullis speaks HTTP/1.1 to targets; ProtocolVersion ${String(protocolVersion)} is ignored`,
      )
    }

    let defaultPort: number | undefined
    if (tg.Port !== undefined) {
      defaultPort = this.int(tg.Port)
      this.inRange([...path, 'Port'], defaultPort, 1, 65535, 'the port')
    }
    const targets: TargetModel[] = []
    const seenTargets = new Map<string, number>()
    ;(tg.Targets ?? []).forEach((target, i) => {
      const tpath = [...path, 'Targets', i]
      if (!/^[A-Za-z0-9.:[\]_-]+$/.test(target.Id)) {
        this.report.error([...tpath, 'Id'], `expected an IP address or host name, got "${target.Id}"`)
      }
      const port = target.Port === undefined ? defaultPort : this.int(target.Port)
      if (port === undefined) {
        this.report.error(tpath, 'the target has no Port and the target group has no default Port', 'Id')
        return
      }
      this.inRange(target.Port === undefined ? tpath : [...tpath, 'Port'], port, 1, 65535, 'a target port')
      const id = target.Id.startsWith('[') && target.Id.endsWith(']') ? target.Id.slice(1, -1) : target.Id
      const key = `${id.toLowerCase()}:${port}`
      const first = seenTargets.get(key)
      if (first !== undefined) {
        this.report.error(
          tpath,
          `target ${id}:${port} is already registered by ${formatPath([...path, 'Targets', first])}`,
        )
      }
      seenTargets.set(key, i)
      targets.push({ id, port })
    })
    if (targets.length === 0) {
      this.report.warn(
        path,
        'no targets are registered: requests routed to this target group get 503',
        'TargetGroupName',
      )
    }

    const healthCheck = this.healthCheck(tg, path)
    const attrsPath = [...path, 'Attributes']
    const list = tg.Attributes
    const map = this.attributes(list, attrsPath)
    const acted = new Set([
      'load_balancing.algorithm.type',
      'stickiness.enabled',
      'stickiness.type',
      'stickiness.lb_cookie.duration_seconds',
      'stickiness.app_cookie.cookie_name',
      'stickiness.app_cookie.duration_seconds',
      'deregistration_delay.timeout_seconds',
      'slow_start.duration_seconds',
    ])
    list?.forEach((attribute, i) => {
      const key = attribute.Key
      if (acted.has(key) || PASSIVE_TG_ATTRIBUTES.has(key)) return
      if (PASSIVE_TG_ATTRIBUTE_PREFIXES.some((prefix) => key.startsWith(prefix))) return
      this.report.warn([...attrsPath, i, 'Key'], `unknown target group attribute ${key}; it has no effect`)
    })
    const algorithm = this.enumAttribute<LoadBalancingAlgorithm>(
      map,
      'load_balancing.algorithm.type',
      ['round_robin', 'least_outstanding_requests', 'weighted_random'],
      'round_robin',
      list,
      attrsPath,
    )
    const stickinessEnabled = this.boolAttribute(map, 'stickiness.enabled', false, list, attrsPath)
    const stickinessType = this.enumAttribute(
      map,
      'stickiness.type',
      ['lb_cookie', 'app_cookie'] as const,
      'lb_cookie',
      list,
      attrsPath,
    )
    const lbDuration = this.intAttribute(
      map,
      'stickiness.lb_cookie.duration_seconds',
      86400,
      [1, 604800],
      list,
      attrsPath,
    )
    const appDuration = this.intAttribute(
      map,
      'stickiness.app_cookie.duration_seconds',
      86400,
      [1, 604800],
      list,
      attrsPath,
    )
    const appCookieName = map.get('stickiness.app_cookie.cookie_name')
    let stickiness: StickinessModel | undefined
    if (stickinessEnabled) {
      if (stickinessType === 'app_cookie') {
        const namePath = this.attributePath(list, attrsPath, 'stickiness.app_cookie.cookie_name')
        if (appCookieName === undefined) {
          this.report.error(
            this.attributePath(list, attrsPath, 'stickiness.type'),
            'app_cookie stickiness needs the attribute stickiness.app_cookie.cookie_name',
          )
        } else if (!COOKIE_NAME.test(appCookieName) || /^AWSALB/i.test(appCookieName)) {
          this.report.error(
            namePath,
            `"${appCookieName}" is not usable as a cookie name (names starting with AWSALB are reserved)`,
          )
        }
        stickiness = { type: 'app_cookie', durationSeconds: appDuration, appCookieName }
      } else {
        stickiness = { type: 'lb_cookie', durationSeconds: lbDuration, appCookieName: undefined }
      }
    }
    const deregistrationDelaySeconds = this.intAttribute(
      map,
      'deregistration_delay.timeout_seconds',
      300,
      [0, 3600],
      list,
      attrsPath,
    )
    const slowStartSeconds = this.intAttribute(map, 'slow_start.duration_seconds', 0, [0, 900], list, attrsPath)
    if (slowStartSeconds !== 0 && slowStartSeconds < 30) {
      this.report.error(
        this.attributePath(list, attrsPath, 'slow_start.duration_seconds'),
        `slow_start.duration_seconds must be 0 (off) or 30..900, got ${slowStartSeconds}`,
      )
    }
    if (slowStartSeconds !== 0 && algorithm === 'weighted_random') {
      this.report.error(
        this.attributePath(list, attrsPath, 'slow_start.duration_seconds'),
        'slow start cannot be used with the weighted_random algorithm',
      )
    }

    const ext = tg.Portcullis
    if (ext?.CaFile !== undefined && tg.Protocol === 'HTTP' && healthCheck.protocol === 'HTTP') {
      this.report.warn([...path, 'Portcullis', 'CaFile'], 'CaFile has no effect on an HTTP target group')
    }
    return {
      name,
      arn,
      protocol: tg.Protocol,
      port: defaultPort,
      targets,
      healthCheck,
      algorithm,
      stickiness,
      deregistrationDelaySeconds,
      slowStartSeconds,
      caFile: ext?.CaFile === undefined ? undefined : this.path(ext.CaFile),
      targetTimeoutSeconds: ext?.TargetTimeoutSeconds,
      raw: Object.fromEntries(map),
    }
  }

  private healthCheck(tg: TargetGroupFile, path: FieldPath): HealthCheckModel {
    let port: number | undefined
    if (tg.HealthCheckPort !== undefined && tg.HealthCheckPort !== 'traffic-port') {
      port = this.int(tg.HealthCheckPort)
      this.inRange([...path, 'HealthCheckPort'], port, 1, 65535, 'HealthCheckPort')
    }
    const healthCheckPath = tg.HealthCheckPath ?? '/'
    if (!healthCheckPath.startsWith('/') || healthCheckPath.length > 1024) {
      this.report.error(
        [...path, 'HealthCheckPath'],
        `expected a path starting with "/" of at most 1024 characters, got "${healthCheckPath}"`,
      )
    }
    const setting = (key: keyof TargetGroupFile, fallback: number, min: number, max: number): number => {
      const raw = tg[key] as number | string | undefined
      if (raw === undefined) return fallback
      const n = this.int(raw)
      return this.inRange([...path, key], n, min, max, key) ? n : fallback
    }
    const intervalSeconds = setting('HealthCheckIntervalSeconds', 30, 5, 300)
    // The default timeout (5) shrinks below a shorter explicit interval, so `HealthCheckIntervalSeconds: 5` alone is valid.
    const timeoutSeconds = setting('HealthCheckTimeoutSeconds', Math.min(5, intervalSeconds - 1), 2, 120)
    if (tg.HealthCheckTimeoutSeconds !== undefined && timeoutSeconds >= intervalSeconds) {
      this.report.error(
        [...path, 'HealthCheckTimeoutSeconds'],
        `HealthCheckTimeoutSeconds (${timeoutSeconds}) must be less than HealthCheckIntervalSeconds (${intervalSeconds})`,
      )
    }
    const matcher = tg.Matcher === undefined ? '200' : String(tg.Matcher.HttpCode)
    try {
      parseMatcher(matcher)
    } catch (error) {
      this.report.error([...path, 'Matcher', 'HttpCode'], (error as Error).message)
    }
    return {
      enabled: tg.HealthCheckEnabled ?? true,
      protocol: tg.HealthCheckProtocol ?? tg.Protocol,
      port,
      path: healthCheckPath,
      intervalSeconds,
      timeoutSeconds,
      healthyThresholdCount: setting('HealthyThresholdCount', 5, 2, 10),
      unhealthyThresholdCount: setting('UnhealthyThresholdCount', 2, 2, 10),
      matcher,
    }
  }

  /** Resolves a `TargetGroupArn` reference (an ARN or a TargetGroupName) to the group's ARN. */
  private resolveTargetGroup(ref: string, path: FieldPath): string | undefined {
    const byArn = this.targetGroupsByArn.get(ref) ?? this.targetGroupsByName.get(ref)
    if (byArn) return byArn.arn
    // A rule pasted from describe-rules names the AWS ARN; match a group defined by name only.
    const parsed = parseTargetGroupArn(ref)
    const byName = parsed ? this.targetGroupsByName.get(parsed.name) : undefined
    if (byName?.derived) return byName.arn
    const known = [...this.targetGroupsByName.keys()]
    this.report.error(
      path,
      `target group "${ref}" is not defined in TargetGroups (${known.length ? `known: ${known.join(', ')}` : 'none defined'})`,
    )
    return undefined
  }

  // ----------------------------------------------------------------- listeners

  private listener(l: ListenerFile, i: number, loadBalancerArn: string): ListenerModel {
    const path: FieldPath = ['Listeners', i]
    const port = this.int(l.Port)
    // Port 0 binds any free port: a Portcullis extension for tests and tooling.
    this.inRange([...path, 'Port'], port, 0, 65535, 'the listener port')
    const address = l.Portcullis?.Address ?? '0.0.0.0'
    this.checkAddress([...path, 'Portcullis', 'Address'], address)
    const certificates = this.certificates(l, path)
    const arn = deriveListenerArn(loadBalancerArn, port, i)
    const context: ListenerContext = { path, protocol: l.Protocol, port, address }
    const rules = this.rules(l, context, arn)
    return {
      id: port === 0 ? `listener/0.${i}` : `listener/${port}`,
      arn,
      port,
      address,
      protocol: l.Protocol,
      certificates,
      sslPolicy: l.SslPolicy,
      rules,
    }
  }

  private certificates(l: ListenerFile, path: FieldPath): CertificateModel[] {
    const list = l.Certificates ?? []
    if (l.Protocol === 'HTTPS' && list.length === 0) {
      this.report.error(
        path,
        'an HTTPS listener needs at least one certificate: Certificates: [{ CertificateFile, PrivateKeyFile }]',
        'Protocol',
      )
    }
    if (l.Protocol === 'HTTP' && list.length > 0) {
      this.report.error([...path, 'Certificates'], 'certificates apply to HTTPS listeners only')
    }
    const out: CertificateModel[] = []
    list.forEach((c, j) => {
      const cpath = [...path, 'Certificates', j]
      if (c.CertificateFile === undefined || c.PrivateKeyFile === undefined) {
        const hint =
          c.CertificateArn !== undefined ? 'Portcullis cannot fetch certificates from ACM by CertificateArn; ' : ''
        this.report.error(cpath, `${hint}give CertificateFile and PrivateKeyFile (PEM files)`)
        return
      }
      out.push({
        certificateFile: this.path(c.CertificateFile),
        privateKeyFile: this.path(c.PrivateKeyFile),
        isDefault: out.length === 0,
      })
    })
    return out
  }

  private rules(l: ListenerFile, listener: ListenerContext, listenerArn: string): RuleModel[] {
    const path = listener.path
    const numbered: RuleModel[] = []
    const priorities = new Map<number, FieldPath>()
    let defaultRule: RuleModel | undefined
    let defaultPath: FieldPath | undefined
    if (l.DefaultActions !== undefined) {
      defaultPath = [...path, 'DefaultActions']
      defaultRule = {
        arn: deriveRuleArn(listenerArn, 'default'),
        priority: 'default',
        conditions: [],
        transforms: [],
        actions: this.actions(l.DefaultActions, defaultPath, listener),
      }
    }
    ;(l.Rules ?? []).forEach((rule, j) => {
      const rpath = [...path, 'Rules', j]
      const isDefault = rule.Priority === 'default' || rule.IsDefault === true
      if (isDefault) {
        if (rule.Priority !== 'default') {
          this.report.error([...rpath, 'Priority'], 'a rule with IsDefault: true has Priority "default"')
        } else if (rule.IsDefault === false) {
          this.report.error([...rpath, 'IsDefault'], 'a rule with Priority "default" is the default rule')
        }
        if (defaultPath) {
          this.report.error(
            rpath,
            `the listener's default rule is already given by ${formatPath(defaultPath)}`,
            'Priority',
          )
          return
        }
        defaultPath = rpath
        defaultRule = this.rule(rule, rpath, listener, listenerArn, 'default')
        return
      }
      const priority = this.int(rule.Priority as number | string)
      let usable = this.inRange([...rpath, 'Priority'], priority, 1, MAX_PRIORITY, 'a rule priority')
      const first = priorities.get(priority)
      if (usable && first) {
        this.report.error([...rpath, 'Priority'], `priority ${priority} is already used by ${formatPath(first)}`)
        usable = false
      }
      if (usable) priorities.set(priority, rpath)
      // A rule with a bad priority is still checked, so one pass reports everything.
      const model = this.rule(rule, rpath, listener, listenerArn, priority)
      if (usable) numbered.push(model)
    })
    if (numbered.length > RULES_QUOTA) {
      this.report.warn(
        [...path, 'Rules'],
        `${numbered.length} rules exceed ALB's default quota of ${RULES_QUOTA} rules per listener`,
      )
    }
    if (!defaultRule) {
      this.report.error(
        path,
        'a listener needs DefaultActions (or, as describe-rules writes it, a rule with Priority: default)',
        'Protocol',
      )
    }
    numbered.sort((a, b) => (a.priority as number) - (b.priority as number))
    return defaultRule ? [...numbered, defaultRule] : numbered
  }

  private rule(
    rule: RuleFile,
    path: FieldPath,
    listener: ListenerContext,
    listenerArn: string,
    priority: number | 'default',
  ): RuleModel {
    const conditionsList = rule.Conditions ?? []
    const transformsList = rule.Transforms ?? []
    if (priority === 'default') {
      if (conditionsList.length > 0) this.report.error([...path, 'Conditions'], 'the default rule has no conditions')
      if (transformsList.length > 0)
        this.report.error([...path, 'Transforms'], 'the default rule cannot have transforms')
    } else if (conditionsList.length === 0) {
      this.report.error(path, 'a rule needs at least one condition (only the default rule has none)', 'Priority')
    }
    const conditions = this.conditions(conditionsList, [...path, 'Conditions'])
    const transforms = this.transforms(transformsList, [...path, 'Transforms'])
    const actions = this.actions(rule.Actions, [...path, 'Actions'], listener)
    return { arn: rule.RuleArn ?? deriveRuleArn(listenerArn, priority), priority, conditions, transforms, actions }
  }

  // ---------------------------------------------------------------- conditions

  private conditions(list: readonly ConditionFile[], path: FieldPath): ConditionModel[] {
    const out: ConditionModel[] = []
    const once = new Map<string, number>()
    let wildcards = 0
    let values = 0
    let wildcardsReported = false
    let quotaReported = false
    list.forEach((condition, k) => {
      const cpath = [...path, k]
      const model = this.condition(condition, cpath)
      if (!model) return
      if (['host-header', 'path-pattern', 'http-request-method', 'source-ip'].includes(model.field)) {
        const first = once.get(model.field)
        if (first !== undefined) {
          this.report.error(
            [...cpath, 'Field'],
            `a rule has at most one ${model.field} condition; ${formatPath([...path, first])} is one already`,
          )
        }
        once.set(model.field, k)
      }
      wildcards += countConditionWildcards(model)
      if (wildcards > WILDCARDS_PER_RULE && !wildcardsReported) {
        wildcardsReported = true
        this.report.error(
          cpath,
          `a rule may use at most ${WILDCARDS_PER_RULE} wildcards (* or ?); this one uses ${wildcards}`,
          'Field',
        )
      }
      values += model.values.length + ('regexValues' in model ? model.regexValues.length : 0)
      if (values > CONDITION_VALUES_QUOTA && !quotaReported) {
        quotaReported = true
        this.report.warn(
          cpath,
          `the rule's conditions have ${values} values, over ALB's default quota of ${CONDITION_VALUES_QUOTA} condition values per rule`,
          'Field',
        )
      }
      out.push(model)
    })
    return out
  }

  /** Values from the legacy top-level form and the `…Config` form; both occur in describe-rules output. */
  private merged(
    top: readonly string[] | undefined,
    inner: readonly string[] | undefined,
    path: FieldPath,
    innerKey: string,
    name: string,
  ): string[] {
    if (top !== undefined && inner !== undefined && !sameList(top, inner)) {
      this.report.error([...path, name], `differs from ${innerKey}.${name}; give the values once`)
    }
    return [...(inner ?? top ?? [])]
  }

  private condition(c: ConditionFile, path: FieldPath): ConditionModel | undefined {
    const configKeys = {
      'host-header': 'HostHeaderConfig',
      'path-pattern': 'PathPatternConfig',
      'http-header': 'HttpHeaderConfig',
      'http-request-method': 'HttpRequestMethodConfig',
      'query-string': 'QueryStringConfig',
      'source-ip': 'SourceIpConfig',
    } as const
    const own = configKeys[c.Field]
    for (const [field, key] of Object.entries(configKeys)) {
      if (key !== own && c[key] !== undefined) {
        this.report.error([...path, key], `${key} belongs to Field ${field}, but this condition's Field is ${c.Field}`)
      }
    }
    const legacyOnly = c.Field === 'host-header' || c.Field === 'path-pattern'
    if (!legacyOnly && c.Values !== undefined) {
      this.report.error([...path, 'Values'], `a ${c.Field} condition gives its values in ${own}`)
    }
    const regexCapable = legacyOnly || c.Field === 'http-header'
    if (!regexCapable && c.RegexValues !== undefined) {
      this.report.error(
        [...path, 'RegexValues'],
        `RegexValues applies to host-header, path-pattern and http-header only`,
      )
    }
    const noValues = () => this.report.error(path, `the ${c.Field} condition has no values`, 'Field')
    switch (c.Field) {
      case 'host-header':
      case 'path-pattern': {
        const cfg = c.Field === 'host-header' ? c.HostHeaderConfig : c.PathPatternConfig
        const values = this.merged(c.Values, cfg?.Values, path, own, 'Values')
        const regexValues = this.merged(c.RegexValues, cfg?.RegexValues, path, own, 'RegexValues')
        if (values.length + regexValues.length === 0) noValues()
        const valuesPath = cfg?.Values !== undefined ? [...path, own, 'Values'] : [...path, 'Values']
        values.forEach((v, n) => {
          if (c.Field === 'host-header') this.checkHostValue(v, [...valuesPath, n])
          else this.checkPathValue(v, [...valuesPath, n])
        })
        const regexPath = cfg?.RegexValues !== undefined ? [...path, own, 'RegexValues'] : [...path, 'RegexValues']
        regexValues.forEach((r, n) => {
          this.checkRegex(r, [...regexPath, n], 128)
        })
        return { field: c.Field, values, regexValues }
      }
      case 'http-header': {
        const cfg = c.HttpHeaderConfig
        if (!cfg) {
          this.report.error(
            path,
            'an http-header condition needs HttpHeaderConfig: { HttpHeaderName, Values }',
            'Field',
          )
          return undefined
        }
        const name = cfg.HttpHeaderName
        const npath = [...path, own, 'HttpHeaderName']
        if (name.toLowerCase() === 'host') {
          this.report.error(npath, 'use a host-header condition to match the Host header')
        } else if (/[*?]/.test(name)) {
          this.report.error(npath, 'a header name cannot contain wildcards')
        } else if (!HTTP_TOKEN.test(name) || name.length > 40) {
          this.report.error(npath, `"${name}" is not a valid header name (at most 40 token characters)`)
        }
        const values = [...(cfg.Values ?? [])]
        const regexValues = this.merged(c.RegexValues, cfg.RegexValues, path, own, 'RegexValues')
        if (values.length + regexValues.length === 0) noValues()
        values.forEach((v, n) => {
          this.checkLength(v, [...path, own, 'Values', n], 128)
        })
        const regexPath = cfg.RegexValues !== undefined ? [...path, own, 'RegexValues'] : [...path, 'RegexValues']
        regexValues.forEach((r, n) => {
          this.checkRegex(r, [...regexPath, n], 128)
        })
        return { field: 'http-header', headerName: name, values, regexValues }
      }
      case 'http-request-method': {
        const values = [...(c.HttpRequestMethodConfig?.Values ?? [])]
        if (values.length === 0) noValues()
        values.forEach((v, n) => {
          if (!/^[A-Z_-]{1,40}$/.test(v)) {
            this.report.error(
              [...path, own, 'Values', n],
              `a method is 1..40 characters A-Z, "-" and "_" (matched case-sensitively), got "${v}"`,
            )
          }
        })
        return { field: 'http-request-method', values }
      }
      case 'query-string': {
        const pairs = c.QueryStringConfig?.Values ?? []
        if (pairs.length === 0) noValues()
        pairs.forEach((pair, n) => {
          const ppath = [...path, own, 'Values', n]
          if (pair.Key !== undefined) this.checkLength(pair.Key, [...ppath, 'Key'], 128)
          this.checkLength(pair.Value, [...ppath, 'Value'], 128)
          if (pair.Value === '') this.report.error([...ppath, 'Value'], 'must not be empty')
        })
        return { field: 'query-string', values: pairs.map((p) => ({ key: p.Key, value: p.Value })) }
      }
      case 'source-ip': {
        const values = [...(c.SourceIpConfig?.Values ?? [])]
        if (values.length === 0) noValues()
        values.forEach((v, n) => {
          if (!isCidr(v)) {
            this.report.error(
              [...path, own, 'Values', n],
              `expected a CIDR block such as 192.0.2.0/24 or 2001:db8::/32, got "${v}"`,
            )
          }
        })
        return { field: 'source-ip', values }
      }
    }
  }

  private checkLength(value: string, path: FieldPath, max: number): boolean {
    if (value.length <= max) return true
    this.report.error(path, `at most ${max} characters, got ${value.length}`)
    return false
  }

  private checkHostValue(value: string, path: FieldPath): void {
    if (!this.checkLength(value, path, 128)) return
    if (!/^[A-Za-z0-9.*?-]+$/.test(value)) {
      this.report.error(
        path,
        `a host-header value has letters, digits, "-", ".", "*" and "?" only (no port), got "${value}"`,
      )
    } else if (!/\.[A-Za-z*?]+$/.test(value)) {
      this.report.warn(
        path,
        `ALB requires a "." followed by letters at the end of a host-header value; "${value}" works in Portcullis only`,
      )
    }
  }

  private checkPathValue(value: string, path: FieldPath): void {
    if (!this.checkLength(value, path, 128)) return
    if (!/^[A-Za-z0-9_\-.$/~"'@:+&*?]+$/.test(value)) {
      this.report.error(
        path,
        `a path-pattern value has letters, digits and _ - . $ / ~ " ' @ : + & * ? only, got "${value}"`,
      )
    }
  }

  /** Compiles with the rule engine's own compiler, so that load refuses exactly what it could not run. */
  private checkRegex(value: string, path: FieldPath, max: number): boolean {
    if (!this.checkLength(value, path, max)) return false
    try {
      compileRuleRegex(value)
      return true
    } catch (err) {
      if (!(err instanceof RuleCompileError)) throw err
      this.report.error(
        path,
        `not a valid regular expression: ${err.message.replace(/^invalid regular expression: /, '')}`,
      )
      return false
    }
  }

  // ---------------------------------------------------------------- transforms

  private transforms(list: readonly TransformFile[], path: FieldPath): TransformModel[] {
    const out: TransformModel[] = []
    const seen = new Map<string, number>()
    list.forEach((t, k) => {
      const tpath = [...path, k]
      const first = seen.get(t.Type)
      if (first !== undefined) {
        this.report.error(
          [...tpath, 'Type'],
          `a rule has at most one ${t.Type} transform; ${formatPath([...path, first])} is one`,
        )
      }
      seen.set(t.Type, k)
      const own = t.Type === 'host-header-rewrite' ? 'HostHeaderRewriteConfig' : 'UrlRewriteConfig'
      const other = t.Type === 'host-header-rewrite' ? 'UrlRewriteConfig' : 'HostHeaderRewriteConfig'
      if (t[other] !== undefined)
        this.report.error([...tpath, other], `${other} does not belong to a ${t.Type} transform`)
      const cfg = t[own]
      if (!cfg || cfg.Rewrites.length === 0) {
        this.report.error(tpath, `a ${t.Type} transform needs ${own}: { Rewrites: [{ Regex, Replace }] }`, 'Type')
        return
      }
      if (cfg.Rewrites.length > 1) {
        this.report.error([...tpath, own, 'Rewrites'], 'a transform has exactly one rewrite')
      }
      cfg.Rewrites.forEach((r, n) => {
        const rpath = [...tpath, own, 'Rewrites', n]
        const regexOk = this.checkRegex(r.Regex, [...rpath, 'Regex'], 1024)
        if (this.checkLength(r.Replace, [...rpath, 'Replace'], 1024) && regexOk) {
          try {
            compileRewrite(r.Regex, r.Replace, 'Rewrite')
          } catch (err) {
            if (!(err instanceof RuleCompileError)) throw err
            this.report.error([...rpath, 'Replace'], err.message)
          }
        }
        out.push({ type: t.Type, regex: r.Regex, replace: r.Replace })
      })
    })
    return out
  }

  // ------------------------------------------------------------------- actions

  private actions(list: readonly ActionFile[], path: FieldPath, listener: ListenerContext): ActionModel[] {
    const entries: { order: number; index: number; model: ActionModel }[] = []
    const orders = new Map<number, number>()
    if (list.length === 0) {
      this.report.error(path, 'at least one action is required')
      return []
    }
    list.forEach((action, k) => {
      const apath = [...path, k]
      const order = action.Order === undefined ? k + 1 : this.int(action.Order)
      if (action.Order !== undefined) this.inRange([...apath, 'Order'], order, 1, MAX_ORDER, 'Order')
      const first = orders.get(order)
      if (first !== undefined) {
        this.report.error(
          action.Order !== undefined ? [...apath, 'Order'] : apath,
          `Order ${order} is already used by ${formatPath([...path, first])}`,
        )
      }
      orders.set(order, k)
      const model = this.action(action, apath, order, listener)
      if (model) entries.push({ order, index: k, model })
    })
    entries.sort((a, b) => a.order - b.order || a.index - b.index)
    const finals = entries.filter((e) => isFinal(e.model))
    if (finals.length === 0 && entries.length === list.length) {
      this.report.error(path, 'the actions need one final action: forward, redirect or fixed-response')
    }
    for (const extra of finals.slice(1)) {
      this.report.error(
        [...path, extra.index],
        `only one final action (forward, redirect, fixed-response) per rule; ${formatPath([...path, finals[0]!.index])} is one already`,
        'Type',
      )
    }
    const last = entries[entries.length - 1]
    if (finals.length === 1 && last && !isFinal(last.model)) {
      this.report.error(
        [...path, last.index],
        `${last.model.type} must come before the final action (${finals[0]!.model.type}); give it a lower Order`,
        'Type',
      )
    }
    for (const kind of ['authenticate', 'jwt-validation'] as const) {
      const matching = entries.filter((e) =>
        kind === 'authenticate'
          ? e.model.type === 'authenticate-oidc' || e.model.type === 'authenticate-cognito'
          : e.model.type === 'jwt-validation',
      )
      for (const extra of matching.slice(1)) {
        this.report.error(
          [...path, extra.index],
          `a rule has at most one ${kind === 'authenticate' ? 'authenticate (oidc or cognito)' : 'jwt-validation'} action; ${formatPath([...path, matching[0]!.index])} is one already`,
          'Type',
        )
      }
    }
    return entries.map((e) => e.model)
  }

  private action(a: ActionFile, path: FieldPath, order: number, listener: ListenerContext): ActionModel | undefined {
    const configFor = {
      forward: 'ForwardConfig',
      redirect: 'RedirectConfig',
      'fixed-response': 'FixedResponseConfig',
      'authenticate-oidc': 'AuthenticateOidcConfig',
      'authenticate-cognito': 'AuthenticateCognitoConfig',
      'jwt-validation': 'JwtValidationConfig',
    } as const
    for (const [type, key] of Object.entries(configFor)) {
      if (type !== a.Type && a[key] !== undefined) {
        this.report.error([...path, key], `${key} belongs to Type ${type}, but this action's Type is ${a.Type}`)
      }
    }
    if (a.Type !== 'forward' && a.TargetGroupArn !== undefined) {
      this.report.error(
        [...path, 'TargetGroupArn'],
        `TargetGroupArn belongs to Type forward, but this action's Type is ${a.Type}`,
      )
    }
    const own = configFor[a.Type]
    if (a.Type !== 'forward' && a[own] === undefined) {
      this.report.error(path, `a ${a.Type} action needs ${own}`, 'Type')
      return undefined
    }
    if (a.Type === 'authenticate-oidc' || a.Type === 'authenticate-cognito' || a.Type === 'jwt-validation') {
      this.checkAuthenticationListener(path, a.Type, listener)
    }
    switch (a.Type) {
      case 'forward':
        return this.forward(a, path, order)
      case 'redirect':
        return this.redirect(a.RedirectConfig!, [...path, own], order, listener)
      case 'fixed-response':
        return this.fixedResponse(a.FixedResponseConfig!, [...path, own], order)
      case 'authenticate-oidc':
        return this.authenticateOidc(a.AuthenticateOidcConfig!, [...path, own], order)
      case 'authenticate-cognito':
        return this.authenticateCognito(a.AuthenticateCognitoConfig!, [...path, own], order)
      case 'jwt-validation':
        return this.jwtValidation(a.JwtValidationConfig!, [...path, own], order)
    }
  }

  private forward(a: ActionFile, path: FieldPath, order: number): ActionModel | undefined {
    const cfg = a.ForwardConfig
    if (!cfg) {
      if (a.TargetGroupArn === undefined) {
        this.report.error(path, 'a forward action needs TargetGroupArn or ForwardConfig', 'Type')
        return undefined
      }
      const arn = this.resolveTargetGroup(a.TargetGroupArn, [...path, 'TargetGroupArn'])
      return arn === undefined
        ? undefined
        : { type: 'forward', order, targetGroups: [{ targetGroupArn: arn, weight: 1 }], stickiness: undefined }
    }
    const cpath = [...path, 'ForwardConfig']
    const groups = cfg.TargetGroups
    if (groups.length === 0) {
      this.report.error([...cpath, 'TargetGroups'], 'at least one target group is required')
      return undefined
    }
    if (groups.length > TARGET_GROUPS_PER_FORWARD) {
      this.report.error(
        [...cpath, 'TargetGroups'],
        `a forward action has at most ${TARGET_GROUPS_PER_FORWARD} target groups, got ${groups.length}`,
      )
    }
    const targetGroups: { targetGroupArn: string; weight: number }[] = []
    const seen = new Map<string, number>()
    groups.forEach((g, n) => {
      const gpath = [...cpath, 'TargetGroups', n]
      const arn = this.resolveTargetGroup(g.TargetGroupArn, [...gpath, 'TargetGroupArn'])
      const weight = g.Weight === undefined ? 1 : this.int(g.Weight)
      if (g.Weight !== undefined) this.inRange([...gpath, 'Weight'], weight, 0, 999, 'a weight')
      if (arn === undefined) return
      const first = seen.get(arn)
      if (first !== undefined) {
        this.report.error(
          [...gpath, 'TargetGroupArn'],
          `target group already listed at ${formatPath([...cpath, 'TargetGroups', first])}`,
        )
      }
      seen.set(arn, n)
      targetGroups.push({ targetGroupArn: arn, weight })
    })
    if (a.TargetGroupArn !== undefined) {
      // describe-rules writes both forms for a single-group forward; they must agree.
      const arn = this.resolveTargetGroup(a.TargetGroupArn, [...path, 'TargetGroupArn'])
      if (arn !== undefined && (targetGroups.length !== 1 || targetGroups[0]?.targetGroupArn !== arn)) {
        this.report.error(
          [...path, 'TargetGroupArn'],
          'TargetGroupArn with ForwardConfig is only allowed when ForwardConfig names that single target group',
        )
      }
    }
    if (targetGroups.length > 0 && targetGroups.every((g) => g.weight === 0)) {
      this.report.warn([...cpath, 'TargetGroups'], 'every weight is 0: no request can be forwarded')
    }
    let stickiness: { durationSeconds: number } | undefined
    const sticky = cfg.TargetGroupStickinessConfig
    if (sticky?.Enabled === true) {
      const spath = [...cpath, 'TargetGroupStickinessConfig']
      if (sticky.DurationSeconds === undefined) {
        this.report.error(
          spath,
          'DurationSeconds (1..604800) is required when target group stickiness is enabled',
          'Enabled',
        )
      } else {
        const duration = this.int(sticky.DurationSeconds)
        if (this.inRange([...spath, 'DurationSeconds'], duration, 1, 604800, 'DurationSeconds')) {
          stickiness = { durationSeconds: duration }
        }
      }
    }
    return { type: 'forward', order, targetGroups, stickiness }
  }

  private redirect(
    cfg: NonNullable<ActionFile['RedirectConfig']>,
    path: FieldPath,
    order: number,
    listener: ListenerContext,
  ): ActionModel {
    const protocol = cfg.Protocol ?? '#{protocol}'
    const host = cfg.Host ?? '#{host}'
    const port = cfg.Port === undefined ? '#{port}' : String(cfg.Port)
    const redirectPath = cfg.Path ?? '/#{path}'
    const query = cfg.Query ?? '#{query}'
    if (!['HTTP', 'HTTPS', '#{protocol}'].includes(protocol)) {
      this.report.error([...path, 'Protocol'], `expected HTTP, HTTPS or #{protocol}, got "${protocol}"`)
    }
    if (protocol === 'HTTP' && listener.protocol === 'HTTPS') {
      this.report.error([...path, 'Protocol'], 'a redirect from an HTTPS listener to HTTP is refused (as in ALB)')
    }
    if (port !== '#{port}') {
      this.inRange([...path, 'Port'], /^\d+$/.test(port) ? Number(port) : Number.NaN, 1, 65535, 'Port (or #{port})')
    }
    this.checkLength(host, [...path, 'Host'], 128)
    if (!redirectPath.startsWith('/')) {
      this.report.error([...path, 'Path'], `must start with "/", got "${redirectPath}"`)
    }
    this.checkLength(redirectPath, [...path, 'Path'], 128)
    if (query.startsWith('?')) this.report.error([...path, 'Query'], 'give the query without its leading "?"')
    this.checkLength(query, [...path, 'Query'], 128)
    const changesProtocol = protocol !== '#{protocol}' && protocol !== listener.protocol
    const changesHost = host !== '#{host}'
    const changesPort = port !== '#{port}' && Number(port) !== listener.port
    const changesPath = redirectPath !== '/#{path}'
    if (!changesProtocol && !changesHost && !changesPort && !changesPath) {
      this.report.error(
        path,
        'a redirect must change at least one of Protocol, Host, Port or Path; this one would redirect to the same URL (a loop)',
      )
    }
    return {
      type: 'redirect',
      order,
      protocol,
      host,
      port,
      path: redirectPath,
      query,
      statusCode: cfg.StatusCode === 'HTTP_301' ? 301 : 302,
    }
  }

  private fixedResponse(
    cfg: NonNullable<ActionFile['FixedResponseConfig']>,
    path: FieldPath,
    order: number,
  ): ActionModel {
    const statusCode = this.int(cfg.StatusCode)
    if (!/^[245]\d\d$/.test(String(statusCode))) {
      this.report.error([...path, 'StatusCode'], `expected a 2XX, 4XX or 5XX status code, got ${cfg.StatusCode}`)
    }
    if (
      cfg.ContentType !== undefined &&
      !(FIXED_RESPONSE_CONTENT_TYPES as readonly string[]).includes(cfg.ContentType)
    ) {
      this.report.error(
        [...path, 'ContentType'],
        `expected one of ${FIXED_RESPONSE_CONTENT_TYPES.join(', ')}, got "${cfg.ContentType}"`,
      )
    }
    if (cfg.MessageBody !== undefined && cfg.MessageBody.length > MAX_FIXED_RESPONSE_BODY) {
      this.report.error(
        [...path, 'MessageBody'],
        `at most ${MAX_FIXED_RESPONSE_BODY} characters, got ${cfg.MessageBody.length}`,
      )
    }
    return {
      type: 'fixed-response',
      order,
      statusCode,
      contentType: cfg.ContentType,
      messageBody: cfg.MessageBody,
    }
  }

  /** ALB accepts authentication on HTTPS listeners only; Portcullis adds a loopback-only development opt-in. */
  private checkAuthenticationListener(path: FieldPath, type: string, listener: ListenerContext): void {
    if (listener.protocol === 'HTTPS') return
    if (!this.allowInsecureHttpAuthentication) {
      this.report.error(
        path,
        `${type} is only accepted on HTTPS listeners. For local development, set Portcullis.AllowInsecureHttpAuthentication: true and bind this listener to a loopback address (Portcullis: { Address: 127.0.0.1 })`,
        'Type',
      )
    } else if (!isLoopbackHost(listener.address)) {
      this.report.error(
        path,
        `${type} on an HTTP listener is allowed (AllowInsecureHttpAuthentication) only when the listener binds a loopback address; ${formatPath(listener.path)} binds ${listener.address} — set Portcullis: { Address: 127.0.0.1 }`,
        'Type',
      )
    } else {
      this.report.warn(
        path,
        `${type} on a plain HTTP listener (development opt-in AllowInsecureHttpAuthentication): session cookies and tokens travel unencrypted`,
        'Type',
      )
    }
  }

  /** Checks an IdP URL: https, or http on a loopback host under the development opt-in. */
  private endpoint(value: string, path: FieldPath): string {
    let url: URL
    try {
      url = new URL(value)
    } catch {
      this.report.error(path, `expected a full URL such as https://idp.example.com/…, got "${value}"`)
      return value
    }
    const problem = insecureEndpointProblem(url, this.allowInsecureHttpAuthentication)
    if (problem === 'not-https') this.report.error(path, `must be an https URL, got "${value}"`)
    if (problem === 'needs-opt-in') {
      this.report.error(
        path,
        `must be an https URL; http is allowed for loopback hosts only with Portcullis.AllowInsecureHttpAuthentication: true`,
      )
    }
    if (url.username || url.password) this.report.error(path, 'must not contain credentials')
    if (url.hash) this.report.error(path, 'must not contain a fragment')
    return value
  }

  private authenticateCommon(
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
          }
        | undefined
    },
    path: FieldPath,
  ): Omit<
    AuthenticateCommon,
    'order' | 'issuer' | 'authorizationEndpoint' | 'tokenEndpoint' | 'userInfoEndpoint' | 'clientId' | 'clientSecret'
  > {
    const sessionCookieName = cfg.SessionCookieName ?? DEFAULT_SESSION_COOKIE_NAME
    if (!COOKIE_NAME.test(sessionCookieName)) {
      this.report.error([...path, 'SessionCookieName'], `"${sessionCookieName}" is not a valid cookie name`)
    }
    const scope = cfg.Scope ?? DEFAULT_SCOPE
    if (!scope.split(' ').includes('openid')) {
      this.report.warn([...path, 'Scope'], 'the scope has no "openid": the IdP will not return an ID token')
    }
    let sessionTimeoutSeconds = DEFAULT_SESSION_TIMEOUT_SECONDS
    if (cfg.SessionTimeout !== undefined) {
      const n = this.int(cfg.SessionTimeout)
      if (this.inRange([...path, 'SessionTimeout'], n, 1, 604800, 'SessionTimeout')) sessionTimeoutSeconds = n
    }
    const extra = cfg.AuthenticationRequestExtraParams ?? {}
    const keys = Object.keys(extra)
    if (keys.length > 10) {
      this.report.error([...path, 'AuthenticationRequestExtraParams'], `at most 10 parameters, got ${keys.length}`)
    }
    for (const key of keys) {
      if (RESERVED_AUTH_PARAMS.has(key)) {
        this.report.error(
          [...path, 'AuthenticationRequestExtraParams'],
          `"${key}" is set by the login flow and cannot be overridden`,
          key,
        )
      }
    }
    const ext = cfg.Portcullis
    let identityTokenLifetimeSeconds = DEFAULT_IDENTITY_TOKEN_LIFETIME_SECONDS
    if (ext?.IdentityTokenLifetimeSeconds !== undefined) {
      const n = this.int(ext.IdentityTokenLifetimeSeconds)
      const ok = this.inRange(
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
      jwksUri: ext?.JwksUri === undefined ? undefined : this.endpoint(ext.JwksUri, [...path, 'Portcullis', 'JwksUri']),
      identityTokenLifetimeSeconds,
    }
  }

  private authenticateOidc(
    cfg: NonNullable<ActionFile['AuthenticateOidcConfig']>,
    path: FieldPath,
    order: number,
  ): ActionModel {
    if (cfg.ClientSecret === undefined && cfg.UseExistingClientSecret !== true) {
      this.report.error(path, 'ClientSecret is required (unless UseExistingClientSecret: true)', 'ClientId')
    }
    return {
      type: 'authenticate-oidc',
      order,
      issuer: this.endpoint(cfg.Issuer, [...path, 'Issuer']),
      authorizationEndpoint: this.endpoint(cfg.AuthorizationEndpoint, [...path, 'AuthorizationEndpoint']),
      tokenEndpoint: this.endpoint(cfg.TokenEndpoint, [...path, 'TokenEndpoint']),
      userInfoEndpoint: this.endpoint(cfg.UserInfoEndpoint, [...path, 'UserInfoEndpoint']),
      clientId: cfg.ClientId,
      clientSecret: cfg.ClientSecret,
      ...this.authenticateCommon(cfg, path),
    }
  }

  private authenticateCognito(
    cfg: NonNullable<ActionFile['AuthenticateCognitoConfig']>,
    path: FieldPath,
    order: number,
  ): ActionModel {
    const pool = parseUserPoolArn(cfg.UserPoolArn)
    if (!pool) {
      this.report.error(
        [...path, 'UserPoolArn'],
        `expected arn:aws:cognito-idp:REGION:ACCOUNT:userpool/POOL_ID, got "${cfg.UserPoolArn}"`,
      )
    }
    const region = pool?.region ?? this.region
    const issuer = `https://cognito-idp.${region}.amazonaws.com/${pool?.userPoolId ?? 'invalid'}`
    const base = this.cognitoDomain(cfg.UserPoolDomain, region, [...path, 'UserPoolDomain'])
    const common = this.authenticateCommon(cfg, path)
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
      ...common,
      jwksUri: common.jwksUri ?? `${issuer}/.well-known/jwks.json`,
    }
  }

  /** `https://PREFIX.auth.REGION.amazoncognito.com` for a prefix, `https://DOMAIN` for a custom domain. */
  private cognitoDomain(domain: string, region: string, path: FieldPath): string {
    if (domain.includes('://')) return this.endpoint(domain, path).replace(/\/+$/, '')
    if (domain.includes('.')) {
      if (!/^[A-Za-z0-9.-]+$/.test(domain)) this.report.error(path, `"${domain}" is not a valid domain name`)
      return `https://${domain}`
    }
    if (!/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(domain)) {
      this.report.error(path, `a domain prefix is lower-case letters, digits and hyphens, got "${domain}"`)
    }
    return `https://${domain}.auth.${region}.amazoncognito.com`
  }

  private jwtValidation(
    cfg: NonNullable<ActionFile['JwtValidationConfig']>,
    path: FieldPath,
    order: number,
  ): ActionModel {
    const jwksEndpoint = this.endpoint(cfg.JwksEndpoint, [...path, 'JwksEndpoint'])
    this.checkLength(cfg.JwksEndpoint, [...path, 'JwksEndpoint'], 256)
    this.checkLength(cfg.Issuer, [...path, 'Issuer'], 256)
    const claims = cfg.AdditionalClaims ?? []
    if (claims.length > 10) {
      this.report.error([...path, 'AdditionalClaims'], `at most 10 additional claims, got ${claims.length}`)
    }
    const names = new Map<string, number>()
    claims.forEach((claim, n) => {
      const cpath = [...path, 'AdditionalClaims', n]
      if (RESERVED_CLAIMS.has(claim.Name)) {
        this.report.error([...cpath, 'Name'], `${claim.Name} is always validated and cannot be an additional claim`)
      }
      const first = names.get(claim.Name)
      if (first !== undefined) {
        this.report.error(
          [...cpath, 'Name'],
          `claim ${claim.Name} is already listed at ${formatPath([...path, 'AdditionalClaims', first])}`,
        )
      }
      names.set(claim.Name, n)
      if (claim.Values.length === 0 || claim.Values.length > 10) {
        this.report.error([...cpath, 'Values'], `1..10 values, got ${claim.Values.length}`)
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

  // --------------------------------------------------------------------- ports

  private checkPorts(file: PortcullisFile, listeners: readonly ListenerModel[], portcullis: PortcullisModel): void {
    const ports = new Map<number, number>()
    listeners.forEach((l, i) => {
      if (l.port === 0) return
      const first = ports.get(l.port)
      if (first !== undefined) {
        this.report.error(
          ['Listeners', i, 'Port'],
          `port ${l.port} is already used by ${formatPath(['Listeners', first])}`,
        )
      }
      ports.set(l.port, i)
    })
    const admin = portcullis.admin
    if (admin && admin.port !== 0 && ports.has(admin.port)) {
      const adminPath: FieldPath = file.Portcullis?.Admin ? ['Portcullis', 'Admin', 'Port'] : ['Portcullis']
      this.report.error(
        adminPath,
        `the admin port ${admin.port} is already used by ${formatPath(['Listeners', ports.get(admin.port)!])}`,
      )
    }
  }
}

function isFinal(action: ActionModel): boolean {
  return action.type === 'forward' || action.type === 'redirect' || action.type === 'fixed-response'
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i])
}

/** Counts `*` and `?`; in query-string values a backslash escapes the next character. */
function countWildcards(value: string, escapes: boolean): number {
  let n = 0
  for (let i = 0; i < value.length; i++) {
    const c = value[i]
    if (escapes && c === '\\') i++
    else if (c === '*' || c === '?') n++
  }
  return n
}

function countConditionWildcards(model: ConditionModel): number {
  switch (model.field) {
    case 'host-header':
    case 'path-pattern':
    case 'http-header':
      return model.values.reduce((sum, v) => sum + countWildcards(v, false), 0)
    case 'query-string':
      return model.values.reduce(
        (sum, v) => sum + countWildcards(v.value, true) + (v.key === undefined ? 0 : countWildcards(v.key, true)),
        0,
      )
    default:
      return 0
  }
}

/** ALB's source-ip values are CIDR blocks with a prefix length, parsed as the rule engine parses them. */
function isCidr(value: string): boolean {
  try {
    return parseCidr(value).hasPrefix
  } catch (error) {
    if (error instanceof CidrError) return false
    throw error
  }
}
