import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { validateCommand } from '../../src/cli/commands/validate.js'
import { Capture } from '../fixtures/capture.js'

let dir: string

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-validate-'))
})

after(async () => {
  await rm(dir, { recursive: true, force: true })
})

async function run(
  name: string,
  content: string | undefined,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const file = join(dir, name)
  if (content !== undefined) await writeFile(file, content)
  const stdout = new Capture()
  const stderr = new Capture()
  const code = await validateCommand({ config: file }, { stdout, stderr })
  return { code, stdout: stdout.text, stderr: stderr.text }
}

const VALID = `LoadBalancer: { Name: shop, Region: eu-west-1, AccountId: "123456789012" }
Listeners:
  - Port: 8080
    Protocol: HTTP
    Portcullis: { Address: 127.0.0.1 }
    DefaultActions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: "404", ContentType: text/plain, MessageBody: nope } }]
    Rules:
      - Priority: 20
        Conditions:
          - { Field: host-header, Values: [api.example.com] }
          - { Field: http-header, HttpHeaderConfig: { HttpHeaderName: X-Env, Values: [prod], RegexValues: ["^p"] } }
          - { Field: query-string, QueryStringConfig: { Values: [{ Value: on }, { Key: v, Value: "2" }] } }
        Transforms: [{ Type: url-rewrite, UrlRewriteConfig: { Rewrites: [{ Regex: "^/api/(.*)$", Replace: "/$1" }] } }]
        Actions:
          - Type: forward
            ForwardConfig:
              TargetGroups: [{ TargetGroupArn: blue, Weight: 90 }, { TargetGroupArn: green, Weight: 10 }]
              TargetGroupStickinessConfig: { Enabled: true, DurationSeconds: 600 }
      - Priority: 10
        Conditions: [{ Field: path-pattern, Values: ["/old/*"] }, { Field: http-request-method, HttpRequestMethodConfig: { Values: [GET] } }, { Field: source-ip, SourceIpConfig: { Values: [10.0.0.0/8] } }]
        Actions: [{ Type: redirect, RedirectConfig: { Path: "/new/#{path}", StatusCode: HTTP_302 } }]
TargetGroups:
  - TargetGroupName: blue
    Protocol: HTTP
    Port: 3000
    Targets: [{ Id: 127.0.0.1 }, { Id: 127.0.0.2 }]
    Attributes: [{ Key: load_balancing.algorithm.type, Value: least_outstanding_requests }, { Key: stickiness.enabled, Value: "true" }]
  - TargetGroupName: green
    Protocol: HTTP
    HealthCheckEnabled: false
    Targets: [{ Id: "::1", Port: 3001 }]
  - TargetGroupName: api
    Protocol: HTTP
    ProtocolVersion: GRPC
    Targets: [{ Id: 127.0.0.1, Port: 50051 }]
Portcullis: { Admin: { Port: 9901 } }
`

describe('portcullis validate', () => {
  test('a valid file exits 0 and prints the summary', async () => {
    const { code, stdout, stderr } = await run('valid.yaml', VALID)
    assert.equal(code, 0)
    assert.equal(stderr, '')
    const expected = [
      /valid\.yaml: valid\n/,
      /Load balancer shop \(eu-west-1\)/,
      /signer ARN {2}arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer\/app\/shop\/[0-9a-f]{16}\n/,
      /admin {7}http:\/\/127\.0\.0\.1:9901\n/,
      /http:\/\/127\.0\.0\.1:8080 {2}HTTP, 2 rules \+ default\n/,
      / {4}10 {7}path-pattern=\/old\/\* and http-request-method=GET and source-ip=10\.0\.0\.0\/8\n {13}→ redirect 302 #\{protocol\}:\/\/#\{host\}:#\{port\}\/new\/#\{path\}\?#\{query\}\n/,
      / {4}20 {7}host-header=api\.example\.com and http-header\[X-Env\]=prod\|~\/\^p\/ and query-string=\*:on\|v:2\n/,
      /rewrite url \/\^\/api\/\(\.\*\)\$\/ → \/\$1\n/,
      /→ forward blue \(weight 90\), green \(weight 10\), group stickiness 600s\n/,
      / {4}default {2}\(any request\)\n {13}→ fixed-response 404 text\/plain, 4-character body\n/,
      / {2}blue {2}HTTP, arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup\/blue\/[0-9a-f]{16}\n/,
      /targets {5}127\.0\.0\.1:3000, 127\.0\.0\.2:3000\n/,
      /health {6}HTTP GET \/ on traffic port every 30s \(timeout 5s, healthy 5, unhealthy 2, matcher 200\)\n/,
      /algorithm {3}least_outstanding_requests\n/,
      /stickiness {2}lb_cookie 86400s\n/,
      /targets {5}\[::1\]:3001\n {4}health {6}disabled\n/,
      // A GRPC group: ALB's gRPC health check and its defaults.
      /health {6}HTTP gRPC call \/AWS\.ALB\/healthcheck on traffic port every 30s \(timeout 5s, healthy 5, unhealthy 2, matcher gRPC 12\)\n/,
    ]
    for (const pattern of expected) assert.match(stdout, pattern)
    // Rules are listed in evaluation order.
    assert.ok(stdout.indexOf('    10 ') < stdout.indexOf('    20 '))
  })

  test('warnings are printed on stderr and still exit 0', async () => {
    const { code, stdout, stderr } = await run(
      'warn.yaml',
      VALID.replace('Key: stickiness.enabled', 'Key: stickiness.new_feature'),
    )
    assert.equal(code, 0)
    assert.match(stdout, /warn\.yaml: valid \(1 warning\)/)
    assert.match(
      stderr,
      /^.*warn\.yaml:27:\d+ warning: TargetGroups\[0\]\.Attributes\[1\]\.Key: unknown target group attribute stickiness\.new_feature \(one AWS added after this version\?\); ignored, it has no effect here\n$/,
    )
  })

  test('an invalid file exits 2 with every issue on stderr, no stack trace, nothing on stdout', async () => {
    const bad = VALID.replace('Weight: 90', 'Weight: 1000').replace('StatusCode: "404"', 'StatusCode: "302"')
    const { code, stdout, stderr } = await run('bad.yaml', bad)
    assert.equal(code, 2)
    assert.equal(stdout, '')
    const lines = stderr.trimEnd().split('\n')
    assert.equal(lines.length, 3)
    assert.match(
      lines[0]!,
      /bad\.yaml:6:\d+ Listeners\[0\]\.DefaultActions\[0\]\.FixedResponseConfig\.StatusCode: expected a 2XX, 4XX or 5XX status code, got 302$/,
    )
    assert.match(
      lines[1]!,
      /bad\.yaml:17:\d+ Listeners\[0\]\.Rules\[0\]\.Actions\[0\]\.ForwardConfig\.TargetGroups\[0\]\.Weight: a weight must be 0\.\.999, got 1000$/,
    )
    assert.match(lines[2]!, /bad\.yaml: invalid \(2 errors\)$/)
    assert.doesNotMatch(stderr, /\n\s+at |Error:/)
  })

  test('a missing file and a syntax error exit 2', async () => {
    const missing = await run('absent.yaml', undefined)
    assert.equal(missing.code, 2)
    assert.match(missing.stderr, /configuration file not found/)
    const syntax = await run('syntax.yaml', 'Listeners: [\n')
    assert.equal(syntax.code, 2)
    assert.match(syntax.stderr, /syntax\.yaml:\d+:\d+ YAML syntax: /)
  })
})
