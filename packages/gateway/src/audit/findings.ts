/**
 * What `portcullis audit` reports: a catalogue of checks, each with a stable
 * id, a severity, the AWS control it corresponds to (Security Hub, Trusted
 * Advisor) and a one-sentence remediation, and the findings built from it.
 */

/** How bad a finding is; `--fail-on` compares against this order. */
export type Severity = 'high' | 'medium' | 'low'

/** Severities from worst to least bad. */
export const SEVERITIES: readonly Severity[] = ['high', 'medium', 'low']

/** Where in a configuration file a finding points (1-based line and column). */
export interface FindingLocation {
  /** The file as the user named it. */
  readonly file: string
  readonly line: number
  readonly column: number
  /** Field path in ELBv2 vocabulary, e.g. `Listeners[0].Rules[1].Actions[0]`. */
  readonly path: string
}

/**
 * One problem found by the audit.
 *
 * @example
 * ```ts
 * const finding: Finding = {
 *   id: 'lb-drop-invalid-header-fields-off',
 *   severity: 'medium',
 *   control: 'Security Hub ELB.4',
 *   title: 'Invalid HTTP header fields are passed to targets',
 *   loadBalancer: 'arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/my-alb/50dc6c495c0c9188',
 *   resource: 'portcullis.yaml:5:3',
 *   arn: 'arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/my-alb/50dc6c495c0c9188',
 *   location: { file: 'portcullis.yaml', line: 5, column: 3, path: 'LoadBalancer.Attributes' },
 *   message: 'routing.http.drop_invalid_header_fields.enabled is false (the default)',
 *   remediation: 'Set the load balancer attribute routing.http.drop_invalid_header_fields.enabled to true.',
 * }
 * ```
 */
export interface Finding {
  /** Stable identifier of the check, e.g. `listener-http-no-redirect`. */
  readonly id: FindingId
  readonly severity: Severity
  /** The matching AWS control, e.g. `Security Hub ELB.1`; undefined when none exists. */
  readonly control: string | undefined
  /** What the check looks for, the same for every finding of this id. */
  readonly title: string
  /** ARN of the load balancer the finding belongs to (the report groups by it); the account for account-wide findings. */
  readonly loadBalancer: string
  /** `file:line:column` for a configuration file, else the ARN or AWS id of the resource. */
  readonly resource: string
  /** ARN (or AWS id such as `sg-…`, `i-…`) of the resource, derived for a configuration file. */
  readonly arn: string
  /** Position in the configuration file; undefined for a live account. */
  readonly location: FindingLocation | undefined
  /** This occurrence: which rules, paths, ports, values. */
  readonly message: string
  /** What to change, in one sentence. */
  readonly remediation: string
}

/** Every check's id. */
export type FindingId = keyof typeof CATALOGUE

/** One check of the catalogue. */
export interface CheckDescription {
  readonly severity: Severity
  readonly control: string | undefined
  readonly title: string
  readonly remediation: string
  /**
   * `config` checks run on files and on live load balancers; `aws` checks
   * need the live account; `file` checks are about running a file on
   * Portcullis, so only files get them.
   */
  readonly scope: 'config' | 'aws' | 'file'
}

const TA_SECURITY_GROUPS = 'Trusted Advisor "ALB Security Groups"'

/**
 * Every check the audit runs, by stable id. Ids never change meaning; a new
 * check gets a new id.
 */
export const CATALOGUE = {
  'listener-http-no-redirect': {
    severity: 'medium',
    control: 'Security Hub ELB.1',
    title: 'HTTP listener does not redirect to HTTPS',
    remediation:
      "Make the HTTP listener's default action (and every rule) a redirect to HTTPS (Protocol: HTTPS, StatusCode: HTTP_301).",
    scope: 'config',
  },
  'lb-drop-invalid-header-fields-off': {
    severity: 'medium',
    control: 'Security Hub ELB.4',
    title: 'Invalid HTTP header fields are passed to targets',
    remediation: 'Set the load balancer attribute routing.http.drop_invalid_header_fields.enabled to true.',
    scope: 'config',
  },
  'lb-desync-mitigation-weak': {
    severity: 'medium',
    control: 'Security Hub ELB.12',
    title: 'HTTP desync mitigation is not defensive or strictest',
    remediation: 'Set routing.http.desync_mitigation_mode to defensive (the default) or strictest.',
    scope: 'config',
  },
  'lb-access-logs-off': {
    severity: 'low',
    control: 'Security Hub ELB.5',
    title: 'Access logging to S3 is off',
    remediation:
      'Set access_logs.s3.enabled to true and access_logs.s3.bucket to a bucket the load balancer may write to.',
    scope: 'config',
  },
  'listener-tls-policy-outdated': {
    severity: 'medium',
    control: 'Security Hub ELB.17',
    title: 'HTTPS listener allows TLS 1.0 or 1.1 (or 3DES)',
    remediation:
      'Set the SslPolicy to ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09 or ELBSecurityPolicy-TLS13-1-2-2021-06 (or another TLS 1.2+ policy); Portcullis refuses to start with the outdated ones.',
    scope: 'config',
  },
  'listener-mtls-passthrough': {
    severity: 'low',
    control: undefined,
    title: 'Mutual TLS passes client certificates through unverified',
    remediation:
      'Use MutualAuthentication Mode verify with a trust store, or make every target verify the X-Amzn-Mtls-Clientcert chain itself (and accept it only from the load balancer).',
    scope: 'config',
  },
  'listener-mtls-ignore-expiry': {
    severity: 'low',
    control: undefined,
    title: 'Mutual TLS admits expired client certificates',
    remediation:
      'Set IgnoreClientCertificateExpiry to false and renew the client certificates, so that a certificate stops working when it expires.',
    scope: 'config',
  },
  'listener-mtls-no-revocation': {
    severity: 'low',
    control: undefined,
    title: 'Mutual TLS verifies against a trust store without revocation lists',
    remediation:
      "Add the CAs' certificate revocation lists to the trust store (Portcullis.RevocationFiles; add-trust-store-revocations on AWS) so a revoked client certificate is refused.",
    scope: 'config',
  },
  'listener-authenticate-on-http': {
    severity: 'high',
    control: undefined,
    title: 'Authentication runs on a plain-HTTP listener',
    remediation:
      'Move the rule to an HTTPS listener and make the HTTP listener redirect to it; session cookies and tokens must never cross plain HTTP.',
    scope: 'config',
  },
  'auth-bypass-target-group': {
    severity: 'high',
    control: undefined,
    title: 'Target group reachable both with and without authentication',
    remediation:
      'Put the same authenticate action on every rule that forwards to the target group, or split the protected content into its own target group.',
    scope: 'config',
  },
  'auth-allow-shares-target-group': {
    severity: 'medium',
    control: undefined,
    title: 'OnUnauthenticatedRequest allow on a target group that is protected elsewhere',
    remediation:
      'Use OnUnauthenticatedRequest authenticate or deny on this rule, or make sure the target refuses requests without a verified x-amzn-oidc-data header for the protected paths.',
    scope: 'config',
  },
  'auth-session-timeout-long': {
    severity: 'low',
    control: undefined,
    title: 'Authentication session lasts longer than a day',
    remediation: 'Set SessionTimeout to the longest session your application accepts (for example 28800 for 8 hours).',
    scope: 'config',
  },
  'auth-scope-without-openid': {
    severity: 'medium',
    control: undefined,
    title: 'Authentication scope without openid',
    remediation: 'Add openid to the Scope, so that the IdP returns an ID token and the login is OpenID Connect.',
    scope: 'config',
  },
  'target-public-address': {
    severity: 'high',
    control: undefined,
    title: 'Target registered on a public IP address',
    remediation:
      'Register the target by a private address in a private subnet, so that only the load balancer can reach it.',
    scope: 'config',
  },
  'target-grpc-health-check-never-passes': {
    severity: 'medium',
    control: undefined,
    title: 'The health check of a gRPC target group can never pass',
    remediation:
      'Give Matcher.GrpcCode the status the checked method answers: 12 (UNIMPLEMENTED, the default) for /AWS.ALB/healthcheck, or 0 with HealthCheckPath set to a health method such as /grpc.health.v1.Health/Check.',
    scope: 'config',
  },
  'rule-shadows-authenticated-rule': {
    severity: 'high',
    control: undefined,
    title: 'An unauthenticated rule answers requests meant for a later authenticated rule',
    remediation:
      'Give the authenticated rule a lower priority than the unauthenticated one, or narrow the unauthenticated rule so that the two match no common request.',
    scope: 'config',
  },
  'setting-not-acted-on': {
    severity: 'low',
    control: undefined,
    title: 'A setting of the file that Portcullis does not act on',
    remediation:
      "Before running the file on Portcullis, set it to ALB's default or remove it (the message says what differs), or make sure nothing relies on it; AWS ALB honours it.",
    scope: 'file',
  },
  'lb-deletion-protection-off': {
    severity: 'low',
    control: 'Security Hub ELB.6',
    title: 'Deletion protection is off',
    remediation: 'Set the load balancer attribute deletion_protection.enabled to true.',
    scope: 'aws',
  },
  'target-security-group-open': {
    severity: 'high',
    control: TA_SECURITY_GROUPS,
    title: "Target's security groups admit traffic on the target port from other sources than the load balancer",
    remediation:
      "Replace the inbound rules on the target port with one whose source is the load balancer's security group.",
    scope: 'aws',
  },
  'target-public-ip': {
    severity: 'high',
    control: undefined,
    title: 'Target has a public IP address',
    remediation:
      'Launch targets without a public or Elastic IP address (AssociatePublicIpAddress: false), in private subnets.',
    scope: 'aws',
  },
  'target-public-subnet': {
    severity: 'medium',
    control: undefined,
    title: 'Target sits in a subnet with a route to an internet gateway',
    remediation:
      'Move the target to a private subnet whose route table has no route to an internet gateway (use a NAT gateway for outbound traffic).',
    scope: 'aws',
  },
  'aws-access-denied': {
    severity: 'medium',
    control: undefined,
    title: 'The audit could not read part of the account',
    remediation:
      "Grant the audit's role the read-only permissions listed in the portcullis README (IAM policy), then run the audit again.",
    scope: 'aws',
  },
} as const satisfies Record<string, CheckDescription>

/** Which severities `--fail-on level` counts: that level and every worse one. */
export function atLeast(severity: Severity, threshold: Severity): boolean {
  return SEVERITIES.indexOf(severity) <= SEVERITIES.indexOf(threshold)
}

/** Orders findings by severity (worst first), then id, then resource. */
export function sortFindings(findings: readonly Finding[]): Finding[] {
  return [...findings].sort(
    (a, b) =>
      SEVERITIES.indexOf(a.severity) - SEVERITIES.indexOf(b.severity) ||
      (a.location?.line ?? 0) - (b.location?.line ?? 0) ||
      a.id.localeCompare(b.id) ||
      a.resource.localeCompare(b.resource),
  )
}
