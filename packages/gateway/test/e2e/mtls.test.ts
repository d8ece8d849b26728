/**
 * Mutual TLS and the TLS headers through the real `portcullis start`
 * process (access log on), with real clients: curl and Node's `https` with
 * client certificates made by `openssl` at test time.
 *
 * The first rule comes before any mode: a target trusts `X-Amzn-Mtls-*` and
 * `X-Amzn-Tls-*` only because the load balancer set them, so a client's
 * copies (any casing, `_` for `-`, repeated) never reach it.
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
import { freePort, listen } from '../fixtures/ports.js'
import { type RunningCli, startGatewayCli, waitFor } from '../fixtures/process.js'

const run = promisify(execFile)

/** Every spelling a client might try, of each header the load balancer vouches for. */
const SPOOFED_TLS_HEADERS: readonly string[] = [
  'X-Amzn-Mtls-Clientcert-Serial-Number',
  'x-amzn-mtls-clientcert-subject',
  'X-AMZN-MTLS-CLIENTCERT-ISSUER',
  'x_amzn_mtls_clientcert_validity',
  'X-Amzn-Mtls_Clientcert-Leaf',
  'X-Amzn-Mtls-Clientcert',
  'x_amzn_mtls_clientcert',
  'X-Amzn-Tls-Version',
  'x-amzn-tls-cipher-suite',
  'X_AMZN_TLS_VERSION',
]

/** The `x-amzn-mtls-*` / `x-amzn-tls-*` headers (any spelling) in a raw header list, lower-cased with their values. */
function tlsHeadersIn(rawHeaders: readonly string[]): [string, string][] {
  const out: [string, string][] = []
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (/^x[-_]amzn[-_](mtls|tls)[-_]/i.test(rawHeaders[i]!))
      out.push([rawHeaders[i]!.toLowerCase(), rawHeaders[i + 1]!])
  }
  return out
}

describe('client-sent X-Amzn-Mtls-* and X-Amzn-Tls-* headers, through portcullis start', { timeout: 120_000 }, () => {
  let dir: string
  let leaf: LeafCertificate
  let caFile: string
  let target: Server
  let cli: RunningCli
  let log: string
  const ports = { http: 0, https: 0 }
  /** The target's view of each request, by the id in its query. */
  const seen = new Map<string, string[]>()

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-mtls-'))
    caFile = (await ensureLocalCa(join(dir, 'server-state'))).caCertPath
    leaf = await ensureLeafCertificate(join(dir, 'server-state'))
    target = createServer((req, res) => {
      seen.set(new URL(req.url ?? '/', 'http://x').searchParams.get('id') ?? '', req.rawHeaders)
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.end('ok')
    })
    await listen(target)
    ports.http = await freePort()
    ports.https = await freePort()
    log = join(dir, 'access.log')
    const file = join(dir, 'portcullis.yaml')
    await writeFile(
      file,
      `LoadBalancer: { Name: mtls }
Listeners:
  - Port: ${ports.http}
    Protocol: HTTP
    Portcullis: { Address: 127.0.0.1 }
    DefaultActions: [{ Type: forward, TargetGroupArn: app }]
  - Port: ${ports.https}
    Protocol: HTTPS
    Certificates: [{ CertificateFile: "${leaf.certPath}", PrivateKeyFile: "${leaf.keyPath}" }]
    MutualAuthentication: { Mode: "off" }
    Portcullis: { Address: 127.0.0.1 }
    DefaultActions: [{ Type: forward, TargetGroupArn: app }]
TargetGroups:
  - { TargetGroupName: app, Protocol: HTTP, HealthCheckEnabled: false, Targets: [{ Id: 127.0.0.1, Port: ${(target.address() as AddressInfo).port} }] }
Portcullis:
  StateDirectory: ./state
  AccessLog: { Format: json, Path: "${log}" }
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

  for (const scheme of ['http', 'https'] as const) {
    test(`none reaches the target over ${scheme.toUpperCase()}, in any spelling (curl)`, async () => {
      const id = `spoof-${scheme}`
      const args = ['-sS', '--fail', '--cacert', caFile, '-o', '/dev/null', '-w', '%{http_code}']
      for (const name of SPOOFED_TLS_HEADERS) args.push('-H', `${name}: forged`)
      // A name repeated: both copies go.
      args.push('-H', 'X-Amzn-Mtls-Clientcert-Subject: CN=second')
      const port = scheme === 'http' ? ports.http : ports.https
      const { stdout } = await run('curl', [...args, `${scheme}://localhost:${port}/s?id=${id}`])
      assert.equal(stdout, '200')
      const raw = seen.get(id)
      assert.ok(raw !== undefined, 'the target got the request')
      assert.deepEqual(tlsHeadersIn(raw), [])
      // The other headers of the request still pass.
      assert.ok(raw.some((n) => n.toLowerCase() === 'user-agent'))
    })
  }

  test('the requests are in the access log', async () => {
    const read = async () => (await readFile(log, 'utf8').catch(() => '')).trim().split('\n').filter(Boolean)
    await waitFor(async () => (await read()).length >= 2, 'two access-log lines', 10_000)
    const entries = (await read()).map((l) => JSON.parse(l) as { request: string; elb_status_code: number })
    for (const scheme of ['http', 'https']) {
      const entry = entries.find((e) => e.request.includes(`id=spoof-${scheme}`))
      assert.ok(entry !== undefined, `${scheme} request logged`)
      assert.equal(entry.elb_status_code, 200)
    }
  })
})
