import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { ConfiguredRetryStrategy } from '@smithy/core/retry'
import { AwsAuditError, auditAwsAccount, REQUIRED_PERMISSIONS } from '../../src/audit/aws.js'
import { portcullis } from '../fixtures/process.js'
import { API, type AwsStub, SHOP, startAwsStub } from './aws-stub.js'

const credentials = { accessKeyId: 'test', secretAccessKey: 'test' }
// The SDK's standard retry, with a 10 ms delay so the Throttling answer costs nothing.
const clientConfig = { credentials, retryStrategy: new ConfiguredRetryStrategy(3, () => 10) }

describe('audit of a live account (real SDK against a local ELBv2/EC2 stub)', () => {
  let stub: AwsStub
  before(async () => {
    stub = await startAwsStub()
  })
  after(async () => {
    await stub.close()
  })

  it('reads every page, retries Throttling, and reports each load balancer', async () => {
    const result = await auditAwsAccount({ endpoint: stub.url, region: 'us-east-1', clientConfig })
    // Two application load balancers over two pages; the network load balancer is skipped.
    assert.deepEqual(result.loadBalancers, [SHOP, API])
    const byLb = (arn: string) =>
      result.findings
        .filter((f) => f.loadBalancer === arn)
        .map((f) => `${f.id} ${f.resource}`)
        .sort()
    assert.deepEqual(byLb(SHOP), [
      'auth-bypass-target-group arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/shop/1111111111111111/aaaaaaaaaaaaaaaa/0000000000000005',
      'lb-deletion-protection-off arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/shop/1111111111111111',
      'listener-tls-policy-outdated arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/shop/1111111111111111/aaaaaaaaaaaaaaaa',
      'rule-shadows-authenticated-rule arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/shop/1111111111111111/aaaaaaaaaaaaaaaa/0000000000000005',
      'target-public-ip i-0f76fade',
      'target-public-subnet subnet-0public',
      'target-security-group-open sg-0app',
    ])
    assert.deepEqual(byLb(API), [
      `aws-access-denied ${API}`,
      `lb-access-logs-off ${API}`,
      `lb-desync-mitigation-weak ${API}`,
      `lb-drop-invalid-header-fields-off ${API}`,
    ])
    const open = result.findings.find((f) => f.id === 'target-security-group-open')!
    assert.equal(open.control, 'Trusted Advisor "ALB Security Groups"')
    // Port 8080 from sg-0lb is fine and port 22 is not the target port: only 0.0.0.0/0 on 8080 is reported.
    assert.match(
      open.message,
      /sg-0app on i-0f76fade admits port 8080 from 0\.0\.0\.0\/0; only the load balancer's sg-0lb should/,
    )
    const denied = result.findings.find((f) => f.id === 'aws-access-denied')!
    assert.match(denied.message, /^elasticloadbalancing:DescribeTargetGroups was refused: User: .* is not authorized/)
    assert.ok(result.findings.every((f) => f.location === undefined))

    const count = (action: string) => stub.calls.filter((c) => c.action === action).length
    assert.equal(count('DescribeLoadBalancers'), 3) // throttled, then two pages
    assert.equal(count('DescribeSecurityGroups'), 2)
    assert.equal(
      stub.calls.filter((c) => c.action === 'DescribeRules' && c.params.get('Marker') === 'rules-2').length,
      1,
    )
    // Read-only, and only the calls the README's IAM policy grants.
    const called = new Set(stub.calls.map((c) => c.action))
    const granted = new Set(REQUIRED_PERMISSIONS.map((p) => p.split(':')[1]))
    assert.deepEqual(
      [...called].filter((a) => !granted.has(a)),
      [],
    )
    assert.ok([...called].every((a) => a.startsWith('Describe')))
  })

  it('fails with one clear message when the endpoint cannot be reached', async () => {
    await assert.rejects(
      auditAwsAccount({
        endpoint: 'http://127.0.0.1:1',
        region: 'us-east-1',
        clientConfig: { credentials, maxAttempts: 1 },
      }),
      (error: unknown) =>
        error instanceof AwsAuditError && /^elasticloadbalancing:DescribeLoadBalancers failed: /.test(error.message),
    )
  })

  it('runs as `portcullis audit --aws` with credentials from the environment', async () => {
    Object.assign(process.env, {
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_REGION: 'us-east-1',
      AWS_EC2_METADATA_DISABLED: 'true',
    })
    const child = portcullis(
      ['audit', '--aws', '--endpoint-url', stub.url, '--json', '--fail-on', 'high'],
      process.cwd(),
    )
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => {
      stdout += d
    })
    child.stderr.on('data', (d: Buffer) => {
      stderr += d
    })
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
    assert.equal(code, 1, stderr)
    const report = JSON.parse(stdout) as { loadBalancers: string[]; findings: { id: string; severity: string }[] }
    assert.deepEqual(report.loadBalancers, [SHOP, API])
    assert.equal(report.findings.filter((f) => f.severity === 'high').length, 4)
    assert.doesNotMatch(stderr, /\n\s+at /) // never a stack trace
  })
})

describe('portcullis audit usage', () => {
  const run = async (args: string[]) => {
    const child = portcullis(['audit', ...args], process.cwd())
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => {
      stdout += d
    })
    child.stderr.on('data', (d: Buffer) => {
      stderr += d
    })
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
    return { code, stdout, stderr }
  }

  it('needs a file or --aws, and says so in one line', async () => {
    const { code, stderr } = await run([])
    assert.equal(code, 2)
    assert.equal(stderr, 'portcullis audit: give a configuration FILE, --aws, or both\n')
  })

  it('prints SARIF for a file and exits by --fail-on', async () => {
    const file = new URL('fixtures/bypass.yaml', import.meta.url).pathname
    const high = await run([file, '--format', 'sarif', '--fail-on', 'high'])
    assert.equal(high.code, 1)
    const sarif = JSON.parse(high.stdout)
    assert.equal(sarif.runs[0].results[0].ruleId, 'auth-bypass-target-group')
    assert.ok(sarif.runs[0].results[0].locations[0].physicalLocation.region.startLine > 0)
    const clean = await run([new URL('fixtures/clean.yaml', import.meta.url).pathname, '--fail-on', 'low'])
    assert.equal(clean.code, 0)
    assert.match(clean.stdout, /No findings\./)
  })
})
