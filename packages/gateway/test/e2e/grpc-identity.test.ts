/**
 * `@portcullis/verify/grpc` end to end, through the real `portcullis start`
 * process: a user logs in at the development IdP (the browser flow, over
 * HTTP/1.1), a grpc-js client then calls a gRPC service behind an
 * `authenticate-oidc` rule with that session cookie as metadata, and the
 * grpc-js target verifies the `x-amzn-oidc-*` metadata the gateway added
 * against the gateway's own signing keys (admin `/keys`).
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import * as grpc from '@grpc/grpc-js'
import { createAlbVerifier } from '@portcullis/verify'
import { grpcStatusOf, verifyGrpcCall } from '@portcullis/verify/grpc'
import { Agent } from 'undici'
import { createDevIdentityProvider, type DevIdentityProvider } from '../../src/idp/provider.js'
import { ensureLeafCertificate, ensureLocalCa, type LocalCa } from '../../src/tls/local-ca.js'
import { WHO_AM_I, type WhoAmIClient } from '../fixtures/grpc.js'
import { logInAtDevIdp } from '../fixtures/login.js'
import { freePort } from '../fixtures/ports.js'
import { type RunningCli, startGatewayCli } from '../fixtures/process.js'
import { startUpstream } from '../fixtures/servers.js'

const CLIENT_ID = 'e2e-grpc'
const CLIENT_SECRET = 'e2e-grpc-secret'
const LB_ARN = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/grpc-identity/50dc6c495c0c9188'

describe('a gRPC target verifies the identity the gateway adds, with @portcullis/verify/grpc', {
  timeout: 120_000,
}, () => {
  let dir: string
  let ca: LocalCa
  let idp: DevIdentityProvider
  let gateway: RunningCli
  let target: grpc.Server
  let web: Awaited<ReturnType<typeof startUpstream>>
  let port: number
  let client: WhoAmIClient
  let dispatcher: Agent

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-grpc-identity-'))
    ca = await ensureLocalCa(join(dir, 'state'))
    const leaf = await ensureLeafCertificate(join(dir, 'state'))
    port = await freePort()
    const admin = await freePort()
    idp = await createDevIdentityProvider({
      tls: leaf,
      clients: [
        {
          clientId: CLIENT_ID,
          clientSecret: CLIENT_SECRET,
          redirectUris: [`https://localhost:${port}/oauth2/idpresponse`],
        },
      ],
    })
    const verifier = createAlbVerifier({
      signer: LB_ARN,
      issuer: idp.issuer,
      clientId: CLIENT_ID,
      keyEndpoint: `http://127.0.0.1:${admin}/keys`,
      trustedProxies: ['127.0.0.1/32'],
    })
    target = new grpc.Server()
    target.addService(WHO_AM_I, {
      async whoAmI(call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) {
        try {
          const { claims, identity } = await verifyGrpcCall(verifier, call)
          callback(null, Buffer.from(`${identity} ${String(claims.email)}`))
        } catch (error) {
          callback({ code: grpcStatusOf(error), details: (error as { code?: string }).code ?? 'error' })
        }
      },
    })
    const targetPort = await new Promise<number>((resolve, reject) =>
      target.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    )
    web = await startUpstream((_req, res) => res.end('logged in'))
    const oidc = (onUnauthenticated: string) => `
          - Type: authenticate-oidc
            AuthenticateOidcConfig:
              Issuer: "${idp.issuer}"
              AuthorizationEndpoint: "${idp.endpoints.authorization}"
              TokenEndpoint: "${idp.endpoints.token}"
              UserInfoEndpoint: "${idp.endpoints.userinfo}"
              ClientId: ${CLIENT_ID}
              ClientSecret: ${CLIENT_SECRET}
              Scope: openid email profile
              OnUnauthenticatedRequest: ${onUnauthenticated}`
    const file = join(dir, 'portcullis.yaml')
    await writeFile(
      file,
      `LoadBalancer: { Arn: "${LB_ARN}" }
Listeners:
  - Port: ${port}
    Protocol: HTTPS
    Certificates: [{ CertificateFile: "${leaf.certPath}", PrivateKeyFile: "${leaf.keyPath}" }]
    Portcullis: { Address: 127.0.0.1 }
    DefaultActions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: "404" } }]
    Rules:
      - Priority: 10
        Conditions: [{ Field: path-pattern, Values: ["/login"] }]
        Actions:${oidc('authenticate')}
          - { Type: forward, TargetGroupArn: web }
      - Priority: 20
        Conditions: [{ Field: path-pattern, Values: ["/test.Identity/*"] }]
        Actions:${oidc('deny')}
          - { Type: forward, TargetGroupArn: grpc }
TargetGroups:
  - { TargetGroupName: web, Protocol: HTTP, HealthCheckEnabled: false, Targets: [{ Id: 127.0.0.1, Port: ${web.port} }] }
  - { TargetGroupName: grpc, Protocol: HTTP, ProtocolVersion: GRPC, Targets: [{ Id: 127.0.0.1, Port: ${targetPort} }] }
Portcullis:
  StateDirectory: ./state
  CaFile: "${ca.caCertPath}"
  Admin: { Address: 127.0.0.1, Port: ${admin} }
`,
    )
    gateway = await startGatewayCli(file, dir)
    const Made = grpc.makeGenericClientConstructor(WHO_AM_I, 'Identity')
    client = new Made(
      `localhost:${port}`,
      grpc.credentials.createSsl(Buffer.from(ca.caCertPem)),
    ) as unknown as WhoAmIClient
    dispatcher = new Agent({ connect: { ca: ca.caCertPem } })
  })

  after(async () => {
    client?.close()
    await dispatcher?.close()
    if (gateway?.child.exitCode === null) {
      gateway.child.kill('SIGTERM')
      await once(gateway.child, 'exit')
    }
    target?.forceShutdown()
    await web?.close()
    await idp?.close()
    await rm(dir, { recursive: true, force: true })
  })

  const call = (metadata: grpc.Metadata) =>
    new Promise<{ code: number; details?: string; response?: string }>((resolve) =>
      client.whoAmI(Buffer.alloc(0), metadata, (error, response) =>
        resolve(error ? { code: error.code, details: error.details } : { code: 0, response: response?.toString() }),
      ),
    )

  test('with the session cookie as metadata, the target verifies who is calling', async () => {
    // undici's own Agent, trusting the local CA: the global fetch's RequestInit does not name its type.
    const transport = { dispatcher } as unknown as RequestInit
    const cookie = await logInAtDevIdp(`https://localhost:${port}/login`, undefined, undefined, transport)
    const metadata = new grpc.Metadata()
    metadata.set('cookie', cookie)
    const { code, response } = await call(metadata)
    assert.equal(code, 0)
    assert.match(response ?? '', /^\S+ alice@/)
  })

  test('without a session, the deny rule answers UNAUTHENTICATED; forged identity metadata never reaches the target', async () => {
    assert.deepEqual(await call(new grpc.Metadata()), {
      code: grpc.status.UNAUTHENTICATED,
      details: '401 Unauthorized',
    })
    // Identity headers a client sends itself are stripped by the gateway, so the deny rule still answers.
    const forged = new grpc.Metadata()
    forged.set('x-amzn-oidc-data', 'e30.e30.e30')
    forged.set('x-amzn-oidc-identity', 'mallory')
    assert.deepEqual(await call(forged), { code: grpc.status.UNAUTHENTICATED, details: '401 Unauthorized' })
  })
})
