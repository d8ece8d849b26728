/**
 * Issue 18, part 1: every field and attribute of ALB's describe-* outputs and
 * of the ELBv2 settings reference is in one classification table, and what
 * the table says is what the loader, the JSON Schema and the docs do.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { BLOCKS, type BlockName } from '../../src/config/classification.js'
import { fieldsReferenceMarkdown } from '../../src/config/fields-reference.js'
import { portcullisJsonSchema } from '../../src/config/json-schema.js'
import { assemble, fullAlb } from '../fixtures/aws-describe/assemble.js'
import { expectError, expectWarning, issuesOf, load, positionOf } from './fixtures.js'

type Json = Record<string, unknown>

/**
 * The attribute keys of the ELBv2 API reference (LoadBalancerAttribute,
 * ListenerAttribute, TargetGroupAttribute), for every load balancer type: a
 * pasted attribute list holds some of them, a hand-written one any.
 */
/** Target-group attributes of Network and Gateway Load Balancers only: in the reference, never in an ALB's output. */
const NLB_TARGET_GROUP_ATTRIBUTES = [
  'deregistration_delay.connection_termination.enabled',
  'preserve_client_ip.enabled',
  'proxy_protocol_v2.enabled',
  'target_health_state.unhealthy.connection_termination.enabled',
  'target_health_state.unhealthy.draining_interval_seconds',
  'target_failover.on_deregistration',
  'target_failover.on_unhealthy',
  'send_tcp_reset.on_unhealthy.enabled',
  'send_tcp_reset.on_deregistration.enabled',
] as const

const REFERENCE_ATTRIBUTES = {
  LoadBalancerAttribute: [
    'deletion_protection.enabled',
    'load_balancing.cross_zone.enabled',
    'access_logs.s3.enabled',
    'access_logs.s3.bucket',
    'access_logs.s3.prefix',
    'ipv6.deny_all_igw_traffic',
    'zonal_shift.config.enabled',
    'idle_timeout.timeout_seconds',
    'client_keep_alive.seconds',
    'connection_logs.s3.enabled',
    'connection_logs.s3.bucket',
    'connection_logs.s3.prefix',
    'health_check_logs.s3.enabled',
    'health_check_logs.s3.bucket',
    'health_check_logs.s3.prefix',
    'routing.http.desync_mitigation_mode',
    'routing.http.drop_invalid_header_fields.enabled',
    'routing.http.preserve_host_header.enabled',
    'routing.http.x_amzn_tls_version_and_cipher_suite.enabled',
    'routing.http.xff_client_port.enabled',
    'routing.http.xff_header_processing.mode',
    'routing.http2.enabled',
    'waf.fail_open.enabled',
    'dns_record.client_routing_policy',
    'secondary_ips.auto_assigned.per_subnet',
  ],
  ListenerAttribute: [
    'tcp.idle_timeout.seconds',
    'send_tcp_reset.on_idle_timeout.enabled',
    'routing.http.request.x_amzn_mtls_clientcert_serial_number.header_name',
    'routing.http.request.x_amzn_mtls_clientcert_issuer.header_name',
    'routing.http.request.x_amzn_mtls_clientcert_subject.header_name',
    'routing.http.request.x_amzn_mtls_clientcert_validity.header_name',
    'routing.http.request.x_amzn_mtls_clientcert_leaf.header_name',
    'routing.http.request.x_amzn_mtls_clientcert.header_name',
    'routing.http.request.x_amzn_tls_version.header_name',
    'routing.http.request.x_amzn_tls_cipher_suite.header_name',
    'routing.http.response.server.enabled',
    'routing.http.response.strict_transport_security.header_value',
    'routing.http.response.access_control_allow_origin.header_value',
    'routing.http.response.access_control_allow_methods.header_value',
    'routing.http.response.access_control_allow_headers.header_value',
    'routing.http.response.access_control_allow_credentials.header_value',
    'routing.http.response.access_control_expose_headers.header_value',
    'routing.http.response.access_control_max_age.header_value',
    'routing.http.response.content_security_policy.header_value',
    'routing.http.response.x_content_type_options.header_value',
    'routing.http.response.x_frame_options.header_value',
  ],
  TargetGroupAttribute: [
    'deregistration_delay.timeout_seconds',
    'stickiness.enabled',
    'stickiness.type',
    'load_balancing.cross_zone.enabled',
    'target_group_health.dns_failover.minimum_healthy_targets.count',
    'target_group_health.dns_failover.minimum_healthy_targets.percentage',
    'target_group_health.unhealthy_state_routing.minimum_healthy_targets.count',
    'target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage',
    'load_balancing.algorithm.type',
    'load_balancing.algorithm.anomaly_mitigation',
    'slow_start.duration_seconds',
    'stickiness.app_cookie.cookie_name',
    'stickiness.app_cookie.duration_seconds',
    'stickiness.lb_cookie.duration_seconds',
    'lambda.multi_value_headers.enabled',
    ...NLB_TARGET_GROUP_ATTRIBUTES,
  ],
} as const

/** Every field of `value` read as block `name`: `seen` gets each classified one, the result the unclassified. */
function walk(value: unknown, name: BlockName, path: string, seen: Set<string>): string[] {
  if (Array.isArray(value)) return value.flatMap((item, i) => walk(item, name, `${path}[${i}]`, seen))
  if (value === null || typeof value !== 'object') return []
  const block = BLOCKS[name]
  const missing: string[] = []
  for (const [key, child] of Object.entries(value as Json)) {
    const field = block.fields[key]
    if (field === undefined) {
      missing.push(`${path}.${key}`)
      continue
    }
    seen.add(`${name}.${key}`)
    if (field.block === undefined) continue
    const inner = BLOCKS[field.block]
    if (inner.kind === 'fields') {
      missing.push(...walk(child, field.block, `${path}.${key}`, seen))
      continue
    }
    for (const [i, attribute] of (child as Json[]).entries()) {
      missing.push(...walk(attribute, 'Attribute', `${path}.${key}[${i}]`, seen))
      const attributeKey = attribute.Key as string
      if (inner.fields[attributeKey] === undefined) missing.push(`${path}.${key}[${i}] ${attributeKey}`)
      else seen.add(`${field.block}.${attributeKey}`)
    }
  }
  return missing
}

describe('the classification table', () => {
  test('classifies every field and attribute of full describe-* outputs of an application load balancer', () => {
    const seen = new Set<string>()
    assert.deepEqual(walk(assemble(fullAlb()), 'PortcullisFile', '', seen), [])
    // The fixture is full: it carries every field the table knows of ALB's outputs, save these.
    const notInAnAlbOutput = new Set([
      'LoadBalancer.MinimumLoadBalancerCapacity', // describe-capacity-reservation, when pasted
      'AuthenticateOidcActionConfig.ClientSecret', // AWS never prints it
      ...REFERENCE_ATTRIBUTES.LoadBalancerAttribute.filter((k) => /^(dns_record|secondary_ips)\./.test(k)).map(
        (k) => `LoadBalancerAttribute.${k}`,
      ),
      'ListenerAttribute.tcp.idle_timeout.seconds',
      'ListenerAttribute.send_tcp_reset.on_idle_timeout.enabled',
      ...NLB_TARGET_GROUP_ATTRIBUTES.map((k) => `TargetGroupAttribute.${k}`),
    ])
    const absent: string[] = []
    for (const [name, block] of Object.entries(BLOCKS)) {
      for (const [key, field] of Object.entries(block.fields)) {
        const id = `${name}.${key}`
        if (field.treatment !== 'extension' && !seen.has(id) && !notInAnAlbOutput.has(id)) absent.push(id)
      }
    }
    assert.deepEqual(absent, [])
  })

  test('holds exactly the attributes of the ELBv2 settings reference, for every load balancer type', () => {
    for (const [name, keys] of Object.entries(REFERENCE_ATTRIBUTES)) {
      assert.deepEqual(Object.keys(BLOCKS[name as BlockName].fields).sort(), [...keys].sort(), name)
    }
  })

  test('is the JSON Schema: each block is the object the schema has where the table links it, key for key', () => {
    const objectOf = (node: Json): Json => {
      if (node.type === 'array') return objectOf(node.items as Json)
      const alternative = (node.anyOf as Json[] | undefined)?.find((n) => n.type === 'object')
      return alternative ?? node
    }
    const reached = new Set<BlockName>()
    const check = (name: BlockName, node: Json): void => {
      reached.add(name)
      const properties = objectOf(node).properties as Record<string, Json>
      const fields = BLOCKS[name].kind === 'attributes' ? BLOCKS.Attribute.fields : BLOCKS[name].fields
      assert.deepEqual(Object.keys(properties).sort(), Object.keys(fields).sort(), name)
      if (BLOCKS[name].kind === 'attributes') {
        reached.add('Attribute')
        return
      }
      for (const [key, field] of Object.entries(fields)) {
        if (field.block !== undefined) check(field.block, properties[key]!)
      }
    }
    check('PortcullisFile', portcullisJsonSchema())
    // Every block is reachable from the top, so the loader's field check sees all of them.
    assert.deepEqual([...reached].sort(), Object.keys(BLOCKS).sort())
  })

  test('is the reference page docs/alb-fields.md (npm run gen:schema regenerates it)', () => {
    const page = fileURLToPath(new URL('../../../../docs/alb-fields.md', import.meta.url))
    assert.equal(
      readFileSync(page, 'utf8'),
      fieldsReferenceMarkdown(),
      'docs/alb-fields.md is stale: npm run gen:schema',
    )
  })
})

/** A valid file with one HTTPS listener (certificate files given), `listener` spliced under it. */
function https(listener: string, top = ''): string {
  return `Listeners:
  - Port: 8443
    Protocol: HTTPS
    Certificates: [{ CertificateFile: c.pem, PrivateKeyFile: k.pem }]
${listener}    DefaultActions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: "404" } }]
${top}`
}

const lbAttribute = (key: string, value: string) =>
  https('', `LoadBalancer: { Name: x, Attributes: [{ Key: ${key}, Value: ${value} }] }\n`)
const listenerAttribute = (key: string, value: string) => https(`    Attributes: [{ Key: ${key}, Value: ${value} }]\n`)
const targetGroup = (extra: string) =>
  https(
    '',
    `TargetGroups:\n  - TargetGroupName: t\n    Protocol: HTTP\n    Targets: [{ Id: 10.0.0.1, Port: 80 }]\n${extra}`,
  )

describe('settings Portcullis does not implement', () => {
  test('a value that would change security or behaviour is refused, with the reason and what to do', () => {
    expectError(
      https('', 'LoadBalancer: { Name: x, Type: network }\n'),
      'LoadBalancer.Type',
      /^Type network: Portcullis is an application load balancer/,
      'network',
    )
    const sourceIp = https(`    Rules:
      - Priority: 1
        Conditions: [{ Field: source-ip, SourceIpConfig: { Values: [10.0.0.0/8], IpAddressType: ipv4 } }]
        Actions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: "200" } }]
`)
    expectError(
      sourceIp,
      'Listeners[0].Rules[0].Conditions[0].SourceIpConfig.IpAddressType',
      /would make the rule match more requests than intended; remove IpAddressType/,
      'ipv4 }',
    )
    expectError(targetGroup('    TargetType: alb\n'), 'TargetGroups[0].TargetType', /^TargetType alb: /, 'alb')
  })

  test('the values AWS prints by default are accepted without a warning', () => {
    const defaults = https(
      `    MutualAuthentication: { Mode: "off", IgnoreClientCertificateExpiry: false }
    SslPolicy: ELBSecurityPolicy-TLS13-1-2-2021-06
    Attributes:
      - { Key: routing.http.response.server.enabled, Value: "true" }
      - { Key: routing.http.response.x_frame_options.header_value, Value: "" }
      - { Key: routing.http.request.x_amzn_tls_version.header_name, Value: X-Renamed }
`,
      `LoadBalancer:
  Name: x
  Attributes:
    - { Key: routing.http2.enabled, Value: "false" }
    - { Key: routing.http.x_amzn_tls_version_and_cipher_suite.enabled, Value: "false" }
    - { Key: routing.http.desync_mitigation_mode, Value: monitor }
`,
    )
    const loaded = load(defaults)
    assert.deepEqual(loaded.warnings, [])
    assert.deepEqual(loaded.notActedOn, [])
    assert.deepEqual(
      loaded.ignored.map((f) => `${f.treatment} ${f.block} ${f.key}`),
      ['not-implemented load balancer attributes routing.http.desync_mitigation_mode'],
    )
  })

  test('where refusing would block a harmless paste, a warning (also listed for audit)', () => {
    const cases: [string, string, RegExp, string][] = [
      [
        lbAttribute('routing.http.desync_mitigation_mode', 'strictest'),
        'LoadBalancer.Attributes[0].Value',
        /requests that strictest blocks as merely ambiguous are forwarded; set it to defensive/,
        'strictest',
      ],
      [
        targetGroup('    Attributes: [{ Key: load_balancing.algorithm.anomaly_mitigation, Value: "on" }]\n'),
        'TargetGroups[0].Attributes[0].Value',
        /anomaly mitigation is not implemented in Portcullis.*; set it to off/,
        '"on"',
      ],
      [
        targetGroup(
          '    Attributes: [{ Key: target_group_health.unhealthy_state_routing.minimum_healthy_targets.count, Value: "2" }]\n',
        ),
        'TargetGroups[0].Attributes[0].Value',
        /only when no target is healthy, not below a minimum count; set it to 1/,
        '"2"',
      ],
      [
        targetGroup(
          '    Attributes: [{ Key: target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage, Value: "50" }]\n',
        ),
        'TargetGroups[0].Attributes[0].Value',
        /not below a minimum percentage; set it to off/,
        '"50"',
      ],
      [
        targetGroup('    TargetControlPort: 3000\n'),
        'TargetGroups[0].TargetControlPort',
        /target optimizer .* is not implemented: targets get requests without that limit/,
        '3000',
      ],
    ]
    for (const [text, path, message, needle] of cases) {
      const warning = expectWarning(text, path, message, needle)
      assert.deepEqual(load(text).notActedOn, [warning])
    }
  })
})

describe('unknown fields: a field AWS added later, or a typo', () => {
  const arn = 'arn:aws:elasticloadbalancing:us-east-1:000000000000:listener/app/x/0123456789abcdef/0123456789abcdef'

  test('in a pasted resource, a new AWS field is ignored with a warning that names it', () => {
    const text = https(`    ListenerArn: ${arn}\n    FutureSetting: { Enabled: true }\n`)
    const warning = expectWarning(
      text,
      'Listeners[0].FutureSetting',
      /^unknown to Portcullis \(a field AWS added to Listener after this version\?\) and ignored: check that nothing relies on it$/,
      'FutureSetting',
    )
    assert.deepEqual(load(text).notActedOn, [warning])
    // Inside a pasted rule too: its actions and conditions are pasted with it.
    const rule = https(`    Rules:
      - RuleArn: arn:aws:elasticloadbalancing:us-east-1:000000000000:listener-rule/app/x/0123456789abcdef/0123456789abcdef/0123456789abcdef
        Priority: "1"
        Conditions: [{ Field: path-pattern, Values: [/x], FutureMatch: true }]
        Actions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: "200" } }]
`)
    expectWarning(rule, 'Listeners[0].Rules[0].Conditions[0].FutureMatch', /AWS added to RuleCondition/, 'FutureMatch')
  })

  test('in a hand-written block, or close to a known field, it is an error', () => {
    expectError(
      https('    FutureSetting: true\n'),
      'Listeners[0].FutureSetting',
      /^unknown field \(expected one of Port, Protocol, .*MutualAuthentication, ListenerArn/,
      'FutureSetting',
    )
    const nearMiss = https(`    ListenerArn: ${arn}\n    SslPolicyy: x\n`)
    expectError(nearMiss, 'Listeners[0].SslPolicyy', /^unknown field; did you mean SslPolicy\?$/, 'SslPolicyy')
    // Not in AWS's form: never a field AWS added.
    expectError(
      https(`    ListenerArn: ${arn}\n    future_setting: 1\n`),
      'Listeners[0].future_setting',
      /unknown field/,
      'future_setting',
    )
    // Portcullis's own blocks are never pasted.
    expectError(
      https(`    ListenerArn: ${arn}\n    Portcullis: { Adress: 127.0.0.1 }\n`),
      'Listeners[0].Portcullis.Adress',
      /did you mean Address\?/,
      'Adress',
    )
  })

  test('the error and the warning are both located at the key, and a typo still fails the file', () => {
    const text = https(`    ListenerArn: ${arn}\n    Protocl: HTTPS\n    FutureSetting: 1\n`)
    const issues = issuesOf(text)
    const typo = issues.find((i) => i.path === 'Listeners[0].Protocl')!
    assert.equal(typo.severity, 'error')
    assert.deepEqual({ line: typo.line, column: typo.column }, positionOf(text, 'Protocl'))
    assert.equal(issues.find((i) => i.path === 'Listeners[0].FutureSetting')?.severity, 'warning')
  })
})

describe('header-modification attributes, checked as ALB checks them', () => {
  test('a response header value outside what the header takes is refused at the value', () => {
    expectError(
      listenerAttribute('routing.http.response.x_frame_options.header_value', 'ALLOWALL'),
      'Listeners[0].Attributes[0].Value',
      /^routing\.http\.response\.x_frame_options\.header_value must be DENY, SAMEORIGIN or ALLOW-FROM <origin>, got "ALLOWALL"$/,
      'ALLOWALL',
    )
    expectError(
      listenerAttribute('routing.http.response.strict_transport_security.header_value', '"includeSubDomains"'),
      'Listeners[0].Attributes[0].Value',
      /must be max-age=<seconds>/,
      '"includeSubDomains"',
    )
    expectError(
      listenerAttribute('routing.http.response.access_control_allow_credentials.header_value', '"false"'),
      'Listeners[0].Attributes[0].Value',
      /must be true \(the only value the header has\)/,
      '"false"',
    )
  })

  test('a rename to an invalid, reserved or already used name is refused', () => {
    expectError(
      listenerAttribute('routing.http.request.x_amzn_tls_version.header_name', 'X_Tls'),
      'Listeners[0].Attributes[0].Value',
      /must be 1\.\.40 letters, digits and hyphens, got "X_Tls"/,
      'X_Tls',
    )
    expectError(
      listenerAttribute('routing.http.request.x_amzn_mtls_clientcert_leaf.header_name', 'X-Forwarded-For'),
      'Listeners[0].Attributes[0].Value',
      /cannot rename the header to X-Forwarded-For, a header HTTP or the load balancer already uses/,
      'X-Forwarded-For',
    )
    expectError(
      https(`    Attributes:
      - { Key: routing.http.request.x_amzn_tls_version.header_name, Value: X-Tls }
      - { Key: routing.http.request.x_amzn_tls_cipher_suite.header_name, Value: x-tls }
`),
      'Listeners[0].Attributes[1].Value',
      /x-tls is already the name of routing\.http\.request\.x_amzn_tls_version\.header_name/,
      'x-tls',
    )
  })
})

describe('the full describe-* outputs of one load balancer', () => {
  test('are refused for exactly what Portcullis does not implement, each with the fix', () => {
    const text = JSON.stringify(assemble(fullAlb()), null, 2)
    const refused = issuesOf(text, { format: 'json' })
      .filter((i) => i.severity === 'error' && !/required field|expected one of/.test(i.message))
      .map((i) => `${i.path}: ${i.message.split(':')[0]}`)
    assert.deepEqual(refused, [
      'Listeners[1].Rules[0].Conditions[0].SourceIpConfig.IpAddressType: IpAddressType ipv4',
      'TargetGroups[4].TargetType: TargetType lambda',
      'TargetGroups[5].TargetType: TargetType alb',
    ])
  })

  test('are audited as they are: what start would refuse or need is information, and no secret is read', () => {
    const outputs = fullAlb()
    // A target group of type alb belongs to a network load balancer, never in an application one's outputs.
    const groups = outputs['describe-target-groups']
    groups.TargetGroups = groups.TargetGroups.filter((g) => g.TargetType !== 'alb')
    const { startNeeds, config } = load(JSON.stringify(assemble(outputs), null, 2), {
      format: 'json',
      purpose: 'audit',
      env: { PORTCULLIS_CLIENT_SECRET_0OA1FULL2ALB3WEB: 'not read' },
    })
    // Every one located, in file order, with the message start would print.
    assert.deepEqual(
      startNeeds.map((i) => i.path),
      [
        'Listeners[0].Certificates[0]',
        'Listeners[0].Certificates[1]',
        'Listeners[0].Rules[0].Actions[0].AuthenticateOidcConfig.UseExistingClientSecret',
        'Listeners[1].Certificates[0]',
        'Listeners[1].Rules[0].Conditions[0].SourceIpConfig.IpAddressType',
        'TargetGroups[0].TargetHealthDescriptions[0].Target.Id',
        'TargetGroups[0].TargetHealthDescriptions[1].Target.Id',
        'TargetGroups[4].TargetType',
        'TrustStores[0]',
      ],
    )
    assert.ok(startNeeds.every((i) => i.line !== undefined && i.severity === 'error'))
    assert.equal(
      startNeeds[2]!.message,
      'UseExistingClientSecret: true takes the secret of client "0oa1full2alb3web" from the environment variable PORTCULLIS_CLIENT_SECRET_0OA1FULL2ALB3WEB (or a file named 0oa1full2alb3web in Portcullis.ClientSecretsDirectory)',
    )
    // The secret is not read even where the environment has it: the audit judges settings, not this machine.
    const oidc = config.listeners[0]!.rules[0]!.actions[0]!
    assert.ok(oidc.type === 'authenticate-oidc' && oidc.clientSecret === undefined)
  })
})
