import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { ForwardAction } from '../../../src/config/model.js'
import { expectError, expectWarning, https, load, R, rule, withRules } from '../fixtures.js'

describe('actions', () => {
  test('Order is 1..50000 and unique within a rule', () => {
    const range = withRules(rule(1, '[{ Type: forward, TargetGroupArn: app, Order: 50001 }]'))
    expectError(range, `${R}[0].Actions[0].Order`, /1\.\.50000, got 50001/, '50001')
    const dup = withRules(
      rule(
        1,
        `
          - { Type: jwt-validation, Order: 3, JwtValidationConfig: { JwksEndpoint: "https://i.example.com/k", Issuer: i } }
          - { Type: forward, TargetGroupArn: app, Order: 3 }`,
      ),
    )
    expectError(
      https(dup),
      `${R}[0].Actions[1].Order`,
      /Order 3 is already used by Listeners\[0\]\.Rules\[0\]\.Actions\[0\]/,
      '3 }',
    )
  })

  test('exactly one final action', () => {
    const none = https(
      withRules(
        rule(
          1,
          '[{ Type: jwt-validation, JwtValidationConfig: { JwksEndpoint: "https://i.example.com/k", Issuer: i } }]',
        ),
      ),
    )
    expectError(none, `${R}[0].Actions`, /need one final action/, '[{ Type: jwt-validation')
    const two = withRules(
      rule(
        1,
        '[{ Type: forward, TargetGroupArn: app }, { Type: fixed-response, FixedResponseConfig: { StatusCode: "200" } }]',
      ),
    )
    expectError(
      two,
      `${R}[0].Actions[1]`,
      /only one final action .*Actions\[0\] is one already/,
      'Type: fixed-response',
      1,
    )
    const empty = withRules(rule(1, '[]'))
    expectError(empty, `${R}[0].Actions`, /at least one action/, '[]\n')
  })

  test('the final action comes last', () => {
    const text = https(
      withRules(
        rule(
          1,
          `
          - { Type: forward, TargetGroupArn: app, Order: 1 }
          - { Type: jwt-validation, Order: 2, JwtValidationConfig: { JwksEndpoint: "https://i.example.com/k", Issuer: i } }`,
        ),
      ),
    )
    expectError(
      text,
      `${R}[0].Actions[1]`,
      /jwt-validation must come before the final action \(forward\)/,
      'Type: jwt-validation',
    )
  })

  const OIDC = `{ Type: authenticate-oidc, AuthenticateOidcConfig: { Issuer: "https://idp.example.com", AuthorizationEndpoint: "https://idp.example.com/a", TokenEndpoint: "https://idp.example.com/t", UserInfoEndpoint: "https://idp.example.com/u", ClientId: c, ClientSecret: s } }`
  const COGNITO = `{ Type: authenticate-cognito, AuthenticateCognitoConfig: { UserPoolArn: "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_abc", UserPoolClientId: c, UserPoolDomain: login } }`
  const JWT = '{ Type: jwt-validation, JwtValidationConfig: { JwksEndpoint: "https://i.example.com/k", Issuer: i } }'

  test('at most one authenticate action per rule', () => {
    const text = https(withRules(rule(1, `[${OIDC}, ${COGNITO}, { Type: forward, TargetGroupArn: app }]`)))
    expectError(
      text,
      `${R}[0].Actions[1]`,
      /at most one authenticate \(oidc or cognito\) action/,
      'Type: authenticate-cognito',
    )
  })

  test('at most one jwt-validation action per rule', () => {
    const text = https(withRules(rule(1, `[${JWT}, ${JWT}, { Type: forward, TargetGroupArn: app }]`)))
    expectError(text, `${R}[0].Actions[1]`, /at most one jwt-validation action/, 'Type: jwt-validation', 1)
  })

  test('an action carries only its own config', () => {
    const text = withRules(
      rule(1, '[{ Type: forward, TargetGroupArn: app, FixedResponseConfig: { StatusCode: "200" } }]'),
    )
    expectError(
      text,
      `${R}[0].Actions[0].FixedResponseConfig`,
      /belongs to Type fixed-response/,
      '{ StatusCode: "200" }',
    )
    const missing = withRules(rule(1, '[{ Type: redirect }]'))
    expectError(missing, `${R}[0].Actions[0]`, /a redirect action needs RedirectConfig/, 'Type: redirect')
  })

  describe('forward', () => {
    test('target group references resolve, by name or ARN', () => {
      const text = withRules(rule(1, '[{ Type: forward, TargetGroupArn: nope }]'))
      expectError(
        text,
        `${R}[0].Actions[0].TargetGroupArn`,
        /target group "nope" is not defined in TargetGroups \(known: app, other\)/,
        'nope',
      )
      const viaArn = withRules(
        rule(
          1,
          '[{ Type: forward, TargetGroupArn: "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/other/0000000000000000" }]',
        ),
      )
      const { config } = load(viaArn)
      assert.equal(
        (config.listeners[0]!.rules[0]!.actions[0] as ForwardAction).targetGroups[0]!.targetGroupArn,
        config.targetGroups[1]!.arn,
      )
      expectError(
        withRules(rule(1, '[{ Type: forward }]')),
        `${R}[0].Actions[0]`,
        /needs TargetGroupArn or ForwardConfig/,
        'Type: forward',
      )
    })

    test('weights are 0..999', () => {
      const text = withRules(
        rule(1, '[{ Type: forward, ForwardConfig: { TargetGroups: [{ TargetGroupArn: app, Weight: 1000 }] } }]'),
      )
      expectError(text, `${R}[0].Actions[0].ForwardConfig.TargetGroups[0].Weight`, /0\.\.999, got 1000/, '1000')
    })

    test('every weight 0 is a warning', () => {
      const text = withRules(
        rule(1, '[{ Type: forward, ForwardConfig: { TargetGroups: [{ TargetGroupArn: app, Weight: 0 }] } }]'),
      )
      expectWarning(
        text,
        `${R}[0].Actions[0].ForwardConfig.TargetGroups`,
        /every weight is 0/,
        '[{ TargetGroupArn: app, Weight: 0 }]',
      )
    })

    test('at most 5 target groups, each once', () => {
      let groups = ''
      for (let i = 0; i < 6; i++) groups += `${i ? ', ' : ''}{ TargetGroupArn: tg${i} }`
      let tgs = ''
      for (let i = 0; i < 6; i++)
        tgs += `  - { TargetGroupName: tg${i}, Protocol: HTTP, Targets: [{ Id: 127.0.0.1, Port: ${4000 + i} }] }\n`
      const text = withRules(rule(1, `[{ Type: forward, ForwardConfig: { TargetGroups: [${groups}] } }]`), {
        top: '',
      }).replace('TargetGroups:\n', `TargetGroups:\n${tgs}`)
      expectError(
        text,
        `${R}[0].Actions[0].ForwardConfig.TargetGroups`,
        /at most 5 target groups, got 6/,
        '[{ TargetGroupArn: tg0 }',
      )
      const dup = withRules(
        rule(
          1,
          '[{ Type: forward, ForwardConfig: { TargetGroups: [{ TargetGroupArn: app }, { TargetGroupArn: app }] } }]',
        ),
      )
      expectError(dup, `${R}[0].Actions[0].ForwardConfig.TargetGroups[1].TargetGroupArn`, /already listed/, 'app }', 1)
    })

    test('group stickiness duration is 1..604800 and required when enabled', () => {
      const long = withRules(
        rule(
          1,
          '[{ Type: forward, ForwardConfig: { TargetGroups: [{ TargetGroupArn: app }], TargetGroupStickinessConfig: { Enabled: true, DurationSeconds: 604801 } } }]',
        ),
      )
      expectError(
        long,
        `${R}[0].Actions[0].ForwardConfig.TargetGroupStickinessConfig.DurationSeconds`,
        /1\.\.604800, got 604801/,
        '604801',
      )
      const missing = withRules(
        rule(
          1,
          '[{ Type: forward, ForwardConfig: { TargetGroups: [{ TargetGroupArn: app }], TargetGroupStickinessConfig: { Enabled: true } } }]',
        ),
      )
      expectError(
        missing,
        `${R}[0].Actions[0].ForwardConfig.TargetGroupStickinessConfig`,
        /DurationSeconds .* is required/,
        'Enabled: true',
      )
    })

    test('TargetGroupArn beside ForwardConfig must name the same single group', () => {
      const text = withRules(
        rule(
          1,
          '[{ Type: forward, TargetGroupArn: app, ForwardConfig: { TargetGroups: [{ TargetGroupArn: other }] } }]',
        ),
      )
      expectError(
        text,
        `${R}[0].Actions[0].TargetGroupArn`,
        /only allowed when ForwardConfig names that single target group/,
        'app,',
      )
    })
  })

  describe('fixed-response', () => {
    const fixed = (cfg: string) => withRules(rule(1, `[{ Type: fixed-response, FixedResponseConfig: ${cfg} }]`))
    test('status is 2XX, 4XX or 5XX', () => {
      expectError(
        fixed('{ StatusCode: "302" }'),
        `${R}[0].Actions[0].FixedResponseConfig.StatusCode`,
        /2XX, 4XX or 5XX status code, got 302/,
        '"302"',
      )
      expectError(fixed('{ StatusCode: 600 }'), `${R}[0].Actions[0].FixedResponseConfig.StatusCode`, /got 600/, '600')
    })
    test('content type is one of the allowed five', () => {
      expectError(
        fixed('{ StatusCode: "200", ContentType: text/xml }'),
        `${R}[0].Actions[0].FixedResponseConfig.ContentType`,
        /expected one of text\/plain, text\/css, text\/html, application\/javascript, application\/json, got "text\/xml"/,
        'text/xml',
      )
    })
    test('the body is at most 1024 characters', () => {
      const body = 'x'.repeat(1025)
      expectError(
        fixed(`{ StatusCode: "200", MessageBody: ${body} }`),
        `${R}[0].Actions[0].FixedResponseConfig.MessageBody`,
        /at most 1024 characters, got 1025/,
        body,
      )
      assert.ok(load(fixed(`{ StatusCode: "200", MessageBody: ${'x'.repeat(1024)} }`)))
    })
  })

  describe('redirect', () => {
    const redirect = (cfg: string) => withRules(rule(1, `[{ Type: redirect, RedirectConfig: ${cfg} }]`))
    const path = `${R}[0].Actions[0].RedirectConfig`
    test('must change protocol, host, port or path (placeholders are no change)', () => {
      expectError(
        redirect('{ StatusCode: HTTP_301 }'),
        path,
        /must change at least one of Protocol, Host, Port or Path/,
        '{ StatusCode: HTTP_301 }',
      )
      expectError(
        redirect('{ Host: "#{host}", Port: "#{port}", Path: "/#{path}", Query: "a=1", StatusCode: HTTP_302 }'),
        path,
        /would redirect to the same URL/,
        '{ Host:',
      )
      // The listener is HTTP on 8080: naming those explicitly changes nothing either.
      expectError(
        redirect('{ Protocol: HTTP, Port: 8080, StatusCode: HTTP_301 }'),
        path,
        /must change/,
        '{ Protocol: HTTP,',
      )
      for (const change of ['Protocol: HTTPS', 'Host: example.com', 'Port: 8443', 'Path: /other']) {
        assert.ok(load(redirect(`{ ${change}, StatusCode: HTTP_301 }`)), change)
      }
    })
    test('status code is HTTP_301 or HTTP_302', () => {
      expectError(
        redirect('{ Host: a.example.com, StatusCode: HTTP_307 }'),
        `${path}.StatusCode`,
        /expected one of HTTP_301, HTTP_302; got "HTTP_307"/,
        'HTTP_307',
      )
    })
    test('HTTPS to HTTP is refused', () => {
      expectError(
        https(redirect('{ Protocol: HTTP, Host: a.example.com, StatusCode: HTTP_301 }')),
        `${path}.Protocol`,
        /from an HTTPS listener to HTTP is refused/,
        'HTTP, Host',
      )
    })
    test('fields are checked', () => {
      expectError(
        redirect('{ Protocol: FTP, StatusCode: HTTP_301 }'),
        `${path}.Protocol`,
        /expected HTTP, HTTPS or #\{protocol\}/,
        'FTP',
      )
      expectError(redirect('{ Port: 0, StatusCode: HTTP_301 }'), `${path}.Port`, /1\.\.65535, got 0/, '0,')
      expectError(
        redirect('{ Path: relative, StatusCode: HTTP_301 }'),
        `${path}.Path`,
        /must start with "\/"/,
        'relative',
      )
      expectError(
        redirect('{ Host: x.example.com, Query: "?a=1", StatusCode: HTTP_301 }'),
        `${path}.Query`,
        /without its leading "\?"/,
        '"?a=1"',
      )
    })
  })
})
