/**
 * ARNs in ELBv2's formats. When the configuration does not give one, Portcullis
 * derives it from names with a stable hash, so the same file always yields the
 * same ARNs (the load balancer ARN is the `signer` of identity tokens, and a
 * target's verifier pins it).
 */
import { createHash } from 'node:crypto'

/** The account id used in derived ARNs when the file gives none. */
export const DEFAULT_ACCOUNT_ID = '000000000000'
/** The region used when the file gives none. */
export const DEFAULT_REGION = 'us-east-1'

/** 16 lower-case hex characters from a SHA-256 of the parts: stable across runs and machines. */
export function stableId(...parts: readonly (string | number)[]): string {
  return createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 16)
}

/** `aws`, `aws-cn` or `aws-us-gov`, from the region name. */
export function partitionOf(region: string): string {
  if (region.startsWith('cn-')) return 'aws-cn'
  if (region.startsWith('us-gov-')) return 'aws-us-gov'
  return 'aws'
}

/**
 * The load balancer ARN for a name, e.g.
 * `arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/my-alb/3f1c0a9e5b7d2c48`.
 *
 * @example
 * ```ts
 * deriveLoadBalancerArn('us-east-1', '000000000000', 'my-alb') // same string on every run
 * ```
 */
export function deriveLoadBalancerArn(region: string, accountId: string, name: string): string {
  return `arn:${partitionOf(region)}:elasticloadbalancing:${region}:${accountId}:loadbalancer/app/${name}/${stableId('loadbalancer', name)}`
}

/** The target group ARN for a name: `…:targetgroup/{name}/{16 hex}`. */
export function deriveTargetGroupArn(region: string, accountId: string, name: string): string {
  return `arn:${partitionOf(region)}:elasticloadbalancing:${region}:${accountId}:targetgroup/${name}/${stableId('targetgroup', name)}`
}

/** The trust store ARN for a name: `…:truststore/{name}/{16 hex}`. */
export function deriveTrustStoreArn(region: string, accountId: string, name: string): string {
  return `arn:${partitionOf(region)}:elasticloadbalancing:${region}:${accountId}:truststore/${name}/${stableId('truststore', name)}`
}

/** The listener ARN under a load balancer ARN: `…:listener/app/{lb}/{lb id}/{16 hex}`. */
export function deriveListenerArn(loadBalancerArn: string, port: number, index: number): string {
  // Port 0 (any free port) can repeat, so the position disambiguates it.
  const id = port === 0 ? stableId('listener', loadBalancerArn, 0, index) : stableId('listener', loadBalancerArn, port)
  return `${loadBalancerArn.replace(':loadbalancer/', ':listener/')}/${id}`
}

/** The rule ARN under a listener ARN: `…:listener-rule/app/{lb}/{lb id}/{listener id}/{16 hex}`. */
export function deriveRuleArn(listenerArn: string, priority: number | 'default'): string {
  return `${listenerArn.replace(':listener/', ':listener-rule/')}/${stableId('rule', listenerArn, priority)}`
}

const LOAD_BALANCER_ARN =
  /^arn:(aws|aws-cn|aws-us-gov):elasticloadbalancing:([a-z0-9-]+):(\d{12}):loadbalancer\/app\/([A-Za-z0-9-]{1,32})\/([0-9a-f]{16})$/
const TARGET_GROUP_ARN =
  /^arn:(aws|aws-cn|aws-us-gov):elasticloadbalancing:([a-z0-9-]+):(\d{12}):targetgroup\/([A-Za-z0-9-]{1,32})\/([0-9a-f]{16})$/
const USER_POOL_ARN = /^arn:(aws|aws-cn|aws-us-gov):cognito-idp:([a-z0-9-]+):(\d{12}):userpool\/([\w-]+_[0-9A-Za-z]+)$/

/** Region, account and name of an application load balancer ARN, or undefined when it is not one. */
export function parseLoadBalancerArn(arn: string): { region: string; accountId: string; name: string } | undefined {
  const m = LOAD_BALANCER_ARN.exec(arn)
  return m ? { region: m[2]!, accountId: m[3]!, name: m[4]! } : undefined
}

/** Region, account and name of a target group ARN, or undefined when it is not one. */
export function parseTargetGroupArn(arn: string): { region: string; accountId: string; name: string } | undefined {
  const m = TARGET_GROUP_ARN.exec(arn)
  return m ? { region: m[2]!, accountId: m[3]!, name: m[4]! } : undefined
}

/** Region and pool id (`us-east-1_AbC123`) of a Cognito user pool ARN, or undefined when it is not one. */
export function parseUserPoolArn(arn: string): { region: string; userPoolId: string } | undefined {
  const m = USER_POOL_ARN.exec(arn)
  return m ? { region: m[2]!, userPoolId: m[4]! } : undefined
}
