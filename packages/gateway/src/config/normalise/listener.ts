import { deriveListenerArn, deriveRuleArn } from '../arn.js'
import { type FieldPath, formatPath } from '../document.js'
import type { CertificateModel, ListenerModel, PortcullisModel, RuleModel } from '../model.js'
import type { ListenerFile, PortcullisFile } from '../schema.js'
import { normaliseActions } from './action.js'
import { checkAddress, inRange, resolvePath, toInt } from './checks.js'
import type { BaseContext, ListenerScope, NormaliseContext } from './context.js'
import { checkRulesQuota, MAX_PRIORITY } from './limits.js'
import { normaliseRule } from './rule.js'

/**
 * One entry of `Listeners`: port, address, certificates, and its rules (the
 * default rule last).
 */
export function normaliseListener(l: ListenerFile, i: number, ctx: NormaliseContext): ListenerModel {
  const path: FieldPath = ['Listeners', i]
  const port = toInt(l.Port)
  // Port 0 binds any free port: a Portcullis extension for tests and tooling.
  inRange(ctx, [...path, 'Port'], port, 0, 65535, 'the listener port')
  const address = l.Portcullis?.Address ?? '0.0.0.0'
  checkAddress(ctx, [...path, 'Portcullis', 'Address'], address)
  const certificates = normaliseCertificates(l, path, ctx)
  const arn = deriveListenerArn(ctx.loadBalancerArn, port, i)
  const rules = normaliseRules(l, { path, protocol: l.Protocol, port, address }, arn, ctx)
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

function normaliseCertificates(l: ListenerFile, path: FieldPath, ctx: BaseContext): CertificateModel[] {
  const list = l.Certificates ?? []
  if (l.Protocol === 'HTTPS' && list.length === 0) {
    ctx.report.error(
      path,
      'an HTTPS listener needs at least one certificate: Certificates: [{ CertificateFile, PrivateKeyFile }]',
      'Protocol',
    )
  }
  if (l.Protocol === 'HTTP' && list.length > 0) {
    ctx.report.error([...path, 'Certificates'], 'certificates apply to HTTPS listeners only')
  }
  const out: CertificateModel[] = []
  list.forEach((c, j) => {
    const cpath = [...path, 'Certificates', j]
    if (c.CertificateFile === undefined || c.PrivateKeyFile === undefined) {
      const hint =
        c.CertificateArn !== undefined ? 'Portcullis cannot fetch certificates from ACM by CertificateArn; ' : ''
      ctx.report.error(cpath, `${hint}give CertificateFile and PrivateKeyFile (PEM files)`)
      return
    }
    out.push({
      certificateFile: resolvePath(ctx, c.CertificateFile),
      privateKeyFile: resolvePath(ctx, c.PrivateKeyFile),
      isDefault: out.length === 0,
    })
  })
  return out
}

/** The listener's rules by ascending priority, then its default rule (`DefaultActions` or `Priority: default`). */
function normaliseRules(
  l: ListenerFile,
  listener: ListenerScope,
  listenerArn: string,
  ctx: NormaliseContext,
): RuleModel[] {
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
      actions: normaliseActions(l.DefaultActions, defaultPath, listener, ctx),
    }
  }
  ;(l.Rules ?? []).forEach((rule, j) => {
    const rpath = [...path, 'Rules', j]
    const isDefault = rule.Priority === 'default' || rule.IsDefault === true
    if (isDefault) {
      if (rule.Priority !== 'default') {
        ctx.report.error([...rpath, 'Priority'], 'a rule with IsDefault: true has Priority "default"')
      } else if (rule.IsDefault === false) {
        ctx.report.error([...rpath, 'IsDefault'], 'a rule with Priority "default" is the default rule')
      }
      if (defaultPath) {
        ctx.report.error(
          rpath,
          `the listener's default rule is already given by ${formatPath(defaultPath)}`,
          'Priority',
        )
        return
      }
      defaultPath = rpath
      defaultRule = normaliseRule(rule, rpath, { listener, listenerArn, priority: 'default' }, ctx)
      return
    }
    const priority = toInt(rule.Priority as number | string)
    let usable = inRange(ctx, [...rpath, 'Priority'], priority, 1, MAX_PRIORITY, 'a rule priority')
    const first = priorities.get(priority)
    if (usable && first) {
      ctx.report.error([...rpath, 'Priority'], `priority ${priority} is already used by ${formatPath(first)}`)
      usable = false
    }
    if (usable) priorities.set(priority, rpath)
    // A rule with a bad priority is still checked, so one pass reports everything.
    const model = normaliseRule(rule, rpath, { listener, listenerArn, priority }, ctx)
    if (usable) numbered.push(model)
  })
  checkRulesQuota(ctx, numbered.length, [...path, 'Rules'])
  if (!defaultRule) {
    ctx.report.error(
      path,
      'a listener needs DefaultActions (or, as describe-rules writes it, a rule with Priority: default)',
      'Protocol',
    )
  }
  numbered.sort((a, b) => (a.priority as number) - (b.priority as number))
  return defaultRule ? [...numbered, defaultRule] : numbered
}

/** Each port is bound once: by one listener, or by the admin listener. */
export function checkListenerPorts(
  file: PortcullisFile,
  listeners: readonly ListenerModel[],
  portcullis: PortcullisModel,
  ctx: BaseContext,
): void {
  const ports = new Map<number, number>()
  listeners.forEach((l, i) => {
    if (l.port === 0) return
    const first = ports.get(l.port)
    if (first !== undefined) {
      ctx.report.error(
        ['Listeners', i, 'Port'],
        `port ${l.port} is already used by ${formatPath(['Listeners', first])}`,
      )
    }
    ports.set(l.port, i)
  })
  const admin = portcullis.admin
  if (admin && admin.port !== 0 && ports.has(admin.port)) {
    const adminPath: FieldPath = file.Portcullis?.Admin ? ['Portcullis', 'Admin', 'Port'] : ['Portcullis']
    ctx.report.error(
      adminPath,
      `the admin port ${admin.port} is already used by ${formatPath(['Listeners', ports.get(admin.port)!])}`,
    )
  }
}
