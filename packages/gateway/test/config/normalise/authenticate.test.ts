import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { ConfigError } from '../../../src/config/errors.js'
import { loadConfig, parseConfig } from '../../../src/config/load.js'
import type { AuthenticateOidcAction, GatewayConfig, JwtValidationAction } from '../../../src/config/model.js'
import { BASE_DIR, expectError, expectWarning, https, load, positionOf, R, rule, withRules } from '../fixtures.js'

describe('authentication actions', () => {
  const OIDC_CONFIG = (issuer = 'https://idp.example.com', extra = '') =>
    `{ Issuer: "${issuer}", AuthorizationEndpoint: "${issuer}/a", TokenEndpoint: "${issuer}/t", UserInfoEndpoint: "${issuer}/u", ClientId: c${extra} }`
  const oidc = (cfg: string) =>
    rule(1, `[{ Type: authenticate-oidc, AuthenticateOidcConfig: ${cfg} }, { Type: forward, TargetGroupArn: app }]`)
  const A = `${R}[0].Actions[0]`

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
    expectError(
      text,
      `${A}.AuthenticateOidcConfig`,
      /ClientSecret is required; or.*UseExistingClientSecret: true and the environment variable PORTCULLIS_CLIENT_SECRET_C/,
      'ClientId: c',
    )
  })

  describe('UseExistingClientSecret: true, as describe-rules prints it', () => {
    const pasted = (clientId: string, extra = '') =>
      https(
        withRules(
          oidc(
            `{ Issuer: "https://idp.example.com", AuthorizationEndpoint: "https://idp.example.com/a", TokenEndpoint: "https://idp.example.com/t", UserInfoEndpoint: "https://idp.example.com/u", ClientId: "${clientId}", UseExistingClientSecret: true${extra} }`,
          ),
        ),
      )
    const env = { PORTCULLIS_CLIENT_SECRET_0OA1B2_WEB_APP: 'from-the-environment' }

    test('takes the secret from PORTCULLIS_CLIENT_SECRET_<client id>', () => {
      const { config } = load(pasted('0oa1b2-web.app'), { env })
      const action = config.listeners[0]!.rules[0]!.actions[0] as { clientSecret?: string }
      assert.equal(action.clientSecret, 'from-the-environment')
    })

    test('fails clearly, naming the variable, when it is not set', () => {
      expectError(
        pasted('0oa1b2-web.app'),
        `${A}.AuthenticateOidcConfig.UseExistingClientSecret`,
        /client "0oa1b2-web\.app" from the environment variable PORTCULLIS_CLIENT_SECRET_0OA1B2_WEB_APP \(or a file named 0oa1b2-web\.app in Portcullis\.ClientSecretsDirectory\); neither has it/,
        'true }',
      )
    })

    test('parseConfig reads process.env only when given no environment', () => {
      const variable = 'PORTCULLIS_CLIENT_SECRET_0OA1B2_WEB_APP'
      const before = process.env[variable]
      process.env[variable] = 'from-process-env'
      try {
        const secretOf = (config: GatewayConfig) =>
          (config.listeners[0]!.rules[0]!.actions[0] as AuthenticateOidcAction).clientSecret
        const text = pasted('0oa1b2-web.app')
        assert.equal(secretOf(parseConfig(text, { baseDir: BASE_DIR }).config), 'from-process-env')
        assert.equal(secretOf(parseConfig(text, { baseDir: BASE_DIR, env }).config), 'from-the-environment')
      } finally {
        if (before === undefined) delete process.env[variable]
        else process.env[variable] = before
      }
    })

    describe('or from a file in Portcullis.ClientSecretsDirectory (a mounted Kubernetes secret)', () => {
      // An HTTPS listener with a local certificate: loadConfig then reads only the secret files.
      const mounted = (clientId: string, directory: string) =>
        pasted(clientId).replace('    Certificates: [{ CertificateFile: c.pem, PrivateKeyFile: k.pem }]\n', '') +
        `Portcullis: { LocalCertificates: true, ClientSecretsDirectory: ${JSON.stringify(directory)} }\n`
      const inTemp = async (run: (dir: string, file: string) => Promise<void>) => {
        const dir = mkdtempSync(join(tmpdir(), 'portcullis-secrets-'))
        try {
          await run(dir, join(dir, 'portcullis.yaml'))
        } finally {
          rmSync(dir, { recursive: true, force: true })
        }
      }

      test('parseConfig reads no file: it records which one loadConfig will read', async () => {
        await inTemp(async (dir) => {
          const { config } = load(mounted('0oa1b2-web.app', join(dir, 'secrets')))
          const action = config.listeners[0]!.rules[0]!.actions[0] as AuthenticateOidcAction
          assert.equal(action.clientSecret, undefined)
          assert.equal(action.clientSecretFile, join(dir, 'secrets', '0oa1b2-web.app'))
        })
      })

      test('loadConfig reads the file named by the client id, without its final line break', async () => {
        await inTemp(async (dir, file) => {
          mkdirSync(join(dir, 'secrets'))
          writeFileSync(join(dir, 'secrets', '0oa1b2-web.app'), 'from-the-volume\n')
          writeFileSync(file, mounted('0oa1b2-web.app', './secrets'))
          const { config } = await loadConfig(file, { env: {} })
          const action = config.listeners[0]!.rules[0]!.actions[0] as AuthenticateOidcAction
          assert.equal(action.clientSecret, 'from-the-volume')
        })
      })

      test('the environment variable wins over the file', async () => {
        await inTemp(async (dir, file) => {
          mkdirSync(join(dir, 'secrets'))
          writeFileSync(join(dir, 'secrets', '0oa1b2-web.app'), 'from-the-volume')
          writeFileSync(file, mounted('0oa1b2-web.app', './secrets'))
          const { config } = await loadConfig(file, { env })
          const action = config.listeners[0]!.rules[0]!.actions[0] as AuthenticateOidcAction
          assert.equal(action.clientSecret, 'from-the-environment')
        })
      })

      test('neither source: loadConfig fails at the action, naming both', async () => {
        await inTemp(async (dir, file) => {
          mkdirSync(join(dir, 'secrets'))
          writeFileSync(join(dir, 'secrets', 'someone-else'), 'x')
          const text = mounted('0oa1b2-web.app', './secrets')
          writeFileSync(file, text)
          const error = await loadConfig(file, { env: {} }).then(
            () => assert.fail('expected the configuration to be refused'),
            (e: unknown) => e as ConfigError,
          )
          assert.ok(error instanceof ConfigError)
          const issue = error.issues.find((i) => i.severity === 'error')!
          assert.equal(issue.path, `${A}.AuthenticateOidcConfig.UseExistingClientSecret`)
          assert.equal(
            issue.message,
            `UseExistingClientSecret: true takes the secret of client "0oa1b2-web.app" from the environment variable PORTCULLIS_CLIENT_SECRET_0OA1B2_WEB_APP or the file ${join(dir, 'secrets', '0oa1b2-web.app')}; neither has it`,
          )
          assert.deepEqual({ line: issue.line, column: issue.column }, positionOf(text, 'UseExistingClientSecret'))
        })
      })
    })

    test('refuses ClientSecret together with UseExistingClientSecret: true, as AWS does', () => {
      expectError(
        pasted('c', ', ClientSecret: s'),
        `${A}.AuthenticateOidcConfig.ClientSecret`,
        /cannot be given with UseExistingClientSecret: true/,
        's }',
        0,
        { env: { PORTCULLIS_CLIENT_SECRET_C: 'set' } },
      )
    })
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

  test('LogoutPath and PostLogoutRedirectUri: a path, never a reserved one, and a same-host path or an https URL', () => {
    const withLogout = (settings: string) =>
      https(withRules(oidc(OIDC_CONFIG('https://idp.example.com', `, ClientSecret: s, Portcullis: { ${settings} }`))))
    const P = `${A}.AuthenticateOidcConfig.Portcullis`
    const ok = load(withLogout('LogoutPath: /x/logout, PostLogoutRedirectUri: "https://app.example.com/bye"'))
    const action = ok.config.listeners[0]!.rules[0]!.actions[0] as AuthenticateOidcAction
    assert.equal(action.logoutPath, '/x/logout')
    assert.equal(action.postLogoutRedirectUri, 'https://app.example.com/bye')
    expectError(withLogout('LogoutPath: "logout"'), `${P}.LogoutPath`, /expected a path such as \/logout/, '"logout"')
    expectError(withLogout('LogoutPath: "/x/out?next=1"'), `${P}.LogoutPath`, /no query/, '"/x/out?next=1"')
    expectError(withLogout('LogoutPath: "//evil.example"'), `${P}.LogoutPath`, /expected a path/, '"//evil.example"')
    expectError(
      withLogout('LogoutPath: /oauth2/idpresponse'),
      `${P}.LogoutPath`,
      /served by the gateway itself/,
      '/oauth2/idpresponse',
    )
    expectError(
      withLogout('LogoutPath: /oauth2/backchannel-logout'),
      `${P}.LogoutPath`,
      /served by the gateway itself/,
      '/oauth2/backchannel-logout',
    )
    for (const value of ['//evil.example/x', '/\\\\evil.example']) {
      expectError(
        withLogout(`PostLogoutRedirectUri: ${JSON.stringify(value)}`),
        `${P}.PostLogoutRedirectUri`,
        /is not a path on this host/,
        JSON.stringify(value),
      )
    }
    expectError(
      withLogout('PostLogoutRedirectUri: "http://app.example.com/bye"'),
      `${P}.PostLogoutRedirectUri`,
      /must be an https URL/,
      '"http://app.example.com/bye"',
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
