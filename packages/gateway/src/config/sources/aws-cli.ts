/**
 * The AWS CLI's own files: the output of `aws elbv2 describe-load-balancers`,
 * `describe-listeners`, `describe-rules`, `describe-target-groups`,
 * `describe-target-health`, `describe-listener-certificates` and the
 * `describe-*-attributes` commands, each saved to its own file (JSON or YAML
 * output), given in any order and joined by their ARNs into one
 * configuration. Every block is copied as the CLI printed it, so the
 * validator judges exactly what AWS returned, and points into the right file.
 */
import { BLOCKS } from '../classification.js'
import type { FieldPath } from '../document.js'
import { ConfigError, type ConfigIssue } from '../errors.js'
import { type Origin, OriginMap, type SourceFile, sourceIssue } from './located.js'
import type { Imported, ResourceComment } from './model.js'

type Json = Record<string, unknown>

/** One file of `describe-*` output, and the resource it describes when its output does not name it. */
export interface AwsCliFile {
  readonly file: SourceFile
  /**
   * The load balancer, listener or target group the file describes (a name,
   * an ARN, or a listener's port), for the outputs that do not say:
   * `describe-target-health`, `describe-listener-certificates` and the
   * attribute commands. Given on the command line as `RESOURCE=FILE`.
   */
  readonly resource?: string
}

/** Which `describe-*` command printed a file, by its one top-level key. */
const COMMANDS = {
  LoadBalancers: 'describe-load-balancers',
  Listeners: 'describe-listeners',
  Rules: 'describe-rules',
  TargetGroups: 'describe-target-groups',
  TargetHealthDescriptions: 'describe-target-health',
  Attributes: 'describe-*-attributes',
  Certificates: 'describe-listener-certificates',
} as const

type OutputKey = keyof typeof COMMANDS

/** True when the document looks like the output of an `aws elbv2 describe-*` command. */
export function isAwsCliOutput(value: unknown): boolean {
  return isObject(value) && Object.keys(value).some((k) => k in COMMANDS)
}

interface Item {
  readonly value: Json
  readonly origin: Origin
}

interface ListOutput {
  readonly input: AwsCliFile
  readonly key: OutputKey
  readonly items: Item[]
}

/**
 * Joins the files into one configuration. `loadBalancer` (a name or ARN)
 * picks one when the files describe several.
 *
 * @throws {ConfigError} with every problem found, each located in its file.
 */
export function fromAwsCli(inputs: readonly AwsCliFile[], options: { loadBalancer?: string } = {}): Imported {
  const issues: ConfigIssue[] = []
  const outputs: ListOutput[] = []
  for (const input of inputs) {
    const output = readOutput(input, issues)
    if (output) outputs.push(output)
  }
  if (issues.length > 0) throw new ConfigError(issues, undefined)
  const of = (key: OutputKey) => outputs.filter((o) => o.key === key)
  const items = (key: OutputKey) => of(key).flatMap((o) => o.items)

  // The load balancer.
  const loadBalancers = unique(items('LoadBalancers'), 'LoadBalancerArn', 'load balancer', issues)
  let loadBalancer: Item | undefined
  if (options.loadBalancer !== undefined) {
    loadBalancer = loadBalancers.find(
      (lb) => lb.value.LoadBalancerName === options.loadBalancer || lb.value.LoadBalancerArn === options.loadBalancer,
    )
    if (loadBalancer === undefined) {
      issues.push(
        argumentIssue(`--load-balancer ${options.loadBalancer}: ${namesOf(loadBalancers, 'LoadBalancerName')}`),
      )
    }
  } else if (loadBalancers.length > 1) {
    issues.push(
      sourceIssue(
        loadBalancers[1]!.origin,
        `the files describe ${loadBalancers.length} load balancers (${loadBalancers.map((lb) => String(lb.value.LoadBalancerName)).join(', ')}); choose one with --load-balancer NAME`,
      ),
    )
  } else loadBalancer = loadBalancers[0]
  const lbArn = loadBalancer?.value.LoadBalancerArn as string | undefined

  // Its listeners, and the rules of each (describe-rules names its listener in every RuleArn).
  const allListeners = unique(items('Listeners'), 'ListenerArn', 'listener', issues)
  const listeners = allListeners.filter((l) => lbArn === undefined || l.value.LoadBalancerArn === lbArn)
  if (items('Listeners').length > 0 && listeners.length === 0 && loadBalancer) {
    issues.push(
      sourceIssue(
        loadBalancer.origin,
        `no describe-listeners output lists a listener of ${String(lbArn)}`,
        'LoadBalancerArn',
      ),
    )
  }
  const rulesOf = new Map<Item, Item[]>()
  for (const rules of of('Rules')) {
    const hinted = rules.input.resource === undefined ? undefined : findListener(rules.input.resource, allListeners)
    if (rules.input.resource !== undefined && hinted === undefined) {
      issues.push(unknownResource(rules.input, 'listener'))
      continue
    }
    for (const rule of rules.items) {
      const owner = hinted ?? listenerOfRule(rule, allListeners, issues)
      if (owner === undefined || !listeners.includes(owner)) continue
      rulesOf.set(owner, [...(rulesOf.get(owner) ?? []), rule])
    }
  }

  // Its target groups: those registered with it, and those attached to none yet.
  const allGroups = unique(items('TargetGroups'), 'TargetGroupArn', 'target group', issues)
  const groups = allGroups.filter((tg) => {
    const arns = tg.value.LoadBalancerArns
    return lbArn === undefined || !Array.isArray(arns) || arns.length === 0 || arns.includes(lbArn)
  })

  // The outputs that do not name their resource: by RESOURCE=FILE, by their keys, or the only candidate.
  const attached = new Map<Item, Map<string, { output: ListOutput }>>()
  const attach = (owner: Item, what: string, output: ListOutput) => {
    const already = attached.get(owner)?.get(what)
    if (already) {
      issues.push(
        sourceIssue(
          { file: output.input.file, path: [] },
          `${owner === loadBalancer ? 'the load balancer' : describeItem(owner)} already has ${what} from ${already.output.input.file.name}`,
          output.key,
        ),
      )
      return
    }
    attached.set(owner, (attached.get(owner) ?? new Map()).set(what, { output }))
  }
  for (const output of [...of('TargetHealthDescriptions'), ...of('Attributes'), ...of('Certificates')]) {
    const owner = ownerOf(output, { loadBalancer, listeners, groups }, issues)
    if (owner) attach(owner, output.key, output)
  }
  if (issues.length > 0) throw new ConfigError(issues, undefined)

  // The configuration, each block as printed, each located in its file.
  const origins = new OriginMap()
  const comments: ResourceComment[] = []
  const value: Json = {}
  const fromFile = (item: Item, command: string) =>
    `${command} (${item.origin.file.name}:${item.origin.file.document.locate(item.origin.path)?.line ?? 1})`
  const addList = (owner: Item, target: Json, path: FieldPath, key: OutputKey, field: string) => {
    const output = attached.get(owner)?.get(key)?.output
    if (!output) return
    target[field] = output.items.map((i) => i.value)
    origins.set([...path, field], { file: output.input.file, path: [key] })
  }
  if (loadBalancer) {
    const lb: Json = { ...loadBalancer.value }
    origins.set(['LoadBalancer'], loadBalancer.origin)
    addList(loadBalancer, lb, ['LoadBalancer'], 'Attributes', 'Attributes')
    value.LoadBalancer = lb
    comments.push({ path: ['LoadBalancer'], text: `from ${fromFile(loadBalancer, 'describe-load-balancers')}` })
  }
  value.Listeners = listeners.map((listener, i) => {
    const path: FieldPath = ['Listeners', i]
    const out: Json = { ...listener.value }
    origins.set(path, listener.origin)
    addList(listener, out, path, 'Attributes', 'Attributes')
    addList(listener, out, path, 'Certificates', 'Certificates')
    const rules = rulesOf.get(listener) ?? []
    if (rules.length > 0) {
      out.Rules = rules.map((rule, j) => {
        origins.set([...path, 'Rules', j], rule.origin)
        return rule.value
      })
      origins.set([...path, 'Rules'], { file: rules[0]!.origin.file, path: ['Rules'] })
    }
    comments.push({ path, text: `from ${fromFile(listener, 'describe-listeners')}` })
    return out
  })
  if (groups.length > 0) {
    value.TargetGroups = groups.map((group, i) => {
      const path: FieldPath = ['TargetGroups', i]
      const out: Json = { ...group.value }
      origins.set(path, group.origin)
      addList(group, out, path, 'Attributes', 'Attributes')
      addList(group, out, path, 'TargetHealthDescriptions', 'TargetHealthDescriptions')
      comments.push({ path, text: `from ${fromFile(group, 'describe-target-groups')}` })
      return out
    })
  }
  return { value, origins, comments, notes: [] }
}

function readOutput(input: AwsCliFile, issues: ConfigIssue[]): ListOutput | undefined {
  const root = input.file.document.value
  const at = (path: FieldPath): Origin => ({ file: input.file, path })
  if (!isObject(root)) {
    issues.push(sourceIssue(at([]), 'expected the output of an aws elbv2 describe-* command (a mapping)'))
    return undefined
  }
  const keys = Object.keys(root).filter((k) => k !== 'NextMarker')
  if (typeof root.NextMarker === 'string' && root.NextMarker !== '') {
    issues.push(
      sourceIssue(
        at([]),
        'this output is one page of several; run the command without --max-items so the CLI prints every page',
        'NextMarker',
      ),
    )
  }
  const known = keys.filter((k): k is OutputKey => k in COMMANDS)
  if (known.length !== 1 || keys.length !== 1) {
    const other = keys.find((k) => !(k in COMMANDS)) ?? known[1]
    issues.push(
      sourceIssue(
        at([]),
        `expected the output of one aws elbv2 describe-* command, with one of ${Object.keys(COMMANDS).join(', ')}${other === undefined ? '' : `; got ${other}`}`,
        other,
      ),
    )
    return undefined
  }
  const key = known[0]!
  const list = root[key]
  if (!Array.isArray(list)) {
    issues.push(sourceIssue(at([key]), `expected a list, as ${COMMANDS[key]} prints it`))
    return undefined
  }
  const items: Item[] = []
  list.forEach((value, i) => {
    if (isObject(value)) items.push({ value, origin: at([key, i]) })
    else issues.push(sourceIssue(at([key, i]), 'expected a mapping'))
  })
  return { input, key, items }
}

/** The items, each ARN once (a resource printed twice, by two files, is an error at the second). */
function unique(items: Item[], arnKey: string, what: string, issues: ConfigIssue[]): Item[] {
  const seen = new Map<string, Item>()
  const out: Item[] = []
  for (const item of items) {
    const arn = item.value[arnKey]
    if (typeof arn !== 'string' || arn === '') {
      issues.push(sourceIssue(item.origin, `the ${what} has no ${arnKey}, which joins the files`, undefined))
      continue
    }
    const first = seen.get(arn)
    if (first) {
      const line = first.origin.file.document.locate(first.origin.path)?.line
      issues.push(
        sourceIssue(item.origin, `the ${what} ${arn} is also at ${first.origin.file.name}:${line ?? 1}`, arnKey),
      )
      continue
    }
    seen.set(arn, item)
    out.push(item)
  }
  return out
}

/** A rule's listener, from its RuleArn (`…:listener-rule/app/NAME/LB/LISTENER/RULE`). */
function listenerOfRule(rule: Item, listeners: Item[], issues: ConfigIssue[]): Item | undefined {
  const arn = rule.value.RuleArn
  const match =
    typeof arn === 'string'
      ? /^(arn:[^:]+:elasticloadbalancing:[^:]*:[^:]*:)listener-rule\/((?:app|net|gwy)\/[^/]+\/[^/]+\/[^/]+)\/[^/]+$/.exec(
          arn,
        )
      : null
  if (!match) {
    issues.push(
      sourceIssue(
        rule.origin,
        'the rule has no listener-rule ARN naming its listener; give the file as LISTENER=FILE (the listener ARN or port)',
        typeof arn === 'string' ? 'RuleArn' : undefined,
      ),
    )
    return undefined
  }
  const listenerArn = `${match[1]}listener/${match[2]}`
  const listener = listeners.find((l) => l.value.ListenerArn === listenerArn)
  if (!listener) {
    issues.push(
      sourceIssue(
        rule.origin,
        `the rule belongs to listener ${listenerArn}, which no describe-listeners file lists`,
        'RuleArn',
      ),
    )
  }
  return listener
}

function findListener(resource: string, listeners: Item[]): Item | undefined {
  return listeners.find((l) => l.value.ListenerArn === resource || String(l.value.Port) === resource)
}

type Kind = 'load balancer' | 'listener' | 'target group'

/** The resource an output without an ARN describes. */
function ownerOf(
  output: ListOutput,
  resources: { loadBalancer: Item | undefined; listeners: Item[]; groups: Item[] },
  issues: ConfigIssue[],
): Item | undefined {
  const { loadBalancer, listeners, groups } = resources
  const candidates: Record<Kind, Item[]> = {
    'load balancer': loadBalancer ? [loadBalancer] : [],
    listener: listeners,
    'target group': groups,
  }
  const resource = output.input.resource
  if (resource !== undefined) {
    const found =
      (loadBalancer &&
      (loadBalancer.value.LoadBalancerName === resource || loadBalancer.value.LoadBalancerArn === resource)
        ? loadBalancer
        : undefined) ??
      findListener(resource, listeners) ??
      groups.find((g) => g.value.TargetGroupName === resource || g.value.TargetGroupArn === resource)
    if (!found) issues.push(unknownResource(output.input, 'load balancer, listener or target group'))
    return found
  }
  const kinds: Kind[] =
    output.key === 'TargetHealthDescriptions'
      ? ['target group']
      : output.key === 'Certificates'
        ? ['listener']
        : attributeKinds(output.items)
  const possible = kinds.flatMap((k) => candidates[k])
  const pool = output.key === 'Certificates' ? possible.filter((l) => l.value.Protocol === 'HTTPS') : possible
  if (pool.length === 1) return pool[0]
  const command =
    output.key === 'Attributes' ? `describe-${kinds.join('/').replaceAll(' ', '-')}-attributes` : COMMANDS[output.key]
  const example = output.key === 'Certificates' ? '443' : 'NAME'
  issues.push(
    sourceIssue(
      { file: output.input.file, path: [] },
      pool.length === 0
        ? `this ${command} output describes a ${kinds.join(' or ')}, and no file describes one`
        : `this ${command} output does not say which ${kinds.join(' or ')} it describes (${pool.map(describeItem).join(', ')}); give it as ${example}=${output.input.file.name}`,
      output.key,
    ),
  )
  return undefined
}

/** The kinds of resource whose attribute table holds every key of an attributes output. */
function attributeKinds(items: Item[]): Kind[] {
  const tables: [Kind, Record<string, unknown>][] = [
    ['load balancer', BLOCKS.LoadBalancerAttribute.fields],
    ['listener', BLOCKS.ListenerAttribute.fields],
    ['target group', BLOCKS.TargetGroupAttribute.fields],
  ]
  const keys = items.map((i) => i.value.Key).filter((k): k is string => typeof k === 'string')
  const kinds = tables.filter(([, fields]) => keys.every((k) => k in fields)).map(([kind]) => kind)
  return kinds.length > 0 ? kinds : tables.map(([kind]) => kind)
}

function describeItem(item: Item): string {
  const v = item.value
  if (typeof v.TargetGroupName === 'string') return `target group ${v.TargetGroupName}`
  if (typeof v.ListenerArn === 'string') return `listener ${String(v.Protocol)}:${String(v.Port)}`
  return `load balancer ${String(v.LoadBalancerName)}`
}

function namesOf(items: Item[], key: string): string {
  return items.length === 0
    ? 'no describe-load-balancers file lists a load balancer'
    : `no such load balancer; the files list ${items.map((i) => String(i.value[key])).join(', ')}`
}

function unknownResource(input: AwsCliFile, what: string): ConfigIssue {
  return argumentIssue(`${input.resource}=${input.file.name}: no ${what} named ${input.resource} in the files`)
}

function argumentIssue(message: string): ConfigIssue {
  return { path: '', message, severity: 'error' }
}

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}
