/**
 * `ProtocolVersion: GRPC` through the real `portcullis start` process: a
 * real `@grpc/grpc-js` server behind an HTTP target group (HTTP/2 with prior
 * knowledge, as ALB speaks to it), a real grpc-js client over TLS to the
 * HTTPS listener. Unary and server-streaming calls, status and trailers,
 * deadlines, ALB's 464 for an HTTP/1.1 client, and the access log's `grpcs`.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { promisify } from 'node:util'
import * as grpc from '@grpc/grpc-js'
import { ensureLeafCertificate, ensureLocalCa, type LocalCa } from '../../src/tls/local-ca.js'
import { rawMethod } from '../fixtures/grpc.js'
import { freePort } from '../fixtures/ports.js'
import { type RunningCli, startGatewayCli, waitFor } from '../fixtures/process.js'

const run = promisify(execFile)

const ECHO = {
  echo: rawMethod('/test.Echo/Echo'),
  count: rawMethod('/test.Echo/Count', { response: true }),
  sum: rawMethod('/test.Echo/Sum', { request: true }),
  chat: rawMethod('/test.Echo/Chat', { request: true, response: true }),
} satisfies grpc.ServiceDefinition

type EchoClient = grpc.Client & {
  echo(
    request: Buffer,
    metadata: grpc.Metadata,
    options: grpc.CallOptions,
    callback: (error: grpc.ServiceError | null, response?: Buffer) => void,
  ): grpc.ClientUnaryCall
  count(request: Buffer, metadata?: grpc.Metadata): grpc.ClientReadableStream<Buffer>
  sum(callback: (error: grpc.ServiceError | null, response?: Buffer) => void): grpc.ClientWritableStream<Buffer>
  chat(): grpc.ClientDuplexStream<Buffer, Buffer>
}

/** Chat calls the target saw end because the client cancelled them. */
let cancelledAtTarget = 0

describe('gRPC target groups, through portcullis start', { timeout: 120_000 }, () => {
  let dir: string
  let ca: LocalCa
  let gateway: RunningCli
  let port: number
  let log: string
  let server: grpc.Server
  let client: EchoClient

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-grpc-'))
    ca = await ensureLocalCa(join(dir, 'state'))
    const leaf = await ensureLeafCertificate(join(dir, 'state'))
    server = new grpc.Server()
    server.addService(ECHO, {
      echo(call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) {
        const text = call.request.toString()
        if (text === 'missing') {
          callback({ code: grpc.status.NOT_FOUND, details: 'no such thing' })
          return
        }
        if (text === 'slow') {
          setTimeout(() => callback(null, Buffer.from('late')), 3000).unref()
          return
        }
        const trailer = new grpc.Metadata()
        trailer.set('x-trailer', 'yes')
        trailer.set('x-seen-bin', Buffer.from(String(call.metadata.get('x-amzn-oidc-data').length)))
        callback(null, Buffer.from(`echo:${text}`), trailer)
      },
      sum(call: grpc.ServerReadableStream<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) {
        let total = 0
        call.on('data', (m: Buffer) => {
          total += Number(m.toString())
        })
        call.on('end', () => callback(null, Buffer.from(String(total))))
      },
      chat(call: grpc.ServerDuplexStream<Buffer, Buffer>) {
        call.on('cancelled', () => {
          cancelledAtTarget++
        })
        call.on('data', (m: Buffer) => call.write(Buffer.from(`re:${m.toString()}`)))
        call.on('end', () => call.end())
      },
      count(call: grpc.ServerWritableStream<Buffer, Buffer>) {
        const n = Number(call.request.toString())
        for (let i = 1; i <= n; i++) call.write(Buffer.from(String(i)))
        call.end()
      },
    })
    const targetPort = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, p) =>
        error ? reject(error) : resolve(p),
      ),
    )
    port = await freePort()
    log = join(dir, 'access.log')
    const file = join(dir, 'portcullis.yaml')
    await writeFile(
      file,
      `LoadBalancer:
  Name: grpc
Listeners:
  - Port: ${port}
    Protocol: HTTPS
    Certificates: [{ CertificateFile: "${leaf.certPath}", PrivateKeyFile: "${leaf.keyPath}" }]
    Portcullis: { Address: 127.0.0.1 }
    DefaultActions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: "404" } }]
    Rules:
      - Priority: 10
        Conditions: [{ Field: path-pattern, Values: ["/test.Echo/*"] }]
        Actions: [{ Type: forward, TargetGroupArn: grpc }]
      - Priority: 20
        Conditions: [{ Field: path-pattern, Values: ["/test.Empty/*"] }]
        Actions: [{ Type: forward, TargetGroupArn: empty }]
TargetGroups:
  - { TargetGroupName: empty, Protocol: HTTP, ProtocolVersion: GRPC, HealthCheckEnabled: false, Targets: [] }
  - TargetGroupName: grpc
    Protocol: HTTP
    ProtocolVersion: GRPC
    HealthCheckEnabled: false
    Targets: [{ Id: 127.0.0.1, Port: ${targetPort} }]
Portcullis:
  StateDirectory: ./state
  Admin: false
  AccessLog: { Format: json, Path: "${log}" }
`,
    )
    gateway = await startGatewayCli(file, dir)
    const Client = grpc.makeGenericClientConstructor(ECHO, 'Echo')
    client = new Client(
      `localhost:${port}`,
      grpc.credentials.createSsl(Buffer.from(ca.caCertPem)),
    ) as unknown as EchoClient
  })

  after(async () => {
    client?.close()
    if (gateway?.child.exitCode === null) {
      gateway.child.kill('SIGTERM')
      await once(gateway.child, 'exit')
    }
    server?.forceShutdown()
    await rm(dir, { recursive: true, force: true })
  })

  function unary(
    text: string,
    options: grpc.CallOptions = {},
  ): Promise<{ error: grpc.ServiceError | null; response?: Buffer; trailers?: grpc.Metadata }> {
    return new Promise((resolve) => {
      let trailers: grpc.Metadata | undefined
      const call = client.echo(Buffer.from(text), new grpc.Metadata(), options, (error, response) =>
        // The status (and its trailers) arrives after the callback's data: wait for it.
        setImmediate(() => resolve({ error, response, trailers })),
      )
      call.on('status', (status: grpc.StatusObject) => {
        trailers = status.metadata
      })
    })
  }

  test('a unary call reaches the grpc-js server and its trailers come back; the access log says grpcs', async () => {
    const { error, response, trailers } = await unary('hello')
    assert.equal(error, null)
    assert.equal(response?.toString(), 'echo:hello')
    assert.deepEqual(trailers?.get('x-trailer'), ['yes'])
    await waitFor(async () => (await readFile(log, 'utf8').catch(() => '')).includes('/test.Echo/Echo'), 'log line')
    const line = (await readFile(log, 'utf8')).split('\n').find((l) => l.includes('/test.Echo/Echo'))!
    const entry = JSON.parse(line) as Record<string, unknown>
    assert.equal(entry.type, 'grpcs')
    assert.equal(entry.request, `POST https://localhost:${port}/test.Echo/Echo HTTP/2.0`)
    assert.equal(entry.elb_status_code, 200)
  })

  test("the server's error status and message reach the client (a trailers-only response)", async () => {
    const { error } = await unary('missing')
    assert.equal(error?.code, grpc.status.NOT_FOUND)
    assert.equal(error?.details, 'no such thing')
  })

  test('a server-streaming call delivers every message', async () => {
    const call = client.count(Buffer.from('5'))
    const got: string[] = []
    call.on('data', (m: Buffer) => got.push(m.toString()))
    await once(call, 'end')
    assert.deepEqual(got, ['1', '2', '3', '4', '5'])
  })

  test('a client-streaming call: every message reaches the target, its one answer comes back', async () => {
    const answer = await new Promise<string>((resolve, reject) => {
      const call = client.sum((error, response) => (error ? reject(error) : resolve(response!.toString())))
      for (const n of [1, 2, 3, 4]) call.write(Buffer.from(String(n)))
      call.end()
    })
    assert.equal(answer, '10')
  })

  test('a bidirectional call: answers interleave with requests; a client cancel ends the target side', async () => {
    const call = client.chat()
    call.on('error', () => {})
    for (const word of ['a', 'b']) {
      call.write(Buffer.from(word))
      const [reply] = (await once(call, 'data')) as [Buffer]
      assert.equal(reply.toString(), `re:${word}`)
    }
    const before = cancelledAtTarget
    call.cancel()
    await waitFor(() => cancelledAtTarget > before, 'the target saw the cancellation', 5000)
  })

  test('a deadline the target does not meet ends the call with DEADLINE_EXCEEDED', async () => {
    const { error } = await unary('slow', { deadline: Date.now() + 300 })
    assert.equal(error?.code, grpc.status.DEADLINE_EXCEEDED)
    // The gateway serves on.
    assert.equal((await unary('after')).response?.toString(), 'echo:after')
  })

  test("a GRPC group with no target: the load balancer's 503 reaches a gRPC client as UNAVAILABLE", async () => {
    const Empty = grpc.makeGenericClientConstructor({ echo: { ...ECHO.echo, path: '/test.Empty/Echo' } }, 'Empty')
    const empty = new Empty(
      `localhost:${port}`,
      grpc.credentials.createSsl(Buffer.from(ca.caCertPem)),
    ) as unknown as EchoClient
    try {
      const error = await new Promise<grpc.ServiceError | null>((resolve) =>
        empty.echo(Buffer.from('x'), new grpc.Metadata(), {}, (e) => resolve(e)),
      )
      // A well-formed gRPC status the client can act on, not a protocol error (test/e2e/grpc-errors.test.ts has the rest).
      assert.equal(error?.code, grpc.status.UNAVAILABLE)
      assert.equal(error?.details, '503 Service Temporarily Unavailable')
    } finally {
      empty.close()
    }
  })

  test("an HTTP/1.1 request to a GRPC target group is ALB's 464", async () => {
    const { stdout } = await run('curl', [
      '--http1.1',
      '-sS',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '--cacert',
      ca.caCertPath,
      `https://localhost:${port}/test.Echo/Echo`,
    ])
    assert.equal(stdout, '464')
    // An HTTP/2 request that is not gRPC is one too.
    const { stdout: h2 } = await run('curl', [
      '--http2',
      '-sS',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '--cacert',
      ca.caCertPath,
      `https://localhost:${port}/test.Echo/Echo`,
    ])
    assert.equal(h2, '464')
  })
})
