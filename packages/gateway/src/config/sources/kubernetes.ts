/**
 * Kubernetes: Ingress manifests (`networking.k8s.io/v1`) annotated for the
 * AWS Load Balancer Controller, with the Services, Secrets, IngressClasses and
 * IngressClassParams they name, become the load balancer the controller would
 * build: one IngressGroup (`group.name`, or an Ingress on its own), its
 * Ingresses in `group.order` then namespace/name order, each path a rule in
 * order, each Service port a target group. Every produced field is located
 * at the manifest field or annotation it came from; a value written as JSON
 * inside an annotation is located at the annotation's value.
 */
import type { FieldPath } from '../document.js'
import { ConfigError, type ConfigIssue } from '../errors.js'
import { OriginMap, type SourceFile } from './located.js'
import type { Imported, ResourceComment } from './model.js'

type Json = Record<string, unknown>

const PREFIX = 'alb.ingress.kubernetes.io/'
const CONTROLLER = 'ingress.k8s.aws/alb'

/** True when the document is a Kubernetes manifest (one object, or a `List` of them). */
export function isKubernetesManifest(value: unknown): boolean {
  return isObject(value) && typeof value.apiVersion === 'string' && typeof value.kind === 'string'
}

/** One object of the manifests, where it is. */
interface Manifest {
  readonly file: SourceFile
  readonly path: FieldPath
  readonly value: Json
  readonly kind: string
  readonly namespace: string
  readonly name: string
}

/**
 * Annotations read on an Ingress (`I`), also on a Service (`S`, which wins
 * for the paths to it), and those only AWS acts on: a note (`N`, the
 * controller's VPC placement and tags, which change nothing of how requests
 * are answered) or an error (`E`, with the reason: a protection Portcullis
 * does not give and must not pretend to).
 */
const ANNOTATIONS: Readonly<Record<string, 'I' | 'S' | 'N' | { refuse: string }>> = {
  'load-balancer-name': 'I',
  'group.name': 'I',
  'group.order': 'I',
  scheme: 'I',
  'listen-ports': 'I',
  'ssl-redirect': 'I',
  'certificate-arn': 'I',
  'ssl-policy': 'I',
  'load-balancer-attributes': 'I',
  'target-type': 'S',
  'backend-protocol': 'S',
  'backend-protocol-version': 'S',
  'target-group-attributes': 'S',
  'healthcheck-port': 'S',
  'healthcheck-protocol': 'S',
  'healthcheck-path': 'S',
  'healthcheck-interval-seconds': 'S',
  'healthcheck-timeout-seconds': 'S',
  'healthy-threshold-count': 'S',
  'unhealthy-threshold-count': 'S',
  'success-codes': 'S',
  'auth-type': 'I',
  'auth-idp-oidc': 'I',
  'auth-idp-cognito': 'I',
  'auth-on-unauthenticated-request': 'I',
  'auth-scope': 'I',
  'auth-session-cookie': 'I',
  'auth-session-timeout': 'I',
  tags: 'N',
  subnets: 'N',
  'security-groups': 'N',
  'manage-backend-security-group-rules': 'N',
  'inbound-cidrs': 'N',
  'ip-address-type': 'N',
  'customer-owned-ipv4-pool': 'N',
  'target-node-labels': 'N',
  'wafv2-acl-arn': { refuse: 'Portcullis has no web application firewall: AWS WAF rules would not run' },
  'waf-acl-id': { refuse: 'Portcullis has no web application firewall: AWS WAF Classic rules would not run' },
  'shield-advanced-protection': { refuse: 'AWS Shield Advanced protects the load balancer on AWS only' },
  'mutual-authentication': {
    refuse: 'mutual TLS from annotations is not read yet; set the listener MutualAuthentication in the written file',
  },
}

/** The controller's target group health-check defaults (they differ from ELBv2's API defaults). */
const HEALTH_DEFAULTS = {
  HealthCheckPath: '/',
  HealthCheckIntervalSeconds: 15,
  HealthCheckTimeoutSeconds: 5,
  HealthyThresholdCount: 2,
  UnhealthyThresholdCount: 2,
}

/**
 * Converts the manifests of one or more files.
 *
 * @throws {ConfigError} for what the controller would reject or Portcullis cannot honour, located in the manifests.
 */
export function fromKubernetes(files: readonly SourceFile[], options: { loadBalancer?: string } = {}): Imported {
  const issues: ConfigIssue[] = []
  const notes: ConfigIssue[] = []
  const origins = new OriginMap()
  const comments: ResourceComment[] = []
  const issue = (m: Manifest, path: FieldPath, message: string, severity: 'error' | 'warning' = 'error') => {
    const position = m.file.document.locate([...m.path, ...path])
    const shown = path[0] === 'metadata' && path[1] === 'annotations' ? `annotations[${String(path[2])}]` : fmt(path)
    const entry: ConfigIssue = {
      path: `${m.kind} ${m.namespace}/${m.name}${shown ? ` ${shown}` : ''}`,
      ...position,
      source: m.file.name,
      message,
      severity,
    }
    ;(severity === 'error' ? issues : notes).push(entry)
  }

  // Every object of every file, Lists (kubectl get -o yaml, or a stream of documents) opened.
  const manifests: Manifest[] = []
  for (const file of files) {
    const root = file.document.value as Json
    const items = root.kind === 'List' && Array.isArray(root.items) ? root.items : [root]
    items.forEach((item, i) => {
      if (!isObject(item)) return
      const metadata = isObject(item.metadata) ? item.metadata : {}
      manifests.push({
        file,
        path: root.kind === 'List' && Array.isArray(root.items) ? ['items', i] : [],
        value: item,
        kind: String(item.kind),
        namespace: typeof metadata.namespace === 'string' ? metadata.namespace : 'default',
        name: String(metadata.name ?? ''),
      })
    })
  }
  const find = (kind: string, namespace: string | undefined, name: string) =>
    manifests.find((m) => m.kind === kind && m.name === name && (namespace === undefined || m.namespace === namespace))

  // Ingresses for this controller: class alb, or an IngressClass whose controller is ingress.k8s.aws/alb.
  const ingresses: Manifest[] = []
  for (const m of manifests) {
    if (['Service', 'Secret', 'IngressClass', 'IngressClassParams', 'Ingress'].includes(m.kind)) {
      if (m.kind === 'Ingress' && m.value.apiVersion !== 'networking.k8s.io/v1')
        issue(m, ['apiVersion'], 'expected networking.k8s.io/v1 (the Ingress API the controller reads)')
      else if (m.kind === 'Ingress') {
        const spec = isObject(m.value.spec) ? m.value.spec : {}
        const className =
          typeof spec.ingressClassName === 'string'
            ? spec.ingressClassName
            : annotationsOf(m)['kubernetes.io/ingress.class']
        const ingressClass = className === undefined ? undefined : find('IngressClass', undefined, className)
        const controller = isObject(ingressClass?.value.spec) ? ingressClass.value.spec.controller : undefined
        if (controller !== undefined ? controller === CONTROLLER : className === 'alb') ingresses.push(m)
        else
          issue(
            m,
            ['spec', 'ingressClassName'],
            `left out: its class ${className ?? '(none)'} is not the AWS Load Balancer Controller's (alb, or an IngressClass with controller ${CONTROLLER})`,
            'warning',
          )
      }
      continue
    }
    issue(
      m,
      ['kind'],
      `left out: portcullis import reads Ingress, Service, Secret, IngressClass and IngressClassParams`,
      'warning',
    )
  }

  // Each Ingress's annotations checked once: unknown ones are errors, AWS-only ones named.
  for (const m of ingresses) {
    for (const key of Object.keys(annotationsOf(m))) {
      if (!key.startsWith(PREFIX)) continue
      const name = key.slice(PREFIX.length)
      if (name.startsWith('actions.') || name.startsWith('conditions.')) continue
      const kind = ANNOTATIONS[name]
      const at: FieldPath = ['metadata', 'annotations', key]
      if (kind === undefined) issue(m, at, `not an annotation of the AWS Load Balancer Controller's Ingress`)
      else if (kind === 'N')
        issue(m, at, 'acted on by AWS only (VPC placement, security groups, tags): not used by Portcullis', 'warning')
      else if (typeof kind === 'object') issue(m, at, `not supported: ${kind.refuse}`)
    }
  }

  // The IngressGroup: the explicit group.name, else the Ingress alone.
  const groupOf = (m: Manifest) => {
    const explicit = classParams(m)?.group ?? annotationsOf(m)[`${PREFIX}group.name`]
    return explicit ?? `${m.namespace}/${m.name}`
  }
  const groups = [...new Set(ingresses.map(groupOf))]
  let group: string | undefined
  if (options.loadBalancer !== undefined) {
    group = groups.find((g) => g === options.loadBalancer)
    if (group === undefined)
      issues.push({
        path: '',
        message: `--load-balancer ${options.loadBalancer}: no such IngressGroup (${groups.join(', ') || 'none'})`,
        severity: 'error',
      })
  } else if (groups.length > 1) {
    issues.push({
      path: '',
      message: `the manifests make ${groups.length} load balancers (IngressGroups ${groups.join(', ')}); choose one with --load-balancer GROUP`,
      severity: 'error',
    })
  } else group = groups[0]
  if (group === undefined && issues.length === 0) {
    const first = manifests[0]
    issues.push({
      path: '',
      ...(first ? { ...first.file.document.locate([]), source: first.file.name } : {}),
      message: 'no Ingress for the AWS Load Balancer Controller (ingressClassName: alb) in the manifests',
      severity: 'error',
    })
  }
  if (issues.length > 0 || group === undefined) throw new ConfigError(issues, undefined)

  const members = ingresses
    .filter((m) => groupOf(m) === group)
    .map((m) => {
      const raw = annotationsOf(m)[`${PREFIX}group.order`]
      const order = raw === undefined ? 0 : Number(raw)
      if (raw !== undefined && (!/^-?\d+$/.test(raw) || order < -1000 || order > 1000))
        issue(m, ['metadata', 'annotations', `${PREFIX}group.order`], `expected an integer -1000..1000, got ${raw}`)
      return { m, order }
    })
    .sort((a, b) => a.order - b.order || key(a.m).localeCompare(key(b.m)))
    .map(({ m }) => m)
  for (let i = 1; i < members.length; i++) {
    const a = annotationsOf(members[i - 1]!)[`${PREFIX}group.order`]
    const b = annotationsOf(members[i]!)[`${PREFIX}group.order`]
    if (a !== undefined && a === b)
      issue(
        members[i]!,
        ['metadata', 'annotations', `${PREFIX}group.order`],
        `group.order ${b} is also ${key(members[i - 1]!)}'s`,
      )
  }

  // Annotations the controller reads as one value for the whole group ("Exclusive").
  const exclusive = (name: string): { value: string; m: Manifest } | undefined => {
    let found: { value: string; m: Manifest } | undefined
    for (const m of members) {
      const value = annotationsOf(m)[PREFIX + name]
      if (value === undefined) continue
      if (found && found.value !== value)
        issue(
          m,
          ['metadata', 'annotations', PREFIX + name],
          `differs from ${key(found.m)}'s (${found.value}); it applies to the whole IngressGroup`,
        )
      else found ??= { value, m }
    }
    return found
  }
  const annotationAt = (m: Manifest, name: string) => ({
    file: m.file,
    path: [...m.path, 'metadata', 'annotations', PREFIX + name],
  })

  const loadBalancer: Json = {}
  const lbName = exclusive('load-balancer-name')
  loadBalancer.LoadBalancerName = lbName?.value ?? lbNameFor(group)
  origins.set(['LoadBalancer'], { file: members[0]!.file, path: [...members[0]!.path, 'metadata'] })
  if (lbName) origins.set(['LoadBalancer', 'LoadBalancerName'], annotationAt(lbName.m, 'load-balancer-name'))
  const scheme = exclusive('scheme')
  const params = members.map(classParams).find((p) => p !== undefined)
  loadBalancer.Scheme = params?.scheme ?? scheme?.value ?? 'internal'
  if (scheme) origins.set(['LoadBalancer', 'Scheme'], annotationAt(scheme.m, 'scheme'))
  const lbAttributes = exclusive('load-balancer-attributes')
  const attributeList = [
    ...(params?.attributes ?? []),
    ...(lbAttributes ? stringMap(lbAttributes.value).map(([Key, Value]) => ({ Key, Value })) : []),
  ]
  if (attributeList.length > 0) {
    loadBalancer.Attributes = attributeList
    if (lbAttributes)
      origins.set(['LoadBalancer', 'Attributes'], annotationAt(lbAttributes.m, 'load-balancer-attributes'))
  }
  comments.push({
    path: ['LoadBalancer'],
    text: `from IngressGroup ${group}: ${members.map((m) => `${m.file.name} ${key(m)} line ${m.file.document.locate(m.path)?.line ?? 1}`).join(', ')}`,
  })

  // Listeners: each Ingress's listen-ports, merged by port.
  interface Listener {
    out: Json
    rules: Json[]
    m: Manifest
  }
  const listeners = new Map<number, Listener>()
  const sslPolicy = exclusive('ssl-policy')
  const sslRedirect = exclusive('ssl-redirect')
  const targetGroupNames = new Set<string>()
  const groupList: Json[] = []
  const defaultActions: { m: Manifest; actions: Json[]; path: FieldPath }[] = []
  /** Where each action and condition object came from (an annotation's value, a backend). */
  const from = new Map<Json, { file: SourceFile; path: FieldPath }>()
  const placed = <T extends Json>(value: T, m: Manifest, path: FieldPath): T => {
    from.set(value, { file: m.file, path: [...m.path, ...path] })
    return value
  }

  for (const m of members) {
    const certificates = (annotationsOf(m)[`${PREFIX}certificate-arn`] ?? params?.certificateArn ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '')
    const portsRaw = annotationsOf(m)[`${PREFIX}listen-ports`]
    let ports: { protocol: string; port: number }[] =
      certificates.length > 0 ? [{ protocol: 'HTTPS', port: 443 }] : [{ protocol: 'HTTP', port: 80 }]
    if (portsRaw !== undefined) {
      const parsed = json(m, 'listen-ports', portsRaw)
      if (parsed !== undefined) {
        if (!Array.isArray(parsed) || parsed.some((p) => !isObject(p) || Object.keys(p).length !== 1))
          issue(
            m,
            ['metadata', 'annotations', `${PREFIX}listen-ports`],
            'expected a JSON list like [{"HTTP": 80}, {"HTTPS": 443}]',
          )
        else
          ports = parsed.map((p) => {
            const [protocol, port] = Object.entries(p as Json)[0]!
            if ((protocol !== 'HTTP' && protocol !== 'HTTPS') || typeof port !== 'number')
              issue(
                m,
                ['metadata', 'annotations', `${PREFIX}listen-ports`],
                `expected {"HTTP": port} or {"HTTPS": port}, got ${JSON.stringify(p)}`,
              )
            return { protocol, port: Number(port) }
          })
      }
    }
    const portsAt =
      portsRaw === undefined ? { file: m.file, path: [...m.path, 'metadata'] } : annotationAt(m, 'listen-ports')
    for (const { protocol, port } of ports) {
      let listener = listeners.get(port)
      if (listener === undefined) {
        const index = listeners.size
        const out: Json = { Port: port, Protocol: protocol }
        origins.set(['Listeners', index], portsAt)
        listener = { out, rules: [], m }
        listeners.set(port, listener)
      } else if (listener.out.Protocol !== protocol)
        issue(
          m,
          ['metadata', 'annotations', `${PREFIX}listen-ports`],
          `port ${port} is ${String(listener.out.Protocol)} on ${key(listener.m)}`,
        )
      if (protocol === 'HTTPS') {
        listener.out.Certificates ??= []
        const list = listener.out.Certificates as Json[]
        for (const arn of certificates)
          if (!list.some((c) => c.CertificateArn === arn)) list.push({ CertificateArn: arn })
        if (sslPolicy) listener.out.SslPolicy = sslPolicy.value
        else if (params?.sslPolicy) listener.out.SslPolicy = params.sslPolicy
      }
    }

    const auth = authAction(m)
    const spec = isObject(m.value.spec) ? m.value.spec : {}
    if (isObject(spec.defaultBackend)) {
      const actions = backendActions(m, ['spec', 'defaultBackend'], spec.defaultBackend)
      if (actions) defaultActions.push({ m, actions, path: ['spec', 'defaultBackend'] })
    }
    const rules = Array.isArray(spec.rules) ? spec.rules : []
    rules.forEach((rule, i) => {
      if (!isObject(rule)) return
      const paths = isObject(rule.http) && Array.isArray(rule.http.paths) ? rule.http.paths : []
      paths.forEach((p, j) => {
        if (!isObject(p)) return
        const at: FieldPath = ['spec', 'rules', i, 'http', 'paths', j]
        const conditions: Json[] = []
        if (typeof rule.host === 'string')
          conditions.push({ Field: 'host-header', HostHeaderConfig: { Values: [rule.host] } })
        const patterns = pathPatterns(m, at, p)
        if (patterns) conditions.push({ Field: 'path-pattern', PathPatternConfig: { Values: patterns } })
        const service = isObject(p.backend) && isObject(p.backend.service) ? p.backend.service : undefined
        if (service && typeof service.name === 'string') {
          const raw = annotationsOf(m)[`${PREFIX}conditions.${service.name}`]
          if (raw !== undefined) conditions.push(...annotationConditions(m, `conditions.${service.name}`, raw))
        }
        const actions = backendActions(m, [...at, 'backend'], p.backend)
        if (!actions) return
        for (const { port } of ports) {
          const listener = listeners.get(port)!
          if (sslRedirect && listener.out.Protocol === 'HTTP') continue
          if (auth && listener.out.Protocol === 'HTTP')
            issue(
              m,
              ['metadata', 'annotations', `${PREFIX}auth-type`],
              `the controller authenticates on HTTPS listeners only: on HTTP ${port} this path is served without login (add ssl-redirect)`,
              'warning',
            )
          const withAuth = auth && listener.out.Protocol === 'HTTPS' ? [auth.action, ...actions] : actions
          const ordered = withAuth.map((a, k) => ({ ...a, Order: k + 1 }))
          const index = [...listeners.keys()].indexOf(port)
          const ruleIndex = listener.rules.length
          const rulePath = ['Listeners', index, 'Rules', ruleIndex]
          listener.rules.push({ Priority: ruleIndex + 1, Conditions: conditions, Actions: ordered })
          origins.set(rulePath, { file: m.file, path: [...m.path, ...at] })
          withAuth.forEach((a, k) => {
            const origin = a === auth?.action ? auth.at : from.get(a)
            if (origin) origins.set([...rulePath, 'Actions', k], origin)
          })
          conditions.forEach((c, k) => {
            const origin = from.get(c)
            if (origin) origins.set([...rulePath, 'Conditions', k], origin)
          })
          comments.push({
            path: rulePath,
            text: `from ${m.file.name}: Ingress ${key(m)}, path ${String(p.path ?? '(any)')}, line ${m.file.document.locate([...m.path, ...at])?.line ?? 1}`,
          })
        }
      })
    })
  }

  // Default actions: the group's defaultBackend (one), else the controller's 404; ssl-redirect on HTTP.
  if (defaultActions.length > 1)
    issue(
      defaultActions[1]!.m,
      defaultActions[1]!.path,
      `a second defaultBackend in the IngressGroup (${key(defaultActions[0]!.m)} has one)`,
    )
  const out: Json[] = []
  let i = 0
  for (const [port, listener] of listeners) {
    let actions: Json[]
    if (sslRedirect && listener.out.Protocol === 'HTTP') {
      const to = Number(sslRedirect.value)
      if (!listeners.has(to) || listeners.get(to)!.out.Protocol !== 'HTTPS')
        issue(
          sslRedirect.m,
          ['metadata', 'annotations', `${PREFIX}ssl-redirect`],
          `no HTTPS listen-port ${sslRedirect.value} to redirect to`,
        )
      actions = [{ Type: 'redirect', RedirectConfig: { Protocol: 'HTTPS', Port: String(to), StatusCode: 'HTTP_301' } }]
      origins.set(['Listeners', i, 'DefaultActions'], annotationAt(sslRedirect.m, 'ssl-redirect'))
    } else if (defaultActions[0]) {
      actions = defaultActions[0].actions
      origins.set(['Listeners', i, 'DefaultActions'], {
        file: defaultActions[0].m.file,
        path: [...defaultActions[0].m.path, ...defaultActions[0].path],
      })
    } else actions = [{ Type: 'fixed-response', FixedResponseConfig: { StatusCode: '404', ContentType: 'text/plain' } }]
    actions.forEach((a, k) => {
      const origin = from.get(a)
      if (origin) origins.set(['Listeners', i, 'DefaultActions', k], origin)
    })
    const value: Json = { ...listener.out, DefaultActions: actions.map((a, k) => ({ ...a, Order: k + 1 })) }
    if (listener.rules.length > 0) value.Rules = listener.rules
    out.push(value)
    comments.push({
      path: ['Listeners', i],
      text: `listen-port ${listener.out.Protocol as string} ${port}, first from ${m2s(listener.m)}`,
    })
    i++
  }
  if (issues.length > 0) throw new ConfigError(issues, undefined)
  const value: Json = { LoadBalancer: loadBalancer, Listeners: out }
  if (groupList.length > 0) value.TargetGroups = groupList
  return { value, origins, comments, notes }

  // --- helpers over the manifests (closures: they record issues, origins and target groups) ---

  function m2s(m: Manifest) {
    return `${m.file.name} Ingress ${key(m)}`
  }

  function json(m: Manifest, name: string, raw: string): unknown {
    try {
      return JSON.parse(raw)
    } catch (error) {
      issue(m, ['metadata', 'annotations', PREFIX + name], `not JSON: ${(error as Error).message.split('\n')[0]}`)
      return undefined
    }
  }

  /** The controller's path patterns: Exact as written, Prefix as the path and everything below, ImplementationSpecific as written (ALB wildcards). */
  function pathPatterns(m: Manifest, at: FieldPath, p: Json): string[] | undefined {
    if (p.path === undefined) return undefined
    const path = String(p.path)
    if (p.pathType === 'Exact' || p.pathType === 'ImplementationSpecific') return [path]
    if (p.pathType === 'Prefix') {
      const bare = path.replace(/\/+$/, '')
      return bare === '' ? ['/*'] : [bare, `${bare}/*`]
    }
    issue(m, [...at, 'pathType'], `expected Exact, Prefix or ImplementationSpecific, got ${String(p.pathType)}`)
    return undefined
  }

  function annotationConditions(m: Manifest, name: string, raw: string): Json[] {
    const parsed = json(m, name, raw)
    const where: FieldPath = ['metadata', 'annotations', PREFIX + name]
    if (parsed === undefined) return []
    if (!Array.isArray(parsed)) {
      issue(
        m,
        where,
        'expected a JSON list of conditions, like [{"field":"host-header","hostHeaderConfig":{"values":["a.example.com"]}}]',
      )
      return []
    }
    const configs: Record<string, string> = {
      'host-header': 'hostHeaderConfig',
      'path-pattern': 'pathPatternConfig',
      'http-header': 'httpHeaderConfig',
      'http-request-method': 'httpRequestMethodConfig',
      'query-string': 'queryStringConfig',
      'source-ip': 'sourceIpConfig',
    }
    return parsed.flatMap((c): Json[] => {
      const field = isObject(c) ? c.field : undefined
      const config = typeof field === 'string' ? configs[field] : undefined
      if (!isObject(c) || config === undefined || !isObject(c[config])) {
        issue(
          m,
          where,
          `expected a condition with field (${Object.keys(configs).join(', ')}) and its config, got ${JSON.stringify(c)}`,
        )
        return []
      }
      return [placed({ Field: field, [config[0]!.toUpperCase() + config.slice(1)]: pascal(c[config]) }, m, where)]
    })
  }

  /** The actions of a backend: use-annotation reads actions.${name}; a Service port forwards to its target group. */
  function backendActions(m: Manifest, at: FieldPath, backend: unknown): Json[] | undefined {
    const service = isObject(backend) && isObject(backend.service) ? backend.service : undefined
    if (!service || typeof service.name !== 'string' || !isObject(service.port)) {
      issue(
        m,
        at,
        'expected service: { name, port: { name | number } } (resource backends are not read by the controller)',
      )
      return undefined
    }
    if (service.port.name === 'use-annotation') {
      const raw = annotationsOf(m)[`${PREFIX}actions.${service.name}`]
      if (raw === undefined) {
        issue(
          m,
          [...at, 'service', 'port', 'name'],
          `use-annotation needs the annotation ${PREFIX}actions.${service.name}`,
        )
        return undefined
      }
      const name = `actions.${service.name}`
      const action = json(m, name, raw)
      if (action === undefined) return undefined
      const where: FieldPath = ['metadata', 'annotations', PREFIX + name]
      if (!isObject(action)) {
        issue(m, where, 'expected a JSON action: {"type": "forward" | "redirect" | "fixed-response", …}')
        return undefined
      }
      if (action.type === 'redirect' && isObject(action.redirectConfig))
        return [placed({ Type: 'redirect', RedirectConfig: pascal(action.redirectConfig) }, m, where)]
      if (action.type === 'fixed-response' && isObject(action.fixedResponseConfig))
        return [placed({ Type: 'fixed-response', FixedResponseConfig: pascal(action.fixedResponseConfig) }, m, where)]
      if (action.type === 'forward' && typeof action.targetGroupARN === 'string') {
        issue(
          m,
          where,
          'forward to a target group made outside Kubernetes (targetGroupARN): its settings and targets are not in the manifests; forward to a Service instead',
        )
        return undefined
      }
      if (
        action.type === 'forward' &&
        isObject(action.forwardConfig) &&
        Array.isArray(action.forwardConfig.targetGroups)
      ) {
        const groups = action.forwardConfig.targetGroups.map((g) => {
          if (!isObject(g) || typeof g.serviceName !== 'string' || g.servicePort === undefined) {
            issue(
              m,
              where,
              `expected {"serviceName", "servicePort", "weight"} (targetGroupARN is a target group made outside Kubernetes), got ${JSON.stringify(g)}`,
            )
            return {}
          }
          const arn = targetGroup(m, where, g.serviceName, g.servicePort as string | number)
          return { TargetGroupArn: arn, ...(g.weight === undefined ? {} : { Weight: g.weight }) }
        })
        const sticky = action.forwardConfig.targetGroupStickinessConfig
        const forward = {
          Type: 'forward',
          ForwardConfig: {
            TargetGroups: groups,
            ...(isObject(sticky) ? { TargetGroupStickinessConfig: pascal(sticky) } : {}),
          },
        }
        return [placed(forward, m, where)]
      }
      issue(
        m,
        where,
        `expected {"type":"forward","forwardConfig":…}, {"type":"redirect","redirectConfig":…} or {"type":"fixed-response","fixedResponseConfig":…}, got type ${JSON.stringify(action.type)}`,
      )
      return undefined
    }
    const port = service.port.number ?? service.port.name
    if (typeof port !== 'number' && typeof port !== 'string') {
      issue(m, [...at, 'service', 'port'], 'expected port: { number } or { name }')
      return undefined
    }
    const arn = targetGroup(m, [...at, 'service'], service.name, port)
    return arn === undefined ? undefined : [placed({ Type: 'forward', TargetGroupArn: arn }, m, [...at, 'service'])]
  }

  /** The target group for a Service port (one per Service port, as the controller makes), by its name. */
  function targetGroup(m: Manifest, at: FieldPath, serviceName: string, port: string | number): string | undefined {
    const svc = find('Service', m.namespace, serviceName)
    let number = typeof port === 'number' ? port : /^\d+$/.test(port) ? Number(port) : undefined
    if (svc) {
      const ports =
        isObject(svc.value.spec) && Array.isArray(svc.value.spec.ports) ? (svc.value.spec.ports as Json[]) : []
      const found = ports.find((p) => p.name === port || p.port === number)
      if (!found) {
        issue(m, at, `Service ${m.namespace}/${serviceName} has no port ${port}`)
        return undefined
      }
      number = Number(found.port)
    } else if (number === undefined) {
      issue(
        m,
        at,
        `Service ${m.namespace}/${serviceName} is not in the manifests: give its manifest, or the port by number`,
      )
      return undefined
    }
    const name = `${m.namespace}-${serviceName}-${number}`
    // Referenced by name, as the written file may (the controller's generated names and ARNs exist only on AWS).
    if (targetGroupNames.has(name)) return name
    // Target-group annotations: the Service's win over the Ingress's.
    const annotation = (n: string): { value: string; owner: Manifest } | undefined => {
      const own = svc ? annotationsOf(svc)[PREFIX + n] : undefined
      if (own !== undefined && svc) return { value: own, owner: svc }
      const ingress = annotationsOf(m)[PREFIX + n]
      return ingress === undefined ? undefined : { value: ingress, owner: m }
    }
    const index = groupList.length
    const out: Json = { TargetGroupName: name, TargetType: 'ip', Protocol: 'HTTP', Port: number, ...HEALTH_DEFAULTS }
    origins.set(['TargetGroups', index], { file: m.file, path: [...m.path, ...at] })
    const set = (field: string, n: string, convert: (v: string) => unknown = (v) => v) => {
      const a = annotation(n)
      if (!a) return
      out[field] = convert(a.value)
      origins.set(['TargetGroups', index, field], {
        file: a.owner.file,
        path: [...a.owner.path, 'metadata', 'annotations', PREFIX + n],
      })
    }
    const type = annotation('target-type')
    if (type && type.value !== 'ip' && type.value !== 'instance')
      issue(
        type.owner,
        ['metadata', 'annotations', `${PREFIX}target-type`],
        `expected instance or ip, got ${type.value}`,
      )
    // Pod IPs (ip) and node ports (instance) both exist only in the cluster: the overlay gives addresses.
    notes.push({
      ...(type
        ? located(type.owner, `${PREFIX}target-type`)
        : { ...m.file.document.locate([...m.path, ...at]), source: m.file.name }),
      path: `TargetGroup ${name}`,
      message: `target-type ${type?.value ?? 'instance'}: its ${type?.value === 'ip' ? 'pod IPs' : 'node ports'} exist only in the cluster; give the targets by address in the overlay (TargetGroups: ${name}: { Targets: [{ Id, Port }] })`,
      severity: 'warning',
    })
    set('Protocol', 'backend-protocol')
    set('ProtocolVersion', 'backend-protocol-version')
    set('HealthCheckProtocol', 'healthcheck-protocol')
    set('HealthCheckPort', 'healthcheck-port')
    set('HealthCheckPath', 'healthcheck-path')
    set('HealthCheckIntervalSeconds', 'healthcheck-interval-seconds', Number)
    set('HealthCheckTimeoutSeconds', 'healthcheck-timeout-seconds', Number)
    set('HealthyThresholdCount', 'healthy-threshold-count', Number)
    set('UnhealthyThresholdCount', 'unhealthy-threshold-count', Number)
    set('Matcher', 'success-codes', (v) => (out.ProtocolVersion === 'GRPC' ? { GrpcCode: v } : { HttpCode: v }))
    set('Attributes', 'target-group-attributes', (v) => stringMap(v).map(([Key, Value]) => ({ Key, Value })))
    groupList.push(out)
    targetGroupNames.add(name)
    comments.push({
      path: ['TargetGroups', index],
      text: `from ${m.file.name}: Service ${m.namespace}/${serviceName} port ${port}${svc ? `, line ${svc.file.document.locate(svc.path)?.line ?? 1}` : ''}`,
    })
    return name
  }

  /** The authenticate action of an Ingress's auth-* annotations, or none. */
  function authAction(m: Manifest): { action: Json; at: { file: SourceFile; path: FieldPath } } | undefined {
    const a = annotationsOf(m)
    const type = a[`${PREFIX}auth-type`]
    if (type === undefined || type === 'none') return undefined
    const typeAt = annotationAt(m, 'auth-type')
    const common: Json = {}
    const scope = a[`${PREFIX}auth-scope`]
    if (scope !== undefined) common.Scope = scope
    const cookie = a[`${PREFIX}auth-session-cookie`]
    if (cookie !== undefined) common.SessionCookieName = cookie
    const timeout = a[`${PREFIX}auth-session-timeout`]
    if (timeout !== undefined) common.SessionTimeout = Number(timeout)
    const onUnauthenticated = a[`${PREFIX}auth-on-unauthenticated-request`]
    if (onUnauthenticated !== undefined) common.OnUnauthenticatedRequest = onUnauthenticated
    if (type === 'oidc') {
      const raw = a[`${PREFIX}auth-idp-oidc`]
      const where: FieldPath = ['metadata', 'annotations', `${PREFIX}auth-idp-oidc`]
      if (raw === undefined) {
        issue(m, ['metadata', 'annotations', `${PREFIX}auth-type`], `auth-type oidc needs ${PREFIX}auth-idp-oidc`)
        return undefined
      }
      const idp = json(m, 'auth-idp-oidc', raw)
      if (!isObject(idp)) {
        if (idp !== undefined)
          issue(
            m,
            where,
            'expected a JSON object {"issuer", "authorizationEndpoint", "tokenEndpoint", "userInfoEndpoint", "secretName"}',
          )
        return undefined
      }
      const secretName = idp.secretName
      const secret = typeof secretName === 'string' ? find('Secret', m.namespace, secretName) : undefined
      const clientId = secret ? (secretField(secret, 'clientID') ?? secretField(secret, 'clientId')) : undefined
      if (typeof secretName !== 'string')
        issue(m, where, 'expected secretName: the Secret holding clientID and clientSecret')
      else if (!secret)
        issue(
          m,
          where,
          `the Secret ${m.namespace}/${secretName} is not in the manifests: give its manifest (only its clientID is read; the client secret comes from PORTCULLIS_CLIENT_SECRET_<CLIENT ID>)`,
        )
      else if (clientId === undefined) issue(secret, ['data'], 'expected data.clientID (base64) or stringData.clientID')
      const config: Json = {
        Issuer: idp.issuer,
        AuthorizationEndpoint: idp.authorizationEndpoint,
        TokenEndpoint: idp.tokenEndpoint,
        UserInfoEndpoint: idp.userInfoEndpoint,
        ClientId: clientId,
        // The client secret stays in the Secret: never copied, supplied at start as for the other sources.
        UseExistingClientSecret: true,
        ...common,
        ...(isObject(idp.authenticationRequestExtraParams)
          ? { AuthenticationRequestExtraParams: idp.authenticationRequestExtraParams }
          : {}),
      }
      return {
        action: { Type: 'authenticate-oidc', AuthenticateOidcConfig: config },
        at: annotationAt(m, 'auth-idp-oidc'),
      }
    }
    if (type === 'cognito') {
      const raw = a[`${PREFIX}auth-idp-cognito`]
      const idp = raw === undefined ? undefined : json(m, 'auth-idp-cognito', raw)
      if (!isObject(idp)) {
        if (raw === undefined)
          issue(
            m,
            ['metadata', 'annotations', `${PREFIX}auth-type`],
            `auth-type cognito needs ${PREFIX}auth-idp-cognito`,
          )
        else if (idp !== undefined)
          issue(
            m,
            ['metadata', 'annotations', `${PREFIX}auth-idp-cognito`],
            'expected a JSON object {"userPoolARN", "userPoolClientID", "userPoolDomain"}',
          )
        return undefined
      }
      const config: Json = {
        UserPoolArn: idp.userPoolARN,
        UserPoolClientId: idp.userPoolClientID,
        UserPoolDomain: idp.userPoolDomain,
        ...common,
        ...(isObject(idp.authenticationRequestExtraParams)
          ? { AuthenticationRequestExtraParams: idp.authenticationRequestExtraParams }
          : {}),
      }
      return {
        action: { Type: 'authenticate-cognito', AuthenticateCognitoConfig: config },
        at: annotationAt(m, 'auth-idp-cognito'),
      }
    }
    issue(m, typeAt.path.slice(m.path.length), `expected none, oidc or cognito, got ${type}`)
    return undefined
  }

  function located(m: Manifest, annotation: string) {
    return { ...m.file.document.locate([...m.path, 'metadata', 'annotations', annotation]), source: m.file.name }
  }

  /** The IngressClassParams an Ingress's class points at, as far as Portcullis reads them. */
  function classParams(
    m: Manifest,
  ): { group?: string; scheme?: string; sslPolicy?: string; certificateArn?: string; attributes?: Json[] } | undefined {
    const spec = isObject(m.value.spec) ? m.value.spec : {}
    if (typeof spec.ingressClassName !== 'string') return undefined
    const ingressClass = find('IngressClass', undefined, spec.ingressClassName)
    const ref = isObject(ingressClass?.value.spec) ? ingressClass.value.spec.parameters : undefined
    if (!isObject(ref) || ref.kind !== 'IngressClassParams' || typeof ref.name !== 'string') return undefined
    const p = find('IngressClassParams', undefined, ref.name)
    if (!p || !isObject(p.value.spec)) return undefined
    const s = p.value.spec
    const read = [
      'group',
      'scheme',
      'sslPolicy',
      'certificateArn',
      'loadBalancerAttributes',
      'namespaceSelector',
      'tags',
      'subnets',
      'ipAddressType',
    ]
    for (const field of Object.keys(s))
      if (!read.includes(field))
        issue(p, ['spec', field], 'not read by portcullis import: set what it changes in the written file')
    return {
      ...(isObject(s.group) && typeof s.group.name === 'string' ? { group: s.group.name } : {}),
      ...(typeof s.scheme === 'string' ? { scheme: s.scheme } : {}),
      ...(typeof s.sslPolicy === 'string' ? { sslPolicy: s.sslPolicy } : {}),
      ...(Array.isArray(s.certificateArn) ? { certificateArn: s.certificateArn.join(',') } : {}),
      ...(Array.isArray(s.loadBalancerAttributes)
        ? { attributes: (s.loadBalancerAttributes as Json[]).map((x) => ({ Key: x.key, Value: x.value })) }
        : {}),
    }
  }
}

function secretField(secret: Manifest, field: string): string | undefined {
  const v = secret.value
  if (isObject(v.stringData) && typeof v.stringData[field] === 'string') return v.stringData[field] as string
  if (isObject(v.data) && typeof v.data[field] === 'string')
    return Buffer.from(v.data[field] as string, 'base64').toString('utf8')
  return undefined
}

function annotationsOf(m: Manifest): Record<string, string> {
  const metadata = isObject(m.value.metadata) ? m.value.metadata : {}
  const annotations = isObject(metadata.annotations) ? metadata.annotations : {}
  return Object.fromEntries(Object.entries(annotations).map(([k, v]) => [k, String(v).trim()]))
}

function key(m: Manifest): string {
  return `${m.namespace}/${m.name}`
}

/** A load balancer name from the group name (ALB allows letters, digits and hyphens, 32 at most). */
function lbNameFor(group: string): string {
  return `k8s-${group.replace(/[^A-Za-z0-9-]/g, '-')}`.slice(0, 32).replace(/-+$/, '')
}

/** The controller's stringMap: `k1=v1,k2=v2`. */
function stringMap(text: string): [string, string][] {
  return text
    .split(',')
    .map((pair) => pair.trim())
    .filter((pair) => pair !== '')
    .map((pair) => {
      const eq = pair.indexOf('=')
      return eq === -1 ? [pair, ''] : [pair.slice(0, eq).trim(), pair.slice(eq + 1).trim()]
    })
}

/** The controller's camelCase JSON as ELBv2's PascalCase (`statusCode` → `StatusCode`), deeply. */
function pascal(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(pascal)
  if (!isObject(value)) return value
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k[0]!.toUpperCase() + k.slice(1), pascal(v)]))
}

function fmt(path: FieldPath): string {
  return path
    .map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`))
    .join('')
    .replace(/^\./, '')
}

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}
