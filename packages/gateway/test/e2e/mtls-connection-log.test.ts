/**
 * ALB's connection log through the real `portcullis start` process: one
 * line per TLS handshake on a listener with mutual TLS, admitted or
 * refused, in ALB's space-separated format (read with the pattern of
 * Athena's documented table), its `conn_trace_id` the access log's for the
 * same connection, reopened on SIGUSR2 with the access log. Clients are
 * curl and Node's `https`, certificates made by `openssl` at test time.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import type { TLSSocket } from 'node:tls'
import { promisify } from 'node:util'
import { type AlbClientCertificate, createAlbClientCertificateReader } from '@portcullis/verify'
import { ensureLeafCertificate, ensureLocalCa, type LeafCertificate } from '../../src/tls/local-ca.js'
import { type ClientCertificate, makeTestPki, opensslFacts, type TestPki } from '../fixtures/pki.js'
import { freePort, listen } from '../fixtures/ports.js'
import { type RunningCli, startPortcullis, waitFor } from '../fixtures/process.js'

const run = promisify(execFile)

/** Athena's pattern for ALB's connection log (its documented CREATE TABLE), anchored. */
const ATHENA =
  /^([^ ]*) ([^ ]*) ([0-9]*) ([0-9]*) ([A-Za-z0-9.-]*) ([^ ]*) ([-.0-9]*) "([^"]*)" ([^ ]*) ([^ ]*) ([^ ]*) ?([^ ]*)?$/

interface Line {
  timestamp: string
  client_ip: string
  client_port: number
  listener_port: number
  tls_protocol: string
  tls_cipher: string
  tls_handshake_latency: number
  leaf_client_cert_subject: string
  leaf_client_cert_validity: string
  leaf_client_cert_serial_number: string
  tls_verify_status: string
  conn_trace_id: string
}

function parse(line: string): Line {
  const m = ATHENA.exec(line)
  assert.ok(m, `an ALB connection-log line: ${line}`)
  return {
    timestamp: m[1]!,
    client_ip: m[2]!,
    client_port: Number(m[3]),
    listener_port: Number(m[4]),
    tls_protocol: m[5]!,
    tls_cipher: m[6]!,
    tls_handshake_latency: Number(m[7]),
    leaf_client_cert_subject: m[8]!,
    leaf_client_cert_validity: m[9]!,
    leaf_client_cert_serial_number: m[10]!,
    tls_verify_status: m[11]!,
    conn_trace_id: m[12]!,
  }
}

describe("ALB's connection log, through portcullis start", { timeout: 120_000 }, () => {
  let dir: string
  let leaf: LeafCertificate
  let caFile: string
  let target: Server
  let cli: RunningCli
  let pki: TestPki
  let accessLog: string
  let connectionLog: string
  const ports = { verify: 0, passthrough: 0, admin: 0 }
  /** What the target's @portcullis/verify reader made of each request's headers, by path. */
  const certificates = new Map<string, AlbClientCertificate | undefined>()
  /** Handshakes made so far: the connection log holds exactly one line for each. */
  let handshakes = 0

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-connlog-'))
    caFile = (await ensureLocalCa(join(dir, 'server-state'))).caCertPath
    leaf = await ensureLeafCertificate(join(dir, 'server-state'))
    // The target reads the certificate as an application would, with @portcullis/verify.
    const readClientCertificate = createAlbClientCertificateReader({ trustedProxies: ['127.0.0.1/32', '::1/128'] })
    target = createServer((req, res) => {
      certificates.set(req.url ?? '', readClientCertificate(req.headers, { remoteAddress: req.socket.remoteAddress }))
      res.end('ok')
    })
    await listen(target)
    pki = await makeTestPki(join(dir, 'pki'))
    for (const name of Object.keys(ports) as (keyof typeof ports)[]) ports[name] = await freePort()
    accessLog = join(dir, 'access.log')
    connectionLog = join(dir, 'connection.log')
    const file = join(dir, 'portcullis.yaml')
    await writeFile(
      file,
      `LoadBalancer: { Name: connlog }
Listeners:
  - Port: ${ports.verify}
    Protocol: HTTPS
    Certificates: [{ CertificateFile: "${leaf.certPath}", PrivateKeyFile: "${leaf.keyPath}" }]
    MutualAuthentication: { Mode: verify, TrustStoreArn: clients }
    Portcullis: { Address: 127.0.0.1 }
    DefaultActions: [{ Type: forward, TargetGroupArn: app }]
  - Port: ${ports.passthrough}
    Protocol: HTTPS
    Certificates: [{ CertificateFile: "${leaf.certPath}", PrivateKeyFile: "${leaf.keyPath}" }]
    MutualAuthentication: { Mode: passthrough }
    Portcullis: { Address: 127.0.0.1 }
    DefaultActions: [{ Type: forward, TargetGroupArn: app }]
TrustStores:
  - Name: clients
    Portcullis:
      CaCertificatesBundleFile: "${pki.rootFile}"
      RevocationFiles: ["${pki.crlFile}"]
TargetGroups:
  - { TargetGroupName: app, Protocol: HTTP, HealthCheckEnabled: false, Targets: [{ Id: 127.0.0.1, Port: ${(target.address() as AddressInfo).port} }] }
Portcullis:
  StateDirectory: ./state
  Admin: { Address: 127.0.0.1, Port: ${ports.admin} }
  AccessLog: { Format: json, Path: "${accessLog}" }
  ConnectionLog: { Format: alb, Path: "${connectionLog}" }
`,
    )
    cli = startPortcullis(['start', '--config', file, '--workers', '1', '--log-level', 'info'], dir)
    await waitFor(() => cli.output().includes('Portcullis is running.') || cli.child.exitCode !== null, 'start', 30_000)
    assert.equal(cli.child.exitCode, null, cli.output())
  })

  after(async () => {
    if (cli?.child.exitCode === null) {
      cli.child.kill('SIGTERM')
      await once(cli.child, 'exit')
    }
    target?.closeAllConnections()
    target?.close()
    await rm(dir, { recursive: true, force: true })
  })

  const lines = async (path = connectionLog) =>
    (await readFile(path, 'utf8').catch(() => ''))
      .split('\n')
      .filter(Boolean)
      .map((l) => parse(l))

  /** The line of the handshake just made: waits until the log holds one line per handshake, returns the last. */
  async function lastLine(path = connectionLog, before = 0): Promise<Line> {
    await waitFor(async () => (await lines(path)).length >= handshakes - before, 'the connection-log line', 10_000)
    const all = await lines(path)
    assert.equal(all.length, handshakes - before, 'exactly one line per handshake')
    return all.at(-1)!
  }

  async function curl(port: number, client: ClientCertificate | undefined): Promise<number> {
    handshakes++
    const args = ['-sS', '--cacert', caFile, '-o', '/dev/null']
    if (client !== undefined) args.push('--cert', client.presentedFile, '--key', client.keyFile)
    try {
      await run('curl', [...args, `https://localhost:${port}/c`])
      return 0
    } catch (error) {
      return (error as { code: number }).code
    }
  }

  test("an admitted handshake: one line with the client's port, protocol, cipher, certificate and Success; conn_trace_id is the access log's", async () => {
    const { valid } = pki.clients
    const options = {
      ca: await readFile(caFile),
      cert: await readFile(valid.certFile),
      key: await readFile(valid.keyFile),
    }
    handshakes++
    const seen = await new Promise<{ port: number; protocol: string; cipher: string }>((resolve, reject) => {
      const req = httpsRequest(
        {
          host: '127.0.0.1',
          servername: 'localhost',
          port: ports.verify,
          path: '/admitted',
          ...options,
          agent: false,
        },
        (res) => {
          const socket = res.socket as TLSSocket
          const facts = { port: socket.localPort!, protocol: socket.getProtocol()!, cipher: socket.getCipher().name }
          res.resume()
          res.on('end', () => resolve(facts))
        },
      )
      req.on('error', reject)
      req.end()
    })
    const line = await lastLine()
    const facts = await opensslFacts(valid.certFile)
    assert.match(line.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/)
    assert.equal(line.client_ip, '127.0.0.1')
    assert.equal(line.client_port, seen.port)
    assert.equal(line.listener_port, ports.verify)
    assert.equal(line.tls_protocol, seen.protocol)
    assert.equal(line.tls_cipher, seen.cipher)
    assert.ok(line.tls_handshake_latency >= 0 && line.tls_handshake_latency < 10, String(line.tls_handshake_latency))
    assert.equal(line.leaf_client_cert_subject, facts.subject)
    assert.equal(line.leaf_client_cert_validity, `NotBefore=${facts.notBefore};NotAfter=${facts.notAfter}`)
    assert.equal(line.leaf_client_cert_serial_number, facts.serial)
    assert.equal(line.tls_verify_status, 'Success')
    assert.match(line.conn_trace_id, /^TID_[0-9a-f]{32}$/)
    // The access log names the same connection alike.
    await waitFor(async () => (await readFile(accessLog, 'utf8').catch(() => '')).includes('/admitted'), 'access log')
    const entry = (await readFile(accessLog, 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { request: string; conn_trace_id: string })
      .find((e) => e.request.includes('/admitted'))
    assert.equal(entry?.conn_trace_id, line.conn_trace_id)
    // The target's reader (@portcullis/verify) sees the same certificate, typed.
    const cert = certificates.get('/admitted')
    assert.ok(cert?.mode === 'verify', 'the target read verify headers')
    assert.equal(cert.serialNumber, facts.serial)
    assert.equal(cert.subject, facts.subject)
    assert.equal(cert.issuer, facts.issuer)
    assert.equal(cert.notAfter.toISOString().replace('.000', ''), facts.notAfter)
    assert.equal(cert.leaf.toString(), await readFile(valid.certFile, 'utf8'))
  })

  const refusals: [string, keyof TestPki['clients'] | undefined, string][] = [
    ['no certificate', undefined, 'Failed:ClientCertNotPresent'],
    ['an expired certificate', 'expired', 'Failed:ClientCertExpired'],
    ['a certificate not yet valid', 'notYetValid', 'Failed:ClientCertNotYetValid'],
    ['a revoked certificate', 'revoked', 'Failed:ClientCertCrlHit'],
    ['a certificate from another CA', 'wrongCa', 'Failed:ClientCertUntrusted'],
    ['a certificate for servers only', 'wrongPurpose', 'Failed:ClientCertInvalid'],
  ]
  for (const [what, name, status] of refusals) {
    test(`a refused handshake (${what}): one line, ${status}`, async () => {
      const client = name === undefined ? undefined : pki.clients[name]
      assert.notEqual(await curl(ports.verify, client), 0, 'curl is refused')
      const line = await lastLine()
      assert.equal(line.tls_verify_status, status)
      assert.equal(line.listener_port, ports.verify)
      if (client === undefined) {
        assert.deepEqual(
          [line.leaf_client_cert_subject, line.leaf_client_cert_validity, line.leaf_client_cert_serial_number],
          ['-', '-', '-'],
        )
      } else {
        const facts = await opensslFacts(client.certFile)
        assert.equal(line.leaf_client_cert_subject, facts.subject)
        assert.equal(line.leaf_client_cert_serial_number, facts.serial)
      }
    })
  }

  test('passthrough: a stranger certificate is admitted unverified (Success), and no certificate too', async () => {
    assert.equal(await curl(ports.passthrough, pki.clients.wrongCa), 0)
    const stranger = await lastLine()
    assert.equal(stranger.tls_verify_status, 'Success')
    assert.equal(stranger.leaf_client_cert_subject, 'CN=stranger')
    assert.equal(stranger.listener_port, ports.passthrough)
    const presented = certificates.get('/c')
    assert.ok(presented?.mode === 'passthrough', 'the target read the passthrough chain')
    assert.equal(presented.leaf.toString(), await readFile(pki.clients.wrongCa.certFile, 'utf8'))
    assert.equal(await curl(ports.passthrough, undefined), 0)
    const none = await lastLine()
    assert.equal(none.tls_verify_status, 'Success')
    assert.equal(none.leaf_client_cert_subject, '-')
    const chain = certificates.get('/c')
    assert.equal(chain, undefined, 'no certificate, no header: the reader says undefined')
  })

  test('SIGUSR2 reopens the connection log with the access log: the moved file keeps its lines, new ones go to a new file', async () => {
    const moved = `${connectionLog}.1`
    const before = handshakes
    await rename(connectionLog, moved)
    cli.child.kill('SIGUSR2')
    await waitFor(() => cli.output().includes('"msg":"access log reopened"'), 'the reopen', 10_000)
    assert.notEqual(await curl(ports.verify, pki.clients.expired), 0, 'curl is refused')
    const line = await lastLine(connectionLog, before)
    assert.equal(line.tls_verify_status, 'Failed:ClientCertExpired')
    assert.equal((await lines(moved)).length, before, 'the moved file holds the lines before the reopen')
  })
})
