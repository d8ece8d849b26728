/**
 * Auditing a live AWS account: read every application load balancer with
 * read-only ELBv2 and EC2 calls (AWS SDK for JavaScript v3, loaded only
 * here and only when called), turn each into the gateway's model through the
 * same normaliser a file goes through, run the configuration checks on it,
 * and add what only the account shows: deletion protection, and the article's
 * recommendation 1 (targets reachable only from the load balancer).
 */
import type { ElasticLoadBalancingV2ClientConfig } from '@aws-sdk/client-elastic-load-balancing-v2'
import type { GatewayConfig } from '../config/model.js'
import { normalise } from '../config/normalise/index.js'
import type { PortcullisFile, RuleFile, TargetGroupFile } from '../config/schema.js'
import { PortcullisError } from '../values/errors.js'
import { type CheckOptions, checkModel, finding, type RawFinding } from './checks.js'
import { CATALOGUE, type Finding, type FindingId, sortFindings } from './findings.js'

/** Options of {@link auditAwsAccount}. */
export interface AwsAuditOptions extends CheckOptions {
  /** Region; default the SDK's (AWS_REGION, the profile). */
  readonly region?: string
  /** Endpoint for both ELBv2 and EC2, e.g. LocalStack's `http://127.0.0.1:4566`. */
  readonly endpoint?: string
  /**
   * Further SDK client configuration for both clients (credentials, a retry
   * strategy, `maxAttempts`); credentials default to the SDK's chain.
   */
  readonly clientConfig?: Omit<ElasticLoadBalancingV2ClientConfig, 'region' | 'endpoint'>
}

/** What a live audit found, and what it looked at. */
export interface AwsAuditResult {
  readonly findings: Finding[]
  /** ARNs of the application load balancers read. */
  readonly loadBalancers: string[]
  readonly region: string
}

/**
 * A failure that stops the audit (no credentials, an unreachable endpoint, an
 * unexpected error answer), with a message fit for a terminal and the SDK's
 * error as `cause`. Permission errors do not throw: they become
 * `aws-access-denied` findings.
 *
 * @example
 * ```ts
 * try {
 *   await auditAwsAccount({ region: 'eu-west-1' })
 * } catch (err) {
 *   if (err instanceof AwsAuditError) console.error(err.code, err.message) // ERR_AWS_AUDIT …
 *   else throw err
 * }
 * ```
 */
export class AwsAuditError extends PortcullisError {
  override readonly name = 'AwsAuditError'
  declare readonly code: 'ERR_AWS_AUDIT'

  constructor(message: string, options?: ErrorOptions) {
    super('ERR_AWS_AUDIT', message, options)
  }
}

/** Error codes that mean "this principal may not call that action". */
const DENIED = new Set(['AccessDenied', 'AccessDeniedException', 'UnauthorizedOperation', 'UnauthorizedAccess'])

/**
 * Audits every application load balancer in one region of an account.
 * Read-only: Describe* calls only (the README lists them as an IAM policy).
 *
 * @throws {AwsAuditError} when the account cannot be read at all.
 * @example
 * ```ts
 * const { findings, loadBalancers } = await auditAwsAccount({ region: 'eu-west-1' })
 * console.log(`${loadBalancers.length} load balancers, ${findings.length} findings`)
 * ```
 */
export async function auditAwsAccount(options: AwsAuditOptions = {}): Promise<AwsAuditResult> {
  // Loaded here so that `portcullis start` and the library's other entry points never load the SDK.
  const elbv2 = await import('@aws-sdk/client-elastic-load-balancing-v2')
  const ec2sdk = await import('@aws-sdk/client-ec2')
  const config = {
    ...options.clientConfig,
    ...(options.region === undefined ? {} : { region: options.region }),
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
  }
  const elb = new elbv2.ElasticLoadBalancingV2Client(config)
  const ec2 = new ec2sdk.EC2Client(config as ConstructorParameters<typeof ec2sdk.EC2Client>[0] & object)
  try {
    const region = await regionOf(elb)
    const findings: Finding[] = []
    const accountScope = `arn:aws:elasticloadbalancing:${region}`
    /** Runs one read; a permission error becomes a finding and `undefined`, anything else an AwsAuditError. */
    const read: Reader = async (action, resource, call) => {
      try {
        return await call()
      } catch (error) {
        const name = (error as { name?: string }).name ?? ''
        if (DENIED.has(name)) {
          const loadBalancer = loadBalancerOf(resource) ?? accountScope
          findings.push(accountFinding(loadBalancer, resource, `${action} was refused: ${(error as Error).message}`))
          return undefined
        }
        throw new AwsAuditError(`${action} failed: ${describeError(error)}`, { cause: error })
      }
    }
    const all = async <P, T>(pages: AsyncIterable<P>, pick: (page: P) => T[] | undefined): Promise<T[]> => {
      const out: T[] = []
      for await (const page of pages) out.push(...(pick(page) ?? []))
      return out
    }

    const loadBalancers =
      (await read('elasticloadbalancing:DescribeLoadBalancers', accountScope, () =>
        all(elbv2.paginateDescribeLoadBalancers({ client: elb }, {}), (p) => p.LoadBalancers),
      )) ?? []
    const albs = loadBalancers.filter((lb) => lb.Type === 'application' && lb.LoadBalancerArn !== undefined)
    const live: LiveLoadBalancer[] = []
    for (const lb of albs) {
      const arn = lb.LoadBalancerArn!
      const attributes =
        (
          await read('elasticloadbalancing:DescribeLoadBalancerAttributes', arn, () =>
            elb.send(new elbv2.DescribeLoadBalancerAttributesCommand({ LoadBalancerArn: arn })),
          )
        )?.Attributes ?? undefined
      const listeners =
        (await read('elasticloadbalancing:DescribeListeners', arn, () =>
          all(elbv2.paginateDescribeListeners({ client: elb }, { LoadBalancerArn: arn }), (p) => p.Listeners),
        )) ?? []
      const listenerFiles: PortcullisFile['Listeners'][number][] = []
      const listenerArns: string[] = []
      for (const listener of listeners) {
        if (listener.Protocol !== 'HTTP' && listener.Protocol !== 'HTTPS') continue
        listenerArns.push(listener.ListenerArn!)
        const rules =
          (await read('elasticloadbalancing:DescribeRules', listener.ListenerArn!, () =>
            all(elbv2.paginateDescribeRules({ client: elb }, { ListenerArn: listener.ListenerArn! }), (p) => p.Rules),
          )) ?? []
        listenerFiles.push({
          Port: listener.Port ?? 0,
          Protocol: listener.Protocol,
          ...(listener.SslPolicy === undefined ? {} : { SslPolicy: listener.SslPolicy }),
          // describe-rules output includes the default rule (IsDefault: true), so no DefaultActions.
          Rules: rules.map((rule) => rule as unknown as RuleFile),
        })
      }
      const groups =
        (await read('elasticloadbalancing:DescribeTargetGroups', arn, () =>
          all(elbv2.paginateDescribeTargetGroups({ client: elb }, { LoadBalancerArn: arn }), (p) => p.TargetGroups),
        )) ?? []
      const targets: LiveTarget[] = []
      const groupFiles: TargetGroupFile[] = []
      for (const group of groups) {
        const groupArn = group.TargetGroupArn!
        const groupAttributes = await read('elasticloadbalancing:DescribeTargetGroupAttributes', groupArn, () =>
          elb.send(new elbv2.DescribeTargetGroupAttributesCommand({ TargetGroupArn: groupArn })),
        )
        const health = await read('elasticloadbalancing:DescribeTargetHealth', groupArn, () =>
          elb.send(new elbv2.DescribeTargetHealthCommand({ TargetGroupArn: groupArn })),
        )
        const registered = (health?.TargetHealthDescriptions ?? []).flatMap((d) =>
          d.Target?.Id === undefined ? [] : [{ id: d.Target.Id, port: d.Target.Port ?? group.Port ?? 0 }],
        )
        if (group.TargetType === 'instance' || group.TargetType === 'ip') {
          for (const t of registered) targets.push({ ...t, type: group.TargetType, group: group.TargetGroupName! })
        }
        groupFiles.push({
          TargetGroupName: group.TargetGroupName!,
          TargetGroupArn: groupArn,
          // Lambda and ALB target groups have no protocol; the checks only need their routes.
          Protocol: group.Protocol === 'HTTPS' ? 'HTTPS' : 'HTTP',
          ...(group.Port === undefined ? {} : { Port: group.Port }),
          Attributes: (groupAttributes?.Attributes ?? []).map((a) => ({ Key: a.Key!, Value: a.Value ?? '' })),
          // Instances are registered by id; the model keeps targets as addresses, so ids stand in until resolved.
          Targets: group.TargetType === 'ip' ? registered.map((t) => ({ Id: t.id, Port: t.port })) : [],
        })
      }
      const model = toModel(
        {
          LoadBalancer: {
            Arn: arn,
            Attributes: (attributes ?? []).map((a) => ({ Key: a.Key!, Value: a.Value ?? '' })),
          },
          Listeners: listenerFiles,
          TargetGroups: groupFiles,
        },
        listenerArns,
      )
      live.push({
        arn,
        model,
        securityGroups: lb.SecurityGroups ?? [],
        targets,
        attributesRead: attributes !== undefined,
      })
    }

    for (const lb of live) {
      findings.push(...checkModel(lb.model, options).map((raw) => finding(raw, lb.model)))
      if (lb.attributesRead && lb.model.loadBalancer.attributes.raw['deletion_protection.enabled'] !== 'true') {
        findings.push(
          finding(
            {
              id: 'lb-deletion-protection-off',
              ref: { kind: 'load-balancer', attribute: 'deletion_protection.enabled' },
              message: `deletion_protection.enabled is ${lb.model.loadBalancer.attributes.raw['deletion_protection.enabled'] ?? 'false'}: one API call deletes the load balancer`,
            } satisfies RawFinding,
            lb.model,
          ),
        )
      }
    }
    findings.push(...(await networkFindings(live, { ec2, ec2sdk, read, all })))
    return { findings: sortFindings(findings), loadBalancers: live.map((lb) => lb.arn), region }
  } finally {
    elb.destroy()
    ec2.destroy()
  }
}

interface LiveTarget {
  readonly id: string
  readonly port: number
  readonly type: 'instance' | 'ip'
  readonly group: string
}

interface LiveLoadBalancer {
  readonly arn: string
  readonly model: GatewayConfig
  readonly securityGroups: readonly string[]
  readonly targets: readonly LiveTarget[]
  readonly attributesRead: boolean
}

/**
 * The model of one load balancer, through the normaliser a file goes
 * through, for an audit (no client secret is looked up). What AWS accepted
 * but Portcullis cannot run (certificates in ACM, instance and Lambda
 * targets, a Cognito secret Portcullis cannot fetch) is reported and ignored
 * here: the model is still complete for the checks, which read rules,
 * actions, attributes and target addresses.
 */
function toModel(file: PortcullisFile, listenerArns: readonly string[]): GatewayConfig {
  const ignore = () => {}
  const options = { baseDir: process.cwd(), source: undefined, env: {}, purpose: 'audit' as const }
  const model = normalise(file, options, { error: ignore, warn: ignore, need: ignore })
  // The normaliser derives listener ARNs (a file has none); findings name the real ones.
  return { ...model, listeners: model.listeners.map((l, i) => ({ ...l, arn: listenerArns[i] ?? l.arn })) }
}

/** The load balancer ARN a listener, rule or load balancer ARN belongs to. */
function loadBalancerOf(arn: string): string | undefined {
  const m =
    /^(arn:[^:]+:elasticloadbalancing:[^:]+:\d+:)(?:loadbalancer|listener|listener-rule)\/(app\/[^/]+\/[0-9a-f]+)/.exec(
      arn,
    )
  return m ? `${m[1]}loadbalancer/${m[2]}` : undefined
}

async function regionOf(client: { config: { region: () => Promise<string> } }): Promise<string> {
  try {
    return await client.config.region()
  } catch (error) {
    throw new AwsAuditError('no AWS region: pass --region, or set AWS_REGION or a region in your AWS profile', {
      cause: error,
    })
  }
}

function describeError(error: unknown): string {
  const e = error as { name?: string; message?: string; code?: string; $metadata?: { httpStatusCode?: number } }
  const status = e.$metadata?.httpStatusCode
  if (e.name === 'CredentialsProviderError' || e.name === 'ProviderError') {
    return `no AWS credentials found (${e.message}); set AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run aws sso login`
  }
  if (e.code === 'ECONNREFUSED' || e.code === 'ENOTFOUND') return `cannot connect to the endpoint (${e.code})`
  return `${e.name ?? 'Error'}${status ? ` (HTTP ${status})` : ''}: ${e.message ?? String(error)}`
}

function accountFinding(loadBalancer: string, resource: string, message: string): Finding {
  const check = CATALOGUE['aws-access-denied']
  return {
    id: 'aws-access-denied',
    severity: check.severity,
    control: check.control,
    title: check.title,
    loadBalancer,
    resource,
    arn: resource,
    location: undefined,
    message,
    remediation: check.remediation,
  }
}

// ---------------------------------------------------------------- network

type Ec2Sdk = typeof import('@aws-sdk/client-ec2')
type Reader = <T>(action: string, resource: string, call: () => Promise<T>) => Promise<T | undefined>
type Collector = <P, T>(pages: AsyncIterable<P>, pick: (page: P) => T[] | undefined) => Promise<T[]>

/** A target as EC2 sees it: an instance, or the network interface that owns an IP target. */
interface Host {
  readonly id: string
  readonly subnetId: string | undefined
  readonly vpcId: string | undefined
  readonly publicIp: string | undefined
  readonly securityGroups: readonly string[]
}

interface Permission {
  readonly protocol: string
  readonly from: number | undefined
  readonly to: number | undefined
  readonly sources: readonly { readonly group?: string; readonly cidr?: string; readonly prefixList?: string }[]
}

/**
 * The article's recommendation 1 for every target: its security groups admit
 * the target port only from the load balancer's groups, it has no public IP,
 * and its subnet has no route to an internet gateway.
 */
async function networkFindings(
  live: readonly LiveLoadBalancer[],
  deps: { ec2: InstanceType<Ec2Sdk['EC2Client']>; ec2sdk: Ec2Sdk; read: Reader; all: Collector },
): Promise<Finding[]> {
  const { ec2, ec2sdk, read, all } = deps
  const instanceIds = unique(live.flatMap((lb) => lb.targets.filter((t) => t.type === 'instance').map((t) => t.id)))
  const addresses = unique(live.flatMap((lb) => lb.targets.filter((t) => t.type === 'ip').map((t) => t.id)))
  const hosts = new Map<string, Host>()
  if (instanceIds.length > 0) {
    const reservations =
      (await read('ec2:DescribeInstances', instanceIds.join(', '), () =>
        all(
          ec2sdk.paginateDescribeInstances(
            { client: ec2 },
            { Filters: [{ Name: 'instance-id', Values: instanceIds }] },
          ),
          (p) => p.Reservations,
        ),
      )) ?? []
    for (const instance of reservations.flatMap((r) => r.Instances ?? [])) {
      hosts.set(instance.InstanceId!, {
        id: instance.InstanceId!,
        subnetId: instance.SubnetId,
        vpcId: instance.VpcId,
        publicIp: instance.PublicIpAddress,
        securityGroups: (instance.SecurityGroups ?? []).flatMap((g) => (g.GroupId ? [g.GroupId] : [])),
      })
    }
  }
  if (addresses.length > 0) {
    const interfaces =
      (await read('ec2:DescribeNetworkInterfaces', addresses.join(', '), () =>
        all(
          ec2sdk.paginateDescribeNetworkInterfaces(
            { client: ec2 },
            { Filters: [{ Name: 'addresses.private-ip-address', Values: addresses }] },
          ),
          (p) => p.NetworkInterfaces,
        ),
      )) ?? []
    for (const eni of interfaces) {
      const host: Host = {
        id: eni.NetworkInterfaceId!,
        subnetId: eni.SubnetId,
        vpcId: eni.VpcId,
        publicIp: eni.Association?.PublicIp,
        securityGroups: (eni.Groups ?? []).flatMap((g) => (g.GroupId ? [g.GroupId] : [])),
      }
      for (const address of eni.PrivateIpAddresses ?? []) {
        if (address.PrivateIpAddress) hosts.set(address.PrivateIpAddress, host)
      }
      if (eni.PrivateIpAddress) hosts.set(eni.PrivateIpAddress, host)
    }
  }

  const groupIds = unique([
    ...live.flatMap((lb) => lb.securityGroups),
    ...[...hosts.values()].flatMap((h) => h.securityGroups),
  ])
  const permissions = new Map<string, Permission[]>()
  if (groupIds.length > 0) {
    const groups =
      (await read('ec2:DescribeSecurityGroups', groupIds.join(', '), () =>
        all(
          ec2sdk.paginateDescribeSecurityGroups({ client: ec2 }, { Filters: [{ Name: 'group-id', Values: groupIds }] }),
          (p) => p.SecurityGroups,
        ),
      )) ?? undefined
    for (const group of groups ?? []) {
      permissions.set(
        group.GroupId!,
        (group.IpPermissions ?? []).map((p) => ({
          protocol: p.IpProtocol ?? '-1',
          from: p.FromPort,
          to: p.ToPort,
          sources: [
            ...(p.UserIdGroupPairs ?? []).map((g) => ({ group: g.GroupId ?? '?' })),
            ...(p.IpRanges ?? []).map((r) => ({ cidr: r.CidrIp ?? '?' })),
            ...(p.Ipv6Ranges ?? []).map((r) => ({ cidr: r.CidrIpv6 ?? '?' })),
            ...(p.PrefixListIds ?? []).map((r) => ({ prefixList: r.PrefixListId ?? '?' })),
          ],
        })),
      )
    }
  }

  const subnetIds = unique([...hosts.values()].flatMap((h) => (h.subnetId ? [h.subnetId] : [])))
  const internetSubnets = await subnetsWithInternetRoute(subnetIds, hosts, { ec2, ec2sdk, read, all })

  const out: Finding[] = []
  for (const lb of live) {
    const add = (id: FindingId, resource: string, message: string) => {
      const check = CATALOGUE[id]
      out.push({
        id,
        severity: check.severity,
        control: check.control,
        title: check.title,
        loadBalancer: lb.arn,
        resource,
        arn: resource,
        location: undefined,
        message,
        remediation: check.remediation,
      })
    }
    const openGroups = new Map<string, { targets: Set<string>; sources: Set<string>; port: number }>()
    const publicSubnets = new Map<string, Set<string>>()
    for (const target of lb.targets) {
      const host = hosts.get(target.id)
      if (host === undefined) continue
      const label = target.type === 'ip' ? `${target.id} (${host.id})` : target.id
      if (host.publicIp !== undefined) {
        add(
          'target-public-ip',
          host.id,
          `target ${label} of ${target.group} has the public IP ${host.publicIp}: it can be reached without the load balancer`,
        )
      }
      if (host.subnetId !== undefined && internetSubnets.get(host.subnetId) !== undefined) {
        const set = publicSubnets.get(host.subnetId) ?? new Set()
        set.add(label)
        publicSubnets.set(host.subnetId, set)
      }
      for (const groupId of host.securityGroups) {
        for (const permission of permissions.get(groupId) ?? []) {
          if (!covers(permission, target.port)) continue
          for (const source of permission.sources) {
            if (source.group !== undefined && lb.securityGroups.includes(source.group)) continue
            const key = `${groupId}:${target.port}`
            const entry = openGroups.get(key) ?? { targets: new Set(), sources: new Set(), port: target.port }
            entry.targets.add(label)
            entry.sources.add(source.group ?? source.cidr ?? `prefix list ${source.prefixList}`)
            openGroups.set(key, entry)
          }
        }
      }
    }
    for (const [key, entry] of openGroups) {
      const groupId = key.slice(0, key.lastIndexOf(':'))
      add(
        'target-security-group-open',
        groupId,
        `${groupId} on ${[...entry.targets].join(', ')} admits port ${entry.port} from ${[...entry.sources].join(', ')}; only the load balancer's ${lb.securityGroups.join(', ') || '(none)'} should`,
      )
    }
    for (const [subnetId, labels] of publicSubnets) {
      add(
        'target-public-subnet',
        subnetId,
        `${subnetId} (targets ${[...labels].join(', ')}) routes ${internetSubnets.get(subnetId)} through an internet gateway`,
      )
    }
  }
  return out
}

/** Subnets whose route table (their own, else the VPC's main one) sends a destination to an internet gateway, with that destination. */
async function subnetsWithInternetRoute(
  subnetIds: readonly string[],
  hosts: ReadonlyMap<string, Host>,
  deps: { ec2: InstanceType<Ec2Sdk['EC2Client']>; ec2sdk: Ec2Sdk; read: Reader; all: Collector },
): Promise<Map<string, string>> {
  const { ec2, ec2sdk, read, all } = deps
  const out = new Map<string, string>()
  if (subnetIds.length === 0) return out
  const vpcIds = unique([...hosts.values()].flatMap((h) => (h.vpcId ? [h.vpcId] : [])))
  const tables =
    (await read('ec2:DescribeRouteTables', subnetIds.join(', '), () =>
      all(
        ec2sdk.paginateDescribeRouteTables({ client: ec2 }, { Filters: [{ Name: 'vpc-id', Values: vpcIds }] }),
        (p) => p.RouteTables,
      ),
    )) ?? []
  const internetRoute = (table: (typeof tables)[number]): string | undefined => {
    const route = (table.Routes ?? []).find((r) => r.GatewayId?.startsWith('igw-'))
    return route
      ? (route.DestinationCidrBlock ?? route.DestinationIpv6CidrBlock ?? route.DestinationPrefixListId)
      : undefined
  }
  for (const subnetId of subnetIds) {
    const vpcId = [...hosts.values()].find((h) => h.subnetId === subnetId)?.vpcId
    const own = tables.find((t) => (t.Associations ?? []).some((a) => a.SubnetId === subnetId))
    const main = tables.find((t) => t.VpcId === vpcId && (t.Associations ?? []).some((a) => a.Main === true))
    const table = own ?? main
    const destination = table ? internetRoute(table) : undefined
    if (destination !== undefined) out.set(subnetId, destination)
  }
  return out
}

/** True when an inbound permission admits TCP traffic to `port`. */
function covers(permission: Permission, port: number): boolean {
  if (permission.protocol === '-1') return true
  if (permission.protocol !== 'tcp' && permission.protocol !== '6') return false
  return (permission.from ?? 0) <= port && port <= (permission.to ?? 65535)
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)]
}

/** The actions the audit calls, for the README's IAM policy and for tests. */
export const REQUIRED_PERMISSIONS = [
  'elasticloadbalancing:DescribeLoadBalancers',
  'elasticloadbalancing:DescribeLoadBalancerAttributes',
  'elasticloadbalancing:DescribeListeners',
  'elasticloadbalancing:DescribeRules',
  'elasticloadbalancing:DescribeTargetGroups',
  'elasticloadbalancing:DescribeTargetGroupAttributes',
  'elasticloadbalancing:DescribeTargetHealth',
  'ec2:DescribeInstances',
  'ec2:DescribeNetworkInterfaces',
  'ec2:DescribeSecurityGroups',
  'ec2:DescribeRouteTables',
] as const
