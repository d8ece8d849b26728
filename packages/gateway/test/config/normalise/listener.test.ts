import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { expectError, FORWARD, issuesOf, load, R, rule, withRules } from '../fixtures.js'

describe('listeners, their ports and rule priorities', () => {
  test('priorities are unique per listener', () => {
    const text = withRules(rule(10, FORWARD) + rule('"10" # dup', FORWARD))
    expectError(text, `${R}[1].Priority`, /^priority 10 is already used by Listeners\[0\]\.Rules\[0\]$/, '"10" # dup')
  })

  test('the same priority on two listeners is fine', () => {
    const text = withRules(rule(10, FORWARD)).replace(
      'TargetGroups:',
      `  - Port: 8081
    Protocol: HTTP
    DefaultActions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: "404" } }]
    Rules:
${rule(10, FORWARD)}TargetGroups:`,
    )
    assert.equal(load(text).config.listeners.length, 2)
  })

  test('priorities are 1..50000', () => {
    expectError(withRules(rule('0 # zero', FORWARD)), `${R}[0].Priority`, /1\.\.50000, got 0/, '0 # zero')
    expectError(withRules(rule('"50001"', FORWARD)), `${R}[0].Priority`, /1\.\.50000, got 50001/, '"50001"')
    expectError(withRules(rule('ten # word', FORWARD)), `${R}[0].Priority`, /expected a priority/, 'ten # word')
  })

  test('the default rule is given once, and is required', () => {
    // describe-listeners and describe-rules pasted together: the same default rule twice, differently written.
    const same = withRules(
      '      - { Priority: default, IsDefault: true, Conditions: [], Actions: [{ Type: fixed-response, Order: 1, FixedResponseConfig: { StatusCode: "404" } }] }\n',
    )
    const rules = load(same).config.listeners[0]!.rules
    assert.equal(rules.length, 1)
    assert.equal(rules[0]!.priority, 'default')
    assert.equal(rules[0]!.actions[0]!.type, 'fixed-response')
    const conflict = withRules(
      '      - { Priority: default, Conditions: [], Actions: [{ Type: forward, TargetGroupArn: app }] }\n',
    )
    const issue = expectError(
      conflict,
      `${R}[0].Actions`,
      /other actions than Listeners\[0\]\.DefaultActions; keep one of them/,
      '[{ Type: forward',
    )
    assert.equal(issuesOf(conflict).length, 1, 'only the conflict is reported')
    assert.ok(issue)
    const none = withRules(rule(1, FORWARD)).replace(/ {4}DefaultActions:.*\n/, '')
    expectError(none, 'Listeners[0]', /needs DefaultActions/, 'Protocol: HTTP')
    const mismatch = withRules(
      '      - { Priority: 4, IsDefault: true, Conditions: [], Actions: [{ Type: forward, TargetGroupArn: app }] }\n',
    ).replace(/ {4}DefaultActions:.*\n/, '')
    expectError(mismatch, `${R}[0].Priority`, /IsDefault: true has Priority "default"/, '4, IsDefault')
  })

  test('duplicate listener ports', () => {
    const text = withRules(rule(1, FORWARD)).replace(
      'TargetGroups:',
      `  - Port: 8080 # again
    Protocol: HTTP
    DefaultActions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: "404" } }]
TargetGroups:`,
    )
    expectError(text, 'Listeners[1].Port', /port 8080 is already used by Listeners\[0\]/, '8080 # again')
  })

  test('the admin port cannot be a listener port', () => {
    const text = withRules(rule(1, FORWARD), { top: 'Portcullis: { Admin: { Port: 8080 } }\n' })
    expectError(text, 'Portcullis.Admin.Port', /admin port 8080 is already used by Listeners\[0\]/, '8080 } }')
  })

  test('listener ports and addresses are checked', () => {
    expectError(
      withRules(rule(1, FORWARD)).replace('Port: 8080', 'Port: 70000'),
      'Listeners[0].Port',
      /0\.\.65535, got 70000/,
      '70000',
    )
    expectError(
      withRules(rule(1, FORWARD), { listener: '    Portcullis: { Address: my-host }\n' }),
      'Listeners[0].Portcullis.Address',
      /expected an IPv4 or IPv6 address/,
      'my-host',
    )
  })
})

describe('certificates', () => {
  test('an HTTPS listener needs a certificate; certificates need files', () => {
    const text = withRules(rule(1, FORWARD)).replace('Protocol: HTTP\n', 'Protocol: HTTPS\n')
    expectError(text, 'Listeners[0]', /HTTPS listener needs at least one certificate/, 'Protocol: HTTPS')
    const arnOnly = withRules(rule(1, FORWARD)).replace(
      'Protocol: HTTP\n',
      'Protocol: HTTPS\n    Certificates: [{ CertificateArn: "arn:aws:acm:us-east-1:1:certificate/x" }]\n',
    )
    expectError(arnOnly, 'Listeners[0].Certificates[0]', /cannot fetch certificates from ACM/, '{ CertificateArn')
    const onHttp = withRules(rule(1, FORWARD), {
      listener: '    Certificates: [{ CertificateFile: c.pem, PrivateKeyFile: k.pem }]\n',
    })
    expectError(onHttp, 'Listeners[0].Certificates', /HTTPS listeners only/, '[{ CertificateFile')
  })
})

describe('security policies (SslPolicy)', () => {
  const https = (policy: string) => `Listeners:
  - Port: 8443
    Protocol: HTTPS
    SslPolicy: ${policy}
    Certificates: [{ CertificateFile: c.pem, PrivateKeyFile: k.pem }]
    DefaultActions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: "404" } }]
`

  test('a known policy this Node.js honours loads and is kept by name', () => {
    assert.equal(
      load(https('ELBSecurityPolicy-TLS13-1-3-2021-06')).config.listeners[0]!.sslPolicy,
      'ELBSecurityPolicy-TLS13-1-3-2021-06',
    )
  })

  test('an unknown name is an error with the closest names, or where to find them', () => {
    expectError(
      https('ELBSecurityPolicy-TLS-1-2-2017-1'),
      'Listeners[0].SslPolicy',
      /^unknown security policy ELBSecurityPolicy-TLS-1-2-2017-1; did you mean ELBSecurityPolicy-TLS-1-2-2017-01/,
      'ELBSecurityPolicy-TLS-1-2-2017-1',
    )
    expectError(https('""'), 'Listeners[0].SslPolicy', /^unknown security policy "" \(aws elbv2/, '""')
    expectError(
      https('Modern'),
      'Listeners[0].SslPolicy',
      /^unknown security policy Modern \(aws elbv2 describe-ssl-policies lists the names ALB knows\)$/,
      'Modern',
    )
  })

  test('a policy on an HTTP listener is an error', () => {
    const text = withRules(rule(10, FORWARD), { listener: '    SslPolicy: ELBSecurityPolicy-TLS13-1-2-2021-06\n' })
    expectError(
      text,
      'Listeners[0].SslPolicy',
      /^a security policy applies to HTTPS listeners only$/,
      'ELBSecurityPolicy-TLS13',
    )
  })

  test('a policy Node.js cannot honour is refused at start, and only noted for audit', () => {
    const text = https('ELBSecurityPolicy-TLS-1-1-2017-01')
    expectError(
      text,
      'Listeners[0].SslPolicy',
      /^ELBSecurityPolicy-TLS-1-1-2017-01: this policy allows TLS 1\.1, .*; the nearest policy this Node\.js honours is ELBSecurityPolicy-TLS-1-2-Ext-2018-06, or keep this listener on AWS$/,
      'ELBSecurityPolicy-TLS-1-1',
    )
    const audit = load(text, { purpose: 'audit' })
    assert.ok(
      audit.startNeeds.some((i) => i.path === 'Listeners[0].SslPolicy' && /allows TLS 1\.1/.test(i.message)),
      JSON.stringify(audit.startNeeds),
    )
  })
})
