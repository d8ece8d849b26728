import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { createAlbVerifier } from '@portcullis/verify'
import { createDevIdentityProvider, type DevIdentityProvider } from '../../src/idp/provider.js'
import type { RunningGateway } from '../../src/server/gateway.js'
import { logInAtDevIdp } from '../fixtures/login.js'
import { freePort } from '../fixtures/ports.js'
import { type Echo, echoHandler, gatewayFromYaml, send, startUpstream } from '../fixtures/servers.js'

// Client-sent identity headers through the real listener pipeline, in each
// OnUnauthenticatedRequest mode: every spelling and every duplicate is gone
// before the authenticate action runs, and only the gateway's own values
// (one of each) reach the target.
const ARN = 'arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/spoof-alb/50dc6c495c0c9188'
const SPOOFED = [
  'X-Amzn-Oidc-Data',
  'forged.data.token',
  'x_amzn_oidc_identity',
  'admin',
  'X-AMZN-OIDC-ACCESSTOKEN',
  'stolen',
  'x-amzn-oidc-identity',
  'second-copy',
  'x-amzn-oidc-data',
  'another',
]

describe('identity-header spoofing through the gateway, in all three modes', () => {
  let idp: DevIdentityProvider
  let gateway: RunningGateway
  let upstream: Awaited<ReturnType<typeof startUpstream>>
  let base: string
  let cookie: string

  before(async () => {
    upstream = await startUpstream(echoHandler)
    const port = await freePort()
    base = `http://127.0.0.1:${port}`
    idp = await createDevIdentityProvider({
      clients: [{ clientId: 'spoof', clientSecret: 'spoof-secret', redirectUris: [`${base}/oauth2/idpresponse`] }],
    })
    const auth = (mode: string) => `
          - Type: authenticate-oidc
            AuthenticateOidcConfig:
              Issuer: ${idp.issuer}
              AuthorizationEndpoint: ${idp.endpoints.authorization}
              TokenEndpoint: ${idp.endpoints.token}
              UserInfoEndpoint: ${idp.endpoints.userinfo}
              ClientId: spoof
              ClientSecret: spoof-secret
              OnUnauthenticatedRequest: ${mode}
          - Type: forward
            TargetGroupArn: app`
    gateway = await gatewayFromYaml(
      `
LoadBalancer: { Name: spoof-alb, Region: us-east-1, Arn: "${ARN}" }
Listeners:
  - Port: ${port}
    Protocol: HTTP
    Portcullis: { Address: 127.0.0.1 }
    Rules:
      - Priority: 1
        Conditions: [{ Field: path-pattern, Values: ["/allow*"] }]
        Actions:${auth('allow')}
      - Priority: 2
        Conditions: [{ Field: path-pattern, Values: ["/deny*"] }]
        Actions:${auth('deny')}
    DefaultActions:${auth('authenticate').replace(/^ {4}/gm, '')}
TargetGroups:
  - TargetGroupName: app
    Protocol: HTTP
    Targets: [{ Id: 127.0.0.1, Port: ${upstream.port} }]
Portcullis:
  AllowInsecureHttpAuthentication: true
  Admin: { Address: 127.0.0.1, Port: 0 }
`,
      undefined,
      { admin: true },
    )
    cookie = await logInAtDevIdp(`${base}/`)
  })

  after(async () => {
    await gateway.close({ deadlineMs: 1000 })
    await idp.close()
    await upstream.close()
  })

  const identityHeadersOf = (echo: Echo) =>
    echo.rawHeaders.flatMap((name, i) =>
      i % 2 === 0 && /^x[-_]amzn[-_]oidc/i.test(name) ? [[name.toLowerCase(), echo.rawHeaders[i + 1]]] : [],
    )

  test('allow without a session: forwarded with no identity header at all', async () => {
    const res = await send(`${base}/allow`, { headers: ['Host', '127.0.0.1', ...SPOOFED] })
    assert.equal(res.status, 200)
    assert.deepEqual(identityHeadersOf(JSON.parse(res.body) as Echo), [])
  })

  test('deny without a session: 401, the spoofed identity buys nothing', async () => {
    const res = await send(`${base}/deny`, { headers: ['Host', '127.0.0.1', ...SPOOFED] })
    assert.equal(res.status, 401)
  })

  test('authenticate without a session: 302 to the IdP, not a forward', async () => {
    const res = await send(`${base}/app`, { headers: ['Host', '127.0.0.1', ...SPOOFED] })
    assert.equal(res.status, 302)
    assert.ok(res.headers.location?.startsWith(idp.endpoints.authorization))
  })

  for (const path of ['/allow', '/deny', '/app']) {
    test(`with a session on ${path}: exactly the gateway's three headers, and they verify`, async () => {
      const res = await send(`${base}${path}`, { headers: ['Host', '127.0.0.1', 'Cookie', cookie, ...SPOOFED] })
      assert.equal(res.status, 200)
      const headers = identityHeadersOf(JSON.parse(res.body) as Echo)
      assert.deepEqual(headers.map(([name]) => name).sort(), [
        'x-amzn-oidc-accesstoken',
        'x-amzn-oidc-data',
        'x-amzn-oidc-identity',
      ])
      for (const [, value] of headers)
        assert.ok(!['forged.data.token', 'admin', 'stolen', 'second-copy', 'another'].includes(value!))
      // And they are the real thing: they verify against the gateway's published key.
      const verifier = createAlbVerifier({
        signer: ARN,
        issuer: idp.issuer,
        clientId: 'spoof',
        keyEndpoint: `${gateway.adminUrl}keys`,
      })
      const identity = await verifier.verifyRequest(Object.fromEntries(headers))
      // Scope `openid` alone: userinfo carries the subject, which is alice's.
      assert.equal(identity.claims.sub, idp.users.find((u) => u.username === 'alice')!.sub)
      assert.equal(identity.identity, identity.claims.sub)
      assert.equal(identity.claims.iss, idp.issuer)
    })
  }
})
