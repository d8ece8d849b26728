import { DEFAULT_ACCOUNT_ID, DEFAULT_REGION, deriveLoadBalancerArn, parseLoadBalancerArn } from '../arn.js'
import type { FieldPath } from '../document.js'
import type { LoadBalancerAttributes, LoadBalancerModel } from '../model.js'
import type { AttributeFile, PortcullisFile } from '../schema.js'
import { Attributes } from './attributes.js'
import { RESOURCE_NAME } from './checks.js'
import type { BaseContext } from './context.js'

// Kept here for the attribute suites (test/e2e), which hold each acted attribute to a test.
export { ACTED_LOAD_BALANCER_ATTRIBUTES } from '../classification.js'

/**
 * The `LoadBalancer` block: name, region, account and ARN (derived when
 * absent, checked against each other when given), and its attributes.
 */
export function normaliseLoadBalancer(file: PortcullisFile, ctx: BaseContext): LoadBalancerModel {
  const lb = file.LoadBalancer ?? {}
  const path: FieldPath = ['LoadBalancer']
  if (lb.Name !== undefined && lb.LoadBalancerName !== undefined && lb.Name !== lb.LoadBalancerName) {
    ctx.report.error([...path, 'LoadBalancerName'], `conflicts with Name "${lb.Name}"`)
  }
  if (lb.Arn !== undefined && lb.LoadBalancerArn !== undefined && lb.Arn !== lb.LoadBalancerArn) {
    ctx.report.error([...path, 'LoadBalancerArn'], `conflicts with Arn "${lb.Arn}"`)
  }
  const arnKey = lb.Arn !== undefined ? 'Arn' : 'LoadBalancerArn'
  const givenArn = lb.Arn ?? lb.LoadBalancerArn
  const parsed = givenArn === undefined ? undefined : parseLoadBalancerArn(givenArn)
  if (givenArn !== undefined && !parsed) {
    ctx.report.error(
      [...path, arnKey],
      `expected an application load balancer ARN, arn:aws:elasticloadbalancing:REGION:ACCOUNT:loadbalancer/app/NAME/16-HEX-ID, got "${givenArn}"`,
    )
  }
  const nameKey = lb.Name !== undefined ? 'Name' : 'LoadBalancerName'
  const name = lb.Name ?? lb.LoadBalancerName ?? parsed?.name ?? 'portcullis'
  if (!RESOURCE_NAME.test(name) || name.startsWith('internal-')) {
    ctx.report.error(
      [...path, nameKey],
      `a load balancer name is 1..32 letters, digits and hyphens, not starting or ending with a hyphen nor with "internal-"; got "${name}"`,
    )
  }
  if (parsed && (lb.Name ?? lb.LoadBalancerName) !== undefined && parsed.name !== name) {
    ctx.report.error([...path, arnKey], `the ARN names load balancer "${parsed.name}" but ${nameKey} is "${name}"`)
  }
  const region = lb.Region ?? parsed?.region ?? DEFAULT_REGION
  if (!/^[a-z]{2}(-[a-z]+)+-\d+$/.test(region)) {
    ctx.report.error([...path, 'Region'], `expected an AWS region such as us-east-1, got "${region}"`)
  }
  if (parsed && lb.Region !== undefined && parsed.region !== lb.Region) {
    ctx.report.error([...path, arnKey], `the ARN is in region ${parsed.region} but Region is ${lb.Region}`)
  }
  const accountId = lb.AccountId ?? parsed?.accountId ?? DEFAULT_ACCOUNT_ID
  if (!/^\d{12}$/.test(accountId)) {
    ctx.report.error([...path, 'AccountId'], `expected a 12-digit account id, got "${accountId}"`)
  }
  if (parsed && lb.AccountId !== undefined && parsed.accountId !== lb.AccountId) {
    ctx.report.error([...path, arnKey], `the ARN is in account ${parsed.accountId} but AccountId is ${lb.AccountId}`)
  }
  const arn = parsed && givenArn ? givenArn : deriveLoadBalancerArn(region, accountId, name)
  return { name, region: region, accountId: accountId, arn, attributes: attributes(lb.Attributes, ctx) }
}

function attributes(list: readonly AttributeFile[] | undefined, ctx: BaseContext): LoadBalancerAttributes {
  const attrs = new Attributes(ctx, list, ['LoadBalancer', 'Attributes'])
  return {
    idleTimeoutSeconds: attrs.int('idle_timeout.timeout_seconds', 60, [1, 4000]),
    xffMode: attrs.oneOf(
      'routing.http.xff_header_processing.mode',
      ['append', 'preserve', 'remove'] as const,
      'append',
    ),
    xffClientPort: attrs.bool('routing.http.xff_client_port.enabled', false),
    tlsVersionAndCipherSuiteHeaders: attrs.bool('routing.http.x_amzn_tls_version_and_cipher_suite.enabled', false),
    dropInvalidHeaderFields: attrs.bool('routing.http.drop_invalid_header_fields.enabled', false),
    preserveHostHeader: attrs.bool('routing.http.preserve_host_header.enabled', false),
    clientKeepAliveSeconds: attrs.int('client_keep_alive.seconds', 3600, [60, 604800]),
    http2Enabled: attrs.bool('routing.http2.enabled', true),
    raw: attrs.raw(),
  }
}
