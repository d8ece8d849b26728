/**
 * Issue 18 through the real CLI: a pasted ALB that relies on what Portcullis
 * does not implement is refused before traffic flows (or, where harmless,
 * warned about at validate and at every start); validate lists what it
 * ignores once; and audit judges a pasted ALB without any secret or file.
 */
import assert from 'node:assert/strict'
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { stringify } from 'yaml'
import { assemble, type DescribeOutputs, fullAlb } from '../../fixtures/aws-describe/assemble.js'
import { portcullis, runPortcullis, waitFor } from '../../fixtures/process.js'

const PASTED = fileURLToPath(new URL('../../fixtures/aws-describe/my-load-balancer.yaml', import.meta.url))
const SECRET = { PORTCULLIS_CLIENT_SECRET_0OA1FULL2ALB3WEB: 'from-the-environment' }

/** The full outputs with what Portcullis refuses set to what AWS prints when it is off. */
function harmless(): DescribeOutputs {
  const outputs = fullAlb()
  for (const listener of outputs['describe-listeners'].Listeners)
    listener.MutualAuthentication = {
      Mode: 'off',
      IgnoreClientCertificateExpiry: false,
    }
  outputs['describe-trust-stores'].TrustStores = []
  for (const { Rules } of Object.values(outputs['describe-rules'])) {
    for (const rule of Rules)
      for (const c of rule.Conditions as { SourceIpConfig?: Record<string, unknown> }[]) {
        delete c.SourceIpConfig?.IpAddressType
      }
  }
  const groups = outputs['describe-target-groups']
  groups.TargetGroups = groups.TargetGroups.filter((g) => g.TargetType === 'ip' || g.TargetType === 'instance')
  for (const group of groups.TargetGroups) {
    group.ProtocolVersion = 'HTTP1'
    group.Matcher = { HttpCode: '200' }
    delete group.TargetControlPort
  }
  return outputs
}

describe('a pasted ALB, through the portcullis command', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-paste-'))
  after(() => rmSync(dir, { recursive: true, force: true }))
  const write = (name: string, text: string) => {
    writeFileSync(join(dir, name), text)
    return name
  }

  test('validate refuses what relies on a setting Portcullis does not implement, saying why and what to do', async () => {
    const file = write('full.yaml', stringify(assemble(fullAlb())))
    const { code, stdout, stderr } = await runPortcullis(['validate', file], dir)
    assert.equal(code, 2)
    assert.equal(stdout, '')
    for (const line of [
      /^full\.yaml:\d+:\d+ warning: TargetGroups\[2\]\.TargetControlPort: TargetControlPort 3000: /m,
    ]) {
      assert.match(stderr, line)
    }
    // HTTP2 and GRPC target groups are implemented (issue 19): their ProtocolVersion is no longer refused.
    assert.doesNotMatch(stderr, /\.ProtocolVersion: /)
    // gRPC health checks are implemented too: the GRPC group's Matcher.GrpcCode and health check are accepted as printed.
    assert.doesNotMatch(stderr, /GrpcCode|HealthCheckEnabled/)
  })

  test('validate accepts the same paste with those settings off, and lists what it ignores once', async () => {
    const file = write(
      'harmless.yaml',
      `${stringify(assemble(harmless()))}Portcullis:
  LocalCertificates: true
  InstanceAddresses: { i-0abc1234def567890: 10.0.0.5, i-0fed9876cba543210: 10.0.0.6 }
`,
    )
    const { code, stdout, stderr } = await runPortcullis(['validate', file], dir, { env: SECRET })
    assert.equal(code, 0, stderr)
    const listed = stdout.slice(stdout.indexOf('AWS-only, ignored here\n'), stdout.indexOf('\nRedirect URIs'))
    const lines = listed.trimEnd().split('\n')
    assert.deepEqual(lines.slice(0, 8), [
      'AWS-only, ignored here',
      '  LoadBalancer: DNSName, CanonicalHostedZoneId, CreatedTime, Scheme, VpcId, State, AvailabilityZones, SecurityGroups, IpAddressType, CustomerOwnedIpv4Pool, EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic, EnablePrefixForIpv6SourceNat, IpamPools',
      '  load balancer attributes: access_logs.s3.enabled, access_logs.s3.bucket, access_logs.s3.prefix, connection_logs.s3.enabled, connection_logs.s3.bucket, connection_logs.s3.prefix, health_check_logs.s3.enabled, health_check_logs.s3.bucket, health_check_logs.s3.prefix, deletion_protection.enabled, waf.fail_open.enabled, zonal_shift.config.enabled, load_balancing.cross_zone.enabled, ipv6.deny_all_igw_traffic',
      // Three listeners and four target groups carry these; each is named once.
      '  Listener: ListenerArn, LoadBalancerArn, AlpnPolicy',
      '  TargetGroup: VpcId, LoadBalancerArns, IpAddressType',
      '  target group attributes: load_balancing.cross_zone.enabled, target_group_health.dns_failover.minimum_healthy_targets.count, target_group_health.dns_failover.minimum_healthy_targets.percentage',
      '  TargetHealthDescription: HealthCheckPort, TargetHealth, AnomalyDetection, AdministrativeOverride',
      '  Target: AvailabilityZone, QuicServerId',
    ])
    assert.equal(lines[8], 'Not implemented, harmless as given')
    assert.ok(
      lines.includes(
        '  target group attributes: load_balancing.algorithm.anomaly_mitigation — weighted_random picks uniformly in Portcullis; off (the default) is what it does',
      ),
      listed,
    )
    // Mutual TLS is implemented (issue 20): none of its fields is listed as not implemented any more.
    assert.doesNotMatch(listed, /MutualAuthentication/)
    // Nothing is said twice.
    assert.equal(new Set(lines).size, lines.length)
    assert.doesNotMatch(stderr, /not implemented|unknown/)
  })

  test('audit judges a pasted ALB without its secret, certificates or instance addresses', async () => {
    copyFileSync(PASTED, join(dir, 'alb.yaml'))
    const { code, stdout, stderr } = await runPortcullis(['audit', 'alb.yaml'], dir, { env: {} })
    assert.equal(code, 0, stderr)
    assert.match(stdout, /LOW {4}lb-access-logs-off/)
    assert.match(stdout, /MEDIUM listener-tls-policy-outdated/)
    // What start would still need is information, on stderr, each line as validate prints it.
    const needs = stderr.trimEnd().split('\n')
    assert.equal(needs[0], 'alb.yaml: portcullis start would still need (information, not findings):')
    assert.deepEqual(
      needs.slice(1).map((l) => l.replace(/^alb\.yaml:\d+:\d+ /, '').replace(/:.*/, '')),
      [
        'Listeners[0].SslPolicy',
        'Listeners[0].Certificates[0]',
        'Listeners[0].Rules[0].Actions[0].AuthenticateOidcConfig.UseExistingClientSecret',
        'TargetGroups[0].TargetHealthDescriptions[0].Target.Id',
        'TargetGroups[0].TargetHealthDescriptions[1].Target.Id',
      ],
    )
    // The JSON report stays pure JSON, the findings only.
    const json = await runPortcullis(['audit', 'alb.yaml', '--json'], dir)
    assert.equal(json.code, 0, json.stderr)
    assert.deepEqual(
      (JSON.parse(json.stdout) as { findings: { id: string }[] }).findings.map((f) => f.id),
      [
        'auth-bypass-target-group',
        'lb-drop-invalid-header-fields-off',
        'listener-tls-policy-outdated',
        'lb-access-logs-off',
        'auth-session-timeout-long',
      ],
    )
  })

  test('audit reports each setting Portcullis would not act on as a finding at that setting', async () => {
    const file = write(
      'warned.yaml',
      stringify(assemble(harmless())).replace(
        /- Key: load_balancing\.algorithm\.anomaly_mitigation\n(\s+)Value: off/,
        '- Key: load_balancing.algorithm.anomaly_mitigation\n$1Value: "on"',
      ),
    )
    const { code, stdout } = await runPortcullis(['audit', file, '--fail-on', 'low'], dir)
    assert.equal(code, 1)
    assert.match(
      stdout,
      /LOW {4}setting-not-acted-on\n {9}warned\.yaml:\d+:\d+\n {9}load_balancing\.algorithm\.anomaly_mitigation on: anomaly mitigation is not implemented in Portcullis/,
    )
  })

  test('start says what it does not act on, every time it starts', async () => {
    const file = write(
      'start.yaml',
      `LoadBalancer: { Name: warned, Attributes: [{ Key: routing.http.desync_mitigation_mode, Value: strictest }] }
Listeners:
  - Port: 0
    Protocol: HTTP
    Portcullis: { Address: 127.0.0.1 }
    DefaultActions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: "200" } }]
Portcullis: { Admin: false }
`,
    )
    const child = portcullis(['start', '--config', file, '--workers', '1', '--log-level', 'warn'], dir)
    let output = ''
    child.stdout.on('data', (c: Buffer) => {
      output += c.toString()
    })
    child.stderr.on('data', (c: Buffer) => {
      output += c.toString()
    })
    try {
      await waitFor(() => output.includes('SIGHUP') || child.exitCode !== null, 'portcullis to start')
      assert.equal(child.exitCode, null, output)
      const warning = output
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { level: number; msg: string; path?: string })
        .find((l) => l.path === 'LoadBalancer.Attributes[0].Value')
      assert.ok(warning, output)
      assert.match(
        warning.msg,
        /^routing\.http\.desync_mitigation_mode strictest: Portcullis does not classify requests/,
      )
    } finally {
      child.kill('SIGTERM')
      await new Promise((resolve) => child.once('exit', resolve))
    }
  })
})
