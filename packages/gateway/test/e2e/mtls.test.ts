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
import { Agent, request as httpsRequest } from 'node:https'
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

describe('mutual TLS and client-sent X-Amzn-Mtls-* / X-Amzn-Tls-* headers, through portcullis start', {
  timeout: 120_000,
}, () => {
  let dir: string
  let leaf: LeafCertificate
  let caFile: string
  let target: Server
  let cli: RunningCli
  let log: string
  let pki: TestPki
  const ports = { http: 0, https: 0, verify: 0, passthrough: 0, admin: 0 }
  /** The target's view of each request, by the id in its query. */
  const seen = new Map<string, string[]>()

  let file: string
  /** The configuration, with the verify listener's trust store using `crl` and `/generation` answering `marker`. */
  const yaml = (crl: string, marker: string) => `LoadBalancer: { Name: mtls }
Listeners:
  - Port: ${ports.http}
    Protocol: HTTP
    Portcullis: { Address: 127.0.0.1 }
    Attributes:
      - { Key: routing.http.response.server.enabled, Value: "false" }
      - { Key: routing.http.response.strict_transport_security.header_value, Value: "max-age=31536000; includeSubDomains" }
      - { Key: routing.http.response.x_frame_options.header_value, Value: DENY }
      - { Key: routing.http.response.x_content_type_options.header_value, Value: nosniff }
      - { Key: routing.http.response.content_security_policy.header_value, Value: "" }
    DefaultActions: [{ Type: forward, TargetGroupArn: app }]
    Rules:
      - Priority: 1
        Conditions: [{ Field: path-pattern, Values: ["/fixed"] }]
        Actions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: "418", ContentType: text/plain, MessageBody: teapot } }]
      - Priority: 2
        Conditions: [{ Field: path-pattern, Values: ["/generation"] }]
        Actions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: "200", ContentType: text/plain, MessageBody: ${marker} } }]
  - Port: ${ports.https}
    Protocol: HTTPS
    Certificates: [{ CertificateFile: "${leaf.certPath}", PrivateKeyFile: "${leaf.keyPath}" }]
    MutualAuthentication: { Mode: "off" }
    Portcullis: { Address: 127.0.0.1 }
    DefaultActions: [{ Type: forward, TargetGroupArn: app }]
  - Port: ${ports.verify}
    Protocol: HTTPS
    Certificates: [{ CertificateFile: "${leaf.certPath}", PrivateKeyFile: "${leaf.keyPath}" }]
    MutualAuthentication:
      Mode: verify
      TrustStoreArn: arn:aws:elasticloadbalancing:us-east-1:123456789012:truststore/clients/73e2d6bc24d8a067
      IgnoreClientCertificateExpiry: false
      TrustStoreAssociationStatus: active
      AdvertiseTrustStoreCaNames: "on"
    Portcullis: { Address: 127.0.0.1 }
    DefaultActions: [{ Type: forward, TargetGroupArn: app }]
  - Port: ${ports.passthrough}
    Protocol: HTTPS
    Certificates: [{ CertificateFile: "${leaf.certPath}", PrivateKeyFile: "${leaf.keyPath}" }]
    MutualAuthentication: { Mode: passthrough, IgnoreClientCertificateExpiry: false }
    Attributes: [{ Key: routing.http.request.x_amzn_mtls_clientcert.header_name, Value: X-Client-Chain }]
    Portcullis: { Address: 127.0.0.1 }
    DefaultActions: [{ Type: forward, TargetGroupArn: app }]
TrustStores:
  - Name: clients
    TrustStoreArn: arn:aws:elasticloadbalancing:us-east-1:123456789012:truststore/clients/73e2d6bc24d8a067
    NumberOfCaCertificates: 1
    Status: ACTIVE
    TotalRevokedEntries: 1
    Portcullis:
      CaCertificatesBundleFile: "${pki.rootFile}"
      RevocationFiles: ["${crl}"]
TargetGroups:
  - { TargetGroupName: app, Protocol: HTTP, HealthCheckEnabled: false, Targets: [{ Id: 127.0.0.1, Port: ${(target.address() as AddressInfo).port} }] }
Portcullis:
  StateDirectory: ./state
  Admin: { Address: 127.0.0.1, Port: ${ports.admin} }
  AccessLog: { Format: json, Path: "${log}" }
`

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-mtls-'))
    caFile = (await ensureLocalCa(join(dir, 'server-state'))).caCertPath
    leaf = await ensureLeafCertificate(join(dir, 'server-state'))
    target = createServer((req, res) => {
      seen.set(new URL(req.url ?? '/', 'http://x').searchParams.get('id') ?? '', req.rawHeaders)
      res.writeHead(200, { 'content-type': 'text/plain', server: 'test-target', 'x-frame-options': 'ALLOWALL' })
      res.end('ok')
    })
    await listen(target)
    pki = await makeTestPki(join(dir, 'pki'))
    for (const name of Object.keys(ports) as (keyof typeof ports)[]) ports[name] = await freePort()
    log = join(dir, 'access.log')
    file = join(dir, 'portcullis.yaml')
    await writeFile(file, yaml(pki.crlFile, 'first'))
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

  /** curl to `listener` presenting `client` (or none), with `extra` arguments; its exit code and the status. */
  async function curl(
    port: number,
    id: string,
    client: ClientCertificate | undefined,
    extra: string[] = [],
  ): Promise<{ code: number; status: string }> {
    const args = ['-sS', '--cacert', caFile, '-o', '/dev/null', '-w', '%{http_code}', ...extra]
    if (client !== undefined) args.push('--cert', client.presentedFile, '--key', client.keyFile)
    try {
      const { stdout } = await run('curl', [...args, `https://localhost:${port}/c?id=${id}`])
      return { code: 0, status: stdout }
    } catch (error) {
      return { code: (error as { code: number }).code, status: (error as { stdout: string }).stdout }
    }
  }

  /** The value the target got for header `name` (lower-case) on request `id`. */
  function header(id: string, name: string): string | undefined {
    const raw = seen.get(id) ?? []
    const i = raw.findIndex((n, j) => j % 2 === 0 && n.toLowerCase() === name)
    return i === -1 ? undefined : raw[i + 1]
  }

  async function refusedHandshakes(): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${ports.admin}/metrics`)).text()
    const line = text
      .split('\n')
      .find((l) => l.startsWith('ClientTLSNegotiationErrorCount{') && l.includes(`listener/${ports.verify}`))
    return line === undefined ? 0 : Number(line.split(' ').pop())
  }

  test("verify: a trusted certificate reaches the target with ALB's five headers, equal to what openssl x509 says", async () => {
    const { valid } = pki.clients
    const { status } = await curl(
      ports.verify,
      'verify-valid',
      valid,
      SPOOFED_TLS_HEADERS.flatMap((n) => ['-H', `${n}: forged`]),
    )
    assert.equal(status, '200')
    const facts = await opensslFacts(valid.certFile)
    assert.equal(header('verify-valid', 'x-amzn-mtls-clientcert-serial-number'), facts.serial)
    assert.equal(header('verify-valid', 'x-amzn-mtls-clientcert-issuer'), facts.issuer)
    assert.equal(header('verify-valid', 'x-amzn-mtls-clientcert-subject'), facts.subject)
    assert.match(facts.subject, /Acme\\, Inc\./, 'the fixture has a comma to escape')
    assert.equal(
      header('verify-valid', 'x-amzn-mtls-clientcert-validity'),
      `NotBefore=${facts.notBefore};NotAfter=${facts.notAfter}`,
    )
    const leafHeader = header('verify-valid', 'x-amzn-mtls-clientcert-leaf')!
    assert.match(leafHeader, /^-----BEGIN%20CERTIFICATE-----%0A[A-Za-z0-9+/=%]+-----END%20CERTIFICATE-----%0A$/)
    assert.equal(decodeURIComponent(leafHeader), await readFile(valid.certFile, 'utf8'))
    // Exactly the five, each once: the client's forged copies are gone.
    assert.deepEqual(
      tlsHeadersIn(seen.get('verify-valid')!)
        .map(([n]) => n)
        .sort(),
      [
        'x-amzn-mtls-clientcert-issuer',
        'x-amzn-mtls-clientcert-leaf',
        'x-amzn-mtls-clientcert-serial-number',
        'x-amzn-mtls-clientcert-subject',
        'x-amzn-mtls-clientcert-validity',
      ],
    )
  })

  test("verify: Node's https client with a client certificate gets through, keep-alive requests too", async () => {
    const { valid } = pki.clients
    const options = {
      host: '127.0.0.1',
      servername: 'localhost',
      port: ports.verify,
      ca: await readFile(caFile),
      cert: await readFile(valid.certFile),
      key: await readFile(valid.keyFile),
    }
    for (const id of ['verify-node-1', 'verify-node-2']) {
      const status = await new Promise<number>((resolve, reject) => {
        const req = httpsRequest({ ...options, path: `/n?id=${id}` }, (res) => {
          res.resume()
          res.on('end', () => resolve(res.statusCode ?? 0))
        })
        req.on('error', reject)
        req.end()
      })
      assert.equal(status, 200)
      assert.equal(header(id, 'x-amzn-mtls-clientcert-serial-number'), (await opensslFacts(valid.certFile)).serial)
    }
  })

  const refusals: [string, keyof TestPki['clients'] | undefined][] = [
    ['no certificate', undefined],
    ['an expired certificate', 'expired'],
    ['a certificate not yet valid', 'notYetValid'],
    ['a revoked certificate', 'revoked'],
    ['a certificate from another CA', 'wrongCa'],
    ['a certificate for servers only (extendedKeyUsage serverAuth)', 'wrongPurpose'],
  ]
  for (const [what, name] of refusals) {
    test(`verify: the handshake with ${what} is refused, and never reaches the target`, async () => {
      const before = await refusedHandshakes()
      const id = `verify-refused-${name ?? 'none'}`
      const { code, status } = await curl(ports.verify, id, name === undefined ? undefined : pki.clients[name])
      assert.notEqual(code, 0, `curl failed (status ${status})`)
      assert.notEqual(status, '200')
      assert.equal(seen.has(id), false)
      await waitFor(async () => (await refusedHandshakes()) === before + 1, 'the refusal counted', 10_000)
    })
  }

  test('verify: a new revocation list takes effect on reload for new connections; an open connection keeps what it negotiated', async () => {
    const { valid } = pki.clients
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    const options = {
      host: '127.0.0.1',
      servername: 'localhost',
      port: ports.verify,
      agent,
      ca: await readFile(caFile),
      cert: await readFile(valid.certFile),
      key: await readFile(valid.keyFile),
    }
    const get = (id: string) =>
      new Promise<{ status: number; reused: boolean }>((resolve, reject) => {
        const req = httpsRequest({ ...options, path: `/k?id=${id}` }, (res) => {
          res.resume()
          res.on('end', () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket }))
        })
        req.on('error', reject)
        req.end()
      })
    try {
      assert.equal((await get('reload-before')).status, 200)
      const crl = await pki.revoke(valid.certFile)
      await writeFile(file, yaml(crl, 'second'))
      cli.child.kill('SIGHUP')
      await waitFor(
        async () => (await (await fetch(`http://127.0.0.1:${ports.http}/generation`)).text()) === 'second',
        'the reload',
      )
      const open = await get('reload-open')
      assert.deepEqual(open, { status: 200, reused: true }, 'the open connection keeps its verified certificate')
      const fresh = await curl(ports.verify, 'reload-new', valid)
      assert.notEqual(fresh.code, 0, 'a new connection with the now revoked certificate is refused')
      assert.equal(seen.has('reload-new'), false)
    } finally {
      agent.destroy()
    }
  })

  test('passthrough: no certificate is accepted, and the target gets no certificate header', async () => {
    const { status } = await curl(ports.passthrough, 'pass-none', undefined, [
      '-H',
      'X-Amzn-Mtls-Clientcert: forged',
      '-H',
      'x_client_chain: forged',
      '-H',
      'X-Client-Chain: forged',
    ])
    assert.equal(status, '200')
    assert.deepEqual(tlsHeadersIn(seen.get('pass-none')!), [])
    // The renamed header's name is the load balancer's now: a client's copy is dropped too.
    assert.equal(header('pass-none', 'x-client-chain'), undefined)
    assert.ok(!seen.get('pass-none')!.some((n) => /^x[-_]client[-_]chain$/i.test(n)))
  })

  test('passthrough: any certificate is accepted unverified, its whole chain in X-Amzn-Mtls-Clientcert (renamed X-Client-Chain by the listener attribute)', async () => {
    for (const [id, client, files] of [
      ['pass-stranger', pki.clients.wrongCa, [pki.clients.wrongCa.certFile]],
      ['pass-expired', pki.clients.expired, [pki.clients.expired.certFile]],
      ['pass-chained', pki.clients.chained, [pki.clients.chained.certFile, pki.intermediateFile]],
    ] as const) {
      const { status } = await curl(ports.passthrough, id, client)
      assert.equal(status, '200', id)
      const chain = header(id, 'x-client-chain')
      assert.ok(chain !== undefined, id)
      const expected = (await Promise.all(files.map((f) => readFile(f, 'utf8')))).join('')
      assert.equal(decodeURIComponent(chain), expected, id)
      assert.match(chain, /^[A-Za-z0-9+/=%-]+$/)
      assert.deepEqual(tlsHeadersIn(seen.get(id)!), [], 'under its new name only')
    }
  })

  /** A response's head from `url` (curl -D), names lower-case. */
  async function responseHead(url: string): Promise<{ status: string; headers: Map<string, string[]> }> {
    const { stdout } = await run('curl', ['-sS', '--cacert', caFile, '-D', '-', '-o', '/dev/null', url])
    const [statusLine, ...lines] = stdout.trim().split('\r\n')
    const headers = new Map<string, string[]>()
    for (const line of lines) {
      const colon = line.indexOf(':')
      const name = line.slice(0, colon).toLowerCase()
      headers.set(name, [...(headers.get(name) ?? []), line.slice(colon + 1).trim()])
    }
    return { status: statusLine!.split(' ')[1]!, headers }
  }

  test("response-header attributes: set on the target's responses, replacing its values; Server removed", async () => {
    const { status, headers } = await responseHead(`http://localhost:${ports.http}/r?id=resp-target`)
    assert.equal(status, '200')
    assert.deepEqual(headers.get('x-frame-options'), ['DENY'], "the configured value replaces the target's")
    assert.deepEqual(headers.get('strict-transport-security'), ['max-age=31536000; includeSubDomains'])
    assert.deepEqual(headers.get('x-content-type-options'), ['nosniff'])
    assert.equal(headers.get('server'), undefined)
    assert.equal(headers.get('content-security-policy'), undefined, 'an empty value adds nothing')
  })

  test("response-header attributes: set on the load balancer's own responses too", async () => {
    const { status, headers } = await responseHead(`http://localhost:${ports.http}/fixed`)
    assert.equal(status, '418')
    assert.deepEqual(headers.get('x-frame-options'), ['DENY'])
    assert.deepEqual(headers.get('x-content-type-options'), ['nosniff'])
    assert.equal(headers.get('server'), undefined, 'not even awselb/2.0')
  })

  test('a listener without the attributes leaves the response as the target sent it', async () => {
    const { headers } = await responseHead(`https://localhost:${ports.https}/r?id=resp-control`)
    assert.deepEqual(headers.get('x-frame-options'), ['ALLOWALL'])
    assert.deepEqual(headers.get('server'), ['test-target'])
    assert.equal(headers.get('strict-transport-security'), undefined)
  })

  test('the requests are in the access log', async () => {
    const read = async () => (await readFile(log, 'utf8').catch(() => '')).trim().split('\n').filter(Boolean)
    const ids = ['spoof-http', 'spoof-https', 'verify-valid', 'verify-node-1', 'pass-none', 'pass-chained']
    const logged = async () => (await read()).map((l) => JSON.parse(l) as { request: string; elb_status_code: number })
    const missing = async () => {
      const entries = await logged()
      return ids.filter((id) => !entries.some((e) => e.request.includes(`id=${id} `)))
    }
    await waitFor(async () => (await missing()).length === 0, 'the access-log lines', 10_000)
    const entries = await logged()
    for (const id of ids) assert.equal(entries.find((e) => e.request.includes(`id=${id} `))?.elb_status_code, 200, id)
    // A refused handshake is no request: nothing logged for it.
    assert.ok(!entries.some((e) => e.request.includes('verify-refused')))
  })
})
