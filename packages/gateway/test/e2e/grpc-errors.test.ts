/**
 * Errors the load balancer generates for a gRPC request, through the real
 * `portcullis start` process and a real `@grpc/grpc-js` client: each reaches
 * the client as a well-formed gRPC status (HTTP 200, `grpc-status`,
 * `grpc-message`), never as an HTML page the client reports as a protocol
 * error; the access log keeps the HTTP status ALB logs (`elb_status_code`)
 * and the error reason.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import http2 from 'node:http2'
import https from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import * as grpc from '@grpc/grpc-js'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'
import { ensureLeafCertificate, ensureLocalCa, type LocalCa } from '../../src/tls/local-ca.js'
import { type RawUnaryWithMetadata, rawMethod } from '../fixtures/grpc.js'
import { freePort, listen } from '../fixtures/ports.js'
import { type RunningCli, startGatewayCli, waitFor } from '../fixtures/process.js'
import { startUpstream } from '../fixtures/servers.js'

const ISSUER = 'https://issuer.grpc.test'

/** A client for the unary method `/<service>.S/Call` (raw-bytes messages, no .proto). */
type Caller = grpc.Client & { call: RawUnaryWithMetadata }
const service = (name: string) => ({ call: rawMethod(`/${name}.S/Call`) }) satisfies grpc.ServiceDefinition

describe("the load balancer's own errors reach a gRPC client as gRPC statuses", { timeout: 120_000 }, () => {
  let dir: string
  let ca: LocalCa
  let gateway: RunningCli
  let port: number
  let log: string
  let target: grpc.Server
  let resetting: http2.Http2Server
  let jwks: https.Server
  let http1: Awaited<ReturnType<typeof startUpstream>>
  let validToken: string
  const clients: grpc.Client[] = []

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-grpc-errors-'))
    ca = await ensureLocalCa(join(dir, 'state'))
    const leaf = await ensureLeafCertificate(join(dir, 'state'))

    target = new grpc.Server()
    target.addService(service('slow'), {
      call: (_call: unknown, callback: grpc.sendUnaryData<Buffer>) =>
        setTimeout(() => callback(null, Buffer.from('late')), 3000).unref(),
    })
    target.addService(service('jwt'), {
      call: (_call: unknown, callback: grpc.sendUnaryData<Buffer>) => callback(null, Buffer.from('ok')),
    })
    const targetPort = await new Promise<number>((resolve, reject) =>
      target.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, p) =>
        error ? reject(error) : resolve(p),
      ),
    )
    // A target that resets every stream before answering.
    resetting = http2.createServer()
    resetting.on('stream', (stream) => {
      // Closing with an error code makes the server's own stream emit it.
      stream.on('error', () => {})
      stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR)
    })
    const resettingPort = await listen(resetting)
    http1 = await startUpstream((_req, res) => res.end('http/1.1'))
    const closed = await freePort()

    const signing = await generateKeyPair('RS256', { extractable: true })
    const jwk = { ...(await exportJWK(signing.publicKey)), kid: 'grpc-1', alg: 'RS256', use: 'sig' }
    jwks = https.createServer({ cert: leaf.certPem, key: leaf.keyPem }, (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ keys: [jwk] }))
    })
    const jwksUrl = `https://127.0.0.1:${await listen(jwks)}/jwks`
    validToken = await new SignJWT({ sub: 'machine' })
      .setProtectedHeader({ alg: 'RS256', kid: 'grpc-1' })
      .setIssuer(ISSUER)
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(signing.privateKey)

    port = await freePort()
    log = join(dir, 'access.log')
    const forward = (priority: number, name: string, group: string) => `      - Priority: ${priority}
        Conditions: [{ Field: path-pattern, Values: ["/${name}.S/*"] }]
        Actions: [{ Type: forward, TargetGroupArn: ${group} }]
`
    const grpcGroup = (name: string, targetPort: number | undefined, extra = '') =>
      `  - { TargetGroupName: ${name}, Protocol: HTTP, ProtocolVersion: GRPC, HealthCheckEnabled: false, Targets: [${targetPort === undefined ? '' : `{ Id: 127.0.0.1, Port: ${targetPort} }`}]${extra} }\n`
    const file = join(dir, 'portcullis.yaml')
    await writeFile(
      file,
      `LoadBalancer:
  Name: grpc-errors
Listeners:
  - Port: ${port}
    Protocol: HTTPS
    Certificates: [{ CertificateFile: "${leaf.certPath}", PrivateKeyFile: "${leaf.keyPath}" }]
    Portcullis: { Address: 127.0.0.1 }
    DefaultActions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: "404" } }]
    Rules:
${forward(10, 'empty', 'empty')}${forward(20, 'down', 'down')}${forward(30, 'slow', 'slow')}${forward(40, 'reset', 'reset')}${forward(50, 'plain', 'plain')}      - Priority: 60
        Conditions: [{ Field: path-pattern, Values: ["/jwt.S/*"] }]
        Actions:
          - Type: jwt-validation
            JwtValidationConfig: { JwksEndpoint: "${jwksUrl}", Issuer: "${ISSUER}" }
          - { Type: forward, TargetGroupArn: app }
TargetGroups:
${grpcGroup('empty', undefined)}${grpcGroup('down', closed)}${grpcGroup('slow', targetPort, ', Portcullis: { TargetTimeoutSeconds: 1 }')}${grpcGroup('reset', resettingPort)}${grpcGroup('app', targetPort)}  - { TargetGroupName: plain, Protocol: HTTP, HealthCheckEnabled: false, Targets: [{ Id: 127.0.0.1, Port: ${http1.port} }] }
Portcullis:
  StateDirectory: ./state
  CaFile: "${ca.caCertPath}"
  Admin: false
  AccessLog: { Format: json, Path: "${log}" }
`,
    )
    gateway = await startGatewayCli(file, dir)
  })

  after(async () => {
    for (const c of clients) c.close()
    if (gateway?.child.exitCode === null) {
      gateway.child.kill('SIGTERM')
      await once(gateway.child, 'exit')
    }
    target?.forceShutdown()
    resetting?.close()
    jwks?.closeAllConnections()
    jwks?.close()
    await http1?.close()
    await rm(dir, { recursive: true, force: true })
  })

  /** One call of `/<name>.S/Call` through the gateway, with `metadata`. */
  function call(
    name: string,
    metadata = new grpc.Metadata(),
  ): Promise<{ error: grpc.ServiceError | null; response?: string }> {
    const Client = grpc.makeGenericClientConstructor(service(name), name)
    const client = new Client(
      `localhost:${port}`,
      grpc.credentials.createSsl(Buffer.from(ca.caCertPem)),
    ) as unknown as Caller
    clients.push(client)
    return new Promise((resolve) =>
      client.call(Buffer.from('x'), metadata, (error, response) => resolve({ error, response: response?.toString() })),
    )
  }

  /** The access-log entry of the (only) request to `/<name>.S/Call`. */
  async function logged(name: string): Promise<Record<string, unknown>> {
    const find = async () =>
      (await readFile(log, 'utf8').catch(() => ''))
        .split('\n')
        .filter((l) => l.includes(`/${name}.S/Call`))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
    await waitFor(async () => (await find()).length > 0, `the access log line of ${name}`)
    return (await find()).at(-1)!
  }

  const cases = [
    {
      name: 'empty',
      why: 'a GRPC group with no target: 503',
      code: grpc.status.UNAVAILABLE,
      elb: 503,
      reason: 'TargetGroupEmpty',
      message: '503 Service Temporarily Unavailable',
    },
    {
      name: 'down',
      why: 'a target that refuses the connection: 502',
      code: grpc.status.UNAVAILABLE,
      elb: 502,
      reason: 'TargetConnectionError',
      message: '502 Bad Gateway',
    },
    {
      name: 'reset',
      why: 'a target that resets the stream: 502',
      code: grpc.status.UNAVAILABLE,
      elb: 502,
      reason: 'TargetResponseError',
      message: '502 Bad Gateway',
    },
    {
      name: 'slow',
      why: 'a target past the target timeout: 504',
      code: grpc.status.DEADLINE_EXCEEDED,
      elb: 504,
      reason: 'TargetTimeout',
      message: '504 Gateway Time-out',
    },
    {
      name: 'plain',
      why: "a gRPC call to an HTTP1 group: ALB's 464",
      code: grpc.status.UNIMPLEMENTED,
      elb: 464,
      reason: undefined,
      message: '464 Incompatible Protocol Versions',
    },
    {
      name: 'jwt',
      why: 'jwt-validation without a token: 401',
      code: grpc.status.UNAUTHENTICATED,
      elb: 401,
      reason: 'AuthMissingBearerToken',
      message: '401 Unauthorized',
    },
  ] as const

  for (const c of cases) {
    test(`${c.why} → ${grpc.status[c.code]}, logged as ${c.elb}`, async () => {
      const { error } = await call(c.name)
      assert.equal(error?.code, c.code, error?.message)
      assert.equal(error?.details, c.message)
      const entry = await logged(c.name)
      assert.equal(entry.type, 'grpcs')
      assert.equal(entry.elb_status_code, c.elb)
      if (c.reason !== undefined) assert.equal(entry.error_reason, c.reason)
    })
  }

  test('the same jwt-validation rule lets a call with a valid token through', async () => {
    const metadata = new grpc.Metadata()
    metadata.set('authorization', `Bearer ${validToken}`)
    assert.deepEqual(await call('jwt', metadata), { error: null, response: 'ok' })
  })
})
