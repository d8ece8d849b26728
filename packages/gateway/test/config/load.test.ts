import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { parse as parseYaml } from 'yaml'
import { deriveLoadBalancerArn, deriveTargetGroupArn, stableId } from '../../src/config/arn.js'
import type {
  AuthenticateCognitoAction,
  AuthenticateOidcAction,
  ForwardAction,
  JwtValidationAction,
  RedirectAction,
} from '../../src/config/model.js'
import { BASE_DIR, expectError, https, issuesOf, load, positionOf, withRules } from './fixtures.js'

const examples = fileURLToPath(new URL('../../../../examples/configs/', import.meta.url))
const example = (name: string) => readFileSync(`${examples}${name}`, 'utf8')

/** The YAML of the gateway issue, verbatim. */
const ISSUE_YAML = `LoadBalancer:
  Name: my-alb
  Region: us-east-1
  Arn: arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/my-alb/50dc6c495c0c9188  # optional: derived from Name/Region/AccountId when absent
  Attributes: [{ Key: idle_timeout.timeout_seconds, Value: "60" }, { Key: routing.http.xff_header_processing.mode, Value: append }]
Listeners:
  - Port: 8443
    Protocol: HTTPS                       # HTTP | HTTPS
    Certificates: [{ CertificateFile: ./tls/cert.pem, PrivateKeyFile: ./tls/key.pem }]  # several = SNI
    DefaultActions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: "404", ContentType: text/plain, MessageBody: not found } }]
    Rules:
      - Priority: 10
        Conditions: [{ Field: path-pattern, Values: ["/api/*"] }]
        Actions: [{ Type: forward, TargetGroupArn: app }]   # a TargetGroupName or an ARN
TargetGroups:
  - TargetGroupName: app
    Protocol: HTTP                        # HTTP | HTTPS (to the target)
    Targets: [{ Id: 127.0.0.1, Port: 3000 }]
    HealthCheckPath: /health
    HealthCheckIntervalSeconds: 5
    Matcher: { HttpCode: "200-299" }
    Attributes: [{ Key: stickiness.enabled, Value: "true" }, { Key: stickiness.type, Value: lb_cookie }]
Portcullis:
  StateDirectory: ./.portcullis          # keys and generated certificates live here
  Admin: { Address: 127.0.0.1, Port: 9800 }  # /healthz, /metrics (and, later, /keys/{kid})
`

const MINIMAL = `Listeners:
  - Port: 8080
    Protocol: HTTP
    DefaultActions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: 200 } }]
`

describe('the issue-3 YAML', () => {
  test('loads into the expected model', () => {
    const { config, warnings } = load(ISSUE_YAML)
    assert.deepEqual(warnings, [])
    assert.equal(config.source, `${BASE_DIR}/portcullis.yaml`)
    const tgArn = deriveTargetGroupArn('us-east-1', '123456789012', 'app')
    assert.deepEqual(config.loadBalancer, {
      name: 'my-alb',
      region: 'us-east-1',
      accountId: '123456789012',
      arn: 'arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/my-alb/50dc6c495c0c9188',
      attributes: {
        idleTimeoutSeconds: 60,
        xffMode: 'append',
        xffClientPort: false,
        tlsVersionAndCipherSuiteHeaders: false,
        dropInvalidHeaderFields: false,
        clientKeepAliveSeconds: 3600,
        http2Enabled: true,
        preserveHostHeader: false,
        raw: { 'idle_timeout.timeout_seconds': '60', 'routing.http.xff_header_processing.mode': 'append' },
      },
    })
    assert.equal(config.listeners.length, 1)
    const listener = config.listeners[0]!
    assert.equal(listener.id, 'listener/8443')
    assert.equal(listener.port, 8443)
    assert.equal(listener.address, '0.0.0.0')
    assert.equal(listener.protocol, 'HTTPS')
    assert.equal(listener.sslPolicy, undefined)
    assert.match(
      listener.arn,
      /^arn:aws:elasticloadbalancing:us-east-1:123456789012:listener\/app\/my-alb\/50dc6c495c0c9188\/[0-9a-f]{16}$/,
    )
    assert.deepEqual(listener.certificates, [
      { certificateFile: `${BASE_DIR}/tls/cert.pem`, privateKeyFile: `${BASE_DIR}/tls/key.pem`, isDefault: true },
    ])
    assert.deepEqual(
      listener.rules.map((r) => ({ ...r, arn: undefined })),
      [
        {
          arn: undefined,
          priority: 10,
          conditions: [{ field: 'path-pattern', values: ['/api/*'], regexValues: [] }],
          transforms: [],
          actions: [
            { type: 'forward', order: 1, targetGroups: [{ targetGroupArn: tgArn, weight: 1 }], stickiness: undefined },
          ],
        },
        {
          arn: undefined,
          priority: 'default',
          conditions: [],
          transforms: [],
          actions: [
            { type: 'fixed-response', order: 1, statusCode: 404, contentType: 'text/plain', messageBody: 'not found' },
          ],
        },
      ],
    )
    assert.deepEqual(config.targetGroups, [
      {
        name: 'app',
        arn: tgArn,
        protocol: 'HTTP',
        protocolVersion: 'HTTP1',
        port: undefined,
        targets: [{ id: '127.0.0.1', port: 3000 }],
        healthCheck: {
          enabled: true,
          protocol: 'HTTP',
          port: undefined,
          path: '/health',
          intervalSeconds: 5,
          // ALB's default of 5 would not be below a 5 s interval: the default shrinks to fit.
          timeoutSeconds: 4,
          healthyThresholdCount: 5,
          unhealthyThresholdCount: 2,
          protocolVersion: 'HTTP1',
          matcher: '200-299',
        },
        algorithm: 'round_robin',
        stickiness: { type: 'lb_cookie', durationSeconds: 86400, appCookieName: undefined },
        slowStartSeconds: 0,
        deregistrationDelaySeconds: 300,
        caFile: undefined,
        targetTimeoutSeconds: undefined,
        raw: { 'stickiness.enabled': 'true', 'stickiness.type': 'lb_cookie' },
      },
    ])
    assert.deepEqual(config.portcullis, {
      stateDirectory: `${BASE_DIR}/.portcullis`,
      admin: {
        address: '127.0.0.1',
        port: 9800,
        operatorToken: undefined,
        tls: undefined,
        clientCertificateTrustStore: undefined,
      },
      allowInsecureHttpAuthentication: false,
      caFile: undefined,
      accessLog: { format: 'json', path: undefined, delivery: undefined },
      sharedState: undefined,
      sessionStore: 'cookie',
      localCertificates: false,
      clientSecretsDirectory: undefined,
      connectionLog: undefined,
      instanceAddresses: {},
    })
  })

  test('examples/configs/basic.yaml is that YAML', () => {
    // Except that it runs as shipped: a local-CA certificate instead of certificate files.
    const fromExample = load(example('basic.yaml')).config
    const local = ISSUE_YAML.replace(/ {4}Certificates: .*\n/, '').replace(
      'Portcullis:\n',
      'Portcullis:\n  LocalCertificates: true\n',
    )
    assert.notEqual(local, ISSUE_YAML)
    assert.deepEqual(fromExample, load(local).config)
  })

  test('the same file as JSON loads into the same model', () => {
    const json = JSON.stringify(parseYaml(ISSUE_YAML), null, 2)
    const fromJson = load(json, { format: 'json', source: 'portcullis.json' }).config
    const fromYaml = load(ISSUE_YAML, { source: 'portcullis.json' }).config
    assert.deepEqual(fromJson, fromYaml)
  })
})

describe('a describe-rules paste', () => {
  test('loads with both condition forms, string priorities, Order and the default rule', () => {
    const { config, warnings } = load(example('describe-rules.yaml'))
    assert.deepEqual(warnings, [])
    const [listener] = config.listeners
    assert.ok(listener)
    assert.equal(listener.address, '127.0.0.1')
    assert.deepEqual(
      listener.rules.map((r) => r.priority),
      [10, 20, 30, 'default'],
    )
    const [r10, r20, r30, byDefault] = listener.rules
    assert.equal(
      r10!.arn,
      'arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/my-alb/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee',
    )
    assert.deepEqual(r10!.conditions, [
      { field: 'host-header', values: ['api.example.com'], regexValues: [] },
      { field: 'path-pattern', values: ['/v1/*'], regexValues: [] },
    ])
    const api = config.targetGroups.find((tg) => tg.name === 'api')!
    const canary = config.targetGroups.find((tg) => tg.name === 'canary')!
    assert.equal(api.arn, 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/api/73e2d6bc24d8a067')
    // The rule names canary by its AWS ARN; the group is defined by name only and still resolves.
    assert.equal(canary.arn, deriveTargetGroupArn('us-east-1', '123456789012', 'canary'))
    assert.deepEqual(r10!.actions, [
      { type: 'forward', order: 1, targetGroups: [{ targetGroupArn: api.arn, weight: 1 }], stickiness: undefined },
    ])
    assert.deepEqual(r20!.conditions, [
      { field: 'http-header', headerName: 'X-Canary', values: ['true'], regexValues: [] },
      { field: 'query-string', values: [{ key: 'version', value: 'v2*' }] },
      { field: 'http-request-method', values: ['GET', 'HEAD'] },
      { field: 'source-ip', values: ['127.0.0.0/8'] },
    ])
    assert.deepEqual((r20!.actions[0] as ForwardAction).targetGroups, [
      { targetGroupArn: api.arn, weight: 80 },
      { targetGroupArn: canary.arn, weight: 20 },
    ])
    assert.deepEqual((r20!.actions[0] as ForwardAction).stickiness, { durationSeconds: 3600 })
    assert.deepEqual(r30!.actions[0], {
      type: 'redirect',
      order: 1,
      protocol: '#{protocol}',
      host: '#{host}',
      port: '#{port}',
      path: '/new/#{path}',
      query: '#{query}',
      statusCode: 301,
    } satisfies RedirectAction)
    assert.deepEqual(byDefault!.actions, [
      {
        type: 'fixed-response',
        order: 1,
        statusCode: 404,
        contentType: 'application/json',
        messageBody: '{"message":"no route"}',
      },
    ])
    assert.deepEqual(api.targets, [
      { id: '127.0.0.1', port: 3000 },
      { id: '127.0.0.1', port: 3001 },
    ])
    assert.equal(api.algorithm, 'least_outstanding_requests')
    assert.equal(api.deregistrationDelaySeconds, 30)
    assert.equal(api.healthCheck.path, '/healthz')
    assert.equal(api.healthCheck.port, undefined)
  })

  test('actions are sorted by Order, whatever their position', () => {
    const { config } = load(
      https(
        withRules(`      - Priority: 5
        Conditions: [{ Field: path-pattern, Values: ["/a"] }]
        Actions:
          - { Type: forward, TargetGroupArn: app, Order: 20 }
          - Type: jwt-validation
            Order: 10
            JwtValidationConfig: { JwksEndpoint: "https://idp.example.com/jwks", Issuer: "https://idp.example.com" }
`),
      ),
    )
    const actions = config.listeners[0]!.rules[0]!.actions
    assert.deepEqual(
      actions.map((a) => [a.type, a.order]),
      [
        ['jwt-validation', 10],
        ['forward', 20],
      ],
    )
  })

  test('rules are sorted by priority with the default rule last, wherever it was written', () => {
    const { config } = load(`Listeners:
  - Port: 80
    Protocol: HTTP
    Rules:
      - { Priority: default, IsDefault: true, Conditions: [], Actions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: "404" } }] }
      - { Priority: "300", Conditions: [{ Field: path-pattern, Values: [/c] }], Actions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: "200" } }] }
      - { Priority: 7, Conditions: [{ Field: path-pattern, Values: [/a] }], Actions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: "200" } }] }
      - { Priority: "20", Conditions: [{ Field: path-pattern, Values: [/b] }], Actions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: "200" } }] }
`)
    assert.deepEqual(
      config.listeners[0]!.rules.map((r) => r.priority),
      [7, 20, 300, 'default'],
    )
  })
})

describe('defaults', () => {
  test('a minimal file gets ALB and Portcullis defaults', () => {
    const { config, warnings } = load(MINIMAL)
    assert.deepEqual(warnings, [])
    assert.equal(config.loadBalancer.name, 'portcullis')
    assert.equal(config.loadBalancer.region, 'us-east-1')
    assert.equal(config.loadBalancer.accountId, '000000000000')
    assert.equal(config.loadBalancer.arn, deriveLoadBalancerArn('us-east-1', '000000000000', 'portcullis'))
    assert.equal(config.loadBalancer.attributes.idleTimeoutSeconds, 60)
    assert.equal(config.loadBalancer.attributes.xffMode, 'append')
    assert.deepEqual(config.portcullis, {
      stateDirectory: `${BASE_DIR}/.portcullis`,
      admin: {
        address: '127.0.0.1',
        port: 9800,
        operatorToken: undefined,
        tls: undefined,
        clientCertificateTrustStore: undefined,
      },
      allowInsecureHttpAuthentication: false,
      caFile: undefined,
      accessLog: { format: 'json', path: undefined, delivery: undefined },
      sharedState: undefined,
      sessionStore: 'cookie',
      localCertificates: false,
      clientSecretsDirectory: undefined,
      connectionLog: undefined,
      instanceAddresses: {},
    })
    const listener = config.listeners[0]!
    assert.equal(listener.address, '0.0.0.0')
    assert.deepEqual(listener.rules[0]!.actions, [
      { type: 'fixed-response', order: 1, statusCode: 200, contentType: undefined, messageBody: undefined },
    ])
  })

  test('target-group health checks and attributes default as in ALB', () => {
    const { config } = load(`${MINIMAL}TargetGroups:
  - { TargetGroupName: tg, Protocol: HTTPS, Port: 8443, Targets: [{ Id: backend.internal }, { Id: "::1", Port: 9000 }], Attributes: [{ Key: stickiness.enabled, Value: true }, { Key: stickiness.type, Value: app_cookie }, { Key: stickiness.app_cookie.cookie_name, Value: SESSION }] }
`)
    const tg = config.targetGroups[0]!
    assert.deepEqual(tg.targets, [
      { id: 'backend.internal', port: 8443 },
      { id: '::1', port: 9000 },
    ])
    assert.deepEqual(tg.healthCheck, {
      enabled: true,
      protocol: 'HTTPS',
      port: undefined,
      path: '/',
      intervalSeconds: 30,
      timeoutSeconds: 5,
      healthyThresholdCount: 5,
      unhealthyThresholdCount: 2,
      protocolVersion: 'HTTP1',
      matcher: '200',
    })
    assert.equal(tg.algorithm, 'round_robin')
    assert.equal(tg.deregistrationDelaySeconds, 300)
    assert.deepEqual(tg.stickiness, { type: 'app_cookie', durationSeconds: 86400, appCookieName: 'SESSION' })
  })

  test('relative paths resolve against the config directory, absolute ones stay', () => {
    const { config } = load(`${MINIMAL}Portcullis:
  StateDirectory: state
  CaFile: /opt/ca.pem
  AccessLog: { Format: alb, Path: logs/access.log }
  Admin: false
`)
    assert.deepEqual(config.portcullis, {
      stateDirectory: `${BASE_DIR}/state`,
      admin: undefined,
      allowInsecureHttpAuthentication: false,
      caFile: '/opt/ca.pem',
      accessLog: { format: 'alb', path: `${BASE_DIR}/logs/access.log`, delivery: undefined },
      sharedState: undefined,
      sessionStore: 'cookie',
      localCertificates: false,
      clientSecretsDirectory: undefined,
      connectionLog: undefined,
      instanceAddresses: {},
    })
  })

  test("AccessLog.Directory: ALB's delivery files, 5-minute intervals and a 10 GiB bound unless told", () => {
    const { config } = load(`${MINIMAL}Portcullis:
  AccessLog: { Directory: alb-logs }
`)
    assert.deepEqual(config.portcullis.accessLog, {
      format: 'alb',
      path: undefined,
      delivery: { directory: `${BASE_DIR}/alb-logs`, intervalMinutes: 5, maxTotalBytes: 10_240 * 1024 * 1024 },
    })
    const hourly = load(`${MINIMAL}Portcullis:
  AccessLog: { Format: alb, Directory: /var/log/alb, IntervalMinutes: "60", MaxTotalSizeMB: 512 }
`).config.portcullis.accessLog
    assert.deepEqual(hourly.delivery, {
      directory: '/var/log/alb',
      intervalMinutes: 60,
      maxTotalBytes: 512 * 1024 * 1024,
    })
  })

  test("the gateway README's AccessLog.Directory sample loads as it says", () => {
    const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8')
    const sample = /```yaml\n(Portcullis:\n {2}AccessLog:\n {4}Directory: \/var\/log\/portcullis\/alb[\s\S]*?)```/.exec(
      readme,
    )?.[1]
    assert.ok(sample, 'the sample is gone from the README')
    assert.deepEqual(load(`${MINIMAL}${sample}`).config.portcullis.accessLog, {
      format: 'alb',
      path: undefined,
      delivery: { directory: '/var/log/portcullis/alb', intervalMinutes: 5, maxTotalBytes: 10_240 * 1024 * 1024 },
    })
  })

  test('AccessLog: what does not make sense together is refused where it is written', () => {
    const both = `${MINIMAL}Portcullis:
  AccessLog: { Path: access.log, Directory: alb-logs }
`
    expectError(both, 'Portcullis.AccessLog.Directory', /either Path .* or Directory .*, not both/, 'alb-logs')
    const json = `${MINIMAL}Portcullis:
  AccessLog: { Format: json, Directory: alb-logs }
`
    expectError(json, 'Portcullis.AccessLog.Format', /Format must be alb \(or absent\) with Directory/, 'json')
    const interval = `${MINIMAL}Portcullis:
  AccessLog: { Directory: alb-logs, IntervalMinutes: 15 }
`
    expectError(interval, 'Portcullis.AccessLog.IntervalMinutes', /must be 5 \(ALB's\) or 60, got 15/, '15')
    const size = `${MINIMAL}Portcullis:
  AccessLog: { Directory: alb-logs, MaxTotalSizeMB: 0 }
`
    expectError(size, 'Portcullis.AccessLog.MaxTotalSizeMB', /MaxTotalSizeMB must be 1\.\.16777216, got 0/, '0 }', 1)
    const noDirectory = `${MINIMAL}Portcullis:
  AccessLog: { Path: access.log, IntervalMinutes: 5, MaxTotalSizeMB: 100 }
`
    expectError(noDirectory, 'Portcullis.AccessLog.IntervalMinutes', /needs Directory/, '5,')
    expectError(noDirectory, 'Portcullis.AccessLog.MaxTotalSizeMB', /needs Directory/, '100')
    const text = `${MINIMAL}Portcullis:
  AccessLog: { Directory: alb-logs, IntervalMinutes: five }
`
    expectError(text, 'Portcullis.AccessLog.IntervalMinutes', /./, 'five')
  })

  test('authenticate actions get ALB defaults and Portcullis extension defaults', () => {
    const { config } = load(example('auth.yaml'))
    const rules = config.listeners[0]!.rules
    const oidc = rules[1]!.actions[0] as AuthenticateOidcAction
    assert.deepEqual(oidc, {
      type: 'authenticate-oidc',
      order: 1,
      issuer: 'https://idp.example.com',
      authorizationEndpoint: 'https://idp.example.com/authorize',
      tokenEndpoint: 'https://idp.example.com/oauth/token',
      userInfoEndpoint: 'https://idp.example.com/userinfo',
      clientId: 'portcullis-demo',
      clientSecret: 'replace-me',
      clientSecretFile: undefined,
      sessionCookieName: 'AWSELBAuthSessionCookie',
      scope: 'openid email profile',
      sessionTimeoutSeconds: 604800,
      authenticationRequestExtraParams: {},
      onUnauthenticatedRequest: 'deny',
      pkce: true,
      nonce: true,
      tokenEndpointAuthMethod: 'client_secret_basic',
      jwksUri: undefined,
      identityTokenLifetimeSeconds: 120,
      logoutPath: undefined,
      postLogoutRedirectUri: '/',
    })
    const byDefault = rules[3]!.actions[0] as AuthenticateOidcAction
    assert.equal(byDefault.scope, 'openid')
    assert.equal(byDefault.onUnauthenticatedRequest, 'authenticate')
    assert.equal(byDefault.tokenEndpointAuthMethod, 'client_secret_post')
    assert.equal(byDefault.identityTokenLifetimeSeconds, 60)
    assert.deepEqual(byDefault.authenticationRequestExtraParams, { prompt: 'login' })
    const jwt = rules[0]!.actions[0] as JwtValidationAction
    assert.deepEqual(jwt, {
      type: 'jwt-validation',
      order: 1,
      jwksEndpoint: 'https://idp.example.com/.well-known/jwks.json',
      issuer: 'https://idp.example.com',
      additionalClaims: [{ name: 'scope', format: 'space-separated-values', values: ['orders.read'] }],
      algorithms: ['RS256'],
    })
  })
})

describe('Cognito', () => {
  const cognito = (domain: string, extra = '') =>
    https(
      withRules(
        `      - Priority: 1
        Conditions: [{ Field: path-pattern, Values: ["/x"] }]
        Actions:
          - Type: authenticate-cognito
            AuthenticateCognitoConfig:
              UserPoolArn: arn:aws:cognito-idp:eu-central-1:123456789012:userpool/eu-central-1_Pool42
              UserPoolClientId: client-1
              UserPoolDomain: ${domain}
${extra}          - { Type: forward, TargetGroupArn: app }
`,
      ),
    )

  test('a domain prefix gives the amazoncognito.com endpoints of the pool region, and the pool issuer', () => {
    const action = load(cognito('my-login')).config.listeners[0]!.rules[0]!.actions[0] as AuthenticateCognitoAction
    assert.equal(action.type, 'authenticate-cognito')
    assert.equal(action.authorizationEndpoint, 'https://my-login.auth.eu-central-1.amazoncognito.com/oauth2/authorize')
    assert.equal(action.tokenEndpoint, 'https://my-login.auth.eu-central-1.amazoncognito.com/oauth2/token')
    assert.equal(action.userInfoEndpoint, 'https://my-login.auth.eu-central-1.amazoncognito.com/oauth2/userInfo')
    assert.equal(action.issuer, 'https://cognito-idp.eu-central-1.amazonaws.com/eu-central-1_Pool42')
    assert.equal(
      action.jwksUri,
      'https://cognito-idp.eu-central-1.amazonaws.com/eu-central-1_Pool42/.well-known/jwks.json',
    )
    assert.equal(action.clientId, 'client-1')
    assert.equal(action.clientSecret, undefined)
    assert.equal(action.userPoolDomain, 'my-login')
    assert.equal(action.sessionCookieName, 'AWSELBAuthSessionCookie')
  })

  test('a full custom domain is used as is; the client secret comes from the Portcullis block', () => {
    const action = load(
      cognito('auth.example.com', '              Portcullis: { ClientSecret: s3cret, Pkce: false }\n'),
    ).config.listeners[0]!.rules[0]!.actions[0] as AuthenticateCognitoAction
    assert.equal(action.authorizationEndpoint, 'https://auth.example.com/oauth2/authorize')
    assert.equal(action.userInfoEndpoint, 'https://auth.example.com/oauth2/userInfo')
    assert.equal(action.clientSecret, 's3cret')
    assert.equal(action.pkce, false)
  })

  test('an invalid pool ARN and domain prefix are refused', () => {
    const text = cognito('Bad_Prefix').replace(
      'arn:aws:cognito-idp:eu-central-1:123456789012:userpool/eu-central-1_Pool42',
      'not-an-arn',
    )
    expectError(
      text,
      'Listeners[0].Rules[0].Actions[0].AuthenticateCognitoConfig.UserPoolArn',
      /expected arn:aws:cognito-idp/,
      'not-an-arn',
    )
    expectError(
      text,
      'Listeners[0].Rules[0].Actions[0].AuthenticateCognitoConfig.UserPoolDomain',
      /domain prefix/,
      'Bad_Prefix',
    )
  })
})

describe('ARN derivation', () => {
  test('is stable and follows the ELBv2 formats', () => {
    const a = load(
      MINIMAL.replace(
        'Listeners:',
        'LoadBalancer: { Name: shop, Region: eu-west-2, AccountId: "111122223333" }\nListeners:',
      ),
    ).config
    const b = load(
      MINIMAL.replace(
        'Listeners:',
        'LoadBalancer: { Name: shop, Region: eu-west-2, AccountId: "111122223333" }\nListeners:',
      ),
    ).config
    assert.deepEqual(a, b)
    assert.equal(
      a.loadBalancer.arn,
      `arn:aws:elasticloadbalancing:eu-west-2:111122223333:loadbalancer/app/shop/${stableId('loadbalancer', 'shop')}`,
    )
    assert.match(a.loadBalancer.arn, /\/shop\/[0-9a-f]{16}$/)
    assert.match(
      a.listeners[0]!.arn,
      /^arn:aws:elasticloadbalancing:eu-west-2:111122223333:listener\/app\/shop\/[0-9a-f]{16}\/[0-9a-f]{16}$/,
    )
    assert.match(
      a.listeners[0]!.rules[0]!.arn,
      /^arn:aws:elasticloadbalancing:eu-west-2:111122223333:listener-rule\/app\/shop\/[0-9a-f]{16}\/[0-9a-f]{16}\/[0-9a-f]{16}$/,
    )
    assert.equal(
      deriveTargetGroupArn('eu-west-2', '111122223333', 'app'),
      `arn:aws:elasticloadbalancing:eu-west-2:111122223333:targetgroup/app/${stableId('targetgroup', 'app')}`,
    )
  })

  test('differs by name, and uses the partition of the region', () => {
    assert.notEqual(
      deriveLoadBalancerArn('us-east-1', '000000000000', 'a'),
      deriveLoadBalancerArn('us-east-1', '000000000000', 'b'),
    )
    assert.match(deriveLoadBalancerArn('cn-north-1', '000000000000', 'a'), /^arn:aws-cn:/)
    assert.match(deriveLoadBalancerArn('us-gov-west-1', '000000000000', 'a'), /^arn:aws-us-gov:/)
  })

  test('a given ARN supplies name, region and account', () => {
    const { config } = load(
      MINIMAL.replace(
        'Listeners:',
        'LoadBalancer: { LoadBalancerArn: "arn:aws:elasticloadbalancing:ap-south-1:444455556666:loadbalancer/app/from-arn/0123456789abcdef" }\nListeners:',
      ),
    )
    assert.equal(config.loadBalancer.name, 'from-arn')
    assert.equal(config.loadBalancer.region, 'ap-south-1')
    assert.equal(config.loadBalancer.accountId, '444455556666')
    assert.equal(
      config.loadBalancer.arn,
      'arn:aws:elasticloadbalancing:ap-south-1:444455556666:loadbalancer/app/from-arn/0123456789abcdef',
    )
  })
})

describe('syntax errors carry line and column', () => {
  test('YAML', () => {
    const text = 'Listeners:\n  - Port: 80\n    Protocol: [HTTP\n'
    const [issue] = issuesOf(text)
    assert.ok(issue)
    assert.equal(issue.severity, 'error')
    assert.equal(issue.path, '')
    assert.match(issue.message, /^YAML syntax: /)
    assert.equal(typeof issue.line, 'number')
    assert.ok(issue.line! >= 3)
  })

  test('duplicate YAML keys', () => {
    const text = 'Listeners: []\nListeners: []\n'
    const [issue] = issuesOf(text)
    assert.match(issue!.message, /unique/i)
    assert.deepEqual({ line: issue!.line, column: issue!.column }, { line: 2, column: 1 })
  })

  test('JSON, at the offending character', () => {
    const text = '{\n  "Listeners": [\n    { "Port": 80, }\n  ]\n}\n'
    const [issue] = issuesOf(text, { format: 'json' })
    assert.match(issue!.message, /invalid JSON: expected a property name/)
    assert.deepEqual({ line: issue!.line, column: issue!.column }, positionOf(text, '}'))
  })

  test('JSON truncated, and JSON with YAML-only syntax', () => {
    const truncated = '{ "Listeners": ['
    const [end] = issuesOf(truncated, { format: 'json' })
    assert.match(end!.message, /end of input/)
    assert.deepEqual({ line: end!.line, column: end!.column }, { line: 1, column: truncated.length + 1 })
    const [yamlish] = issuesOf('Listeners: []\n', { format: 'json' })
    assert.match(yamlish!.message, /invalid JSON/)
    assert.deepEqual({ line: yamlish!.line, column: yamlish!.column }, { line: 1, column: 1 })
  })

  test('an empty file and a file that is not a mapping', () => {
    assert.match(issuesOf('')[0]!.message, /empty/)
    assert.match(issuesOf('# only a comment\n')[0]!.message, /empty/)
    const [list] = issuesOf('- a\n- b\n')
    assert.match(list!.message, /expected an object, got a list/)
  })

  test('alias bombs are refused', () => {
    const rows = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]']
    for (let i = 1; i < 8; i++)
      rows.push(
        `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10)
          .fill(`*${String.fromCharCode(96 + i)}`)
          .join(',')}]`,
      )
    const issues = issuesOf(`${rows.join('\n')}\n`)
    assert.match(issues[0]!.message, /alias/i)
  })
})

describe('shape errors', () => {
  test('an unknown field is an error at its key, with a suggestion for a typo', () => {
    const text = withRules('', { listener: '    Prot: 80\n' }).replace('    Rules:\n\n', '')
    const issue = expectError(text, 'Listeners[0].Prot', /unknown field; did you mean Port\?/, 'Prot:')
    assert.equal(issue.severity, 'error')
    const nested = `${MINIMAL}TargetGroups:\n  - { TargetGroupName: a, Protocol: HTTP, HealthCheckPth: /x }\n`
    expectError(nested, 'TargetGroups[0].HealthCheckPth', /did you mean HealthCheckPath\?/, 'HealthCheckPth')
  })

  test('fields of describe-* output that Portcullis ignores are accepted', () => {
    const { config } =
      load(`LoadBalancer: { Name: x, DNSName: x-1.us-east-1.elb.amazonaws.com, Scheme: internet-facing, VpcId: vpc-1, State: { Code: active }, Type: application, AvailabilityZones: [], SecurityGroups: [sg-1], IpAddressType: ipv4, CreatedTime: "2024-01-01T00:00:00Z", CanonicalHostedZoneId: Z35SXDOTRQ7X7K }
Listeners:
  - ListenerArn: arn:aws:elasticloadbalancing:us-east-1:000000000000:listener/app/x/0123456789abcdef/0123456789abcdef
    LoadBalancerArn: arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/x/0123456789abcdef
    AlpnPolicy: [HTTP2Preferred]
    Port: 8443
    Protocol: HTTPS
    SslPolicy: ELBSecurityPolicy-TLS13-1-2-2021-06
    Certificates: [{ CertificateArn: "arn:aws:acm:us-east-1:000000000000:certificate/1", CertificateFile: c.pem, PrivateKeyFile: k.pem, IsDefault: true }]
    DefaultActions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: "503" } }]
TargetGroups:
  - { TargetGroupName: t, Protocol: HTTP, Port: 80, VpcId: vpc-1, TargetType: instance, IpAddressType: ipv4, LoadBalancerArns: [], ProtocolVersion: HTTP1, Matcher: { HttpCode: "200" }, Targets: [{ Id: 10.0.0.1, AvailabilityZone: us-east-1a }] }
`)
    assert.equal(config.listeners[0]!.sslPolicy, 'ELBSecurityPolicy-TLS13-1-2-2021-06')
  })

  test('a missing required field is reported at its parent', () => {
    const text =
      'Listeners:\n  - Port: 80\n    DefaultActions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: "404" } }]\n'
    expectError(text, 'Listeners[0].Protocol', /required field is missing/, 'Port: 80')
    expectError('LoadBalancer: { Name: x }\n', 'Listeners', /required field is missing/, 'LoadBalancer')
  })

  test('wrong types and enum values say what was expected and what was found', () => {
    const text = MINIMAL.replace('Protocol: HTTP', 'Protocol: SMTP').replace('Port: 8080', 'Port: eighty')
    expectError(text, 'Listeners[0].Protocol', /expected one of HTTP, HTTPS; got "SMTP"/, 'SMTP')
    expectError(text, 'Listeners[0].Port', /expected an integer/, 'eighty')
    const typed = MINIMAL.replace('Port: 8080', 'Port: 8080\n    Certificates: nope')
    expectError(typed, 'Listeners[0].Certificates', /expected an array, got "nope"/, 'nope')
    const empty = MINIMAL.replace('Protocol: HTTP', 'Protocol:')
    expectError(empty, 'Listeners[0].Protocol', /got null/, 'Protocol:')
  })

  test('numbers the API writes as strings accept both forms; booleans do not pass as strings', () => {
    const { config } = load(
      withRules(`      - Priority: "10"
        Conditions: [{ Field: path-pattern, Values: ["/x"] }]
        Actions: [{ Type: fixed-response, Order: "1", FixedResponseConfig: { StatusCode: 204 } }]
`),
    )
    assert.equal(config.listeners[0]!.rules[0]!.priority, 10)
    const bad = MINIMAL.replace('StatusCode: 200', 'StatusCode: true')
    expectError(bad, 'Listeners[0].DefaultActions[0].FixedResponseConfig.StatusCode', /expected an integer/, 'true')
  })
})
