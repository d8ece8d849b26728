import { parseGrpcMatcher, parseMatcher } from '../../values/http-codes.js'
import { deriveTargetGroupArn, parseTargetGroupArn } from '../arn.js'
import { type FieldPath, formatPath } from '../document.js'
import type {
  HealthCheckModel,
  LoadBalancingAlgorithm,
  StickinessModel,
  TargetGroupModel,
  TargetModel,
} from '../model.js'
import type { TargetGroupFile } from '../schema.js'
import { Attributes } from './attributes.js'
import { COOKIE_NAME, inRange, RESOURCE_NAME, resolvePath, TARGET_ADDRESS, toInt } from './checks.js'
import type { AccountContext, BaseContext, NormaliseContext, TargetGroupRef } from './context.js'
import { INSTANCE_ID } from './portcullis.js'

// Kept here for the attribute suites (test/e2e), which hold each acted attribute to a test.
export { ACTED_TARGET_GROUP_ATTRIBUTES } from '../classification.js'

/**
 * One entry of `TargetGroups`: name and ARN (derived from the load
 * balancer's region and account when absent), targets, health check and
 * attributes.
 */
export function normaliseTargetGroup(
  tg: TargetGroupFile,
  path: FieldPath,
  ctx: AccountContext,
  instanceAddresses: Readonly<Record<string, string>>,
): TargetGroupModel {
  const name = tg.TargetGroupName
  if (!RESOURCE_NAME.test(name)) {
    ctx.report.error(
      [...path, 'TargetGroupName'],
      `a target group name is 1..32 letters, digits and hyphens, not starting or ending with a hyphen; got "${name}"`,
    )
  }
  let arn = deriveTargetGroupArn(ctx.region, ctx.accountId, name)
  if (tg.TargetGroupArn !== undefined) {
    const parsed = parseTargetGroupArn(tg.TargetGroupArn)
    if (!parsed) {
      ctx.report.error(
        [...path, 'TargetGroupArn'],
        `expected arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/16-HEX-ID, got "${tg.TargetGroupArn}"`,
      )
    } else if (parsed.name !== name) {
      ctx.report.error(
        [...path, 'TargetGroupArn'],
        `the ARN names target group "${parsed.name}" but TargetGroupName is "${name}"`,
      )
    } else {
      arn = tg.TargetGroupArn
    }
  }

  // A Lambda target group has no protocol and no addresses: the field check refuses it, and an audit goes on without them.
  const lambda = tg.TargetType === 'lambda'
  if (tg.Protocol === undefined && !lambda) ctx.report.error([...path, 'Protocol'], 'required field is missing')
  const protocol = tg.Protocol ?? 'HTTP'
  let defaultPort: number | undefined
  if (tg.Port !== undefined) {
    defaultPort = toInt(tg.Port)
    inRange(ctx, [...path, 'Port'], defaultPort, 1, 65535, 'the port')
  }
  const protocolVersion = normaliseProtocolVersion(tg, path, ctx)
  const healthCheck = normaliseHealthCheck(tg, protocolVersion, path, ctx)
  const attrs = new Attributes(ctx, tg.Attributes, [...path, 'Attributes'])
  const algorithm = attrs.oneOf<LoadBalancingAlgorithm>(
    'load_balancing.algorithm.type',
    ['round_robin', 'least_outstanding_requests', 'weighted_random'],
    'round_robin',
  )
  const slowStartSeconds = attrs.int('slow_start.duration_seconds', 0, [0, 900])
  if (slowStartSeconds !== 0 && slowStartSeconds < 30) {
    ctx.report.error(
      attrs.pathOf('slow_start.duration_seconds'),
      `slow_start.duration_seconds must be 0 (off) or 30..900, got ${slowStartSeconds}`,
    )
  }
  // ALB: "You can't enable slow start mode when using the least outstanding requests or weighted random routing algorithms."
  if (slowStartSeconds !== 0 && algorithm !== 'round_robin') {
    ctx.report.error(
      attrs.pathOf('slow_start.duration_seconds'),
      `slow start cannot be used with the ${algorithm} algorithm (round_robin only)`,
    )
  }

  const ext = tg.Portcullis
  if (ext?.CaFile !== undefined && protocol === 'HTTP' && healthCheck.protocol === 'HTTP') {
    ctx.report.warn([...path, 'Portcullis', 'CaFile'], 'CaFile has no effect on an HTTP target group')
  }
  return {
    name,
    arn,
    protocol,
    protocolVersion,
    port: defaultPort,
    targets: lambda ? [] : targets(tg, defaultPort, path, ctx, instanceAddresses),
    healthCheck,
    algorithm,
    stickiness: stickiness(attrs, ctx),
    slowStartSeconds,
    deregistrationDelaySeconds: attrs.int('deregistration_delay.timeout_seconds', 300, [0, 3600]),
    caFile: ext?.CaFile === undefined ? undefined : resolvePath(ctx, ext.CaFile),
    targetTimeoutSeconds: ext?.TargetTimeoutSeconds,
    raw: attrs.raw(),
  }
}

/**
 * The registered targets, from `Targets` or, as `describe-target-health`
 * prints them, from `TargetHealthDescriptions[].Target`. An instance id is
 * looked up in `Portcullis.InstanceAddresses`: Portcullis cannot ask EC2.
 */
function targets(
  tg: TargetGroupFile,
  defaultPort: number | undefined,
  path: FieldPath,
  ctx: BaseContext,
  instanceAddresses: Readonly<Record<string, string>>,
): TargetModel[] {
  const out: TargetModel[] = []
  const seen = new Map<string, number>()
  if (tg.Targets !== undefined && tg.TargetHealthDescriptions !== undefined) {
    ctx.report.error(
      [...path, 'TargetHealthDescriptions'],
      'give the targets once: Targets or TargetHealthDescriptions (describe-target-health output), not both',
    )
  }
  const listed =
    tg.Targets !== undefined
      ? tg.Targets.map((target, i) => ({ target, tpath: [...path, 'Targets', i] }))
      : (tg.TargetHealthDescriptions ?? []).map((d, i) => ({
          target: d.Target,
          tpath: [...path, 'TargetHealthDescriptions', i, 'Target'],
        }))
  listed.forEach(({ target, tpath }, i) => {
    let address = target.Id
    if (INSTANCE_ID.test(target.Id)) {
      const mapped = instanceAddresses[target.Id]
      if (mapped === undefined) {
        ctx.report.need(
          [...tpath, 'Id'],
          `${target.Id} is an EC2 instance id; Portcullis connects to addresses and cannot look instances up: add Portcullis.InstanceAddresses: { ${target.Id}: ADDRESS } (its private IP address or host name)`,
        )
        return
      }
      address = mapped
    } else if (!TARGET_ADDRESS.test(target.Id)) {
      ctx.report.error([...tpath, 'Id'], `expected an IP address or host name, got "${target.Id}"`)
    }
    const port = target.Port === undefined ? defaultPort : toInt(target.Port)
    if (port === undefined) {
      ctx.report.error(tpath, 'the target has no Port and the target group has no default Port', 'Id')
      return
    }
    inRange(ctx, target.Port === undefined ? tpath : [...tpath, 'Port'], port, 1, 65535, 'a target port')
    const id = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address
    const key = `${id.toLowerCase()}:${port}`
    const first = seen.get(key)
    if (first !== undefined) {
      ctx.report.error(tpath, `target ${id}:${port} is already registered by ${formatPath(listed[first]!.tpath)}`)
    }
    seen.set(key, i)
    out.push({ id, port })
  })
  // Targets that were listed but refused are reported already; only a group with none at all is warned about.
  if (listed.length === 0) {
    ctx.report.warn(path, 'no targets are registered: requests routed to this target group get 503', 'TargetGroupName')
  }
  return out
}

function stickiness(attrs: Attributes, ctx: BaseContext): StickinessModel | undefined {
  // Every stickiness attribute is checked, whether or not stickiness is on.
  const enabled = attrs.bool('stickiness.enabled', false)
  const type = attrs.oneOf('stickiness.type', ['lb_cookie', 'app_cookie'] as const, 'lb_cookie')
  const lbDuration = attrs.int('stickiness.lb_cookie.duration_seconds', 86400, [1, 604800])
  const appDuration = attrs.int('stickiness.app_cookie.duration_seconds', 86400, [1, 604800])
  if (!enabled) return undefined
  if (type === 'lb_cookie') return { type: 'lb_cookie', durationSeconds: lbDuration, appCookieName: undefined }
  const appCookieName = attrs.string('stickiness.app_cookie.cookie_name')
  if (appCookieName === undefined) {
    ctx.report.error(
      attrs.pathOf('stickiness.type'),
      'app_cookie stickiness needs the attribute stickiness.app_cookie.cookie_name',
    )
  } else if (!COOKIE_NAME.test(appCookieName) || /^AWSALB/i.test(appCookieName)) {
    ctx.report.error(
      attrs.pathOf('stickiness.app_cookie.cookie_name'),
      `"${appCookieName}" is not usable as a cookie name (names starting with AWSALB are reserved)`,
    )
  }
  return { type: 'app_cookie', durationSeconds: appDuration, appCookieName }
}

/** `ProtocolVersion` (ALB: `HTTP1`, `HTTP2`, `GRPC`). */
function normaliseProtocolVersion(
  tg: TargetGroupFile,
  path: FieldPath,
  ctx: BaseContext,
): TargetGroupModel['protocolVersion'] {
  const version = tg.ProtocolVersion ?? 'HTTP1'
  if (version !== 'HTTP1' && version !== 'HTTP2' && version !== 'GRPC') {
    ctx.report.error([...path, 'ProtocolVersion'], `expected HTTP1, HTTP2 or GRPC, got "${version}"`)
    return 'HTTP1'
  }
  return version
}

/** ALB's default health-check path of a `GRPC` group: a method no service implements, answered UNIMPLEMENTED (12). */
export const GRPC_HEALTH_CHECK_PATH = '/AWS.ALB/healthcheck'

/** ALB's default `Matcher.GrpcCode`: UNIMPLEMENTED, what a live gRPC server answers for the default path. */
export const GRPC_HEALTHY_CODES = '12'

/** The health check of a target group, with ALB's defaults; the matcher is parsed as the health checker parses it. */
function normaliseHealthCheck(
  tg: TargetGroupFile,
  protocolVersion: TargetGroupModel['protocolVersion'],
  path: FieldPath,
  ctx: BaseContext,
): HealthCheckModel {
  let port: number | undefined
  if (tg.HealthCheckPort !== undefined && tg.HealthCheckPort !== 'traffic-port') {
    port = toInt(tg.HealthCheckPort)
    inRange(ctx, [...path, 'HealthCheckPort'], port, 1, 65535, 'HealthCheckPort')
  }
  const healthCheckPath = tg.HealthCheckPath ?? (protocolVersion === 'GRPC' ? GRPC_HEALTH_CHECK_PATH : '/')
  if (!healthCheckPath.startsWith('/') || healthCheckPath.length > 1024) {
    ctx.report.error(
      [...path, 'HealthCheckPath'],
      `expected a path starting with "/" of at most 1024 characters, got "${healthCheckPath}"`,
    )
  }
  const setting = (key: keyof TargetGroupFile, fallback: number, min: number, max: number): number => {
    const raw = tg[key] as number | string | undefined
    if (raw === undefined) return fallback
    const n = toInt(raw)
    return inRange(ctx, [...path, key], n, min, max, key) ? n : fallback
  }
  const intervalSeconds = setting('HealthCheckIntervalSeconds', 30, 5, 300)
  // The default timeout (5) shrinks below a shorter explicit interval, so `HealthCheckIntervalSeconds: 5` alone is valid.
  const timeoutSeconds = setting('HealthCheckTimeoutSeconds', Math.min(5, intervalSeconds - 1), 2, 120)
  if (tg.HealthCheckTimeoutSeconds !== undefined && timeoutSeconds >= intervalSeconds) {
    ctx.report.error(
      [...path, 'HealthCheckTimeoutSeconds'],
      `HealthCheckTimeoutSeconds (${timeoutSeconds}) must be less than HealthCheckIntervalSeconds (${intervalSeconds})`,
    )
  }
  const matcher = normaliseMatcher(tg, protocolVersion, path, ctx)
  return {
    enabled: tg.HealthCheckEnabled ?? true,
    protocol: tg.HealthCheckProtocol ?? tg.Protocol ?? 'HTTP',
    port,
    path: healthCheckPath,
    intervalSeconds,
    timeoutSeconds,
    healthyThresholdCount: setting('HealthyThresholdCount', 5, 2, 10),
    unhealthyThresholdCount: setting('UnhealthyThresholdCount', 2, 2, 10),
    protocolVersion,
    matcher,
  }
}

/**
 * The health check's `Matcher`, parsed as the health checker parses it: gRPC
 * status codes (`GrpcCode`, default 12) for a `GRPC` group, HTTP codes
 * (`HttpCode`, default 200) otherwise. The other field would be ignored by the
 * checker, so it is refused rather than accepted for nothing.
 */
function normaliseMatcher(
  tg: TargetGroupFile,
  protocolVersion: TargetGroupModel['protocolVersion'],
  path: FieldPath,
  ctx: BaseContext,
): string {
  const grpc = protocolVersion === 'GRPC'
  const wrong = grpc ? 'HttpCode' : 'GrpcCode'
  if (tg.Matcher?.[wrong] !== undefined) {
    ctx.report.error(
      [...path, 'Matcher', wrong],
      grpc
        ? 'a GRPC target group is health-checked with a gRPC call: give Matcher.GrpcCode (gRPC status codes 0..99, default 12), not HttpCode'
        : `GrpcCode is for GRPC target groups; this one's ProtocolVersion is ${protocolVersion}: give Matcher.HttpCode (HTTP codes 200..499, default 200)`,
    )
  }
  const given = grpc ? tg.Matcher?.GrpcCode : tg.Matcher?.HttpCode
  const matcher = given === undefined ? (grpc ? GRPC_HEALTHY_CODES : '200') : String(given)
  try {
    if (grpc) parseGrpcMatcher(matcher)
    else parseMatcher(matcher)
  } catch (error) {
    ctx.report.error([...path, 'Matcher', grpc ? 'GrpcCode' : 'HttpCode'], (error as Error).message)
  }
  return matcher
}

/**
 * Indexes the target groups by name and ARN for `TargetGroupArn` references,
 * reporting a name or an ARN used twice (the first one counts).
 */
export function indexTargetGroups(
  files: readonly TargetGroupFile[],
  models: readonly TargetGroupModel[],
  ctx: BaseContext,
): { byName: ReadonlyMap<string, TargetGroupRef>; byArn: ReadonlyMap<string, TargetGroupRef> } {
  const byName = new Map<string, TargetGroupRef>()
  const byArn = new Map<string, TargetGroupRef>()
  models.forEach((model, i) => {
    const path = ['TargetGroups', i]
    if (byName.has(model.name)) {
      ctx.report.error([...path, 'TargetGroupName'], `target group name "${model.name}" is used twice`)
    } else if (byArn.has(model.arn)) {
      ctx.report.error([...path, 'TargetGroupArn'], `target group ARN ${model.arn} is used twice`)
    } else {
      const ref = {
        name: model.name,
        arn: model.arn,
        derived: model.arn !== files[i]?.TargetGroupArn,
        protocolVersion: model.protocolVersion,
      }
      byName.set(model.name, ref)
      byArn.set(model.arn, ref)
    }
  })
  return { byName, byArn }
}

/** Resolves a `TargetGroupArn` reference (an ARN or a TargetGroupName) to the group's ARN, or reports it. */
export function resolveTargetGroup(ctx: NormaliseContext, ref: string, path: FieldPath): string | undefined {
  const byArn = ctx.targetGroupsByArn.get(ref) ?? ctx.targetGroupsByName.get(ref)
  if (byArn) return byArn.arn
  // A rule pasted from describe-rules names the AWS ARN; match a group defined by name only.
  const parsed = parseTargetGroupArn(ref)
  const byName = parsed ? ctx.targetGroupsByName.get(parsed.name) : undefined
  if (byName?.derived) return byName.arn
  const known = [...ctx.targetGroupsByName.keys()]
  ctx.report.error(
    path,
    `target group "${ref}" is not defined in TargetGroups (${known.length ? `known: ${known.join(', ')}` : 'none defined'})`,
  )
  return undefined
}
