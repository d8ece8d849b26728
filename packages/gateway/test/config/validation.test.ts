import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { ForwardAction, JwtValidationAction } from '../../src/config/model.js'
import { expectError, expectWarning, https, issuesOf, load, rule, withRules } from './fixtures.js'

const FORWARD = '[{ Type: forward, TargetGroupArn: app }]'
const R = 'Listeners[0].Rules'

describe('rules and priorities', () => {
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

  test('a non-default rule needs a condition; the default rule has none', () => {
    expectError(withRules(rule(3, FORWARD, '[]')), `${R}[0]`, /at least one condition/, 'Priority: 3')
    const text = withRules(
      '      - { Priority: default, IsDefault: true, Conditions: [{ Field: path-pattern, Values: [/x] }], Actions: [{ Type: forward, TargetGroupArn: app }] }\n',
    ).replace(/ {4}DefaultActions:.*\n/, '')
    expectError(text, `${R}[0].Conditions`, /the default rule has no conditions/, '[{ Field: path-pattern')
  })

  test('the default rule is given once, and is required', () => {
    const twice = withRules(
      '      - { Priority: default, Conditions: [], Actions: [{ Type: forward, TargetGroupArn: app }] }\n',
    )
    expectError(twice, `${R}[0]`, /already given by Listeners\[0\]\.DefaultActions/, 'Priority: default')
    const none = withRules(rule(1, FORWARD)).replace(/ {4}DefaultActions:.*\n/, '')
    expectError(none, 'Listeners[0]', /needs DefaultActions/, 'Protocol: HTTP')
    const mismatch = withRules(
      '      - { Priority: 4, IsDefault: true, Conditions: [], Actions: [{ Type: forward, TargetGroupArn: app }] }\n',
    ).replace(/ {4}DefaultActions:.*\n/, '')
    expectError(mismatch, `${R}[0].Priority`, /IsDefault: true has Priority "default"/, '4, IsDefault')
  })

  test('more than 100 rules on a listener is over the quota: a warning', () => {
    let rules = ''
    for (let i = 1; i <= 101; i++) rules += rule(i, FORWARD)
    const text = withRules(rules)
    expectWarning(text, R, /101 rules exceed ALB's default quota of 100/, '- Priority: 1\n')
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

describe('conditions', () => {
  const cond = (c: string) => withRules(rule(1, FORWARD, `[${c}]`))
  const C = `${R}[0].Conditions`

  test('more than 5 wildcards in a rule is an error', () => {
    const text = withRules(
      rule(
        1,
        FORWARD,
        '[{ Field: path-pattern, Values: ["/a*/b?/c*"] }, { Field: host-header, Values: ["*.example.com"] }, { Field: query-string, QueryStringConfig: { Values: [{ Key: "k*", Value: "v\\\\*" }, { Value: "z?" }] } }]',
      ),
    )
    expectError(text, `${C}[2]`, /at most 5 wildcards .* uses 6/, 'Field: query-string')
    // An escaped \* in a query string is a literal, not a wildcard.
    assert.ok(load(text.replace('z?', 'z')))
  })

  test('more than 5 condition values in a rule is over the quota: a warning', () => {
    const text = cond('{ Field: path-pattern, Values: [/a, /b, /c, /d, /e, /f] }')
    expectWarning(text, `${C}[0]`, /6 values, over ALB's default quota of 5/, 'Field: path-pattern')
  })

  test('http-header: not Host, no wildcards in the name', () => {
    expectError(
      cond('{ Field: http-header, HttpHeaderConfig: { HttpHeaderName: host, Values: [a] } }'),
      `${C}[0].HttpHeaderConfig.HttpHeaderName`,
      /use a host-header condition/,
      'host,',
    )
    expectError(
      cond('{ Field: http-header, HttpHeaderConfig: { HttpHeaderName: "X-*", Values: [a] } }'),
      `${C}[0].HttpHeaderConfig.HttpHeaderName`,
      /cannot contain wildcards/,
      '"X-*"',
    )
    expectError(
      cond('{ Field: http-header, HttpHeaderConfig: { HttpHeaderName: "X Y", Values: [a] } }'),
      `${C}[0].HttpHeaderConfig.HttpHeaderName`,
      /not a valid header name/,
      '"X Y"',
    )
    expectError(cond('{ Field: http-header, Values: [a] }'), `${C}[0]`, /needs HttpHeaderConfig/, 'Field: http-header')
  })

  test('source-ip values are CIDR blocks', () => {
    for (const bad of ['10.0.0.1', '10.0.0.0/33', '2001:db8::/129', 'example.com/8', '10.0.0.0/8/1']) {
      expectError(
        cond(`{ Field: source-ip, SourceIpConfig: { Values: ["${bad}"] } }`),
        `${C}[0].SourceIpConfig.Values[0]`,
        /expected a CIDR block/,
        `"${bad}"`,
      )
    }
    assert.ok(load(cond('{ Field: source-ip, SourceIpConfig: { Values: ["2001:db8::/32"] } }')))
  })

  test('RegexValues must compile', () => {
    expectError(
      cond('{ Field: path-pattern, PathPatternConfig: { RegexValues: ["^/(a|b"] } }'),
      `${C}[0].PathPatternConfig.RegexValues[0]`,
      /not a valid regular expression/,
      '"^/(a|b"',
    )
    expectError(
      cond('{ Field: host-header, RegexValues: ["[z-a]"] }'),
      `${C}[0].RegexValues[0]`,
      /not a valid regular expression/,
      '"[z-a]"',
    )
  })

  test('methods, lengths, and host characters', () => {
    expectError(
      cond('{ Field: http-request-method, HttpRequestMethodConfig: { Values: [get] } }'),
      `${C}[0].HttpRequestMethodConfig.Values[0]`,
      /A-Z/,
      'get]',
    )
    const long = `/${'a'.repeat(128)}`
    expectError(
      cond(`{ Field: path-pattern, Values: ["${long}"] }`),
      `${C}[0].Values[0]`,
      /at most 128 characters, got 129/,
      `"${long}"`,
    )
    expectError(
      cond('{ Field: host-header, Values: ["example.com:8080"] }'),
      `${C}[0].Values[0]`,
      /no port/,
      '"example.com:8080"',
    )
    expectWarning(
      cond('{ Field: host-header, Values: [localhost] }'),
      `${C}[0].Values[0]`,
      /works in Portcullis only/,
      'localhost]',
    )
  })

  test('a condition needs values, in the form of its Field', () => {
    expectError(cond('{ Field: path-pattern }'), `${C}[0]`, /has no values/, 'Field: path-pattern')
    expectError(
      cond('{ Field: path-pattern, HostHeaderConfig: { Values: [a.example.com] } }'),
      `${C}[0].HostHeaderConfig`,
      /belongs to Field host-header/,
      '{ Values: [a.example.com] }',
    )
    expectError(
      cond('{ Field: source-ip, Values: ["10.0.0.0/8"] }'),
      `${C}[0].Values`,
      /gives its values in SourceIpConfig/,
      '["10.0.0.0/8"]',
    )
    expectError(
      cond('{ Field: path-pattern, Values: [/a], PathPatternConfig: { Values: [/b] } }'),
      `${C}[0].Values`,
      /differs from PathPatternConfig\.Values/,
      '[/a]',
    )
  })

  test('host-header, path-pattern, method and source-ip appear once per rule', () => {
    expectError(
      cond('{ Field: path-pattern, Values: [/a] }, { Field: path-pattern, Values: [/b] }'),
      `${C}[1].Field`,
      /at most one path-pattern condition/,
      'path-pattern, Values: [/b]',
    )
    assert.ok(
      load(
        cond(
          '{ Field: http-header, HttpHeaderConfig: { HttpHeaderName: A, Values: ["1"] } }, { Field: http-header, HttpHeaderConfig: { HttpHeaderName: B, Values: ["2"] } }',
        ),
      ),
    )
  })
})

describe('transforms', () => {
  const transform = (t: string) =>
    withRules(`      - Priority: 1
        Conditions: [{ Field: path-pattern, Values: ["/x/*"] }]
        Transforms: [${t}]
        Actions: ${FORWARD}
`)
  const T = `${R}[0].Transforms`

  test('load into the model', () => {
    const { config } = load(
      transform(
        '{ Type: url-rewrite, UrlRewriteConfig: { Rewrites: [{ Regex: "^/x/(.*)$", Replace: "/$1" }] } }, { Type: host-header-rewrite, HostHeaderRewriteConfig: { Rewrites: [{ Regex: "^(.*)$", Replace: "internal" }] } }',
      ),
    )
    assert.deepEqual(config.listeners[0]!.rules[0]!.transforms, [
      { type: 'url-rewrite', regex: '^/x/(.*)$', replace: '/$1' },
      { type: 'host-header-rewrite', regex: '^(.*)$', replace: 'internal' },
    ])
  })

  test('regexes must compile', () => {
    expectError(
      transform('{ Type: url-rewrite, UrlRewriteConfig: { Rewrites: [{ Regex: "(unclosed", Replace: "/" }] } }'),
      `${T}[0].UrlRewriteConfig.Rewrites[0].Regex`,
      /not a valid regular expression/,
      '"(unclosed"',
    )
  })

  test('one of each type, with its own config, never on the default rule', () => {
    const two = '{ Type: url-rewrite, UrlRewriteConfig: { Rewrites: [{ Regex: a, Replace: b }] } }'
    expectError(transform(`${two}, ${two}`), `${T}[1].Type`, /at most one url-rewrite transform/, 'url-rewrite', 1)
    expectError(transform('{ Type: url-rewrite }'), `${T}[0]`, /needs UrlRewriteConfig/, 'Type: url-rewrite')
    const onDefault = withRules(
      `      - { Priority: default, Conditions: [], Transforms: [${two}], Actions: ${FORWARD} }\n`,
    ).replace(/ {4}DefaultActions:.*\n/, '')
    expectError(onDefault, `${R}[0].Transforms`, /default rule cannot have transforms/, `[${two}]`)
  })
})

describe('listeners and authentication', () => {
  const OIDC_CONFIG = (issuer = 'https://idp.example.com', extra = '') =>
    `{ Issuer: "${issuer}", AuthorizationEndpoint: "${issuer}/a", TokenEndpoint: "${issuer}/t", UserInfoEndpoint: "${issuer}/u", ClientId: c${extra} }`
  const oidc = (cfg: string) =>
    rule(1, `[{ Type: authenticate-oidc, AuthenticateOidcConfig: ${cfg} }, { Type: forward, TargetGroupArn: app }]`)
  const A = `${R}[0].Actions[0]`

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

  test('authentication on an HTTP listener is refused without the development opt-in', () => {
    const text = withRules(oidc(OIDC_CONFIG('https://idp.example.com', ', ClientSecret: s')))
    const issue = expectError(
      text,
      A,
      /only accepted on HTTPS listeners.*AllowInsecureHttpAuthentication: true.*loopback/,
      'Type: authenticate-oidc',
    )
    assert.match(issue.message, /Address: 127\.0\.0\.1/)
    const jwt = withRules(
      rule(
        1,
        '[{ Type: jwt-validation, JwtValidationConfig: { JwksEndpoint: "https://i.example.com/k", Issuer: i } }, { Type: forward, TargetGroupArn: app }]',
      ),
    )
    expectError(jwt, A, /jwt-validation is only accepted on HTTPS listeners/, 'Type: jwt-validation')
  })

  test('the opt-in is refused on a non-loopback listener address', () => {
    const text = withRules(oidc(OIDC_CONFIG('https://idp.example.com', ', ClientSecret: s')), {
      top: 'Portcullis: { AllowInsecureHttpAuthentication: true }\n',
    })
    expectError(
      text,
      A,
      /only when the listener binds a loopback address; Listeners\[0\] binds 0\.0\.0\.0/,
      'Type: authenticate-oidc',
    )
  })

  test('the opt-in on a loopback listener loads, with a warning; http IdP URLs on loopback hosts too', () => {
    for (const address of ['127.0.0.1', '::1', 'localhost', '127.8.9.10']) {
      const text = withRules(oidc(OIDC_CONFIG('http://127.0.0.1:9000', ', ClientSecret: s')), {
        listener: `    Portcullis: { Address: "${address}" }\n`,
        top: 'Portcullis: { AllowInsecureHttpAuthentication: true }\n',
      })
      const { config } = load(text)
      assert.equal(config.portcullis.allowInsecureHttpAuthentication, true)
      expectWarning(text, A, /plain HTTP listener \(development opt-in/, 'Type: authenticate-oidc')
    }
  })

  test('IdP URLs must be https; http only for loopback hosts under the opt-in', () => {
    const cfg = OIDC_CONFIG('http://idp.example.com', ', ClientSecret: s')
    const text = https(withRules(oidc(cfg)))
    expectError(text, `${A}.AuthenticateOidcConfig.Issuer`, /must be an https URL/, '"http://idp.example.com"')
    expectError(text, `${A}.AuthenticateOidcConfig.TokenEndpoint`, /must be an https URL/, '"http://idp.example.com/t"')
    const loopback = https(withRules(oidc(OIDC_CONFIG('http://localhost:9000', ', ClientSecret: s'))))
    expectError(
      loopback,
      `${A}.AuthenticateOidcConfig.AuthorizationEndpoint`,
      /http is allowed for loopback hosts only with Portcullis\.AllowInsecureHttpAuthentication: true/,
      '"http://localhost:9000/a"',
    )
    assert.ok(load(`${loopback}Portcullis: { AllowInsecureHttpAuthentication: true }\n`))
    const notUrl = https(withRules(oidc(OIDC_CONFIG('idp.example.com', ', ClientSecret: s'))))
    expectError(notUrl, `${A}.AuthenticateOidcConfig.Issuer`, /expected a full URL/, '"idp.example.com"')
  })

  test('ClientSecret is required unless UseExistingClientSecret', () => {
    const text = https(withRules(oidc(OIDC_CONFIG())))
    expectError(text, `${A}.AuthenticateOidcConfig`, /ClientSecret is required/, 'ClientId: c')
    const existing = load(
      https(withRules(oidc(OIDC_CONFIG('https://idp.example.com', ', UseExistingClientSecret: true')))),
    )
    assert.equal(
      (existing.config.listeners[0]!.rules[0]!.actions[0] as { clientSecret?: string }).clientSecret,
      undefined,
    )
  })

  test('SessionTimeout is 1..604800; at most 10 extra params, none reserved', () => {
    const timeout = https(
      withRules(oidc(OIDC_CONFIG('https://idp.example.com', ', ClientSecret: s, SessionTimeout: 604801'))),
    )
    expectError(timeout, `${A}.AuthenticateOidcConfig.SessionTimeout`, /1\.\.604800, got 604801/, '604801')
    const params = Array.from({ length: 11 }, (_, i) => `p${i}: v`).join(', ')
    const many = https(
      withRules(
        oidc(
          OIDC_CONFIG('https://idp.example.com', `, ClientSecret: s, AuthenticationRequestExtraParams: { ${params} }`),
        ),
      ),
    )
    expectError(
      many,
      `${A}.AuthenticateOidcConfig.AuthenticationRequestExtraParams`,
      /at most 10 parameters, got 11/,
      '{ p0: v',
    )
    const reserved = https(
      withRules(
        oidc(
          OIDC_CONFIG(
            'https://idp.example.com',
            ', ClientSecret: s, AuthenticationRequestExtraParams: { redirect_uri: x }',
          ),
        ),
      ),
    )
    expectError(
      reserved,
      `${A}.AuthenticateOidcConfig.AuthenticationRequestExtraParams`,
      /"redirect_uri" is set by the login flow/,
      'redirect_uri',
    )
  })

  test('extension settings are checked', () => {
    const text = https(
      withRules(
        oidc(
          OIDC_CONFIG(
            'https://idp.example.com',
            ', ClientSecret: s, Portcullis: { IdentityTokenLifetimeSeconds: 0, JwksUri: "http://idp.example.com/jwks" }',
          ),
        ),
      ),
    )
    expectError(text, `${A}.AuthenticateOidcConfig.Portcullis.IdentityTokenLifetimeSeconds`, /1\.\.3600, got 0/, '0,')
    expectError(
      text,
      `${A}.AuthenticateOidcConfig.Portcullis.JwksUri`,
      /must be an https URL/,
      '"http://idp.example.com/jwks"',
    )
    const typo = https(
      withRules(oidc(OIDC_CONFIG('https://idp.example.com', ', ClientSecret: s, Portcullis: { PKCE: false }'))),
    )
    expectError(typo, `${A}.AuthenticateOidcConfig.Portcullis.PKCE`, /did you mean Pkce\?/, 'PKCE')
    const noOpenid = https(withRules(oidc(OIDC_CONFIG('https://idp.example.com', ', ClientSecret: s, Scope: email'))))
    expectWarning(noOpenid, `${A}.AuthenticateOidcConfig.Scope`, /no "openid"/, 'email')
  })

  describe('jwt-validation', () => {
    const jwt = (claims: string, extra = '') =>
      https(
        withRules(
          rule(
            1,
            `[{ Type: jwt-validation, JwtValidationConfig: { JwksEndpoint: "https://i.example.com/k", Issuer: i, AdditionalClaims: [${claims}]${extra} } }, { Type: forward, TargetGroupArn: app }]`,
          ),
        ),
      )
    const J = `${A}.JwtValidationConfig`
    test('at most 10 additional claims', () => {
      const claims = Array.from({ length: 11 }, (_, i) => `{ Name: c${i}, Format: single-string, Values: [v] }`).join(
        ', ',
      )
      expectError(jwt(claims), `${J}.AdditionalClaims`, /at most 10 additional claims, got 11/, '[{ Name: c0')
    })
    test('claim names are not exp, iss, nbf or iat', () => {
      for (const name of ['exp', 'iss', 'nbf', 'iat']) {
        expectError(
          jwt(`{ Name: ${name}, Format: single-string, Values: [v] }`),
          `${J}.AdditionalClaims[0].Name`,
          /always validated/,
          `${name},`,
        )
      }
    })
    test('1..10 values per claim, and a known format', () => {
      const values = Array.from({ length: 11 }, (_, i) => `v${i}`).join(', ')
      expectError(
        jwt(`{ Name: scope, Format: string-array, Values: [${values}] }`),
        `${J}.AdditionalClaims[0].Values`,
        /1\.\.10 values, got 11/,
        '[v0',
      )
      expectError(
        jwt('{ Name: scope, Format: csv, Values: [a] }'),
        `${J}.AdditionalClaims[0].Format`,
        /expected one of single-string/,
        'csv',
      )
    })
    test('ES256 is an opt-in', () => {
      const { config } = load(jwt('', ', Portcullis: { AllowEs256: true }'))
      assert.deepEqual((config.listeners[0]!.rules[0]!.actions[0] as JwtValidationAction).algorithms, [
        'RS256',
        'ES256',
      ])
    })
    test('the JWKS endpoint is https', () => {
      const text = jwt('').replace('https://i.example.com/k', 'http://i.example.com/k')
      expectError(text, `${J}.JwksEndpoint`, /must be an https URL/, '"http://i.example.com/k"')
    })
  })
})

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
    expectWarning(
      attr('stickines.enabled', '"true"'),
      `${T}.Attributes[0].Key`,
      /unknown target group attribute/,
      'stickines.enabled',
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

  test('unsupported target types are refused; other protocol versions warn', () => {
    expectError(tg('    TargetType: lambda\n'), `${T}.TargetType`, /TargetType lambda is not supported/, 'lambda')
    expectWarning(tg('    ProtocolVersion: GRPC\n'), `${T}.ProtocolVersion`, /HTTP\/1\.1/, 'GRPC')
  })
})

describe('the load balancer', () => {
  const lb = (fields: string) => `LoadBalancer: { ${fields} }
Listeners:
  - Port: 8080
    Protocol: HTTP
    DefaultActions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: "404" } }]
`
  test('names, regions, accounts and ARNs are checked and must agree', () => {
    expectError(lb('Name: -bad'), 'LoadBalancer.Name', /1\.\.32 letters/, '-bad')
    expectError(lb('Name: internal-x'), 'LoadBalancer.Name', /internal-/, 'internal-x')
    expectError(lb('Region: Mars'), 'LoadBalancer.Region', /AWS region/, 'Mars')
    expectError(lb('AccountId: "123"'), 'LoadBalancer.AccountId', /12-digit/, '"123"')
    expectError(
      lb('Arn: "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/x/0123456789abcdef"'),
      'LoadBalancer.Arn',
      /application load balancer ARN/,
      '"arn:',
    )
    const arn = 'arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/x/0123456789abcdef'
    expectError(lb(`Name: y, Arn: "${arn}"`), 'LoadBalancer.Arn', /names load balancer "x" but Name is "y"/, `"${arn}"`)
    expectError(
      lb(`Region: eu-west-1, Arn: "${arn}"`),
      'LoadBalancer.Arn',
      /region us-east-1 but Region is eu-west-1/,
      `"${arn}"`,
    )
    expectError(lb(`AccountId: "000000000000", Arn: "${arn}"`), 'LoadBalancer.Arn', /account 123456789012/, `"${arn}"`)
  })

  test('attributes are validated; unknown ones warn, known inert ones do not', () => {
    const attr = (key: string, value: string) => lb(`Attributes: [{ Key: ${key}, Value: ${value} }]`)
    const A = 'LoadBalancer.Attributes[0].Value'
    expectError(attr('idle_timeout.timeout_seconds', '"0"'), A, /1\.\.4000, got 0/, '"0"')
    expectError(attr('idle_timeout.timeout_seconds', 'soon'), A, /1\.\.4000/, 'soon')
    expectError(attr('routing.http.xff_header_processing.mode', 'drop'), A, /append, preserve, remove/, 'drop')
    expectError(attr('routing.http2.enabled', '"no"'), A, /"true" or "false"/, '"no"')
    expectWarning(
      attr('idle_timeout.seconds', '"30"'),
      'LoadBalancer.Attributes[0].Key',
      /unknown load balancer attribute/,
      'idle_timeout.seconds',
    )
    assert.deepEqual(load(attr('deletion_protection.enabled', 'false')).warnings, [])
    const { config } = load(
      lb(
        'Attributes: [{ Key: idle_timeout.timeout_seconds, Value: 120 }, { Key: routing.http.xff_header_processing.mode, Value: remove }, { Key: routing.http.xff_client_port.enabled, Value: true }, { Key: client_keep_alive.seconds, Value: "600" }]',
      ),
    )
    assert.equal(config.loadBalancer.attributes.idleTimeoutSeconds, 120)
    assert.equal(config.loadBalancer.attributes.xffMode, 'remove')
    assert.equal(config.loadBalancer.attributes.xffClientPort, true)
    assert.equal(config.loadBalancer.attributes.clientKeepAliveSeconds, 600)
  })
})

test('every error is reported in one pass, in file order', () => {
  const text = withRules(
    rule(0, '[{ Type: forward, TargetGroupArn: nope }]') +
      rule(2, '[{ Type: fixed-response, FixedResponseConfig: { StatusCode: "999" } }]'),
  )
  const issues = issuesOf(text)
  assert.deepEqual(
    issues.map((i) => i.path),
    [`${R}[0].Priority`, `${R}[0].Actions[0].TargetGroupArn`, `${R}[1].Actions[0].FixedResponseConfig.StatusCode`],
  )
  const lines = issues.map((i) => i.line!)
  assert.deepEqual(
    lines,
    [...lines].sort((a, b) => a - b),
  )
})

describe('regular expressions are checked by the rule engine’s own compiler', () => {
  test('a nested repetition that JavaScript would run in exponential time is refused at load', () => {
    expectError(
      withRules(rule(1, FORWARD, '[{ Field: path-pattern, RegexValues: ["^(a+)+$"] }]')),
      `${R}[0].Conditions[0].RegexValues[0]`,
      /not a valid regular expression: a repeated group may not contain a repetition/,
      '"^(a+)+$"',
    )
  })

  test('a rewrite replacement naming a group the expression does not have is refused at load', () => {
    const rules = `      - Priority: 1
        Conditions: [{ Field: path-pattern, Values: ["/x/*"] }]
        Transforms: [{ Type: url-rewrite, UrlRewriteConfig: { Rewrites: [{ Regex: "^/x/(.*)$", Replace: "/y/$2" }] } }]
        Actions: ${FORWARD}
`
    expectError(withRules(rules), `${R}[0].Transforms[0].UrlRewriteConfig.Rewrites[0].Replace`, /group \$2/, '"/y/$2"')
  })
})
