import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { expectError, expectWarning, load } from '../fixtures.js'

describe('target groups', () => {
  const tg = (fields: string) =>
    `Listeners:
  - Port: 8080
    Protocol: HTTP
    DefaultActions: [{ Type: forward, TargetGroupArn: t }]
TargetGroups:
  - TargetGroupName: t
    Protocol: HTTP
    Targets: [{ Id: 127.0.0.1, Port: 3000 }]
${fields}`
  const T = 'TargetGroups[0]'

  test('target ports are 1..65535, and a port is needed', () => {
    expectError(tg('').replace('Port: 3000', 'Port: 65536'), `${T}.Targets[0].Port`, /1\.\.65535, got 65536/, '65536')
    expectError(
      tg('').replace(', Port: 3000', ''),
      `${T}.Targets[0]`,
      /has no Port and the target group has no default Port/,
      'Id: 127.0.0.1',
    )
    expectError(
      tg('').replace('Id: 127.0.0.1', 'Id: "bad host"'),
      `${T}.Targets[0].Id`,
      /IP address or host name/,
      '"bad host"',
    )
  })

  test('a target registered twice', () => {
    const text = tg('').replace(
      '[{ Id: 127.0.0.1, Port: 3000 }]',
      '[{ Id: 127.0.0.1, Port: 3000 }, { Id: 127.0.0.1, Port: 3000 }]',
    )
    expectError(text, `${T}.Targets[1]`, /already registered by TargetGroups\[0\]\.Targets\[0\]/, '{ Id: 127.0.0.1', 1)
  })

  test('no targets is a warning', () => {
    expectWarning(
      tg('').replace('    Targets: [{ Id: 127.0.0.1, Port: 3000 }]\n', ''),
      T,
      /no targets are registered/,
      'TargetGroupName: t',
    )
  })

  test('names are unique and valid; a given ARN must match the name', () => {
    const dup = `${tg('')}  - { TargetGroupName: t, Protocol: HTTP }\n`
    expectError(dup, 'TargetGroups[1].TargetGroupName', /used twice/, 't, Protocol', 0)
    expectError(
      tg('').replace('TargetGroupName: t', 'TargetGroupName: t_1').replace('TargetGroupArn: t', 'TargetGroupArn: t_1'),
      `${T}.TargetGroupName`,
      /1\.\.32 letters/,
      't_1\n',
    )
    expectError(
      tg('    TargetGroupArn: arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/u/0123456789abcdef\n'),
      `${T}.TargetGroupArn`,
      /names target group "u" but TargetGroupName is "t"/,
      'arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/u',
    )
    expectError(
      tg('    TargetGroupArn: nope\n'),
      `${T}.TargetGroupArn`,
      /expected arn:aws:elasticloadbalancing/,
      'nope',
    )
  })

  test('health-check ranges', () => {
    const cases: [string, string, RegExp, string][] = [
      ['HealthCheckIntervalSeconds: 4', 'HealthCheckIntervalSeconds', /5\.\.300, got 4/, '4'],
      ['HealthCheckIntervalSeconds: 301', 'HealthCheckIntervalSeconds', /5\.\.300, got 301/, '301'],
      ['HealthCheckTimeoutSeconds: 1', 'HealthCheckTimeoutSeconds', /2\.\.120, got 1/, '1'],
      ['HealthCheckTimeoutSeconds: 121', 'HealthCheckTimeoutSeconds', /2\.\.120, got 121/, '121'],
      ['HealthyThresholdCount: 1', 'HealthyThresholdCount', /2\.\.10, got 1/, '1'],
      ['UnhealthyThresholdCount: 11', 'UnhealthyThresholdCount', /2\.\.10, got 11/, '11'],
      ['HealthCheckPort: "70000"', 'HealthCheckPort', /1\.\.65535, got 70000/, '"70000"'],
      ['HealthCheckPath: health', 'HealthCheckPath', /starting with "\/"/, 'health'],
    ]
    for (const [line, field, message, needle] of cases) {
      const text = tg(`    ${line}\n`)
      expectError(text, `${T}.${field}`, message, needle, text.split(needle).length - 2)
    }
  })

  test('the timeout must be below the interval when both are given', () => {
    const text = tg('    HealthCheckIntervalSeconds: 10\n    HealthCheckTimeoutSeconds: 10\n')
    expectError(
      text,
      `${T}.HealthCheckTimeoutSeconds`,
      /\(10\) must be less than HealthCheckIntervalSeconds \(10\)/,
      '10',
      1,
    )
  })

  test('matcher codes and ranges are 200..499', () => {
    for (const [code, message] of [
      ['"100"', /200\.\.499/],
      ['"200-500"', /200\.\.499/],
      ['"299-200"', /reversed/],
      ['"2xx"', /codes or ranges/],
      ['"200,,201"', /codes or ranges/],
    ] as const) {
      expectError(tg(`    Matcher: { HttpCode: ${code} }\n`), `${T}.Matcher.HttpCode`, message, code)
    }
    const { config } = load(tg('    Matcher: { HttpCode: "200,202,300-399" }\n    HealthCheckPort: "8081"\n'))
    assert.equal(config.targetGroups[0]!.healthCheck.matcher, '200,202,300-399')
    assert.equal(config.targetGroups[0]!.healthCheck.port, 8081)
  })

  test('slow_start.duration_seconds: 0 or 30..900, round_robin only (as ALB)', () => {
    const attrs = (list: string) => tg(`    Attributes: [${list}]\n`)
    const slow = (value: string) => `{ Key: slow_start.duration_seconds, Value: "${value}" }`
    for (const algorithm of ['least_outstanding_requests', 'weighted_random']) {
      expectError(
        attrs(`{ Key: load_balancing.algorithm.type, Value: ${algorithm} }, ${slow('60')}`),
        `${T}.Attributes[1].Value`,
        new RegExp(`slow start cannot be used with the ${algorithm} algorithm \\(round_robin only\\)`),
        '"60"',
      )
    }
    const { config, warnings } = load(attrs(slow('30')))
    assert.equal(config.targetGroups[0]!.slowStartSeconds, 30)
    assert.deepEqual(warnings, [], 'acted on: no warning')
    assert.equal(load(tg('')).config.targetGroups[0]!.slowStartSeconds, 0)
  })

  test('attributes are validated; unknown ones warn', () => {
    const attr = (key: string, value: string) => tg(`    Attributes: [{ Key: ${key}, Value: ${value} }]\n`)
    const A = `${T}.Attributes[0].Value`
    expectError(
      attr('load_balancing.algorithm.type', 'random'),
      A,
      /must be one of round_robin, least_outstanding_requests, weighted_random/,
      'random',
    )
    expectError(attr('stickiness.enabled', 'yes'), A, /"true" or "false"/, 'yes')
    expectError(attr('stickiness.lb_cookie.duration_seconds', '"0"'), A, /1\.\.604800, got 0/, '"0"')
    expectError(attr('deregistration_delay.timeout_seconds', '"3601"'), A, /0\.\.3600/, '"3601"')
    expectError(attr('slow_start.duration_seconds', '"10"'), A, /0 \(off\) or 30\.\.900/, '"10"')
    // Not implemented: said at validate and at every start, never silently accepted.
    expectWarning(
      attr('load_balancing.algorithm.anomaly_mitigation', '"on"'),
      `${T}.Attributes[0].Value`,
      /^load_balancing\.algorithm\.anomaly_mitigation on: anomaly mitigation is not implemented in Portcullis/,
      '"on"',
    )
    // A typo is an error that names the attribute meant; an attribute unknown to Portcullis is ignored, said.
    expectError(
      attr('stickines.enabled', '"true"'),
      `${T}.Attributes[0].Key`,
      /unknown target group attribute stickines\.enabled; did you mean stickiness\.enabled\?/,
      'stickines.enabled',
    )
    expectWarning(
      attr('stickiness.new_feature.enabled', '"true"'),
      `${T}.Attributes[0].Key`,
      /unknown target group attribute stickiness\.new_feature\.enabled \(one AWS added after this version\?\); ignored/,
      'stickiness.new_feature.enabled',
    )
    const appCookie = tg(
      '    Attributes: [{ Key: stickiness.enabled, Value: "true" }, { Key: stickiness.type, Value: app_cookie }]\n',
    )
    expectError(
      appCookie,
      `${T}.Attributes[1].Value`,
      /needs the attribute stickiness\.app_cookie\.cookie_name/,
      'app_cookie',
    )
    const reserved = tg(
      '    Attributes: [{ Key: stickiness.enabled, Value: "true" }, { Key: stickiness.type, Value: app_cookie }, { Key: stickiness.app_cookie.cookie_name, Value: AWSALBAPP-0 }]\n',
    )
    expectError(reserved, `${T}.Attributes[2].Value`, /reserved/, 'AWSALBAPP-0')
    const twice = tg(
      '    Attributes: [{ Key: stickiness.enabled, Value: "true" }, { Key: stickiness.enabled, Value: "false" }]\n',
    )
    expectError(
      twice,
      `${T}.Attributes[1].Key`,
      /already set by TargetGroups\[0\]\.Attributes\[0\]/,
      'stickiness.enabled',
      1,
    )
  })

  test('unsupported target types and protocol versions are refused, saying why and what to do', () => {
    expectError(
      tg('    TargetType: lambda\n'),
      `${T}.TargetType`,
      /^TargetType lambda: Portcullis forwards to IP addresses and host names: Lambda functions and application load balancers as targets are not supported; register the targets by address \(TargetType: ip\), or keep this target group on AWS$/,
      'lambda',
    )
    expectError(
      tg('    ProtocolVersion: HTTP3\n'),
      `${T}.ProtocolVersion`,
      /expected HTTP1, HTTP2 or GRPC, got "HTTP3"/,
      'HTTP3',
    )
    assert.deepEqual(load(tg('    ProtocolVersion: HTTP1\n    TargetType: ip\n')).warnings, [])
  })

  test("GRPC and HTTP2 groups are health-checked with ALB's defaults: /AWS.ALB/healthcheck and GrpcCode 12 for gRPC", () => {
    // A second group, referenced by no rule, so that the HTTP listener's forward does not matter.
    const group = (fields: string) =>
      `${tg('')}  - TargetGroupName: g\n    Protocol: HTTP\n    Targets: [{ Id: 127.0.0.1, Port: 50051 }]\n${fields}`
    const hc = (fields: string) => load(group(fields)).config.targetGroups[1]!.healthCheck
    assert.deepEqual(
      { ...hc('    ProtocolVersion: GRPC\n') },
      {
        ...hc('    ProtocolVersion: HTTP1\n'),
        protocolVersion: 'GRPC',
        path: '/AWS.ALB/healthcheck',
        matcher: '12',
      },
    )
    const pasted = hc(
      '    ProtocolVersion: GRPC\n    HealthCheckPath: /grpc.health.v1.Health/Check\n    Matcher: { GrpcCode: "0-99" }\n',
    )
    assert.equal(pasted.path, '/grpc.health.v1.Health/Check')
    assert.equal(pasted.matcher, '0-99')
    assert.equal(pasted.enabled, true)
    const h2 = hc('    ProtocolVersion: HTTP2\n    Matcher: { HttpCode: "200-299" }\n')
    assert.deepEqual([h2.protocolVersion, h2.path, h2.matcher], ['HTTP2', '/', '200-299'])

    const G = 'TargetGroups[1]'
    for (const [code, message] of [
      ['"100"', /gRPC codes must be 0\.\.99, got "100"/],
      ['"0-100"', /gRPC codes must be 0\.\.99/],
      ['"5-1"', /the range "5-1" is reversed/],
      ['"OK"', /expected gRPC codes or ranges such as "12", "0,1" or "0-5"/],
      ['"0,,1"', /expected gRPC codes or ranges/],
      ['"-1"', /expected gRPC codes or ranges/],
    ] as const) {
      expectError(
        group(`    ProtocolVersion: GRPC\n    Matcher: { GrpcCode: ${code} }\n`),
        `${G}.Matcher.GrpcCode`,
        message,
        code,
      )
    }
    expectError(
      group('    ProtocolVersion: GRPC\n    Matcher: { HttpCode: "200" }\n'),
      `${G}.Matcher.HttpCode`,
      /^a GRPC target group is health-checked with a gRPC call: give Matcher\.GrpcCode .*not HttpCode$/,
      '"200"',
    )
    for (const version of ['HTTP1', 'HTTP2']) {
      expectError(
        group(`    ProtocolVersion: ${version}\n    Matcher: { GrpcCode: "12" }\n`),
        `${G}.Matcher.GrpcCode`,
        new RegExp(
          `^GrpcCode is for GRPC target groups; this one's ProtocolVersion is ${version}: give Matcher\\.HttpCode`,
        ),
        '"12"',
      )
    }
    expectError(group('    Matcher: { GrpcCode: "12" }\n'), `${G}.Matcher.GrpcCode`, /ProtocolVersion is HTTP1/, '"12"')
  })

  test("HTTP2 and GRPC groups are forwarded to from HTTPS listeners only (ALB's restriction)", () => {
    const config = (listenerProtocol: string, actions: string) => `Listeners:
  - Port: 8443
    Protocol: ${listenerProtocol}
    DefaultActions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: "404" } }]
    Rules:
      - Priority: 1
        Conditions: [{ Field: path-pattern, Values: ["/g/*"] }]
        Actions: ${actions}
TargetGroups:
  - { TargetGroupName: g, Protocol: HTTP, ProtocolVersion: GRPC, HealthCheckEnabled: false, Targets: [{ Id: 127.0.0.1, Port: 3000 }] }
  - { TargetGroupName: h, Protocol: HTTP, Targets: [{ Id: 127.0.0.1, Port: 3001 }] }
Portcullis: { LocalCertificates: true }
`
    const rule = 'Listeners[0].Rules[0].Actions'
    expectError(
      config('HTTP', '[{ Type: forward, TargetGroupArn: g }]'),
      `${rule}[0]`,
      /^a GRPC target group is served by HTTPS listeners only .*this listener is HTTP$/,
      'Type: forward',
    )
    assert.deepEqual(
      load(config('HTTPS', '[{ Type: forward, TargetGroupArn: g }]')).config.targetGroups[0]!.protocolVersion,
      'GRPC',
    )
  })
})
