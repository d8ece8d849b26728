/**
 * `IgnoreClientCertificateExpiry: true` through the real `portcullis start`:
 * a client chain whose only fault is a date is admitted (and its headers
 * reach the target, its connection-log line says Success); without the
 * setting it is refused; with it, an expired certificate that is also
 * untrusted, revoked or for servers only is still refused. curl presents
 * certificates made by `openssl ca` at test time with past or future dates.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { promisify } from 'node:util'
import { ensureLeafCertificate, ensureLocalCa, type LeafCertificate } from '../../src/tls/local-ca.js'
import { type ClientCertificate, makeTestPki, opensslFacts, type TestPki } from '../fixtures/pki.js'
import { freePort, listen } from '../fixtures/ports.js'
import { type RunningCli, startGatewayCli, waitFor } from '../fixtures/process.js'

const run = promisify(execFile)
const PAST = { start: '20200101000000Z', end: '20200201000000Z' }

describe('IgnoreClientCertificateExpiry, through portcullis start', { timeout: 120_000 }, () => {
  let dir: string
  let leaf: LeafCertificate
  let caFile: string
  let target: Server
  let cli: RunningCli
  let pki: TestPki
  let connectionLog: string
  let accessLog: string
  const ports = { ignoring: 0, strict: 0, admin: 0 }
  const seen = new Map<string, string[]>()
  let revokedExpired: ClientCertificate
  let strangerExpired: ClientCertificate
  let serverOnlyExpired: ClientCertificate

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-mtls-expiry-'))
    caFile = (await ensureLocalCa(join(dir, 'server-state'))).caCertPath
    leaf = await ensureLeafCertificate(join(dir, 'server-state'))
    target = createServer((req, res) => {
      seen.set(new URL(req.url ?? '/', 'http://x').searchParams.get('id') ?? '', req.rawHeaders)
      res.end('ok')
    })
    await listen(target)
    pki = await makeTestPki(join(dir, 'pki'))
    revokedExpired = await pki.issue('revoked-expired', '/CN=revoked-expired', { by: 'root', dates: PAST })
    strangerExpired = await pki.issue('stranger-expired', '/CN=stranger-expired', { by: 'other', dates: PAST })
    serverOnlyExpired = await pki.issue('server-only-expired', '/CN=server-only-expired', {
      by: 'root',
      purpose: 'server_only',
      dates: PAST,
    })
    const crl = await pki.revoke(revokedExpired.certFile)
    for (const name of Object.keys(ports) as (keyof typeof ports)[]) ports[name] = await freePort()
    connectionLog = join(dir, 'connection.log')
    accessLog = join(dir, 'access.log')
    const listener = (port: number, ignore: boolean) => `  - Port: ${port}
    Protocol: HTTPS
    Certificates: [{ CertificateFile: "${leaf.certPath}", PrivateKeyFile: "${leaf.keyPath}" }]
    MutualAuthentication: { Mode: verify, TrustStoreArn: clients, IgnoreClientCertificateExpiry: ${ignore} }
    Portcullis: { Address: 127.0.0.1 }
    DefaultActions: [{ Type: forward, TargetGroupArn: app }]
`
    const file = join(dir, 'portcullis.yaml')
    await writeFile(
      file,
      `LoadBalancer: { Name: expiry }
Listeners:
${listener(ports.ignoring, true)}${listener(ports.strict, false)}TrustStores:
  - Name: clients
    Portcullis:
      CaCertificatesBundleFile: "${pki.rootFile}"
      RevocationFiles: ["${crl}"]
TargetGroups:
  - { TargetGroupName: app, Protocol: HTTP, HealthCheckEnabled: false, Targets: [{ Id: 127.0.0.1, Port: ${(target.address() as AddressInfo).port} }] }
Portcullis:
  StateDirectory: ./state
  Admin: { Address: 127.0.0.1, Port: ${ports.admin} }
  AccessLog: { Path: "${accessLog}" }
  ConnectionLog: { Format: json, Path: "${connectionLog}" }
`,
    )
    cli = await startGatewayCli(file, dir)
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

  async function curl(port: number, id: string, client: ClientCertificate): Promise<string> {
    const args = ['-sS', '--cacert', caFile, '-o', '/dev/null', '-w', '%{http_code}']
    args.push('--cert', client.presentedFile, '--key', client.keyFile)
    try {
      return (await run('curl', [...args, `https://localhost:${port}/e?id=${id}`])).stdout
    } catch (error) {
      return `refused (${(error as { code: number }).code})`
    }
  }

  /** The connection log's verdict for the handshake of the certificate with serial `serial` on `port`. */
  async function verdict(port: number, serial: string): Promise<string> {
    let status: string | undefined
    await waitFor(
      async () => {
        const lines = (await readFile(connectionLog, 'utf8').catch(() => '')).split('\n').filter(Boolean)
        const entry = lines
          .map(
            (l) =>
              JSON.parse(l) as {
                listener_port: number
                leaf_client_cert_serial_number: string
                tls_verify_status: string
              },
          )
          .find((e) => e.listener_port === port && e.leaf_client_cert_serial_number === serial)
        status = entry?.tls_verify_status
        return status !== undefined
      },
      'the connection-log line',
      10_000,
    )
    return status!
  }

  test('the start warns that expired client certificates are admitted', () => {
    assert.match(
      cli.output(),
      /IgnoreClientCertificateExpiry.*expired and not-yet-valid client certificates are admitted/,
    )
  })

  for (const which of ['expired', 'notYetValid'] as const) {
    test(`a ${which} certificate from the trust store is admitted with the setting (headers to the target, Success), refused without it`, async () => {
      const client = pki.clients[which]
      const facts = await opensslFacts(client.certFile)
      assert.equal(await curl(ports.ignoring, `ignoring-${which}`, client), '200')
      const raw = seen.get(`ignoring-${which}`)
      assert.ok(raw !== undefined, 'the target got the request')
      const header = (name: string) => raw[raw.findIndex((n, i) => i % 2 === 0 && n.toLowerCase() === name) + 1]
      assert.equal(header('x-amzn-mtls-clientcert-serial-number'), facts.serial)
      assert.equal(header('x-amzn-mtls-clientcert-validity'), `NotBefore=${facts.notBefore};NotAfter=${facts.notAfter}`)
      assert.equal(await verdict(ports.ignoring, facts.serial), 'Success')

      assert.match(await curl(ports.strict, `strict-${which}`, client), /^refused/)
      assert.equal(seen.has(`strict-${which}`), false)
      assert.equal(
        await verdict(ports.strict, facts.serial),
        which === 'expired' ? 'Failed:ClientCertExpired' : 'Failed:ClientCertNotYetValid',
      )
    })
  }

  const refusals: [string, () => ClientCertificate, string][] = [
    ['expired and from another CA', () => strangerExpired, 'Failed:ClientCertUntrusted'],
    ['expired and revoked', () => revokedExpired, 'Failed:ClientCertCrlHit'],
    ['expired and for servers only', () => serverOnlyExpired, 'Failed:ClientCertInvalid'],
  ]
  for (const [what, client, status] of refusals) {
    test(`with the setting, a certificate ${what} is refused (${status})`, async () => {
      const id = `ignoring-${what.replaceAll(' ', '-')}`
      assert.match(await curl(ports.ignoring, id, client()), /^refused/)
      assert.equal(seen.has(id), false)
      assert.equal(await verdict(ports.ignoring, (await opensslFacts(client().certFile)).serial), status)
    })
  }

  test('with the setting, a valid certificate is admitted as before, and a revoked valid one refused', async () => {
    assert.equal(await curl(ports.ignoring, 'ignoring-valid', pki.clients.valid), '200')
    assert.match(await curl(ports.ignoring, 'ignoring-revoked', pki.clients.revoked), /^refused/)
    assert.equal(
      await verdict(ports.ignoring, (await opensslFacts(pki.clients.revoked.certFile)).serial),
      'Failed:ClientCertCrlHit',
    )
  })
})
