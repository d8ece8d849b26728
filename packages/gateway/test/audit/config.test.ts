import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { auditConfigFile, auditConfigText } from '../../src/audit/config-file.js'
import { CATALOGUE } from '../../src/audit/findings.js'
import { formatSarif, formatText } from '../../src/audit/report.js'
import { findOverlap } from '../../src/audit/witness.js'
import { ConfigError } from '../../src/config/errors.js'
import type { RuleModel } from '../../src/config/model.js'

const fixture = (name: string) => fileURLToPath(new URL(`fixtures/${name}`, import.meta.url))
const example = (name: string) => fileURLToPath(new URL(`../../../../examples/configs/${name}`, import.meta.url))

describe('audit of configuration files', () => {
  // Each fixture differs from clean.yaml in one setting and yields exactly one finding, at that setting.
  const cases = [
    ['http-no-redirect.yaml', 'listener-http-no-redirect', 'Listeners[1]'],
    ['drop-invalid-header-fields-off.yaml', 'lb-drop-invalid-header-fields-off', 'LoadBalancer.Attributes[0].Value'],
    ['desync-monitor.yaml', 'lb-desync-mitigation-weak', 'LoadBalancer.Attributes[3].Value'],
    ['access-logs-off.yaml', 'lb-access-logs-off', 'LoadBalancer.Attributes[1].Value'],
    ['tls-policy-outdated.yaml', 'listener-tls-policy-outdated', 'Listeners[0]'],
    ['mtls-passthrough.yaml', 'listener-mtls-passthrough', 'Listeners[0]'],
    ['mtls-no-revocation.yaml', 'listener-mtls-no-revocation', 'Listeners[0]'],
    ['mtls-ignore-expiry.yaml', 'listener-mtls-ignore-expiry', 'Listeners[0]'],
    ['authenticate-on-http.yaml', 'listener-authenticate-on-http', 'Listeners[1].Rules[0].Actions[0]'],
    ['bypass.yaml', 'auth-bypass-target-group', 'Listeners[0].Rules[0]'],
    ['allow-shares.yaml', 'auth-allow-shares-target-group', 'Listeners[0].Rules[0]'],
    [
      'session-timeout-long.yaml',
      'auth-session-timeout-long',
      'Listeners[0].DefaultActions[0].AuthenticateOidcConfig.SessionTimeout',
    ],
    [
      'scope-without-openid.yaml',
      'auth-scope-without-openid',
      'Listeners[0].DefaultActions[0].AuthenticateOidcConfig.Scope',
    ],
    ['public-target.yaml', 'target-public-address', 'TargetGroups[0].Targets[0].Id'],
    ['shadowed-rule.yaml', 'rule-shadows-authenticated-rule', 'Listeners[0].Rules[0]'],
    [
      'grpc-health-check-never-passes.yaml',
      'target-grpc-health-check-never-passes',
      'TargetGroups[1].Matcher.GrpcCode',
    ],
  ] as const

  for (const [file, id, path] of cases) {
    it(`${file}: ${id} and nothing else, located at ${path}`, async () => {
      const { findings } = await auditConfigFile(fixture(file))
      assert.deepEqual(
        findings.map((f) => f.id),
        [id],
      )
      const [f] = findings
      assert.equal(f!.location?.path, path)
      assert.equal(f!.resource, `${fixture(file)}:${f!.location!.line}:${f!.location!.column}`)
      assert.equal(f!.severity, CATALOGUE[id].severity)
      assert.equal(f!.control, CATALOGUE[id].control)
      // The located line really holds what the finding is about.
      const line = (await readFile(fixture(file), 'utf8')).split('\n')[f!.location!.line - 1]!
      assert.ok(line.trim().length > 0)
    })
  }

  it('every configuration check has a fixture', () => {
    const configChecks = Object.entries(CATALOGUE)
      .filter(([, c]) => c.scope === 'config')
      .map(([id]) => id)
    assert.deepEqual(cases.map(([, id]) => id).sort(), configChecks.sort())
  })

  it('clean.yaml has no findings', async () => {
    assert.deepEqual(await auditConfigFile(fixture('clean.yaml')), { findings: [], startNeeds: [] })
  })

  it('names the rules, paths and an example request', async () => {
    const [bypass] = (await auditConfigFile(fixture('bypass.yaml'))).findings
    assert.match(bypass!.message, /HTTPS:8443 default rule \(every request\)/)
    assert.match(bypass!.message, /HTTPS:8443 rule 10 \(path \/public\/\*\) forwards to it without any/)
    const [shadow] = (await auditConfigFile(fixture('shadowed-rule.yaml'))).findings
    assert.match(
      shadow!.message,
      /rule 10 \(path \/\*\.json, no authentication\) comes before rule 20 \(path \/admin\/\*/,
    )
    assert.match(shadow!.message, /e\.g\. GET example\.com\/admin\/\S*\.json/)
  })

  it('audits the shipped examples', async () => {
    const ids = async (name: string) => (await auditConfigFile(example(name))).findings.map((f) => f.id)
    assert.deepEqual(await ids('basic.yaml'), ['lb-drop-invalid-header-fields-off', 'lb-access-logs-off'])
    assert.deepEqual(await ids('auth.yaml'), [
      'lb-drop-invalid-header-fields-off',
      'lb-access-logs-off',
      'auth-session-timeout-long',
      'auth-session-timeout-long',
    ])
    assert.deepEqual(await ids('describe-rules.yaml'), [
      'lb-drop-invalid-header-fields-off',
      'listener-http-no-redirect',
      'lb-access-logs-off',
    ])
  })

  it('audits a pasted ALB without its secret, certificate or instance addresses: start needs them (and a security policy it can run), apart', async () => {
    const pasted = fileURLToPath(new URL('../fixtures/aws-describe/my-load-balancer.yaml', import.meta.url))
    const { findings, startNeeds } = await auditConfigFile(pasted)
    assert.ok(findings.some((f) => f.id === 'auth-bypass-target-group'))
    assert.deepEqual(
      startNeeds.map((i) => i.path),
      [
        // ELBSecurityPolicy-2016-08 (AWS's API default) allows TLS 1.0 and 1.1: refused at start, naming the nearest policy.
        'Listeners[0].SslPolicy',
        'Listeners[0].Certificates[0]',
        'Listeners[0].Rules[0].Actions[0].AuthenticateOidcConfig.UseExistingClientSecret',
        'TargetGroups[0].TargetHealthDescriptions[0].Target.Id',
        'TargetGroups[0].TargetHealthDescriptions[1].Target.Id',
      ],
    )
  })

  it('reports a setting Portcullis would only warn about as setting-not-acted-on, at the setting', async () => {
    const text = (await readFile(fixture('clean.yaml'), 'utf8')).replace(
      'Targets:',
      'TargetControlPort: 3000\n    Targets:',
    )
    const { findings } = auditConfigText(text, 'clean-with-optimizer.yaml')
    assert.deepEqual(
      findings.map((f) => [f.id, f.location?.path]),
      [['setting-not-acted-on', 'TargetGroups[0].TargetControlPort']],
    )
    assert.match(findings[0]!.message, /^TargetControlPort 3000: ALB's target optimizer/)
    assert.match(findings[0]!.arn, /:targetgroup\//)
  })

  it("judges a gRPC group's health check by what gRPC servers answer: a matcher that can pass is no finding", async () => {
    const text = await readFile(fixture('grpc-health-check-never-passes.yaml'), 'utf8')
    const audit = (replacement: string) =>
      auditConfigText(text.replace('    Matcher: { GrpcCode: "0" }\n', replacement), 'grpc.yaml').findings.map((f) => [
        f.id,
        f.location?.path,
        f.message,
      ])
    assert.deepEqual(audit('    Matcher: { GrpcCode: "0" }\n'), [
      [
        'target-grpc-health-check-never-passes',
        'TargetGroups[1].Matcher.GrpcCode',
        'target group api checks /AWS.ALB/healthcheck, which gRPC servers answer UNIMPLEMENTED (12), but counts only 0 as healthy: every target turns unhealthy, and the load balancer then routes to all of them',
      ],
    ])
    // No status gRPC defines, whatever the path.
    assert.deepEqual(audit('    HealthCheckPath: /grpc.health.v1.Health/Check\n    Matcher: { GrpcCode: "17-99" }\n'), [
      [
        'target-grpc-health-check-never-passes',
        'TargetGroups[1].Matcher.GrpcCode',
        'target group api counts gRPC status 17-99 as healthy, and gRPC defines only 0..16: every target turns unhealthy, and the load balancer then routes to all of them',
      ],
    ])
    for (const fine of [
      '    HealthCheckPath: /grpc.health.v1.Health/Check\n    Matcher: { GrpcCode: "0" }\n',
      '    Matcher: { GrpcCode: "0,12" }\n',
      '    Matcher: { GrpcCode: "0-99" }\n',
      '    HealthCheckEnabled: false\n    Matcher: { GrpcCode: "0" }\n',
    ]) {
      assert.deepEqual(audit(fine), [], fine)
    }
  })

  it('judges a security policy by the policy table: what makes it outdated is named, a TLS 1.2+ one passes', async () => {
    const text = await readFile(fixture('tls-policy-outdated.yaml'), 'utf8')
    const audit = (policy: string) =>
      auditConfigText(text.replace('ELBSecurityPolicy-2016-08', policy), 'policy.yaml').findings.filter(
        (f) => f.id === 'listener-tls-policy-outdated',
      )
    assert.match(
      audit('ELBSecurityPolicy-2016-08')[0]!.message,
      /uses ELBSecurityPolicy-2016-08, which negotiates TLS 1\.0 or 1\.1$/,
    )
    assert.match(audit('ELBSecurityPolicy-FS-1-1-2019-08')[0]!.message, /which negotiates TLS 1\.1$/)
    assert.match(audit('ELBSecurityPolicy-TLS13-1-0-2021-06')[0]!.message, /which negotiates TLS 1\.0 or 1\.1$/)
    for (const current of ['ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09', 'ELBSecurityPolicy-TLS-1-2-Ext-2018-06']) {
      assert.deepEqual(audit(current), [], current)
    }
  })

  it('refuses an invalid file with the validator’s located errors', async () => {
    await assert.rejects(auditConfigFile(fixture('missing.yaml')), ConfigError)
  })

  it('writes SARIF 2.1.0 with the file position of each finding', async () => {
    const { findings } = await auditConfigFile(fixture('tls-policy-outdated.yaml'))
    const sarif = JSON.parse(formatSarif(findings, '0.0.0'))
    assert.equal(sarif.version, '2.1.0')
    const [result] = sarif.runs[0].results
    assert.equal(result.ruleId, 'listener-tls-policy-outdated')
    assert.equal(sarif.runs[0].tool.driver.rules[result.ruleIndex].id, 'listener-tls-policy-outdated')
    assert.equal(result.locations[0].physicalLocation.artifactLocation.uri, fixture('tls-policy-outdated.yaml'))
    assert.equal(result.locations[0].physicalLocation.region.startLine, findings[0]!.location!.line)
  })

  it('groups the readable report by load balancer and file', async () => {
    const findings = [
      ...(await auditConfigFile(fixture('bypass.yaml'))).findings,
      ...(await auditConfigFile(fixture('access-logs-off.yaml'))).findings,
    ]
    const text = formatText(findings)
    assert.equal(text.match(/^Load balancer /gm)?.length, 2)
    assert.match(text, /HIGH {3}auth-bypass-target-group/)
    assert.match(text, /2 findings: 1 high, 0 medium, 1 low/)
  })
})

describe('rule overlap', () => {
  const rule = (priority: number, values: string[], extra: RuleModel['conditions'] = []): RuleModel => ({
    arn: `rule-${priority}`,
    priority,
    transforms: [],
    actions: [],
    conditions: [{ field: 'path-pattern', values, regexValues: [] }, ...extra],
  })

  it('finds no overlap between disjoint paths', () => {
    assert.equal(findOverlap(rule(1, ['/api/*']), rule(2, ['/admin/*'])), undefined)
  })

  it('needs every condition of both rules to hold', () => {
    const onlyPost = rule(1, ['/*'], [{ field: 'http-request-method', values: ['POST'] }])
    const onlyGet = rule(2, ['/admin/*'], [{ field: 'http-request-method', values: ['GET'] }])
    assert.equal(findOverlap(onlyPost, onlyGet), undefined)
    const witness = findOverlap(onlyPost, rule(3, ['/admin/*']))
    assert.equal(witness?.request.method, 'POST')
    assert.match(witness!.request.path, /^\/admin\//)
  })
})
