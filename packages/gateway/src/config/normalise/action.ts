import { type FieldPath, formatPath } from '../document.js'
import type { ActionModel } from '../model.js'
import type { ActionFile } from '../schema.js'
import { normaliseAuthenticateAction } from './authenticate.js'
import { checkLength, inRange, toInt } from './checks.js'
import type { BaseContext, ListenerScope, NormaliseContext } from './context.js'
import { MAX_FIXED_RESPONSE_BODY, MAX_ORDER, TARGET_GROUPS_PER_FORWARD } from './limits.js'
import { resolveTargetGroup } from './target-group.js'

/** ALB's fixed-response content types. */
const FIXED_RESPONSE_CONTENT_TYPES = [
  'text/plain',
  'text/css',
  'text/html',
  'application/javascript',
  'application/json',
] as const

/**
 * A rule's `Actions`, sorted by `Order`: at most one authenticate and one
 * jwt-validation action, then exactly one final action, last.
 */
export function normaliseActions(
  list: readonly ActionFile[],
  path: FieldPath,
  listener: ListenerScope,
  ctx: NormaliseContext,
): ActionModel[] {
  const entries: { order: number; index: number; model: ActionModel }[] = []
  const orders = new Map<number, number>()
  if (list.length === 0) {
    ctx.report.error(path, 'at least one action is required')
    return []
  }
  list.forEach((action, k) => {
    const apath = [...path, k]
    const order = action.Order === undefined ? k + 1 : toInt(action.Order)
    if (action.Order !== undefined) inRange(ctx, [...apath, 'Order'], order, 1, MAX_ORDER, 'Order')
    const first = orders.get(order)
    if (first !== undefined) {
      ctx.report.error(
        action.Order !== undefined ? [...apath, 'Order'] : apath,
        `Order ${order} is already used by ${formatPath([...path, first])}`,
      )
    }
    orders.set(order, k)
    const model = normaliseAction(action, apath, order, listener, ctx)
    if (model) entries.push({ order, index: k, model })
  })
  entries.sort((a, b) => a.order - b.order || a.index - b.index)
  const finals = entries.filter((e) => isFinal(e.model))
  if (finals.length === 0 && entries.length === list.length) {
    ctx.report.error(path, 'the actions need one final action: forward, redirect or fixed-response')
  }
  for (const extra of finals.slice(1)) {
    ctx.report.error(
      [...path, extra.index],
      `only one final action (forward, redirect, fixed-response) per rule; ${formatPath([...path, finals[0]!.index])} is one already`,
      'Type',
    )
  }
  const last = entries[entries.length - 1]
  if (finals.length === 1 && last && !isFinal(last.model)) {
    ctx.report.error(
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
      ctx.report.error(
        [...path, extra.index],
        `a rule has at most one ${kind === 'authenticate' ? 'authenticate (oidc or cognito)' : 'jwt-validation'} action; ${formatPath([...path, matching[0]!.index])} is one already`,
        'Type',
      )
    }
  }
  checkProtocolVersions(entries, path, listener, ctx)
  return entries.map((e) => e.model)
}

/**
 * ALB's restriction on rules that forward to an `HTTP2` or `GRPC` target
 * group: the listener is HTTPS. (AWS's "the only supported action type is
 * forward" is read as the rule's final action: an authenticate or
 * jwt-validation action before it stays allowed, and a weighted forward may
 * mix protocol versions, as describe-rules outputs show; each request is
 * checked against the group it is sent to, ALB's 464.)
 */
function checkProtocolVersions(
  entries: readonly { index: number; model: ActionModel }[],
  path: FieldPath,
  listener: ListenerScope,
  ctx: NormaliseContext,
): void {
  for (const { index, model } of entries) {
    if (model.type !== 'forward') continue
    const versions = new Set(
      model.targetGroups.map((g) => ctx.targetGroupsByArn.get(g.targetGroupArn)?.protocolVersion),
    )
    const version = [...versions].find((v) => v === 'HTTP2' || v === 'GRPC')
    if (version === undefined) continue
    if (listener.protocol !== 'HTTPS') {
      ctx.report.error(
        [...path, index],
        `a ${version} target group is served by HTTPS listeners only (as on ALB: HTTP/2 needs TLS with ALPN), and this listener is ${listener.protocol}`,
        'Type',
      )
    }
  }
}

function normaliseAction(
  a: ActionFile,
  path: FieldPath,
  order: number,
  listener: ListenerScope,
  ctx: NormaliseContext,
): ActionModel | undefined {
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
      ctx.report.error([...path, key], `${key} belongs to Type ${type}, but this action's Type is ${a.Type}`)
    }
  }
  if (a.Type !== 'forward' && a.TargetGroupArn !== undefined) {
    ctx.report.error(
      [...path, 'TargetGroupArn'],
      `TargetGroupArn belongs to Type forward, but this action's Type is ${a.Type}`,
    )
  }
  const own = configFor[a.Type]
  if (a.Type !== 'forward' && a[own] === undefined) {
    ctx.report.error(path, `a ${a.Type} action needs ${own}`, 'Type')
    return undefined
  }
  switch (a.Type) {
    case 'forward':
      return normaliseForward(a, path, order, ctx)
    case 'redirect':
      return normaliseRedirect(a.RedirectConfig!, [...path, own], order, listener, ctx)
    case 'fixed-response':
      return normaliseFixedResponse(a.FixedResponseConfig!, [...path, own], order, ctx)
    default:
      return normaliseAuthenticateAction(a, a.Type, path, order, listener, ctx)
  }
}

function normaliseForward(
  a: ActionFile,
  path: FieldPath,
  order: number,
  ctx: NormaliseContext,
): ActionModel | undefined {
  const cfg = a.ForwardConfig
  if (!cfg) {
    if (a.TargetGroupArn === undefined) {
      ctx.report.error(path, 'a forward action needs TargetGroupArn or ForwardConfig', 'Type')
      return undefined
    }
    const arn = resolveTargetGroup(ctx, a.TargetGroupArn, [...path, 'TargetGroupArn'])
    return arn === undefined
      ? undefined
      : { type: 'forward', order, targetGroups: [{ targetGroupArn: arn, weight: 1 }], stickiness: undefined }
  }
  const cpath = [...path, 'ForwardConfig']
  const groups = cfg.TargetGroups
  if (groups.length === 0) {
    ctx.report.error([...cpath, 'TargetGroups'], 'at least one target group is required')
    return undefined
  }
  if (groups.length > TARGET_GROUPS_PER_FORWARD) {
    ctx.report.error(
      [...cpath, 'TargetGroups'],
      `a forward action has at most ${TARGET_GROUPS_PER_FORWARD} target groups, got ${groups.length}`,
    )
  }
  const targetGroups: { targetGroupArn: string; weight: number }[] = []
  const seen = new Map<string, number>()
  groups.forEach((g, n) => {
    const gpath = [...cpath, 'TargetGroups', n]
    const arn = resolveTargetGroup(ctx, g.TargetGroupArn, [...gpath, 'TargetGroupArn'])
    const weight = g.Weight === undefined ? 1 : toInt(g.Weight)
    if (g.Weight !== undefined) inRange(ctx, [...gpath, 'Weight'], weight, 0, 999, 'a weight')
    if (arn === undefined) return
    const first = seen.get(arn)
    if (first !== undefined) {
      ctx.report.error(
        [...gpath, 'TargetGroupArn'],
        `target group already listed at ${formatPath([...cpath, 'TargetGroups', first])}`,
      )
    }
    seen.set(arn, n)
    targetGroups.push({ targetGroupArn: arn, weight })
  })
  if (a.TargetGroupArn !== undefined) {
    // describe-rules writes both forms for a single-group forward; they must agree.
    const arn = resolveTargetGroup(ctx, a.TargetGroupArn, [...path, 'TargetGroupArn'])
    if (arn !== undefined && (targetGroups.length !== 1 || targetGroups[0]?.targetGroupArn !== arn)) {
      ctx.report.error(
        [...path, 'TargetGroupArn'],
        'TargetGroupArn with ForwardConfig is only allowed when ForwardConfig names that single target group',
      )
    }
  }
  if (targetGroups.length > 0 && targetGroups.every((g) => g.weight === 0)) {
    ctx.report.warn([...cpath, 'TargetGroups'], 'every weight is 0: no request can be forwarded')
  }
  let stickiness: { durationSeconds: number } | undefined
  const sticky = cfg.TargetGroupStickinessConfig
  if (sticky?.Enabled === true) {
    const spath = [...cpath, 'TargetGroupStickinessConfig']
    if (sticky.DurationSeconds === undefined) {
      ctx.report.error(
        spath,
        'DurationSeconds (1..604800) is required when target group stickiness is enabled',
        'Enabled',
      )
    } else {
      const duration = toInt(sticky.DurationSeconds)
      if (inRange(ctx, [...spath, 'DurationSeconds'], duration, 1, 604800, 'DurationSeconds')) {
        stickiness = { durationSeconds: duration }
      }
    }
  }
  return { type: 'forward', order, targetGroups, stickiness }
}

function normaliseRedirect(
  cfg: NonNullable<ActionFile['RedirectConfig']>,
  path: FieldPath,
  order: number,
  listener: ListenerScope,
  ctx: BaseContext,
): ActionModel {
  const protocol = cfg.Protocol ?? '#{protocol}'
  const host = cfg.Host ?? '#{host}'
  const port = cfg.Port === undefined ? '#{port}' : String(cfg.Port)
  const redirectPath = cfg.Path ?? '/#{path}'
  const query = cfg.Query ?? '#{query}'
  if (!['HTTP', 'HTTPS', '#{protocol}'].includes(protocol)) {
    ctx.report.error([...path, 'Protocol'], `expected HTTP, HTTPS or #{protocol}, got "${protocol}"`)
  }
  if (protocol === 'HTTP' && listener.protocol === 'HTTPS') {
    ctx.report.error([...path, 'Protocol'], 'a redirect from an HTTPS listener to HTTP is refused (as in ALB)')
  }
  if (port !== '#{port}') {
    inRange(ctx, [...path, 'Port'], /^\d+$/.test(port) ? Number(port) : Number.NaN, 1, 65535, 'Port (or #{port})')
  }
  checkLength(ctx, host, [...path, 'Host'], 128)
  if (!redirectPath.startsWith('/')) {
    ctx.report.error([...path, 'Path'], `must start with "/", got "${redirectPath}"`)
  }
  checkLength(ctx, redirectPath, [...path, 'Path'], 128)
  if (query.startsWith('?')) ctx.report.error([...path, 'Query'], 'give the query without its leading "?"')
  checkLength(ctx, query, [...path, 'Query'], 128)
  const changesProtocol = protocol !== '#{protocol}' && protocol !== listener.protocol
  const changesHost = host !== '#{host}'
  const changesPort = port !== '#{port}' && Number(port) !== listener.port
  const changesPath = redirectPath !== '/#{path}'
  if (!changesProtocol && !changesHost && !changesPort && !changesPath) {
    ctx.report.error(
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

function normaliseFixedResponse(
  cfg: NonNullable<ActionFile['FixedResponseConfig']>,
  path: FieldPath,
  order: number,
  ctx: BaseContext,
): ActionModel {
  const statusCode = toInt(cfg.StatusCode)
  if (!/^[245]\d\d$/.test(String(statusCode))) {
    ctx.report.error([...path, 'StatusCode'], `expected a 2XX, 4XX or 5XX status code, got ${cfg.StatusCode}`)
  }
  if (cfg.ContentType !== undefined && !(FIXED_RESPONSE_CONTENT_TYPES as readonly string[]).includes(cfg.ContentType)) {
    ctx.report.error(
      [...path, 'ContentType'],
      `expected one of ${FIXED_RESPONSE_CONTENT_TYPES.join(', ')}, got "${cfg.ContentType}"`,
    )
  }
  if (cfg.MessageBody !== undefined && cfg.MessageBody.length > MAX_FIXED_RESPONSE_BODY) {
    ctx.report.error(
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

function isFinal(action: ActionModel): boolean {
  return action.type === 'forward' || action.type === 'redirect' || action.type === 'fixed-response'
}
