/**
 * `portcullis validate --config FILE`: loads and validates a configuration
 * file the way `start` would, then prints what it would run.
 */
import { relative } from 'node:path'
import type { Writable } from 'node:stream'
import { ConfigError, formatIssue } from '../../config/errors.js'
import { type IgnoredField, loadConfig } from '../../config/load.js'
import type {
  ActionModel,
  ConditionModel,
  GatewayConfig,
  ListenerModel,
  RuleModel,
  TargetGroupModel,
  TransformModel,
} from '../../config/model.js'
import {
  currentTlsRuntime,
  DEFAULT_SECURITY_POLICY,
  describePolicy,
  listenerSecurityPolicy,
} from '../../tls/security-policies.js'
import { redirectUriLines } from './redirect-uris.js'

/** Exit code when the file is invalid (as for `start`). */
export const EXIT_INVALID_CONFIG = 2

/**
 * Validates the file and prints a summary on `stdout`; errors and warnings go
 * to `stderr` as `file:line:column path: message` lines, never a stack trace.
 *
 * @returns 0 when the file is valid (even with warnings), 2 when it is not.
 * @example
 * ```ts
 * const code = await validateCommand({ config: 'portcullis.yaml' }, { stdout: process.stdout, stderr: process.stderr })
 * process.exitCode = code
 * ```
 */
export async function validateCommand(
  options: { config: string },
  io: { stdout: Writable; stderr: Writable },
): Promise<number> {
  let loaded: Awaited<ReturnType<typeof loadConfig>>
  try {
    loaded = await loadConfig(options.config)
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    const errors = error.issues.filter((i) => i.severity === 'error').length
    io.stderr.write(`${error.format()}\n${options.config}: invalid (${errors} error${errors === 1 ? '' : 's'})\n`)
    return EXIT_INVALID_CONFIG
  }
  for (const warning of loaded.warnings) io.stderr.write(`${formatIssue(warning, options.config)}\n`)
  io.stdout.write(summarise(loaded.config, options.config, loaded.warnings.length))
  if (loaded.ignored.length > 0) io.stdout.write(`\n${describeIgnored(loaded.ignored).join('\n')}\n`)
  const redirects = redirectUriLines(loaded.config)
  if (redirects.length > 0) io.stdout.write(`\n${redirects.join('\n')}\n`)
  return 0
}

/**
 * A human-readable summary of a loaded configuration: listeners with their
 * rules in evaluation order, target groups, the signer ARN and the admin URL.
 */
export function summarise(config: GatewayConfig, name: string, warnings = 0): string {
  const targetGroupNames = new Map(config.targetGroups.map((tg) => [tg.arn, tg.name]))
  const lines: string[] = [
    `${name}: valid${warnings > 0 ? ` (${warnings} warning${warnings === 1 ? '' : 's'})` : ''}`,
    '',
    `Load balancer ${config.loadBalancer.name} (${config.loadBalancer.region})`,
    `  signer ARN  ${config.loadBalancer.arn}`,
    `  admin       ${config.portcullis.admin ? `http://${hostPort(config.portcullis.admin.address, config.portcullis.admin.port)}` : 'disabled'}`,
    `  state       ${displayPath(config.portcullis.stateDirectory)}`,
    `  shared      ${sharedStateLine(config)}`,
    '',
    'Listeners',
  ]
  for (const listener of config.listeners) lines.push(...describeListener(listener, targetGroupNames))
  lines.push('', 'Target groups')
  if (config.targetGroups.length === 0) lines.push('  (none)')
  for (const tg of config.targetGroups) lines.push(...describeTargetGroup(tg))
  return `${lines.join('\n')}\n`
}

/**
 * The fields Portcullis accepts and does not act on, each once: AWS-only
 * ones by block, not-implemented ones (harmless as given) with what they
 * would do, keys that share a reason together.
 */
export function describeIgnored(ignored: readonly IgnoredField[]): string[] {
  const lines: string[] = []
  const awsOnly = new Map<string, string[]>()
  const harmless = new Map<string, { block: string; note: string | undefined; keys: string[] }>()
  for (const field of ignored) {
    if (field.treatment === 'aws-only') {
      awsOnly.set(field.block, [...(awsOnly.get(field.block) ?? []), field.key])
    } else {
      const id = `${field.block}\u0000${field.note}`
      const entry = harmless.get(id) ?? { block: field.block, note: field.note, keys: [] }
      entry.keys.push(field.key)
      harmless.set(id, entry)
    }
  }
  if (awsOnly.size > 0) {
    lines.push('AWS-only, ignored here')
    for (const [block, keys] of awsOnly) lines.push(`  ${block}: ${keys.join(', ')}`)
  }
  if (harmless.size > 0) {
    lines.push('Not implemented, harmless as given')
    for (const { block, note, keys } of harmless.values()) lines.push(`  ${block}: ${keys.join(', ')} — ${note}`)
  }
  return lines
}

function sharedStateLine(config: GatewayConfig): string {
  const shared = config.portcullis.sharedState
  if (shared === undefined) return 'none (one machine: keys in the state directory, sessions in cookies)'
  return `${shared.displayUrl} (key prefix ${shared.keyPrefix}, ${config.portcullis.sessionStore} sessions; not contacted by validate)`
}

function hostPort(address: string, port: number): string {
  return `${address.includes(':') ? `[${address}]` : address}:${port === 0 ? '(any free port)' : port}`
}

function displayPath(path: string): string {
  const rel = relative(process.cwd(), path)
  return rel && !rel.startsWith('..') ? rel : path
}

function describeListener(listener: ListenerModel, names: ReadonlyMap<string, string>): string[] {
  const numbered = listener.rules.filter((r) => r.priority !== 'default').length
  const parts = [`${listener.protocol}`, `${numbered} rule${numbered === 1 ? '' : 's'} + default`]
  if (listener.certificates.length > 0) {
    parts.push(`certificates: ${listener.certificates.map((c) => displayPath(c.certificateFile)).join(', ')}`)
  }
  const lines = [
    `  ${listener.protocol.toLowerCase()}://${hostPort(listener.address, listener.port)}  ${parts.join(', ')}`,
  ]
  if (listener.protocol === 'HTTPS') lines.push(...describeSecurityPolicy(listener.sslPolicy))
  for (const rule of listener.rules) lines.push(...describeRule(rule, names))
  return lines
}

/** The listener's security policy (or the default it gets, and why that one), what it allows, and its ciphers in order. */
function describeSecurityPolicy(sslPolicy: string | undefined): string[] {
  const policy = listenerSecurityPolicy(sslPolicy)
  let name = policy.name
  if (sslPolicy === undefined) {
    name +=
      policy.name === DEFAULT_SECURITY_POLICY
        ? " (no SslPolicy: ALB console's default)"
        : ` (no SslPolicy: ALB console's default ${DEFAULT_SECURITY_POLICY} without ML-KEM, which OpenSSL ${currentTlsRuntime().openssl} lacks)`
  }
  return [`    security policy ${name}: ${describePolicy(policy)}`, `      ciphers ${policy.ciphers.join(' ')}`]
}

function describeRule(rule: RuleModel, names: ReadonlyMap<string, string>): string[] {
  const when = rule.conditions.length > 0 ? rule.conditions.map(describeCondition).join(' and ') : '(any request)'
  const lines = [`    ${String(rule.priority).padEnd(8)} ${when}`]
  for (const transform of rule.transforms) lines.push(`             ${describeTransform(transform)}`)
  for (const action of rule.actions) lines.push(`             → ${describeAction(action, names)}`)
  return lines
}

function describeCondition(condition: ConditionModel): string {
  const list = (values: readonly string[], regexValues: readonly string[] = []) =>
    [...values, ...regexValues.map((r) => `~/${r}/`)].join('|')
  switch (condition.field) {
    case 'host-header':
    case 'path-pattern':
      return `${condition.field}=${list(condition.values, condition.regexValues)}`
    case 'http-header':
      return `http-header[${condition.headerName}]=${list(condition.values, condition.regexValues)}`
    case 'http-request-method':
    case 'source-ip':
      return `${condition.field}=${list(condition.values)}`
    case 'query-string':
      return `query-string=${condition.values.map((v) => `${v.key ?? '*'}:${v.value}`).join('|')}`
  }
}

function describeTransform(transform: TransformModel): string {
  const what = transform.type === 'host-header-rewrite' ? 'host' : 'url'
  return `rewrite ${what} /${transform.regex}/ → ${transform.replace}`
}

function describeAction(action: ActionModel, names: ReadonlyMap<string, string>): string {
  switch (action.type) {
    case 'forward': {
      const groups = action.targetGroups
      const target =
        groups.length === 1
          ? (names.get(groups[0]!.targetGroupArn) ?? groups[0]!.targetGroupArn)
          : groups.map((g) => `${names.get(g.targetGroupArn) ?? g.targetGroupArn} (weight ${g.weight})`).join(', ')
      const sticky = action.stickiness ? `, group stickiness ${action.stickiness.durationSeconds}s` : ''
      return `forward ${target}${sticky}`
    }
    case 'redirect':
      return `redirect ${action.statusCode} ${action.protocol}://${action.host}:${action.port}${action.path}?${action.query}`
    case 'fixed-response': {
      const body = action.messageBody === undefined ? 'empty body' : `${action.messageBody.length}-character body`
      return `fixed-response ${action.statusCode} ${action.contentType ?? '(no content type)'}, ${body}`
    }
    case 'authenticate-oidc':
    case 'authenticate-cognito':
      return `${action.type} issuer ${action.issuer}, client ${action.clientId}, cookie ${action.sessionCookieName}, on unauthenticated: ${action.onUnauthenticatedRequest}`
    case 'jwt-validation':
      return `jwt-validation issuer ${action.issuer}, JWKS ${action.jwksEndpoint}, ${action.algorithms.join('/')}${action.additionalClaims.length ? `, claims ${action.additionalClaims.map((c) => c.name).join(', ')}` : ''}`
  }
}

/** How a health check asks, by the group's ProtocolVersion. */
const HEALTH_CHECK_REQUEST = { HTTP1: 'GET', HTTP2: 'HTTP/2 GET', GRPC: 'gRPC call' } as const

function describeTargetGroup(tg: TargetGroupModel): string[] {
  const targets = tg.targets.length > 0 ? tg.targets.map((t) => hostPort(t.id, t.port)).join(', ') : '(no targets)'
  const hc = tg.healthCheck
  const health = hc.enabled
    ? `${hc.protocol} ${HEALTH_CHECK_REQUEST[hc.protocolVersion]} ${hc.path} on ${hc.port ?? 'traffic port'} every ${hc.intervalSeconds}s (timeout ${hc.timeoutSeconds}s, healthy ${hc.healthyThresholdCount}, unhealthy ${hc.unhealthyThresholdCount}, matcher ${hc.protocolVersion === 'GRPC' ? 'gRPC ' : ''}${hc.matcher})`
    : 'disabled'
  const stickiness = tg.stickiness
    ? `${tg.stickiness.type}${tg.stickiness.appCookieName ? ` (${tg.stickiness.appCookieName})` : ''} ${tg.stickiness.durationSeconds}s`
    : 'off'
  return [
    `  ${tg.name}  ${tg.protocol}, ${tg.arn}`,
    `    targets     ${targets}`,
    `    health      ${health}`,
    `    algorithm   ${tg.algorithm}`,
    `    stickiness  ${stickiness}`,
  ]
}
