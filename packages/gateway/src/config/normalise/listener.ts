import { closestPolicyNames, currentTlsRuntime, policyRefusal, securityPolicy } from '../../tls/security-policies.js'
import { deriveListenerArn, deriveRuleArn } from '../arn.js'
import { type FieldPath, formatPath } from '../document.js'
import type { ActionModel, CertificateModel, ListenerModel, PortcullisModel, RuleModel } from '../model.js'
import type { ListenerFile, PortcullisFile } from '../schema.js'
import { normaliseActions } from './action.js'
import { Attributes } from './attributes.js'
import { checkAddress, inRange, resolvePath, toInt } from './checks.js'
import type { BaseContext, ListenerScope, NormaliseContext } from './context.js'
import { normaliseHeaderModification } from './header-modification.js'
import { checkRulesQuota, MAX_PRIORITY } from './limits.js'
import { normaliseRule } from './rule.js'
import { normaliseMutualAuthentication } from './trust-store.js'

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
  const listAttributes = new Attributes(ctx, l.Attributes, [...path, 'Attributes'])
  const attributes = listAttributes.raw()
  const headerModification = normaliseHeaderModification(listAttributes, ctx)
  checkSslPolicy(l, path, ctx)
  let localCertificateNames: string[] | undefined
  if (l.Protocol === 'HTTPS' && certificates.length === 0 && ctx.localCertificates) {
    localCertificateNames = localCertificateNamesOf(rules)
    ctx.report.warn(
      path,
      `no certificate files: serving a certificate from the local development CA for ${localCertificateNames.join(', ')} (Portcullis.LocalCertificates); clients trust it only once they trust that CA, and the gateway trusts that CA for its calls to identity providers`,
      'Protocol',
    )
  }
  return {
    id: port === 0 ? `listener/0.${i}` : `listener/${port}`,
    arn,
    port,
    address,
    protocol: l.Protocol,
    certificates,
    localCertificateNames,
    attributes,
    headerModification,
    mutualAuthentication: normaliseMutualAuthentication(l, path, ctx),
    sslPolicy: l.SslPolicy,
    rules,
  }
}

/**
 * A listener's `SslPolicy`: one of ALB's predefined policies (an unknown name
 * is an error, with the closest names), and one this Node.js can honour (one
 * it cannot is something start needs changed: an error, or for `audit` a
 * start need), never silently replaced by another.
 */
function checkSslPolicy(l: ListenerFile, path: FieldPath, ctx: BaseContext): void {
  const name = l.SslPolicy
  if (name === undefined) return
  const at = [...path, 'SslPolicy']
  if (l.Protocol !== 'HTTPS') {
    ctx.report.error(at, 'a security policy applies to HTTPS listeners only')
    return
  }
  const policy = securityPolicy(name)
  if (policy === undefined) {
    const near = closestPolicyNames(name)
    ctx.report.error(
      at,
      `unknown security policy ${/^\S+$/.test(name) ? name : JSON.stringify(name)}${near.length > 0 ? `; did you mean ${near.join(' or ')}?` : ' (aws elbv2 describe-ssl-policies lists the names ALB knows)'}`,
    )
    return
  }
  const refusal = policyRefusal(policy, currentTlsRuntime())
  if (refusal !== undefined) {
    const fix =
      refusal.nearest === undefined
        ? 'keep this listener on AWS'
        : `the nearest policy this Node.js honours is ${refusal.nearest}, or keep this listener on AWS`
    ctx.report.need(at, `${name}: ${refusal.reason}; ${fix}`)
  }
}

/** Names every local certificate covers, whatever the rules say. */
const LOCAL_NAMES = ['localhost', '127.0.0.1', '::1']
const DNS_LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?'
/** A name a certificate can carry: DNS labels, optionally under one leading `*.`; not an all-digit last label. */
const CERTIFICATE_NAME = new RegExp(`^(?:\\*\\.)?(?:${DNS_LABEL}\\.)*(?!\\d+$)${DNS_LABEL}$`)

/**
 * The host names of a local certificate: every `host-header` value of the
 * listener's rules that a certificate can carry (a plain name or a leading
 * `*.` wildcard; other patterns and regular expressions cannot be), plus
 * the loopback names.
 */
function localCertificateNamesOf(rules: readonly RuleModel[]): string[] {
  const names = new Set<string>()
  for (const rule of rules) {
    for (const condition of rule.conditions) {
      if (condition.field !== 'host-header') continue
      for (const value of condition.values) {
        const name = value.toLowerCase()
        if (CERTIFICATE_NAME.test(name)) names.add(name)
      }
    }
  }
  for (const name of LOCAL_NAMES) names.add(name)
  return [...names]
}

function normaliseCertificates(l: ListenerFile, path: FieldPath, ctx: NormaliseContext): CertificateModel[] {
  const list = l.Certificates ?? []
  const local = ctx.localCertificates
  if (l.Protocol === 'HTTPS' && list.length === 0 && !local) {
    ctx.report.need(
      path,
      'an HTTPS listener needs at least one certificate: Certificates: [{ CertificateFile, PrivateKeyFile }], or for local use Portcullis.LocalCertificates: true',
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
      // With the local opt-in, a pasted ACM certificate stands for the one the local CA issues.
      if (local && c.CertificateArn !== undefined && c.CertificateFile === undefined && c.PrivateKeyFile === undefined)
        return
      const hint =
        c.CertificateArn !== undefined ? 'Portcullis cannot fetch certificates from ACM by CertificateArn; ' : ''
      ctx.report.need(
        cpath,
        `${hint}add CertificateFile and PrivateKeyFile (PEM files), or for local use Portcullis.LocalCertificates: true`,
      )
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
      if (defaultRule && defaultPath) {
        // describe-listeners and describe-rules pasted together both carry the default rule.
        const pasted = normaliseRule(rule, rpath, { listener, listenerArn, priority: 'default' }, muted(ctx))
        if (!sameActions(pasted.actions, defaultRule.actions)) {
          ctx.report.error(
            [...rpath, 'Actions'],
            `this default rule (IsDefault: true) has other actions than ${formatPath(defaultPath)}; keep one of them, or make them the same`,
          )
        }
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

/** The context with a reporter that drops everything: for checking a copy whose problems are reported elsewhere. */
function muted(ctx: NormaliseContext): NormaliseContext {
  return { ...ctx, report: { error() {}, warn() {}, need() {} } }
}

/** Same actions in the same sequence; `Order` values may differ (describe-rules writes them, DefaultActions may not). */
function sameActions(a: readonly ActionModel[], b: readonly ActionModel[]): boolean {
  const strip = (actions: readonly ActionModel[]) => JSON.stringify(actions.map(({ order: _, ...rest }) => rest))
  return strip(a) === strip(b)
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
