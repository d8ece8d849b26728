/**
 * What Portcullis does with every field and attribute of ALB's `describe-*`
 * outputs and of the ELBv2 settings reference: the one table that the
 * loader's field check (`classify.ts`), the zod schema and so the JSON Schema
 * (`schema.ts`), `portcullis audit` and the generated reference
 * (`docs/alb-fields.md`, `npm run gen:schema`) all read. A field missing here
 * cannot be in the schema (building it throws), and a test walks full
 * `describe-*` outputs against it.
 *
 * Treatments:
 * - `implemented`: Portcullis acts on it;
 * - `extension`: a Portcullis key, not in ALB's output;
 * - `aws-only`: meaningful only on AWS and harmless to ignore here; accepted,
 *   listed once by `validate`;
 * - `not-implemented`: would change security or behaviour, and Portcullis
 *   does not do it. Values that change nothing (the ones AWS prints by
 *   default) are accepted and listed like AWS-only ones; any other value is
 *   refused, or, where that would block a harmless paste, warned about at
 *   `validate`, at every `start` and by `audit`.
 *
 * Any treatment may restrict values (`values`): `ProtocolVersion` is
 * implemented for HTTP1 only.
 */

/** What Portcullis does with a field or attribute. */
export type Treatment = 'implemented' | 'extension' | 'aws-only' | 'not-implemented'

/** Values Portcullis cannot honour, and what happens to them. */
export interface ValueRule {
  /** The values that are fine, as `describe-*` prints them (compared as strings); empty when none is. */
  readonly accepts?: readonly string[]
  /** Or: the values that are not (for open sets such as security policy names). */
  readonly matches?: RegExp
  /** `refuse`: an error; `warn`: a warning at validate and every start, and an audit finding. */
  readonly action: 'refuse' | 'warn'
  /** What would differ from ALB, said to the user. */
  readonly reason: string
  /** What to do about it. */
  readonly fix: string
}

/** One field (or attribute key) of a block. */
export interface FieldClass {
  readonly treatment: Treatment
  /** Why and how, for the docs, the JSON Schema and `validate`. */
  readonly note?: string
  readonly values?: readonly ValueRule[]
  /** The block this key holds: an object, or a list of objects. */
  readonly block?: BlockName
  /** Only AWS writes it (an ARN it assigned, a describe-rules flag): a block that has one was pasted. */
  readonly output?: true
}

/** The object shapes of the file, by ELBv2's own shape names where there is one. */
export type BlockName =
  | 'PortcullisFile'
  | 'LoadBalancer'
  | 'LoadBalancerAttribute'
  | 'Attribute'
  | 'Listener'
  | 'ListenerAttribute'
  | 'Certificate'
  | 'MutualAuthenticationAttributes'
  | 'TrustStore'
  | 'TrustStorePortcullis'
  | 'Rule'
  | 'RuleCondition'
  | 'HostHeaderConditionConfig'
  | 'PathPatternConditionConfig'
  | 'HttpHeaderConditionConfig'
  | 'QueryStringConditionConfig'
  | 'QueryStringKeyValuePair'
  | 'HttpRequestMethodConditionConfig'
  | 'SourceIpConditionConfig'
  | 'RuleTransform'
  | 'HostHeaderRewriteConfig'
  | 'UrlRewriteConfig'
  | 'RewriteConfig'
  | 'Action'
  | 'ForwardActionConfig'
  | 'TargetGroupTuple'
  | 'TargetGroupStickinessConfig'
  | 'RedirectActionConfig'
  | 'FixedResponseActionConfig'
  | 'AuthenticateOidcActionConfig'
  | 'AuthenticateCognitoActionConfig'
  | 'JwtValidationActionConfig'
  | 'JwtValidationActionAdditionalClaim'
  | 'TargetGroup'
  | 'TargetGroupAttribute'
  | 'Matcher'
  | 'TargetDescription'
  | 'TargetHealthDescription'
  | 'PortcullisSettings'
  | 'PortcullisAdmin'
  | 'PortcullisAccessLog'
  | 'PortcullisConnectionLog'
  | 'PortcullisSharedState'
  | 'ListenerPortcullis'
  | 'TargetGroupPortcullis'
  | 'OidcPortcullis'
  | 'CognitoPortcullis'
  | 'JwtValidationPortcullis'

/** A block: its fields (an object's keys), or its attribute keys (a `[{ Key, Value }]` list). */
export interface Block {
  /** How `validate`, messages and the docs name it. */
  readonly label: string
  readonly kind: 'fields' | 'attributes'
  /**
   * One resource of a `describe-*` output (a load balancer, listener, rule,
   * target group, target health description): pasted when it carries an
   * AWS-only or output-only field, and its unknown fields are then taken
   * for fields AWS added later rather than typos (see `classify.ts`).
   */
  readonly resource?: true
  readonly fields: Readonly<Record<string, FieldClass>>
}

type Extra = Omit<FieldClass, 'treatment'>

const implemented = <const E extends Extra>(extra?: E) => ({ treatment: 'implemented', ...extra }) as const
const extension = <const E extends Extra>(extra?: E) => ({ treatment: 'extension', ...extra }) as const
const awsOnly = (note: string) => ({ treatment: 'aws-only', note }) as const
const notImplemented = <const E extends Extra & { note: string }>(extra: E) =>
  ({ treatment: 'not-implemented', ...extra }) as const

/** Fields of one treatment, each holding the block `blocks` names for it. */
function fieldsOf(
  make: typeof implemented | typeof extension,
  keys: readonly string[],
  blocks: Readonly<Record<string, BlockName>> = {},
): Record<string, FieldClass> {
  return Object.fromEntries(keys.map((k) => [k, make(blocks[k] === undefined ? undefined : { block: blocks[k] })]))
}

/** A block whose fields Portcullis implements as ELBv2 defines them. */
function implementedBlock(label: string, keys: readonly string[], blocks?: Record<string, BlockName>): Block {
  return { label, kind: 'fields', fields: fieldsOf(implemented, keys, blocks) }
}

/** A block whose keys are all Portcullis's own. */
function portcullisBlock(label: string, keys: readonly string[], blocks?: Record<string, BlockName>): Block {
  return { label, kind: 'fields', fields: fieldsOf(extension, keys, blocks) }
}

const NLB_ONLY = 'Network Load Balancers only; no effect on an application load balancer'
const GWLB_ONLY = 'Gateway Load Balancers only; no effect on an application load balancer'

/** Load-balancer attributes (`describe-load-balancer-attributes`, `ModifyLoadBalancerAttributes`). */
const LOAD_BALANCER_ATTRIBUTES = {
  'idle_timeout.timeout_seconds': implemented(),
  'routing.http.xff_header_processing.mode': implemented(),
  'routing.http.xff_client_port.enabled': implemented(),
  'routing.http.drop_invalid_header_fields.enabled': implemented(),
  'routing.http.preserve_host_header.enabled': implemented(),
  'client_keep_alive.seconds': implemented(),
  'routing.http2.enabled': implemented(),
  'routing.http.desync_mitigation_mode': notImplemented({
    note: "Portcullis does not classify requests as ALB does: Node.js's HTTP parser refuses malformed framing whatever the mode",
    values: [
      {
        accepts: ['monitor', 'defensive'],
        action: 'warn',
        reason:
          "Portcullis does not classify requests as ALB's desync mitigation does: Node.js's HTTP parser refuses malformed framing, but requests that strictest blocks as merely ambiguous are forwarded",
        fix: "set it to defensive (ALB's default), or block ambiguous requests in front of Portcullis",
      },
    ],
  }),
  'routing.http.x_amzn_tls_version_and_cipher_suite.enabled': implemented({
    note: 'X-Amzn-Tls-Version and X-Amzn-Tls-Cipher-Suite (OpenSSL cipher names) to targets of HTTPS listeners',
  }),
  'access_logs.s3.enabled': awsOnly(
    'S3 access logs; Portcullis writes its own access log (Portcullis.AccessLog) either way',
  ),
  'access_logs.s3.bucket': awsOnly('S3 access logs'),
  'access_logs.s3.prefix': awsOnly('S3 access logs'),
  'connection_logs.s3.enabled': awsOnly(
    'S3 connection logs; Portcullis writes its own connection log when Portcullis.ConnectionLog is set',
  ),
  'connection_logs.s3.bucket': awsOnly('S3 connection logs'),
  'connection_logs.s3.prefix': awsOnly('S3 connection logs'),
  'health_check_logs.s3.enabled': awsOnly('S3 health-check logs'),
  'health_check_logs.s3.bucket': awsOnly('S3 health-check logs'),
  'health_check_logs.s3.prefix': awsOnly('S3 health-check logs'),
  'deletion_protection.enabled': awsOnly('protects the AWS resource from DeleteLoadBalancer'),
  'load_balancing.cross_zone.enabled': awsOnly("AWS's availability zones (always on for an application load balancer)"),
  'zonal_shift.config.enabled': awsOnly("Route 53 Application Recovery Controller's zonal shift"),
  'waf.fail_open.enabled': awsOnly('AWS WAF, which Portcullis does not have'),
  'ipv6.deny_all_igw_traffic': awsOnly("the VPC's internet gateway"),
  'dns_record.client_routing_policy': awsOnly(NLB_ONLY),
  'secondary_ips.auto_assigned.per_subnet': awsOnly(NLB_ONLY),
} as const satisfies Record<string, FieldClass>

/** The response headers ALB's listener attributes set, by the attribute's middle part. */
const RESPONSE_HEADER_PARTS = [
  'strict_transport_security',
  'access_control_allow_origin',
  'access_control_allow_methods',
  'access_control_allow_headers',
  'access_control_allow_credentials',
  'access_control_expose_headers',
  'access_control_max_age',
  'content_security_policy',
  'x_content_type_options',
  'x_frame_options',
] as const

/** The request headers ALB adds with mutual TLS or the TLS-version attribute, which listener attributes rename. */
const RENAMED_REQUEST_HEADERS = [
  'x_amzn_mtls_clientcert_serial_number',
  'x_amzn_mtls_clientcert_issuer',
  'x_amzn_mtls_clientcert_subject',
  'x_amzn_mtls_clientcert_validity',
  'x_amzn_mtls_clientcert_leaf',
  'x_amzn_mtls_clientcert',
  'x_amzn_tls_version',
  'x_amzn_tls_cipher_suite',
] as const

/** Listener attributes (`describe-listener-attributes`, `ModifyListenerAttributes`). */
const LISTENER_ATTRIBUTES: Record<string, FieldClass> = {
  'routing.http.response.server.enabled': implemented({
    note: "false removes the Server header from every response (the load balancer's own and the target's)",
  }),
  ...Object.fromEntries(
    RESPONSE_HEADER_PARTS.map((part) => [
      `routing.http.response.${part}.header_value`,
      implemented({
        note: "set on every response, replacing the target's value; empty (the default): the response is left as it is",
      }),
    ]),
  ),
  ...Object.fromEntries(
    RENAMED_REQUEST_HEADERS.map((part) => [
      `routing.http.request.${part}.header_name`,
      implemented({ note: "the name the header reaches targets under; a client's copy of that name is dropped" }),
    ]),
  ),
  'tcp.idle_timeout.seconds': awsOnly('Network and Gateway Load Balancer listeners only'),
  'send_tcp_reset.on_idle_timeout.enabled': awsOnly(GWLB_ONLY),
}

/** Target-group attributes (`describe-target-group-attributes`, `ModifyTargetGroupAttributes`). */
const TARGET_GROUP_ATTRIBUTES = {
  'load_balancing.algorithm.type': implemented(),
  'stickiness.enabled': implemented(),
  'stickiness.type': implemented(),
  'stickiness.lb_cookie.duration_seconds': implemented(),
  'stickiness.app_cookie.cookie_name': implemented(),
  'stickiness.app_cookie.duration_seconds': implemented(),
  'deregistration_delay.timeout_seconds': implemented(),
  'slow_start.duration_seconds': implemented(),
  'load_balancing.algorithm.anomaly_mitigation': notImplemented({
    note: 'weighted_random picks uniformly in Portcullis; off (the default) is what it does',
    values: [
      {
        accepts: ['off'],
        action: 'warn',
        reason:
          'anomaly mitigation is not implemented in Portcullis: weighted_random keeps sending an anomalous target its share of requests',
        fix: 'set it to off, or use least_outstanding_requests',
      },
    ],
  }),
  'target_group_health.unhealthy_state_routing.minimum_healthy_targets.count': notImplemented({
    note: "Portcullis fails open only when every target is unhealthy, which is ALB's default (1)",
    values: [
      {
        accepts: ['1'],
        action: 'warn',
        reason:
          'Portcullis fails open (routes to every target) only when no target is healthy, not below a minimum count',
        fix: 'set it to 1',
      },
    ],
  }),
  'target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage': notImplemented({
    note: "Portcullis fails open only when every target is unhealthy, which is ALB's default (off)",
    values: [
      {
        accepts: ['off'],
        action: 'warn',
        reason:
          'Portcullis fails open (routes to every target) only when no target is healthy, not below a minimum percentage',
        fix: 'set it to off',
      },
    ],
  }),
  'load_balancing.cross_zone.enabled': awsOnly("AWS's availability zones"),
  'target_group_health.dns_failover.minimum_healthy_targets.count': awsOnly('Route 53 DNS failover'),
  'target_group_health.dns_failover.minimum_healthy_targets.percentage': awsOnly('Route 53 DNS failover'),
  'lambda.multi_value_headers.enabled': awsOnly('Lambda targets, which Portcullis refuses'),
  'deregistration_delay.connection_termination.enabled': awsOnly(NLB_ONLY),
  'preserve_client_ip.enabled': awsOnly(NLB_ONLY),
  'proxy_protocol_v2.enabled': awsOnly(NLB_ONLY),
  'target_health_state.unhealthy.connection_termination.enabled': awsOnly(NLB_ONLY),
  'target_health_state.unhealthy.draining_interval_seconds': awsOnly(NLB_ONLY),
  'target_failover.on_deregistration': awsOnly(GWLB_ONLY),
  'target_failover.on_unhealthy': awsOnly(GWLB_ONLY),
  'send_tcp_reset.on_unhealthy.enabled': awsOnly(GWLB_ONLY),
  'send_tcp_reset.on_deregistration.enabled': awsOnly(GWLB_ONLY),
} as const satisfies Record<string, FieldClass>

type KeysWith<F, T extends Treatment> = { [K in keyof F]: F[K] extends { treatment: T } ? K : never }[keyof F]

function keysWith<F extends Record<string, FieldClass>, T extends Treatment>(
  fields: F,
  treatment: T,
): KeysWith<F, T>[] {
  return Object.keys(fields).filter((k) => fields[k]!.treatment === treatment) as KeysWith<F, T>[]
}

/**
 * Load-balancer attributes Portcullis acts on. Each must name a test that
 * changes it and observes the behaviour through the real `portcullis start`
 * process: `test/e2e/load-balancer-attributes.test.ts` fails otherwise.
 */
export const ACTED_LOAD_BALANCER_ATTRIBUTES = keysWith(LOAD_BALANCER_ATTRIBUTES, 'implemented')
/** Target-group attributes Portcullis acts on; `test/e2e/target-group-attributes.test.ts` holds each to a test. */
export const ACTED_TARGET_GROUP_ATTRIBUTES = keysWith(TARGET_GROUP_ATTRIBUTES, 'implemented')

/** Every block of the file. */
export const BLOCKS: Readonly<Record<BlockName, Block>> = {
  PortcullisFile: {
    label: 'the file',
    kind: 'fields',
    fields: {
      $schema: extension({ note: 'JSON Schema reference for editors' }),
      LoadBalancer: implemented({ block: 'LoadBalancer', note: 'the output of describe-load-balancers (one entry)' }),
      Listeners: implemented({ block: 'Listener', note: 'the output of describe-listeners' }),
      TargetGroups: implemented({ block: 'TargetGroup', note: 'the output of describe-target-groups' }),
      TrustStores: implemented({
        block: 'TrustStore',
        note: 'the output of describe-trust-stores: the trust stores of mutual TLS, each with its CA bundle file (Portcullis.CaCertificatesBundleFile)',
      }),
      Portcullis: extension({ block: 'PortcullisSettings' }),
    },
  },
  LoadBalancer: {
    label: 'LoadBalancer',
    kind: 'fields',
    resource: true,
    fields: {
      Name: extension({ note: 'the name, as Portcullis writes it (LoadBalancerName as AWS does)' }),
      LoadBalancerName: implemented(),
      Region: extension({ note: 'the region of derived ARNs' }),
      AccountId: extension({ note: 'the account of derived ARNs' }),
      Arn: extension({ note: 'the ARN, as Portcullis writes it (LoadBalancerArn as AWS does)' }),
      LoadBalancerArn: implemented({ output: true, note: 'the signer of identity tokens' }),
      Attributes: implemented({
        block: 'LoadBalancerAttribute',
        note: 'the output of describe-load-balancer-attributes',
      }),
      Type: implemented({
        values: [
          {
            accepts: ['application'],
            action: 'refuse',
            reason:
              'Portcullis is an application load balancer: network and gateway load balancers (TCP, TLS, UDP, GENEVE listeners) are not implemented',
            fix: "paste an application load balancer's describe-* output",
          },
        ],
      }),
      DNSName: awsOnly("the name AWS's DNS gives the load balancer"),
      CanonicalHostedZoneId: awsOnly('Route 53'),
      CreatedTime: awsOnly('when AWS created it'),
      Scheme: awsOnly(
        "whether AWS gives the nodes public addresses; Portcullis binds each listener's Portcullis.Address (default 0.0.0.0), so keep an internal load balancer private with it or the host's network",
      ),
      VpcId: awsOnly('the VPC'),
      State: awsOnly("AWS's provisioning state"),
      AvailabilityZones: awsOnly('subnets and zones; Portcullis runs where it is started'),
      SecurityGroups: awsOnly(
        "enforced by AWS's network, not by the load balancer: restrict who reaches Portcullis with the host's firewall",
      ),
      IpAddressType: awsOnly("the address families of AWS's nodes; Portcullis binds Portcullis.Address"),
      CustomerOwnedIpv4Pool: awsOnly('Outposts'),
      EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic: awsOnly('PrivateLink to Network Load Balancers'),
      EnablePrefixForIpv6SourceNat: awsOnly('Network Load Balancers with UDP listeners'),
      IpamPools: awsOnly('IPAM address pools'),
      MinimumLoadBalancerCapacity: awsOnly('reserved capacity units (describe-capacity-reservation)'),
    },
  },
  LoadBalancerAttribute: { label: 'load balancer attributes', kind: 'attributes', fields: LOAD_BALANCER_ATTRIBUTES },
  Attribute: implementedBlock('Attribute', ['Key', 'Value']),
  Listener: {
    label: 'Listener',
    kind: 'fields',
    resource: true,
    fields: {
      Port: implemented(),
      Protocol: implemented(),
      Certificates: implemented({ block: 'Certificate', note: 'the output of describe-listener-certificates' }),
      SslPolicy: implemented({
        note: "one of ALB's predefined security policies: its protocols, ciphers (in its order) and key-exchange groups are what the listener negotiates; without it, ALB's console default ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09 (on a Node.js without ML-KEM, ELBSecurityPolicy-TLS13-1-2-Res-2021-06). Refused, naming the nearest policy that runs: policies allowing TLS 1.0 or 1.1 (OpenSSL allows them only at security level 0), FIPS policies, and PQ policies on a Node.js whose OpenSSL lacks ML-KEM (Node.js 20)",
      }),
      DefaultActions: implemented({ block: 'Action' }),
      Rules: implemented({ block: 'Rule', note: 'the output of describe-rules for this listener' }),
      Attributes: implemented({ block: 'ListenerAttribute', note: 'the output of describe-listener-attributes' }),
      MutualAuthentication: implemented({
        block: 'MutualAuthenticationAttributes',
        note: 'mutual TLS on an HTTPS listener: Mode off, verify (a trust store of TrustStores) or passthrough',
      }),
      ListenerArn: awsOnly('the ARN AWS assigned; Portcullis derives one from the load balancer and port'),
      LoadBalancerArn: awsOnly("the load balancer it belongs to: the file's LoadBalancer"),
      AlpnPolicy: awsOnly('TLS listeners of Network Load Balancers'),
      Portcullis: extension({ block: 'ListenerPortcullis' }),
    },
  },
  ListenerAttribute: { label: 'listener attributes', kind: 'attributes', fields: LISTENER_ATTRIBUTES },
  Certificate: {
    label: 'Certificate',
    kind: 'fields',
    fields: {
      CertificateArn: implemented({
        note: 'an ACM certificate, which Portcullis cannot fetch: give CertificateFile and PrivateKeyFile, or Portcullis.LocalCertificates: true',
      }),
      IsDefault: notImplemented({
        note: 'the first certificate of the list is the default (served when SNI names no other); put the IsDefault: true one first',
      }),
      CertificateFile: extension(),
      PrivateKeyFile: extension(),
    },
  },
  MutualAuthenticationAttributes: {
    label: 'MutualAuthentication',
    kind: 'fields',
    fields: {
      Mode: implemented({ note: 'off (the default), verify or passthrough' }),
      TrustStoreArn: implemented({ note: 'the ARN (or Name) of an entry of TrustStores; Mode verify only' }),
      IgnoreClientCertificateExpiry: implemented({
        note: 'true admits a chain whose only fault is an expired or not-yet-valid certificate (chain, purpose and revocation still checked); warned about',
      }),
      TrustStoreAssociationStatus: awsOnly('whether AWS has associated the trust store with the listener'),
      AdvertiseTrustStoreCaNames: notImplemented({
        note: "Node.js's TLS sends the trust store's CA names in every certificate request: on is what Portcullis does",
        values: [
          {
            accepts: ['on'],
            action: 'warn',
            reason:
              "Portcullis advertises the trust store's CA names in the TLS handshake whatever this says (Node.js's TLS offers no way not to): clients see which CAs are trusted",
            fix: 'set it to on, or accept that the CA names are advertised',
          },
        ],
      }),
    },
  },
  TrustStore: {
    label: 'TrustStore',
    kind: 'fields',
    resource: true,
    fields: {
      Name: implemented(),
      TrustStoreArn: implemented({ output: true, note: 'what MutualAuthentication.TrustStoreArn names' }),
      Status: awsOnly("AWS's provisioning state"),
      NumberOfCaCertificates: awsOnly('counted by AWS from the uploaded bundle'),
      TotalRevokedEntries: awsOnly('counted by AWS from the uploaded revocation lists'),
      Portcullis: extension({ block: 'TrustStorePortcullis' }),
    },
  },
  Rule: {
    label: 'Rule',
    kind: 'fields',
    resource: true,
    fields: {
      RuleArn: implemented({ output: true }),
      Priority: implemented(),
      Conditions: implemented({ block: 'RuleCondition' }),
      Actions: implemented({ block: 'Action' }),
      IsDefault: implemented({ output: true }),
      Transforms: implemented({ block: 'RuleTransform' }),
    },
  },
  RuleCondition: implementedBlock(
    'RuleCondition',
    [
      'Field',
      'Values',
      'RegexValues',
      'HostHeaderConfig',
      'PathPatternConfig',
      'HttpHeaderConfig',
      'QueryStringConfig',
      'HttpRequestMethodConfig',
      'SourceIpConfig',
    ],
    {
      HostHeaderConfig: 'HostHeaderConditionConfig',
      PathPatternConfig: 'PathPatternConditionConfig',
      HttpHeaderConfig: 'HttpHeaderConditionConfig',
      QueryStringConfig: 'QueryStringConditionConfig',
      HttpRequestMethodConfig: 'HttpRequestMethodConditionConfig',
      SourceIpConfig: 'SourceIpConditionConfig',
    },
  ),
  HostHeaderConditionConfig: implementedBlock('HostHeaderConfig', ['Values', 'RegexValues']),
  PathPatternConditionConfig: implementedBlock('PathPatternConfig', ['Values', 'RegexValues']),
  HttpHeaderConditionConfig: implementedBlock('HttpHeaderConfig', ['HttpHeaderName', 'Values', 'RegexValues']),
  QueryStringConditionConfig: implementedBlock('QueryStringConfig', ['Values'], { Values: 'QueryStringKeyValuePair' }),
  QueryStringKeyValuePair: implementedBlock('QueryStringConfig.Values', ['Key', 'Value']),
  HttpRequestMethodConditionConfig: implementedBlock('HttpRequestMethodConfig', ['Values']),
  SourceIpConditionConfig: {
    label: 'SourceIpConfig',
    kind: 'fields',
    fields: {
      Values: implemented(),
      IpAddressType: notImplemented({
        note: 'matching by address family is a Network Load Balancer condition',
        values: [
          {
            accepts: [],
            action: 'refuse',
            reason:
              'matching the source address family is a Network Load Balancer condition Portcullis does not implement; ignoring it would make the rule match more requests than intended',
            fix: 'remove IpAddressType and give the source addresses as CIDR blocks in Values',
          },
        ],
      }),
    },
  },
  RuleTransform: implementedBlock('RuleTransform', ['Type', 'HostHeaderRewriteConfig', 'UrlRewriteConfig'], {
    HostHeaderRewriteConfig: 'HostHeaderRewriteConfig',
    UrlRewriteConfig: 'UrlRewriteConfig',
  }),
  HostHeaderRewriteConfig: implementedBlock('HostHeaderRewriteConfig', ['Rewrites'], { Rewrites: 'RewriteConfig' }),
  UrlRewriteConfig: implementedBlock('UrlRewriteConfig', ['Rewrites'], { Rewrites: 'RewriteConfig' }),
  RewriteConfig: implementedBlock('Rewrites', ['Regex', 'Replace']),
  Action: implementedBlock(
    'Action',
    [
      'Type',
      'Order',
      'TargetGroupArn',
      'ForwardConfig',
      'RedirectConfig',
      'FixedResponseConfig',
      'AuthenticateOidcConfig',
      'AuthenticateCognitoConfig',
      'JwtValidationConfig',
    ],
    {
      ForwardConfig: 'ForwardActionConfig',
      RedirectConfig: 'RedirectActionConfig',
      FixedResponseConfig: 'FixedResponseActionConfig',
      AuthenticateOidcConfig: 'AuthenticateOidcActionConfig',
      AuthenticateCognitoConfig: 'AuthenticateCognitoActionConfig',
      JwtValidationConfig: 'JwtValidationActionConfig',
    },
  ),
  ForwardActionConfig: implementedBlock('ForwardConfig', ['TargetGroups', 'TargetGroupStickinessConfig'], {
    TargetGroups: 'TargetGroupTuple',
    TargetGroupStickinessConfig: 'TargetGroupStickinessConfig',
  }),
  TargetGroupTuple: implementedBlock('ForwardConfig.TargetGroups', ['TargetGroupArn', 'Weight']),
  TargetGroupStickinessConfig: implementedBlock('TargetGroupStickinessConfig', ['Enabled', 'DurationSeconds']),
  RedirectActionConfig: implementedBlock('RedirectConfig', ['Protocol', 'Port', 'Host', 'Path', 'Query', 'StatusCode']),
  FixedResponseActionConfig: implementedBlock('FixedResponseConfig', ['MessageBody', 'StatusCode', 'ContentType']),
  AuthenticateOidcActionConfig: {
    label: 'AuthenticateOidcConfig',
    kind: 'fields',
    fields: {
      ...fieldsOf(implemented, [
        'Issuer',
        'AuthorizationEndpoint',
        'TokenEndpoint',
        'UserInfoEndpoint',
        'ClientId',
        'ClientSecret',
        'SessionCookieName',
        'Scope',
        'SessionTimeout',
        'AuthenticationRequestExtraParams',
        'OnUnauthenticatedRequest',
        'UseExistingClientSecret',
      ]),
      Portcullis: extension({ block: 'OidcPortcullis' }),
    },
  },
  AuthenticateCognitoActionConfig: {
    label: 'AuthenticateCognitoConfig',
    kind: 'fields',
    fields: {
      ...fieldsOf(implemented, [
        'UserPoolArn',
        'UserPoolClientId',
        'UserPoolDomain',
        'SessionCookieName',
        'Scope',
        'SessionTimeout',
        'AuthenticationRequestExtraParams',
        'OnUnauthenticatedRequest',
      ]),
      Portcullis: extension({ block: 'CognitoPortcullis' }),
    },
  },
  JwtValidationActionConfig: {
    label: 'JwtValidationConfig',
    kind: 'fields',
    fields: {
      JwksEndpoint: implemented(),
      Issuer: implemented(),
      AdditionalClaims: implemented({ block: 'JwtValidationActionAdditionalClaim' }),
      Portcullis: extension({ block: 'JwtValidationPortcullis' }),
    },
  },
  JwtValidationActionAdditionalClaim: implementedBlock('AdditionalClaims', ['Format', 'Name', 'Values']),
  TargetGroup: {
    label: 'TargetGroup',
    kind: 'fields',
    resource: true,
    fields: {
      TargetGroupArn: implemented(),
      TargetGroupName: implemented(),
      Protocol: implemented(),
      Port: implemented(),
      HealthCheckProtocol: implemented(),
      HealthCheckPort: implemented(),
      HealthCheckEnabled: implemented(),
      HealthCheckIntervalSeconds: implemented(),
      HealthCheckTimeoutSeconds: implemented(),
      HealthyThresholdCount: implemented(),
      UnhealthyThresholdCount: implemented(),
      HealthCheckPath: implemented(),
      Matcher: implemented({ block: 'Matcher' }),
      TargetType: implemented({
        note: 'ip, or instance with Portcullis.InstanceAddresses',
        values: [
          {
            accepts: ['ip', 'instance'],
            action: 'refuse',
            reason:
              'Portcullis forwards to IP addresses and host names: Lambda functions and application load balancers as targets are not supported',
            fix: 'register the targets by address (TargetType: ip), or keep this target group on AWS',
          },
        ],
      }),
      ProtocolVersion: implemented({
        note: 'HTTP1 (HTTP/1.1 to targets), HTTP2 and GRPC (HTTP/2 to targets: TLS with ALPN for HTTPS groups, prior knowledge for HTTP ones); HTTP2 and GRPC groups are forwarded to only from HTTPS listeners, by rules whose only action is forward; they are health-checked over HTTP/2 (HTTP2: GET, Matcher.HttpCode; GRPC: a gRPC call, Matcher.GrpcCode)',
      }),
      TargetControlPort: notImplemented({
        note: "the port of ALB's target optimizer agent",
        values: [
          {
            accepts: [],
            action: 'warn',
            reason:
              "ALB's target optimizer (an agent on each target saying how many requests it takes at once) is not implemented: targets get requests without that limit",
            fix: 'remove TargetControlPort, or make sure the targets cope without the agent',
          },
        ],
      }),
      Targets: extension({ block: 'TargetDescription', note: 'RegisterTargets, as Portcullis takes them' }),
      TargetHealthDescriptions: implemented({
        block: 'TargetHealthDescription',
        output: true,
        note: 'the output of describe-target-health, instead of Targets',
      }),
      Attributes: implemented({
        block: 'TargetGroupAttribute',
        note: 'the output of describe-target-group-attributes',
      }),
      VpcId: awsOnly('the VPC'),
      LoadBalancerArns: awsOnly('the load balancers that use it: the file says by its rules'),
      IpAddressType: awsOnly('the address family of the targets; Portcullis connects to the address each gives'),
      Portcullis: extension({ block: 'TargetGroupPortcullis' }),
    },
  },
  TargetGroupAttribute: { label: 'target group attributes', kind: 'attributes', fields: TARGET_GROUP_ATTRIBUTES },
  Matcher: {
    label: 'Matcher',
    kind: 'fields',
    fields: {
      HttpCode: implemented(),
      GrpcCode: implemented({
        note: "the gRPC status codes (0..99, default 12) of a GRPC group's health check, a gRPC call over HTTP/2",
      }),
    },
  },
  TargetDescription: {
    label: 'Target',
    kind: 'fields',
    fields: {
      Id: implemented(),
      Port: implemented(),
      AvailabilityZone: awsOnly("the target's zone (all for addresses outside the VPC)"),
      QuicServerId: awsOnly('QUIC listeners of Network Load Balancers'),
    },
  },
  TargetHealthDescription: {
    label: 'TargetHealthDescription',
    kind: 'fields',
    resource: true,
    fields: {
      Target: implemented({ block: 'TargetDescription' }),
      HealthCheckPort: awsOnly("the port AWS checks; Portcullis uses the target group's HealthCheckPort"),
      TargetHealth: awsOnly('the health AWS saw; Portcullis checks health itself'),
      AnomalyDetection: awsOnly("AWS's anomaly detection"),
      AdministrativeOverride: awsOnly("AWS's administrative override"),
    },
  },
  PortcullisSettings: portcullisBlock(
    'Portcullis',
    [
      'StateDirectory',
      'Admin',
      'AllowInsecureHttpAuthentication',
      'CaFile',
      'AccessLog',
      'ConnectionLog',
      'SharedState',
      'SessionStore',
      'LocalCertificates',
      'ClientSecretsDirectory',
      'InstanceAddresses',
    ],
    {
      Admin: 'PortcullisAdmin',
      AccessLog: 'PortcullisAccessLog',
      ConnectionLog: 'PortcullisConnectionLog',
      SharedState: 'PortcullisSharedState',
    },
  ),
  PortcullisAdmin: portcullisBlock('Portcullis.Admin', [
    'Address',
    'Port',
    'TokenFile',
    'CertificateFile',
    'PrivateKeyFile',
    'ClientCertificateTrustStore',
  ]),
  PortcullisAccessLog: portcullisBlock('Portcullis.AccessLog', [
    'Format',
    'Path',
    'Directory',
    'IntervalMinutes',
    'MaxTotalSizeMB',
  ]),
  PortcullisConnectionLog: portcullisBlock('Portcullis.ConnectionLog', ['Format', 'Path']),
  PortcullisSharedState: portcullisBlock('Portcullis.SharedState', [
    'Url',
    'KeyPrefix',
    'ConnectTimeoutMs',
    'CommandTimeoutMs',
  ]),
  ListenerPortcullis: portcullisBlock('Listener Portcullis', ['Address']),
  TrustStorePortcullis: portcullisBlock('TrustStore Portcullis', ['CaCertificatesBundleFile', 'RevocationFiles']),
  TargetGroupPortcullis: portcullisBlock('TargetGroup Portcullis', ['CaFile', 'TargetTimeoutSeconds']),
  OidcPortcullis: portcullisBlock('AuthenticateOidcConfig Portcullis', [
    'Pkce',
    'Nonce',
    'TokenEndpointAuthMethod',
    'JwksUri',
    'IdentityTokenLifetimeSeconds',
    'LogoutPath',
    'PostLogoutRedirectUri',
  ]),
  CognitoPortcullis: portcullisBlock('AuthenticateCognitoConfig Portcullis', [
    'Pkce',
    'Nonce',
    'TokenEndpointAuthMethod',
    'JwksUri',
    'IdentityTokenLifetimeSeconds',
    'LogoutPath',
    'PostLogoutRedirectUri',
    'ClientSecret',
  ]),
  JwtValidationPortcullis: portcullisBlock('JwtValidationConfig Portcullis', ['AllowEs256']),
}

/** The rule a value breaks, if any: the first whose accepted values do not include it. */
export function brokenRule(field: FieldClass, value: unknown): ValueRule | undefined {
  const text = valueText(value)
  return field.values?.find((rule) =>
    rule.matches !== undefined ? rule.matches.test(text) : !(rule.accepts ?? []).includes(text),
  )
}

/** A value as `describe-*` prints it: scalars as strings, anything else as JSON. */
export function valueText(value: unknown): string {
  return value !== null && typeof value === 'object' ? JSON.stringify(value) : String(value)
}

/** One sentence or two on a field: its treatment, note and value rules, for the JSON Schema. */
export function describeField(field: FieldClass): string {
  const lead =
    field.treatment === 'aws-only'
      ? 'AWS-only, ignored by Portcullis: '
      : field.treatment === 'not-implemented'
        ? 'Not implemented in Portcullis: '
        : ''
  const text = fieldText(field)
  return lead === '' ? text : `${lead}${text[0]!.toLowerCase()}${text.slice(1)}`
}

/** A field's note and value rules, as sentences (the docs give the treatment a column of its own). */
export function fieldText(field: FieldClass): string {
  const note = field.note === undefined ? [] : [`${field.note[0]!.toUpperCase()}${field.note.slice(1)}.`]
  const rules = (field.values ?? []).map((rule) => `${ruleCondition(rule)}: ${rule.reason}.`)
  return [...note, ...rules].join(' ')
}

/** When a rule fires, in words. */
function ruleCondition(rule: ValueRule): string {
  const verb = rule.action === 'refuse' ? 'Refused' : 'Warned about'
  if (rule.matches !== undefined) return `${verb} when it matches \`${rule.matches.source}\``
  const accepts = rule.accepts ?? []
  if (accepts.length === 0) return `${verb} whatever its value`
  return `${verb} unless ${accepts.map((v) => (v === '' ? '""' : v)).join(' or ')}`
}
