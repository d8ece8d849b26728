/**
 * CloudFormation templates (YAML with the short-form tags, or JSON — what
 * `cdk synth` writes): the `AWS::ElasticLoadBalancingV2::*` resources with
 * Parameters, Mappings and Conditions resolved. Their properties are the
 * ELBv2 API's shapes, so each resource's `Properties` becomes the block
 * `portcullis.yaml` holds, located in the template. What only AWS knows (an
 * imported value, a certificate, an instance, a Secrets Manager secret) is
 * named once with the setting that supplies it.
 */
import type { FieldPath } from '../document.js'
import { ConfigError, type ConfigIssue } from '../errors.js'
import { type Origin, OriginMap, type SourceFile, sourceIssue } from './located.js'
import type { Imported, ResourceComment } from './model.js'

type Json = Record<string, unknown>

const ELB = 'AWS::ElasticLoadBalancingV2::'

/** True when the document is a CloudFormation template. */
export function isCloudFormation(value: unknown): boolean {
  return isObject(value) && (isObject(value.Resources) || 'AWSTemplateFormatVersion' in value)
}

/** Options of {@link fromCloudFormation}. */
export interface CloudFormationOptions {
  /** `--parameter Name=Value`; also `AWS::Region` and `AWS::AccountId`. */
  readonly parameters?: Readonly<Record<string, string>>
  /** `--import-value Name=Value`: what `Fn::ImportValue` would return. */
  readonly importValues?: Readonly<Record<string, string>>
  /** The load balancer's logical id or Name, when the template has several. */
  readonly loadBalancer?: string
}

/** A value CloudFormation knows only when it deploys: why, and where in the template. */
class Unknown {
  constructor(
    readonly reason: string,
    readonly origin: Origin,
    /** What supplies it here. */
    readonly remedy: string,
    /** A short name for it (the logical id or export name), for a stand-in value. */
    readonly label = 'unknown',
  ) {}
}

/** `Ref` to an ELBv2 resource of the template: resolved by the join, not as a string. */
class ResourceRef {
  constructor(readonly logicalId: string) {}
}

/**
 * Converts one template.
 *
 * @throws {ConfigError} for what cannot be resolved, each located in the template.
 */
export function fromCloudFormation(file: SourceFile, options: CloudFormationOptions = {}): Imported {
  const template = file.document.value as Json
  const issues: ConfigIssue[] = []
  const notes: ConfigIssue[] = []
  const at = (path: FieldPath): Origin => ({ file, path })
  const resources = (isObject(template.Resources) ? template.Resources : {}) as Record<string, Json>
  const parameters = (isObject(template.Parameters) ? template.Parameters : {}) as Record<string, Json>
  const mappings = (isObject(template.Mappings) ? template.Mappings : {}) as Json
  const conditions = (isObject(template.Conditions) ? template.Conditions : {}) as Json
  const given = options.parameters ?? {}
  for (const [name, value] of Object.entries(given)) {
    const declared = parameters[name]
    if (declared === undefined && !name.startsWith('AWS::')) {
      issues.push(sourceIssue(at([]), `--parameter ${name}: the template has no parameter ${name}`, 'Parameters'))
    } else if (Array.isArray(declared?.AllowedValues) && !declared.AllowedValues.map(String).includes(value)) {
      issues.push(
        sourceIssue(
          at(['Parameters', name]),
          `--parameter ${name}=${value}: not one of its AllowedValues (${declared.AllowedValues.map(String).join(', ')})`,
          'AllowedValues',
        ),
      )
    }
  }
  if (issues.length > 0) throw new ConfigError(issues, undefined)
  const pseudo: Record<string, string> = {
    'AWS::Region': given['AWS::Region'] ?? 'us-east-1',
    'AWS::AccountId': given['AWS::AccountId'] ?? '000000000000',
    'AWS::Partition': 'aws',
    'AWS::URLSuffix': 'amazonaws.com',
    'AWS::StackName': given['AWS::StackName'] ?? 'portcullis',
  }

  const conditionValues = new Map<string, boolean>()
  const evaluating = new Set<string>()
  const condition = (name: string, path: FieldPath): boolean => {
    const known = conditionValues.get(name)
    if (known !== undefined) return known
    if (!(name in conditions) || evaluating.has(name)) {
      throw fail(
        at(path),
        evaluating.has(name) ? `condition ${name} refers to itself` : `no condition ${name} in Conditions`,
      )
    }
    evaluating.add(name)
    const value = resolve(conditions[name], ['Conditions', name])
    evaluating.delete(name)
    if (typeof value !== 'boolean') throw fail(at(['Conditions', name]), 'a condition must be true or false')
    conditionValues.set(name, value)
    return value
  }

  const NO_VALUE = Symbol('AWS::NoValue')
  const parameter = (name: string, path: FieldPath): unknown => {
    const declared = parameters[name]!
    const raw = given[name] ?? declared.Default
    if (raw === undefined) {
      throw fail(at(path), `parameter ${name} has no Default; give it with --parameter ${name}=VALUE`)
    }
    const type = String(declared.Type ?? 'String')
    if (type.startsWith('AWS::SSM::Parameter::Value')) {
      if (given[name] !== undefined) return given[name]
      return new Unknown(`parameter ${name} is read from SSM (${String(raw)})`, at(path), `--parameter ${name}=VALUE`)
    }
    if (type === 'CommaDelimitedList' || type.startsWith('List<'))
      return String(raw)
        .split(',')
        .map((s) => s.trim())
    if (Array.isArray(declared.AllowedValues) && !declared.AllowedValues.map(String).includes(String(raw))) {
      throw fail(at(path), `parameter ${name} is ${String(raw)}, not one of its AllowedValues`)
    }
    return type === 'Number' ? String(raw) : raw
  }

  const ref = (name: string, path: FieldPath): unknown => {
    if (name === 'AWS::NoValue') return NO_VALUE
    if (name in pseudo) return pseudo[name]
    if (name in parameters) return parameter(name, path)
    const resource = resources[name]
    if (resource === undefined) throw fail(at(path), `Ref ${name}: no parameter or resource ${name} in the template`)
    const type = String(resource.Type)
    if (type === `${ELB}TargetGroup`) return targetGroupName(name)
    if (type.startsWith(ELB)) return new ResourceRef(name)
    return new Unknown(`Ref ${name} (${type}) is known only once deployed`, at(path), remedyFor(type), name)
  }

  const getAtt = (logicalId: string, attribute: string, path: FieldPath): unknown => {
    const resource = resources[logicalId]
    if (resource === undefined) throw fail(at(path), `Fn::GetAtt: no resource ${logicalId} in the template`)
    const type = String(resource.Type)
    if (type === `${ELB}TargetGroup` && (attribute === 'TargetGroupName' || attribute === 'TargetGroupArn')) {
      return targetGroupName(logicalId)
    }
    if (type.startsWith(ELB) && /Arn$/.test(attribute)) return new ResourceRef(logicalId)
    if (type === `${ELB}LoadBalancer` && attribute === 'LoadBalancerName') return loadBalancerName(logicalId)
    return new Unknown(
      `Fn::GetAtt ${logicalId}.${attribute} (${type}) is known only once deployed`,
      at(path),
      remedyFor(type),
      logicalId,
    )
  }

  const targetGroupName = (logicalId: string): string => {
    const name = resolve(resources[logicalId]?.Properties && (resources[logicalId]!.Properties as Json).Name, [
      'Resources',
      logicalId,
      'Properties',
      'Name',
    ])
    // CloudFormation generates a name when none is given: here the logical id stands for it.
    return typeof name === 'string' ? name : logicalId
  }
  const loadBalancerName = (logicalId: string): string => {
    const props = (resources[logicalId]?.Properties ?? {}) as Json
    const name = resolve(props.Name, ['Resources', logicalId, 'Properties', 'Name'])
    return typeof name === 'string' ? name : logicalId
  }

  /** `Fn::Sub`'s `${Name}`, `${Resource.Attribute}` and `${!Literal}`. */
  const sub = (text: string, vars: Json, path: FieldPath): unknown => {
    let unknown: Unknown | undefined
    const out = text.replace(/\$\{([^}]*)\}/g, (whole, inner: string) => {
      if (inner.startsWith('!')) return `\${${inner.slice(1)}}`
      const name = inner.trim()
      let value: unknown
      if (name in vars) value = resolve(vars[name], [...path, 1, name])
      else if (name.includes('.') && !(name in parameters) && !(name in pseudo)) {
        const dot = name.indexOf('.')
        value = getAtt(name.slice(0, dot), name.slice(dot + 1), path)
      } else value = ref(name, path)
      if (value instanceof Unknown) unknown ??= value
      else if (typeof value === 'string' || typeof value === 'number') return String(value)
      else if (value instanceof ResourceRef)
        unknown ??= new Unknown(`\${${name}} is an ARN known only once deployed`, at(path), 'a literal value')
      else return whole
      return whole
    })
    return unknown ?? out
  }

  /** `{{resolve:secretsmanager:…}}` and its kin: CloudFormation reads them when it deploys. */
  const dynamicReference = (text: string, path: FieldPath): unknown => {
    const dynamic = /\{\{resolve:(secretsmanager|ssm|ssm-secure):[^}]*\}\}/.exec(text)
    if (!dynamic) return text
    return new Unknown(`the dynamic reference ${dynamic[0]} is resolved by CloudFormation`, at(path), 'the environment')
  }

  function resolve(value: unknown, path: FieldPath): unknown {
    if (Array.isArray(value)) {
      const out: unknown[] = []
      value.forEach((v, i) => {
        const r = resolve(v, [...path, i])
        if (r !== NO_VALUE) out.push(r)
      })
      return out
    }
    if (typeof value === 'string') return dynamicReference(value, path)
    if (!isObject(value)) return value
    const keys = Object.keys(value)
    if (keys.length === 1) {
      const fn = keys[0]!
      const arg = value[fn]
      const argPath = [...path, fn]
      switch (fn) {
        case 'Ref':
          return ref(String(arg), argPath)
        case 'Condition':
          return condition(String(arg), argPath)
        case 'Fn::GetAtt': {
          const parts = Array.isArray(arg) ? arg.map((a, i) => resolve(a, [...argPath, i])) : String(arg).split('.')
          return getAtt(String(parts[0]), parts.slice(1).join('.'), argPath)
        }
        case 'Fn::Sub': {
          const [raw, vars] = Array.isArray(arg) ? [arg[0], arg[1]] : [arg, {}]
          const template = resolve(raw, argPath)
          if (template instanceof Unknown) return template
          const text = sub(String(template), isObject(vars) ? vars : {}, argPath)
          return typeof text === 'string' ? dynamicReference(text, path) : text
        }
        case 'Fn::Join': {
          const [sep, list] = Array.isArray(arg) ? [arg[0], resolve(arg[1], [...argPath, 1])] : ['', []]
          if (list instanceof Unknown) return list
          const items = Array.isArray(list) ? list : []
          const unknown = items.find((i) => i instanceof Unknown)
          return unknown ?? dynamicReference(items.map(String).join(String(sep)), path)
        }
        case 'Fn::Select': {
          const [index, list] = Array.isArray(arg)
            ? [resolve(arg[0], [...argPath, 0]), resolve(arg[1], [...argPath, 1])]
            : []
          if (list instanceof Unknown) return list
          if (!Array.isArray(list) || list[Number(index)] === undefined) {
            throw fail(at(argPath), `Fn::Select: index ${String(index)} is outside the list`)
          }
          return list[Number(index)]
        }
        case 'Fn::Split': {
          const [sep, text] = Array.isArray(arg) ? [arg[0], resolve(arg[1], [...argPath, 1])] : ['', '']
          if (text instanceof Unknown) return text
          return String(text).split(String(sep))
        }
        case 'Fn::FindInMap': {
          const [map, top, second] = (Array.isArray(arg) ? arg : []).map((a, i) => resolve(a, [...argPath, i]))
          const found = (mappings[String(map)] as Json | undefined)?.[String(top)] as Json | undefined
          if (found?.[String(second)] === undefined) {
            throw fail(
              at(argPath),
              `Fn::FindInMap: Mappings.${String(map)}.${String(top)}.${String(second)} does not exist`,
            )
          }
          return found[String(second)]
        }
        case 'Fn::If': {
          const [name, whenTrue, whenFalse] = Array.isArray(arg) ? arg : []
          return condition(String(name), [...argPath, 0])
            ? resolve(whenTrue, [...argPath, 1])
            : resolve(whenFalse, [...argPath, 2])
        }
        case 'Fn::Equals': {
          const [a, b] = (Array.isArray(arg) ? arg : []).map((v, i) => resolve(v, [...argPath, i]))
          if (a instanceof Unknown || b instanceof Unknown)
            throw unknownError(a instanceof Unknown ? a : (b as Unknown))
          return JSON.stringify(a) === JSON.stringify(b)
        }
        case 'Fn::And':
        case 'Fn::Or': {
          const all = (Array.isArray(arg) ? arg : []).map((v, i) => resolve(v, [...argPath, i]) === true)
          return fn === 'Fn::And' ? all.every(Boolean) : all.some(Boolean)
        }
        case 'Fn::Not':
          return !(Array.isArray(arg) && resolve(arg[0], [...argPath, 0]) === true)
        case 'Fn::ImportValue': {
          const name = resolve(arg, argPath)
          if (typeof name === 'string' && options.importValues?.[name] !== undefined) return options.importValues[name]
          return new Unknown(
            `Fn::ImportValue ${String(name)} is another stack's export`,
            at(path),
            `--import-value ${String(name)}=VALUE`,
            String(name),
          )
        }
        case 'Fn::Base64':
          return Buffer.from(String(resolve(arg, argPath))).toString('base64')
        case 'Fn::GetAZs':
        case 'Fn::Cidr':
        case 'Fn::Transform':
          return new Unknown(`${fn} is evaluated by CloudFormation`, at(path), 'a literal value')
      }
    }
    const out: Json = {}
    for (const [k, v] of Object.entries(value)) {
      const r = resolve(v, [...path, k])
      if (r !== NO_VALUE) out[k] = r
    }
    return out
  }

  const unknownError = (u: Unknown) => fail(u.origin, `${u.reason}; give it with ${u.remedy}`)
  function fail(origin: Origin, message: string): ConfigError {
    return new ConfigError([sourceIssue(origin, message)], undefined)
  }
  const collect = (run: () => void) => {
    try {
      run()
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error
      issues.push(...error.issues)
    }
  }

  // The resources, in template order, those a condition leaves out skipped.
  const byType = (type: string) =>
    Object.entries(resources).filter(([id, r]) => {
      if (r?.Type !== `${ELB}${type}`) return false
      let included = true
      if (typeof r.Condition === 'string')
        collect(() => {
          included = condition(r.Condition as string, ['Resources', id, 'Condition'])
        })
      return included
    })
  /** A resource's properties resolved, but for `skip` (where it lives in the VPC: AWS's business, never read). */
  const propsOf = (id: string, skip: readonly string[] = []): Json => {
    const raw = resources[id]!.Properties
    const props: Json = {}
    if (!isObject(raw)) return props
    for (const [key, value] of Object.entries(raw)) {
      if (skip.includes(key)) continue
      collect(() => {
        const resolved = resolve(value, ['Resources', id, 'Properties', key])
        if (resolved !== NO_VALUE) props[key] = resolved
      })
    }
    return props
  }
  const propsPath = (id: string): FieldPath => ['Resources', id, 'Properties']

  const loadBalancers = byType('LoadBalancer').filter(([id, r]) => {
    const type = (r.Properties as Json | undefined)?.Type
    return type === undefined || type === 'application' || id === options.loadBalancer
  })
  let lbId: string | undefined
  if (options.loadBalancer !== undefined) {
    lbId = loadBalancers.find(
      ([id]) => id === options.loadBalancer || loadBalancerName(id) === options.loadBalancer,
    )?.[0]
    if (lbId === undefined) {
      issues.push(
        sourceIssue(
          at(['Resources']),
          `--load-balancer ${options.loadBalancer}: no such application load balancer in the template`,
        ),
      )
    }
  } else if (loadBalancers.length > 1) {
    issues.push(
      sourceIssue(
        at(['Resources', loadBalancers[1]![0]]),
        `the template has ${loadBalancers.length} application load balancers (${loadBalancers.map(([id]) => id).join(', ')}); choose one with --load-balancer LOGICAL_ID`,
      ),
    )
  } else lbId = loadBalancers[0]?.[0]
  if (lbId === undefined && issues.length === 0) {
    issues.push(sourceIssue(at(['Resources']), `no ${ELB}LoadBalancer of type application in the template`))
  }
  if (issues.length > 0) throw new ConfigError(issues, undefined)

  const origins = new OriginMap()
  const comments: ResourceComment[] = []
  const comment = (path: FieldPath, id: string) =>
    comments.push({
      path,
      text: `from ${file.name}: Resources.${id} (${String(resources[id]!.Type)}), line ${file.document.locate(['Resources', id])?.line ?? 1}`,
    })
  /** Copies `props` into `out`, renaming per `rename`, dropping `drop`, each field located in the template. */
  const copy = (id: string, props: Json, outPath: FieldPath, rename: Record<string, string>, drop: string[]): Json => {
    const out: Json = {}
    origins.set(outPath, at(propsPath(id)))
    for (const [key, value] of Object.entries(props)) {
      if (drop.includes(key)) continue
      const name = rename[key] ?? key
      out[name] = value
      if (name !== key) origins.set([...outPath, name], at([...propsPath(id), key]))
    }
    return out
  }

  const lbProps = propsOf(lbId!, ['Subnets', 'SubnetMappings', 'SecurityGroups', 'Tags'])
  const loadBalancer = copy(
    lbId!,
    lbProps,
    ['LoadBalancer'],
    { Name: 'LoadBalancerName', LoadBalancerAttributes: 'Attributes' },
    [],
  )
  loadBalancer.LoadBalancerName = loadBalancerName(lbId!)
  loadBalancer.Region = pseudo['AWS::Region']
  loadBalancer.AccountId = pseudo['AWS::AccountId']
  comment(['LoadBalancer'], lbId!)

  const listeners: Json[] = []
  const listenerIds: string[] = []
  for (const [id] of byType('Listener')) {
    const props = propsOf(id)
    const owner = props.LoadBalancerArn
    if (!(owner instanceof ResourceRef) || owner.logicalId !== lbId) continue
    const path: FieldPath = ['Listeners', listeners.length]
    listeners.push(copy(id, props, path, { ListenerAttributes: 'Attributes' }, ['LoadBalancerArn']))
    listenerIds.push(id)
    comment(path, id)
  }
  const listenerIndex = (value: unknown, origin: Origin): number | undefined => {
    if (value instanceof ResourceRef) {
      const i = listenerIds.indexOf(value.logicalId)
      return i === -1 ? undefined : i
    }
    issues.push(sourceIssue(origin, 'ListenerArn must be a Ref to a listener of this template'))
    return undefined
  }
  for (const [id] of byType('ListenerRule')) {
    const props = propsOf(id)
    const i = listenerIndex(props.ListenerArn, at([...propsPath(id), 'ListenerArn']))
    if (i === undefined) continue
    const listener = listeners[i]!
    listener.Rules ??= []
    const rules = listener.Rules as Json[]
    const path: FieldPath = ['Listeners', i, 'Rules', rules.length]
    rules.push(copy(id, props, path, {}, ['ListenerArn']))
    comment(path, id)
  }
  for (const [id] of byType('ListenerCertificate')) {
    const props = propsOf(id)
    const i = listenerIndex(props.ListenerArn, at([...propsPath(id), 'ListenerArn']))
    if (i === undefined || !Array.isArray(props.Certificates)) continue
    listeners[i]!.Certificates ??= []
    const certificates = listeners[i]!.Certificates as unknown[]
    props.Certificates.forEach((certificate, k) => {
      origins.set(['Listeners', i, 'Certificates', certificates.length], at([...propsPath(id), 'Certificates', k]))
      certificates.push(certificate)
    })
  }

  const targetGroups: Json[] = []
  for (const [id] of byType('TargetGroup')) {
    const props = propsOf(id, ['VpcId', 'Tags'])
    const path: FieldPath = ['TargetGroups', targetGroups.length]
    const group = copy(id, props, path, { Name: 'TargetGroupName', TargetGroupAttributes: 'Attributes' }, [
      'VpcId',
      'Tags',
    ])
    group.TargetGroupName = targetGroupName(id)
    targetGroups.push(group)
    comment(path, id)
  }

  // What only AWS knows: a certificate ARN stands for its certificate (the overlay gives the files),
  // a Secrets Manager client secret becomes UseExistingClientSecret (the environment gives it),
  // targets known only once deployed go (the overlay gives them); anything else is an error.
  const value: Json = { LoadBalancer: loadBalancer, Listeners: listeners }
  if (targetGroups.length > 0) value.TargetGroups = targetGroups
  const settle = (node: unknown, path: FieldPath, parent?: Json, key?: string): void => {
    if (node instanceof Unknown) {
      if (key === 'CertificateArn' && parent) {
        parent[key] = `arn:aws:acm:${pseudo['AWS::Region']}:${pseudo['AWS::AccountId']}:certificate/${node.label}`
        notes.push(
          note(
            node,
            `${node.reason}: it stands as ${String(parent[key])}; give its files in the overlay (Certificates: - { CertificateArn: ${String(parent[key])}, CertificateFile, PrivateKeyFile })`,
          ),
        )
        return
      }
      if (key === 'ClientSecret' && parent) {
        delete parent[key]
        parent.UseExistingClientSecret = true
        origins.set([...path.slice(0, -1), 'UseExistingClientSecret'], node.origin)
        return
      }
      if (path[0] === 'TargetGroups' && path[2] === 'Targets') {
        const group = valueAt(value, path.slice(0, 2)) as Json
        if (group.Targets === undefined) return
        delete group.Targets
        notes.push(
          note(
            node,
            `${node.reason}: give this target group's targets in the overlay (TargetGroups: { ${String(group.TargetGroupName)}: { Targets: [...] } })`,
          ),
        )
        return
      }
      issues.push(sourceIssue(node.origin, `${node.reason}; give it with ${node.remedy}`))
      return
    }
    if (node instanceof ResourceRef) {
      issues.push(sourceIssue(origins.originOf(path) ?? at([]), `a Ref to ${node.logicalId} cannot stand here`))
      return
    }
    if (Array.isArray(node)) {
      for (const [i, v] of node.entries()) settle(v, [...path, i], node as unknown as Json, String(i))
    } else if (isObject(node)) for (const [k, v] of Object.entries(node)) settle(v, [...path, k], node, k)
  }
  settle(value, [])
  if (issues.length > 0) throw new ConfigError(issues, undefined)
  return { value, origins, comments, notes }
}

function note(unknown: { origin: Origin }, message: string): ConfigIssue {
  return { ...sourceIssue(unknown.origin, message), severity: 'warning' }
}

/** The Portcullis setting that stands for a resource of this type. */
function remedyFor(type: string): string {
  if (type === 'AWS::CertificateManager::Certificate')
    return 'the overlay (Certificates: CertificateFile, PrivateKeyFile)'
  if (type === 'AWS::EC2::Instance') return "the overlay (the target group's Targets)"
  if (type.startsWith('AWS::SecretsManager::')) return 'the environment (PORTCULLIS_CLIENT_SECRET_<CLIENT ID>)'
  return '--parameter or a literal value in the template'
}

function valueAt(root: unknown, path: FieldPath): unknown {
  let node = root
  for (const segment of path) node = (node as Record<string | number, unknown>)?.[segment]
  return node
}

function isObject(value: unknown): value is Json {
  return (
    value !== null &&
    typeof value === 'object' &&
    !Array.isArray(value) &&
    !(value instanceof Unknown) &&
    !(value instanceof ResourceRef)
  )
}
