/**
 * Terraform: the JSON `terraform show -json` prints for a plan or a state,
 * Terraform's stable machine interface (an HCL file alone leaves variables,
 * modules, `count` and every reference unevaluated). The AWS provider's
 * `aws_lb`/`aws_alb`, `aws_lb_listener`, `aws_lb_listener_rule`,
 * `aws_lb_listener_certificate`, `aws_lb_target_group` and
 * `aws_lb_target_group_attachment` become the ALB model, each field located
 * in the JSON. A plan's values unknown until apply (the ARNs of resources
 * still to be created) are joined through the plan's `configuration`
 * references; any other unknown Portcullis reads is named.
 */

import { BLOCKS } from '../classification.js'
import type { FieldPath } from '../document.js'
import { ConfigError, type ConfigIssue } from '../errors.js'
import { type Origin, OriginMap, type SourceFile, sourceIssue } from './located.js'
import type { Imported, ResourceComment } from './model.js'

type Json = Record<string, unknown>

/** True when the document is `terraform show -json` output. */
export function isTerraformJson(value: unknown): boolean {
  return isObject(value) && 'format_version' in value && ('planned_values' in value || 'values' in value)
}

interface Resource {
  readonly address: string
  readonly type: string
  readonly values: Json
  /** Where `values` is in the file. */
  readonly path: FieldPath
  /** The configuration's expressions of the resource (a plan's), for references. */
  readonly expressions: Json | undefined
}

const LB_TYPES = ['aws_lb', 'aws_alb']
const TG_TYPES = ['aws_lb_target_group', 'aws_alb_target_group']

/** The load balancer arguments that are ALB attributes, by attribute key. */
const LB_ATTRIBUTES: Record<string, string> = {
  idle_timeout: 'idle_timeout.timeout_seconds',
  enable_http2: 'routing.http2.enabled',
  drop_invalid_header_fields: 'routing.http.drop_invalid_header_fields.enabled',
  preserve_host_header: 'routing.http.preserve_host_header.enabled',
  xff_header_processing_mode: 'routing.http.xff_header_processing.mode',
  enable_xff_client_port: 'routing.http.xff_client_port.enabled',
  desync_mitigation_mode: 'routing.http.desync_mitigation_mode',
  client_keep_alive: 'client_keep_alive.seconds',
  enable_tls_version_and_cipher_suite_headers: 'routing.http.x_amzn_tls_version_and_cipher_suite.enabled',
}

/**
 * Converts one `terraform show -json` document.
 *
 * @throws {ConfigError} for what cannot be joined or known, located in the JSON.
 */
export function fromTerraform(file: SourceFile, options: { loadBalancer?: string } = {}): Imported {
  const root = file.document.value as Json
  const at = (path: FieldPath): Origin => ({ file, path })
  const issues: ConfigIssue[] = []
  const notes: ConfigIssue[] = []
  const plan = isObject(root.planned_values)
  const base: FieldPath = plan ? ['planned_values', 'root_module'] : ['values', 'root_module']
  const resources: Resource[] = []
  const expressions = configurationExpressions(root)
  const walk = (module: unknown, path: FieldPath) => {
    if (!isObject(module)) return
    ;(Array.isArray(module.resources) ? module.resources : []).forEach((r, i) => {
      if (!isObject(r) || r.mode === 'data' || typeof r.type !== 'string') return
      resources.push({
        address: String(r.address),
        type: r.type,
        values: isObject(r.values) ? r.values : {},
        path: [...path, 'resources', i, 'values'],
        expressions: expressions.get(String(r.address).replace(/\[[^\]]*\]$/, '')),
      })
    })
    const children = Array.isArray(module.child_modules) ? module.child_modules : []
    for (const [i, child] of children.entries()) walk(child, [...path, 'child_modules', i])
  }
  walk((root[base[0]!] as Json | undefined)?.root_module, base)

  /** An ARN-valued argument: its value, else (unknown until apply) the resource its expression references. */
  const arnOf = (resource: Resource, path: FieldPath): string | undefined => {
    const value = valueAt(resource.values, path)
    if (typeof value === 'string' && value !== '') return value
    const refs = (valueAt(resource.expressions, path) as Json | undefined)?.references
    if (!Array.isArray(refs)) return undefined
    const target = resources.find((r) => refs.includes(r.address) || refs.includes(`${r.address}.arn`))
    // An ELBv2 resource of the plan joins; anything else (an ACM certificate, another module's output) is unknown here.
    if (target && /^aws_(lb|alb)/.test(target.type)) return identity(target)
    return refs.length > 0 ? `unknown:${String(refs[refs.length - 1])}` : undefined
  }
  const identity = (r: Resource): string => (typeof r.values.arn === 'string' ? r.values.arn : `tf:${r.address}`)

  const lbs = resources.filter(
    (r) => LB_TYPES.includes(r.type) && (r.values.load_balancer_type ?? 'application') === 'application',
  )
  let lb: Resource | undefined
  if (options.loadBalancer !== undefined) {
    lb = lbs.find((r) => r.address === options.loadBalancer || r.values.name === options.loadBalancer)
    if (!lb)
      issues.push(
        sourceIssue(
          at(base),
          `--load-balancer ${options.loadBalancer}: no such aws_lb (${lbs.map((r) => r.address).join(', ') || 'none'})`,
        ),
      )
  } else if (lbs.length > 1) {
    issues.push(
      sourceIssue(
        at(lbs[1]!.path.slice(0, -1)),
        `the plan has ${lbs.length} application load balancers (${lbs.map((r) => r.address).join(', ')}); choose one with --load-balancer ADDRESS`,
      ),
    )
  } else lb = lbs[0]
  if (!lb && issues.length === 0)
    issues.push(sourceIssue(at(base), 'no aws_lb (or aws_alb) of type application in the plan or state'))
  if (issues.length > 0 || !lb) throw new ConfigError(issues, undefined)

  const origins = new OriginMap()
  const comments: ResourceComment[] = []
  const region = /^arn:[^:]+:elasticloadbalancing:([^:]+):(\d+):/.exec(identity(lb))
  // A plan names the provider's region even before any ARN exists.
  const providerRegion = valueAt(root, [
    'configuration',
    'provider_config',
    'aws',
    'expressions',
    'region',
    'constant_value',
  ])
  const comment = (path: FieldPath, r: Resource) =>
    comments.push({
      path,
      text: `from ${file.name}: ${r.address}, line ${file.document.locate(r.path.slice(0, -1))?.line ?? 1}`,
    })
  /** Sets `out[key]` from the resource's `field`, located there. */
  const put = (
    out: Json,
    outPath: FieldPath,
    key: string,
    r: Resource,
    field: FieldPath,
    value = valueAt(r.values, field),
  ) => {
    if (value === undefined || value === null) return
    out[key] = value
    origins.set([...outPath, key], at([...r.path, ...field]))
  }

  const loadBalancer: Json = {}
  origins.set(['LoadBalancer'], at(lb.path))
  put(loadBalancer, ['LoadBalancer'], 'LoadBalancerName', lb, ['name'], lb.values.name ?? lb.address.split('.').pop())
  if (region) {
    loadBalancer.Region = region[1]
    loadBalancer.AccountId = region[2]
    loadBalancer.LoadBalancerArn = identity(lb)
  } else if (typeof providerRegion === 'string') loadBalancer.Region = providerRegion
  const attributes: Json[] = []
  for (const [argument, key] of Object.entries(LB_ATTRIBUTES)) {
    const value = lb.values[argument]
    if (value === undefined || value === null || !(key in BLOCKS.LoadBalancerAttribute.fields)) continue
    origins.set(['LoadBalancer', 'Attributes', attributes.length], at([...lb.path, argument]))
    attributes.push({ Key: key, Value: String(value) })
  }
  if (attributes.length > 0) loadBalancer.Attributes = attributes
  comment(['LoadBalancer'], lb)

  const action = (r: Resource, path: FieldPath, outPath: FieldPath): Json => {
    const a = valueAt(r.values, path) as Json
    const out: Json = {}
    origins.set(outPath, at([...r.path, ...path]))
    put(out, outPath, 'Type', r, [...path, 'type'])
    put(out, outPath, 'Order', r, [...path, 'order'])
    const tg = arnOf(r, [...path, 'target_group_arn'])
    if (tg && a.type === 'forward')
      put(
        out,
        outPath,
        'TargetGroupArn',
        r,
        [...path, 'target_group_arn'],
        groupRef(tg, r, [...path, 'target_group_arn']),
      )
    const forward = first(a.forward)
    if (forward && a.type === 'forward') {
      const groups = (Array.isArray(forward.target_group) ? forward.target_group : []).map((g, k) => {
        const gp = [...path, 'forward', 0, 'target_group', k]
        const arn = arnOf(r, [...gp, 'arn'])
        return {
          TargetGroupArn: arn === undefined ? undefined : groupRef(arn, r, [...gp, 'arn']),
          Weight: (g as Json).weight,
        }
      })
      const sticky = first(forward.stickiness)
      out.ForwardConfig = {
        TargetGroups: groups,
        ...(sticky
          ? { TargetGroupStickinessConfig: { Enabled: sticky.enabled, DurationSeconds: sticky.duration } }
          : {}),
      }
      origins.set([...outPath, 'ForwardConfig'], at([...r.path, ...path, 'forward', 0]))
      delete out.TargetGroupArn
    }
    const redirect = first(a.redirect)
    if (redirect && a.type === 'redirect') {
      out.RedirectConfig = pick(redirect, {
        protocol: 'Protocol',
        port: 'Port',
        host: 'Host',
        path: 'Path',
        query: 'Query',
        status_code: 'StatusCode',
      })
      origins.set([...outPath, 'RedirectConfig'], at([...r.path, ...path, 'redirect', 0]))
    }
    const fixed = first(a.fixed_response)
    if (fixed && a.type === 'fixed-response') {
      out.FixedResponseConfig = pick(fixed, {
        status_code: 'StatusCode',
        content_type: 'ContentType',
        message_body: 'MessageBody',
      })
      origins.set([...outPath, 'FixedResponseConfig'], at([...r.path, ...path, 'fixed_response', 0]))
    }
    const common = {
      scope: 'Scope',
      session_cookie_name: 'SessionCookieName',
      session_timeout: 'SessionTimeout',
      on_unauthenticated_request: 'OnUnauthenticatedRequest',
      authentication_request_extra_params: 'AuthenticationRequestExtraParams',
    }
    const oidc = first(a.authenticate_oidc)
    if (oidc && a.type === 'authenticate-oidc') {
      const config = pick(oidc, {
        issuer: 'Issuer',
        authorization_endpoint: 'AuthorizationEndpoint',
        token_endpoint: 'TokenEndpoint',
        user_info_endpoint: 'UserInfoEndpoint',
        client_id: 'ClientId',
        ...common,
      })
      // The secret never goes into the written file: the environment gives it, as for pasted output.
      config.UseExistingClientSecret = true
      out.AuthenticateOidcConfig = config
      origins.set([...outPath, 'AuthenticateOidcConfig'], at([...r.path, ...path, 'authenticate_oidc', 0]))
      origins.set(
        [...outPath, 'AuthenticateOidcConfig', 'UseExistingClientSecret'],
        at([...r.path, ...path, 'authenticate_oidc', 0, 'client_secret']),
      )
    }
    const cognito = first(a.authenticate_cognito)
    if (cognito && a.type === 'authenticate-cognito') {
      out.AuthenticateCognitoConfig = pick(cognito, {
        user_pool_arn: 'UserPoolArn',
        user_pool_client_id: 'UserPoolClientId',
        user_pool_domain: 'UserPoolDomain',
        ...common,
      })
      origins.set([...outPath, 'AuthenticateCognitoConfig'], at([...r.path, ...path, 'authenticate_cognito', 0]))
    }
    return out
  }
  /** A target group ARN as the configuration names it: the group's name when Terraform knows no ARN yet. */
  const groupRef = (arn: string, r: Resource, path: FieldPath): string => {
    const group = resources.find((g) => TG_TYPES.includes(g.type) && identity(g) === arn)
    if (group) return groupName(group)
    if (arn.startsWith('unknown:'))
      issues.push(sourceIssue(at([...r.path, ...path]), `${arn.slice(8)} is not a target group of this plan`))
    return arn
  }
  const groupName = (g: Resource): string => (typeof g.values.name === 'string' ? g.values.name : g.address)

  const standIn = (arn: string, r: Resource, path: FieldPath): string => {
    if (!arn.startsWith('unknown:')) return arn
    const stand = `arn:aws:acm:${region?.[1] ?? (typeof providerRegion === 'string' ? providerRegion : 'us-east-1')}:${region?.[2] ?? '000000000000'}:certificate/${arn.slice(8).replace(/\.arn$/, '')}`
    notes.push({
      ...sourceIssue(
        at([...r.path, ...path]),
        `${arn.slice(8)} is known only after apply: it stands as ${stand}; give its files in the overlay (Certificates)`,
      ),
      severity: 'warning',
    })
    return stand
  }
  const listeners: Json[] = []
  const listenerIds: string[] = []
  for (const r of resources.filter((x) => x.type === 'aws_lb_listener' || x.type === 'aws_alb_listener')) {
    if (arnOf(r, ['load_balancer_arn']) !== identity(lb)) continue
    const path: FieldPath = ['Listeners', listeners.length]
    const out: Json = {}
    origins.set(path, at(r.path))
    put(out, path, 'Port', r, ['port'])
    put(out, path, 'Protocol', r, ['protocol'])
    put(out, path, 'SslPolicy', r, ['ssl_policy'])
    const certificate = arnOf(r, ['certificate_arn'])
    if (certificate !== undefined) {
      out.Certificates = [{ CertificateArn: standIn(certificate, r, ['certificate_arn']) }]
      origins.set([...path, 'Certificates'], at([...r.path, 'certificate_arn']))
    }
    const actions = Array.isArray(r.values.default_action) ? r.values.default_action : []
    out.DefaultActions = actions.map((_a, k) => action(r, ['default_action', k], [...path, 'DefaultActions', k]))
    listeners.push(out)
    listenerIds.push(identity(r))
    comment(path, r)
  }
  const listenerOf = (r: Resource): number | undefined => {
    const arn = arnOf(r, ['listener_arn'])
    const i = arn === undefined ? -1 : listenerIds.indexOf(arn)
    if (i === -1 && (arn === undefined || arn.startsWith('unknown:'))) {
      const what = arn === undefined ? 'nothing the plan knows' : arn.slice('unknown:'.length)
      issues.push(
        sourceIssue(
          at(r.path.slice(0, -1)),
          `${r.address}: its listener_arn is ${what}, not a listener of this plan`,
          'address',
        ),
      )
    }
    // A listener of another load balancer of the plan: not this import's.
    return i === -1 ? undefined : i
  }
  for (const r of resources.filter((x) => x.type === 'aws_lb_listener_rule' || x.type === 'aws_alb_listener_rule')) {
    const i = listenerOf(r)
    if (i === undefined) continue
    const listener = listeners[i]!
    listener.Rules ??= []
    const rules = listener.Rules as Json[]
    const path: FieldPath = ['Listeners', i, 'Rules', rules.length]
    const out: Json = {}
    origins.set(path, at(r.path))
    put(out, path, 'Priority', r, ['priority'])
    const conditions = Array.isArray(r.values.condition) ? (r.values.condition as Json[]) : []
    out.Conditions = conditions.flatMap((c, k) =>
      condition(c).map((converted) => {
        origins.set([...path, 'Conditions', k], at([...r.path, 'condition', k]))
        return converted
      }),
    )
    const actions = Array.isArray(r.values.action) ? r.values.action : []
    out.Actions = actions.map((_a, k) => action(r, ['action', k], [...path, 'Actions', k]))
    rules.push(out)
    comment(path, r)
  }
  for (const r of resources.filter((x) => x.type === 'aws_lb_listener_certificate')) {
    const i = listenerOf(r)
    if (i === undefined) continue
    const certificate = arnOf(r, ['certificate_arn'])
    if (certificate === undefined) continue
    listeners[i]!.Certificates ??= []
    const list = listeners[i]!.Certificates as Json[]
    origins.set(['Listeners', i, 'Certificates', list.length], at([...r.path, 'certificate_arn']))
    list.push({ CertificateArn: standIn(certificate, r, ['certificate_arn']) })
  }

  const groups: Json[] = []
  for (const g of resources.filter((x) => TG_TYPES.includes(x.type))) {
    const path: FieldPath = ['TargetGroups', groups.length]
    const out: Json = { TargetGroupName: groupName(g) }
    origins.set(path, at(g.path))
    put(out, path, 'Protocol', g, ['protocol'])
    put(out, path, 'Port', g, ['port'])
    put(out, path, 'TargetType', g, ['target_type'])
    put(out, path, 'ProtocolVersion', g, ['protocol_version'])
    const hc = first(g.values.health_check)
    if (hc) {
      const fields: [string, string][] = [
        ['enabled', 'HealthCheckEnabled'],
        ['path', 'HealthCheckPath'],
        ['port', 'HealthCheckPort'],
        ['protocol', 'HealthCheckProtocol'],
        ['interval', 'HealthCheckIntervalSeconds'],
        ['timeout', 'HealthCheckTimeoutSeconds'],
        ['healthy_threshold', 'HealthyThresholdCount'],
        ['unhealthy_threshold', 'UnhealthyThresholdCount'],
      ]
      for (const [from, to] of fields) put(out, path, to, g, ['health_check', 0, from])
      // Terraform's one `matcher` holds gRPC codes for a GRPC group, as ALB's Matcher does in GrpcCode.
      if (typeof hc.matcher === 'string' && hc.matcher !== '') {
        const codes = g.values.protocol_version === 'GRPC' ? { GrpcCode: hc.matcher } : { HttpCode: hc.matcher }
        put(out, path, 'Matcher', g, ['health_check', 0, 'matcher'], codes)
      }
    }
    const attributes: Json[] = []
    const attribute = (key: string, field: FieldPath, value = valueAt(g.values, field)) => {
      if (value === undefined || value === null || value === '') return
      origins.set([...path, 'Attributes', attributes.length], at([...g.path, ...field]))
      attributes.push({ Key: key, Value: String(value) })
    }
    attribute('deregistration_delay.timeout_seconds', ['deregistration_delay'])
    attribute('load_balancing.algorithm.type', ['load_balancing_algorithm_type'])
    attribute('slow_start.duration_seconds', ['slow_start'])
    const sticky = first(g.values.stickiness)
    if (sticky) {
      attribute('stickiness.enabled', ['stickiness', 0, 'enabled'])
      attribute('stickiness.type', ['stickiness', 0, 'type'])
      attribute('stickiness.lb_cookie.duration_seconds', ['stickiness', 0, 'cookie_duration'])
      if (sticky.type === 'app_cookie') attribute('stickiness.app_cookie.cookie_name', ['stickiness', 0, 'cookie_name'])
    }
    if (attributes.length > 0) out.Attributes = attributes
    const targets: Json[] = []
    for (const a of resources.filter(
      (x) => x.type === 'aws_lb_target_group_attachment' || x.type === 'aws_alb_target_group_attachment',
    )) {
      if (arnOf(a, ['target_group_arn']) !== identity(g)) continue
      const id = a.values.target_id
      if (typeof id !== 'string') {
        notes.push({
          ...sourceIssue(
            at(a.path),
            `${a.address}: its target_id is known only after apply; give ${groupName(g)}'s targets in the overlay (TargetGroups)`,
          ),
          severity: 'warning',
        })
        continue
      }
      origins.set([...path, 'Targets', targets.length], at(a.path))
      targets.push({
        Id: id,
        ...(a.values.port === undefined || a.values.port === null ? {} : { Port: a.values.port }),
      })
    }
    if (targets.length > 0) out.Targets = targets
    groups.push(out)
    comment(path, g)
  }
  if (issues.length > 0) throw new ConfigError(issues, undefined)
  const value: Json = { LoadBalancer: loadBalancer, Listeners: listeners }
  if (groups.length > 0) value.TargetGroups = groups
  return { value, origins, comments, notes }
}

/** One `condition` block: each of its sub-blocks is one ELBv2 condition. */
function condition(c: Json): Json[] {
  const out: Json[] = []
  const values = (block: unknown) => (first(block)?.values as unknown[] | undefined) ?? []
  if (first(c.host_header)) out.push({ Field: 'host-header', HostHeaderConfig: { Values: values(c.host_header) } })
  if (first(c.path_pattern)) out.push({ Field: 'path-pattern', PathPatternConfig: { Values: values(c.path_pattern) } })
  const header = first(c.http_header)
  if (header)
    out.push({
      Field: 'http-header',
      HttpHeaderConfig: { HttpHeaderName: header.http_header_name, Values: header.values ?? [] },
    })
  if (first(c.http_request_method))
    out.push({ Field: 'http-request-method', HttpRequestMethodConfig: { Values: values(c.http_request_method) } })
  if (Array.isArray(c.query_string) && c.query_string.length > 0) {
    out.push({
      Field: 'query-string',
      QueryStringConfig: {
        Values: (c.query_string as Json[]).map((q) => ({ ...(q.key ? { Key: q.key } : {}), Value: q.value })),
      },
    })
  }
  if (first(c.source_ip)) out.push({ Field: 'source-ip', SourceIpConfig: { Values: values(c.source_ip) } })
  return out
}

/** A plan's configuration expressions by resource address (the root module's and its module calls'). */
function configurationExpressions(root: Json): Map<string, Json> {
  const out = new Map<string, Json>()
  const walk = (module: unknown, prefix: string) => {
    if (!isObject(module)) return
    for (const r of Array.isArray(module.resources) ? module.resources : []) {
      if (isObject(r) && isObject(r.expressions)) out.set(`${prefix}${String(r.address)}`, r.expressions)
    }
    const calls = isObject(module.module_calls) ? module.module_calls : {}
    for (const [name, call] of Object.entries(calls)) walk((call as Json).module, `${prefix}module.${name}.`)
  }
  walk((root.configuration as Json | undefined)?.root_module, '')
  return out
}

function first(value: unknown): Json | undefined {
  const item = Array.isArray(value) ? value[0] : undefined
  return isObject(item) ? item : undefined
}

function pick(from: Json, names: Record<string, string>): Json {
  const out: Json = {}
  for (const [snake, pascal] of Object.entries(names)) {
    const v = from[snake]
    if (v !== undefined && v !== null && v !== '' && !(isObject(v) && Object.keys(v).length === 0)) {
      out[pascal] = typeof v === 'number' && pascal !== 'SessionTimeout' && pascal !== 'Weight' ? String(v) : v
    }
  }
  return out
}

function valueAt(root: unknown, path: FieldPath): unknown {
  let node = root
  for (const segment of path) {
    if (node === null || typeof node !== 'object') return undefined
    node = (node as Record<string | number, unknown>)[segment]
  }
  return node
}

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}
