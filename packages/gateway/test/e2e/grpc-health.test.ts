/**
 * Health checks of `GRPC` and `HTTP2` target groups through the real
 * `portcullis start` process, as ALB runs them: gRPC calls over HTTP/2 to
 * real `@grpc/grpc-js` servers (ALB's default path `/AWS.ALB/healthcheck`
 * answered UNIMPLEMENTED = 12, ALB's default `GrpcCode`; a health method
 * matched against `GrpcCode: "0"`), HTTP/2 GETs to `node:http2` targets
 * matched against `HttpCode`. Unhealthy targets leave the group; the
 * transitions are in the log and in `HealthyHostCount`/`UnHealthyHostCount`.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import http2 from 'node:http2'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import * as grpc from '@grpc/grpc-js'
import { ensureLeafCertificate, ensureLocalCa, type LocalCa } from '../../src/tls/local-ca.js'
import { rawMethod } from '../fixtures/grpc.js'
import { freePort, listen } from '../fixtures/ports.js'
import { type RunningCli, startGatewayCli, waitFor } from '../fixtures/process.js'

const PLAIN = { echo: rawMethod('/plain.Echo/Echo') } satisfies grpc.ServiceDefinition
const CHECKED = { echo: rawMethod('/checked.Echo/Echo') } satisfies grpc.ServiceDefinition
const GONE = { echo: rawMethod('/gone.Echo/Echo') } satisfies grpc.ServiceDefinition
const HEALTH = { check: rawMethod('/test.Health/Check') } satisfies grpc.ServiceDefinition

type Unary = (request: Buffer, callback: (error: grpc.ServiceError | null, response?: Buffer) => void) => void
type EchoClient = grpc.Client & { echo: Unary }

/** A grpc-js server (h2c) named `name`, answering its echo services with its name and its health method as `health` says. */
async function grpcTarget(
  name: string,
  services: readonly grpc.ServiceDefinition[],
  health?: (callback: grpc.sendUnaryData<Buffer>) => void,
): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server()
  const echo = (_call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) =>
    callback(null, Buffer.from(name))
  for (const service of services) server.addService(service, { echo })
  if (health)
    server.addService(HEALTH, { check: (_call: unknown, callback: grpc.sendUnaryData<Buffer>) => health(callback) })
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, p) =>
      error ? reject(error) : resolve(p),
    ),
  )
  return { server, port }
}

/** A `node:http2` target with prior knowledge (h2c): `/healthz` answers `healthStatus`, the rest its name. */
async function h2Target(name: string, healthStatus: number): Promise<{ server: http2.Http2Server; port: number }> {
  const server = http2.createServer()
  server.on('stream', (stream, headers) => {
    if (headers[':path'] === '/healthz') stream.respond({ ':status': healthStatus }, { endStream: true })
    else {
      stream.respond({ ':status': 200, 'content-type': 'text/plain' })
      stream.end(name)
    }
  })
  return { server, port: await listen(server) }
}

describe('health checks of GRPC and HTTP2 target groups, through portcullis start', { timeout: 120_000 }, () => {
  let dir: string
  let ca: LocalCa
  let gateway: RunningCli
  let port: number
  let admin: number
  const grpcServers: grpc.Server[] = []
  const h2Servers: http2.Http2Server[] = []
  let gone: grpc.Server
  const clients: grpc.Client[] = []

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-grpc-health-'))
    ca = await ensureLocalCa(join(dir, 'state'))
    const leaf = await ensureLeafCertificate(join(dir, 'state'))
    // A: no health method (UNIMPLEMENTED for /AWS.ALB/healthcheck) and a serving one for /test.Health/Check.
    const a = await grpcTarget('A', [PLAIN, CHECKED], (callback) => callback(null, Buffer.alloc(0)))
    // B: its health method says it is not serving.
    const b = await grpcTarget('B', [CHECKED], (callback) =>
      callback({ code: grpc.status.UNAVAILABLE, details: 'not serving' }),
    )
    // C: its health method never answers.
    const c = await grpcTarget('C', [CHECKED], () => {})
    const d = await grpcTarget('D', [GONE])
    gone = d.server
    grpcServers.push(a.server, b.server, c.server, d.server)
    const w1 = await h2Target('W1', 200)
    const w2 = await h2Target('W2', 500)
    h2Servers.push(w1.server, w2.server)

    port = await freePort()
    admin = await freePort()
    const file = join(dir, 'portcullis.yaml')
    const rule = (priority: number, path: string, group: string) => `      - Priority: ${priority}
        Conditions: [{ Field: path-pattern, Values: ["${path}"] }]
        Actions: [{ Type: forward, TargetGroupArn: ${group} }]
`
    await writeFile(
      file,
      `LoadBalancer:
  Name: grpc-health
Listeners:
  - Port: ${port}
    Protocol: HTTPS
    Certificates: [{ CertificateFile: "${leaf.certPath}", PrivateKeyFile: "${leaf.keyPath}" }]
    Portcullis: { Address: 127.0.0.1 }
    DefaultActions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: "404" } }]
    Rules:
${rule(10, '/plain.Echo/*', 'plain')}${rule(20, '/checked.Echo/*', 'checked')}${rule(30, '/gone.Echo/*', 'gone')}${rule(40, '/web/*', 'web')}
TargetGroups:
  # ALB's defaults for a GRPC group: /AWS.ALB/healthcheck, GrpcCode 12.
  - TargetGroupName: plain
    Protocol: HTTP
    ProtocolVersion: GRPC
    HealthCheckIntervalSeconds: 5
    Targets: [{ Id: 127.0.0.1, Port: ${a.port} }]
  # As describe-target-groups prints a group checked by a health method.
  - TargetGroupName: checked
    Protocol: HTTP
    ProtocolVersion: GRPC
    HealthCheckProtocol: HTTP
    HealthCheckPath: /test.Health/Check
    HealthCheckIntervalSeconds: 5
    HealthCheckTimeoutSeconds: 2
    UnhealthyThresholdCount: 2
    Matcher: { GrpcCode: "0" }
    Targets: [{ Id: 127.0.0.1, Port: ${a.port} }, { Id: 127.0.0.1, Port: ${b.port} }, { Id: 127.0.0.1, Port: ${c.port} }]
  - TargetGroupName: gone
    Protocol: HTTP
    ProtocolVersion: GRPC
    HealthCheckIntervalSeconds: 5
    UnhealthyThresholdCount: 2
    Targets: [{ Id: 127.0.0.1, Port: ${d.port} }]
  - TargetGroupName: web
    Protocol: HTTP
    ProtocolVersion: HTTP2
    HealthCheckPath: /healthz
    HealthCheckIntervalSeconds: 5
    Matcher: { HttpCode: "200" }
    Targets: [{ Id: 127.0.0.1, Port: ${w1.port} }, { Id: 127.0.0.1, Port: ${w2.port} }]
Portcullis:
  StateDirectory: ./state
  Admin: { Address: 127.0.0.1, Port: ${admin} }
`,
    )
    gateway = await startGatewayCli(file, dir)
  })

  after(async () => {
    for (const client of clients) client.close()
    if (gateway?.child.exitCode === null) {
      gateway.child.kill('SIGTERM')
      await once(gateway.child, 'exit')
    }
    for (const server of grpcServers) server.forceShutdown()
    for (const server of h2Servers) server.close()
    await rm(dir, { recursive: true, force: true })
  })

  function client(service: grpc.ServiceDefinition): EchoClient {
    const Client = grpc.makeGenericClientConstructor(service, 'Echo')
    const made = new Client(`localhost:${port}`, grpc.credentials.createSsl(Buffer.from(ca.caCertPem)))
    clients.push(made)
    return made as unknown as EchoClient
  }

  function call(c: EchoClient): Promise<{ error: grpc.ServiceError | null; response?: string }> {
    return new Promise((resolve) =>
      c.echo(Buffer.from('hi'), (error, response) => resolve({ error, response: response?.toString() })),
    )
  }

  /** `HealthyHostCount`/`UnHealthyHostCount` of a group, from the admin listener's /metrics. */
  async function hostCounts(group: string): Promise<{ healthy: number; unhealthy: number }> {
    const text = await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text()
    const value = (name: string) => {
      const m = new RegExp(`^${name}\\{target_group="${group}"\\} (\\d+)$`, 'm').exec(text)
      return m === null ? -1 : Number(m[1])
    }
    return { healthy: value('HealthyHostCount'), unhealthy: value('UnHealthyHostCount') }
  }

  /** The gateway's `target is unhealthy` log lines. */
  function unhealthyLogs(): { targetGroupName: string; target: string; reason: string }[] {
    return gateway
      .output()
      .split('\n')
      .filter((line) => line.includes('"msg":"target is unhealthy"'))
      .map((line) => JSON.parse(line))
  }

  test("a grpc-js target is healthy by ALB's default gRPC check: /AWS.ALB/healthcheck answered UNIMPLEMENTED (12)", async () => {
    await waitFor(async () => (await hostCounts('plain')).healthy === 1, 'the plain group to be healthy', 15_000)
    assert.deepEqual(await hostCounts('plain'), { healthy: 1, unhealthy: 0 })
    assert.deepEqual(await call(client(PLAIN)), { error: null, response: 'A' })
  })

  test('GrpcCode "0" on a health method: a target answering UNAVAILABLE or not at all leaves the group', async () => {
    await waitFor(
      async () => (await hostCounts('checked')).unhealthy === 2,
      'two of the checked group to be unhealthy',
      30_000,
    )
    assert.deepEqual(await hostCounts('checked'), { healthy: 1, unhealthy: 2 })
    const reasons = unhealthyLogs()
      .filter((l) => l.targetGroupName === 'checked')
      .map((l) => l.reason)
      .sort()
    assert.deepEqual(reasons, ['Target.ResponseCodeMismatch', 'Target.Timeout'])
    // Only the healthy target gets calls.
    const checked = client(CHECKED)
    for (let i = 0; i < 6; i++) assert.deepEqual(await call(checked), { error: null, response: 'A' })
  })

  test('an HTTP2 group is checked with HTTP/2 GETs against HttpCode; the target answering 500 leaves it', async () => {
    await waitFor(async () => (await hostCounts('web')).unhealthy === 1, 'W2 to be unhealthy', 30_000)
    assert.deepEqual(await hostCounts('web'), { healthy: 1, unhealthy: 1 })
    const [log] = unhealthyLogs().filter((l) => l.targetGroupName === 'web')
    assert.equal(log?.reason, 'Target.ResponseCodeMismatch')
    const session = http2.connect(`https://localhost:${port}`, { ca: ca.caCertPem })
    try {
      for (let i = 0; i < 4; i++) {
        const stream = session.request({ ':path': '/web/x' })
        stream.setEncoding('utf8')
        let body = ''
        stream.on('data', (chunk: string) => {
          body += chunk
        })
        await once(stream, 'end')
        assert.equal(body, 'W1')
      }
    } finally {
      session.close()
    }
  })

  test('a target whose server stops turns unhealthy (FailedHealthChecks) and the client gets UNAVAILABLE', async () => {
    await waitFor(async () => (await hostCounts('gone')).healthy === 1, 'the gone group to be healthy', 15_000)
    const goneClient = client(GONE)
    assert.deepEqual(await call(goneClient), { error: null, response: 'D' })
    gone.forceShutdown()
    await waitFor(async () => (await hostCounts('gone')).unhealthy === 1, 'D to be unhealthy', 30_000)
    const [log] = unhealthyLogs().filter((l) => l.targetGroupName === 'gone')
    assert.equal(log?.reason, 'Target.FailedHealthChecks')
    const { error } = await call(goneClient)
    assert.equal(error?.code, grpc.status.UNAVAILABLE)
  })
})
