/**
 * ALB's security policies (`SslPolicy`) through the real `portcullis start`
 * process (access log and metrics on), with openssl s_client, curl and
 * Node's `tls` as clients: each listener negotiates what its policy allows
 * and nothing else, the access log records what was negotiated in ALB's
 * spelling, and a policy this Node.js cannot honour is refused at start with
 * the reason, the file position and the nearest policy that runs.
 */
import assert from 'node:assert/strict'
import { execFile, execFileSync } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import tls from 'node:tls'
import { currentTlsRuntime } from '../../src/tls/security-policies.js'
import { freePort, listen } from '../fixtures/ports.js'
import { type RunningCli, runPortcullis, startGatewayCli, waitFor } from '../fixtures/process.js'

interface Handshake {
  readonly ok: boolean
  readonly protocol: string | undefined
  readonly cipher: string | undefined
  readonly peer: string | undefined
  readonly output: string
}

/** One `openssl s_client -brief` handshake (stdin closed: it hangs up once connected). */
function sClient(port: number, args: readonly string[], servername = 'localhost'): Promise<Handshake> {
  return new Promise((resolve) => {
    const child = execFile(
      'openssl',
      ['s_client', '-brief', '-connect', `127.0.0.1:${port}`, '-servername', servername, ...args],
      { timeout: 10_000 },
      (error, stdout, stderr) => {
        const output = stdout + stderr
        resolve({
          ok: error === null && output.includes('CONNECTION ESTABLISHED'),
          protocol: /^Protocol version: (\S+)/m.exec(output)?.[1],
          cipher: /^Ciphersuite: (\S+)/m.exec(output)?.[1],
          peer: /^Peer certificate: .*CN ?= ?([^,\s]+)/m.exec(output)?.[1],
          output,
        })
      },
    )
    child.stdin?.end()
  })
}

/** `curl` over HTTPS with extra arguments; its exit code and the body. */
function curl(args: readonly string[]): Promise<{ code: number; body: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '--max-time', '10', ...args], (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1
      resolve({ code, body: stdout, stderr })
    })
  })
}

/** An RSA certificate for `name` signed by nobody (the clients trust it directly). */
function rsaCertificate(dir: string, name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`)
  const key = join(dir, `${name}.key`)
  execFileSync('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
    '-addext',
    `subjectAltName=DNS:${name}`,
  ])
  return { cert, key }
}

const runtime = currentTlsRuntime()

describe('security policies (SslPolicy), through portcullis start', { timeout: 120_000 }, () => {
  let dir: string
  let target: Server
  let cli: RunningCli
  let log: string
  let admin: number
  let localhost: { cert: string; key: string }
  let other: { cert: string; key: string }
  /** Listener ports by what their policy is. */
  const port = { tls13: 0, fsRes: 0, ext: 0, fallback: 0 }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-policies-'))
    localhost = rsaCertificate(dir, 'localhost')
    other = rsaCertificate(dir, 'other.test')
    target = createServer((_req, res) => res.end('ok'))
    const targetPort = await listen(target)
    for (const key of Object.keys(port) as (keyof typeof port)[]) port[key] = await freePort()
    admin = await freePort()
    log = join(dir, 'access.log')
    const certificates = `Certificates: [{ CertificateFile: ${localhost.cert}, PrivateKeyFile: ${localhost.key} }]`
    const listener = (p: number, policy: string, certs = certificates) => `  - Port: ${p}
    Protocol: HTTPS
${policy === '' ? '' : `    SslPolicy: ${policy}\n`}    ${certs}
    Portcullis: { Address: 127.0.0.1 }
    DefaultActions: [{ Type: forward, TargetGroupArn: app }]
`
    const file = join(dir, 'portcullis.yaml')
    await writeFile(
      file,
      `Listeners:
${listener(
  port.tls13,
  'ELBSecurityPolicy-TLS13-1-3-2021-06',
  `Certificates:
      - { CertificateFile: ${localhost.cert}, PrivateKeyFile: ${localhost.key} }
      - { CertificateFile: ${other.cert}, PrivateKeyFile: ${other.key} }`,
)}${listener(port.fsRes, 'ELBSecurityPolicy-FS-1-2-Res-2020-10')}${listener(port.ext, 'ELBSecurityPolicy-TLS-1-2-Ext-2018-06')}${listener(port.fallback, '')}TargetGroups:
  - { TargetGroupName: app, Protocol: HTTP, HealthCheckEnabled: false, Targets: [{ Id: 127.0.0.1, Port: ${targetPort} }] }
Portcullis:
  StateDirectory: ./state
  Admin: { Address: 127.0.0.1, Port: ${admin} }
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
    target?.close()
    await rm(dir, { recursive: true, force: true })
  })

  test('a TLS 1.3-only policy refuses TLS 1.2 and accepts TLS 1.3, choosing by its own order', async () => {
    const old = await sClient(port.tls13, ['-CAfile', localhost.cert, '-tls1_2'])
    assert.equal(old.ok, false, old.output)
    const tls13 = await sClient(port.tls13, ['-CAfile', localhost.cert, '-tls1_3'])
    assert.equal(tls13.ok, true, tls13.output)
    assert.equal(tls13.protocol, 'TLSv1.3')
    // openssl offers TLS_AES_256_GCM_SHA384 first; ALB's list (and so the listener) prefers AES-128.
    assert.equal(tls13.cipher, 'TLS_AES_128_GCM_SHA256')
  })

  test('the policy holds for every certificate of the listener: SNI picks the certificate, not the protocols', async () => {
    const old = await sClient(port.tls13, ['-CAfile', other.cert, '-tls1_2'], 'other.test')
    assert.equal(old.ok, false, old.output)
    const tls13 = await sClient(port.tls13, ['-CAfile', other.cert, '-tls1_3'], 'other.test')
    assert.equal(tls13.ok, true, tls13.output)
    assert.equal(tls13.peer, 'other.test')
  })

  test('a TLS 1.2 policy refuses a cipher outside its list (CBC, no forward secrecy) and accepts one inside', async () => {
    for (const outside of ['ECDHE-RSA-AES128-SHA', 'AES128-GCM-SHA256', 'ECDHE-RSA-AES128-SHA256']) {
      const refused = await sClient(port.fsRes, ['-CAfile', localhost.cert, '-tls1_2', '-cipher', outside])
      assert.equal(refused.ok, false, `${outside}: ${refused.output}`)
    }
    const inside = await sClient(port.fsRes, [
      '-CAfile',
      localhost.cert,
      '-tls1_2',
      '-cipher',
      'ECDHE-RSA-AES256-GCM-SHA384',
    ])
    assert.equal(inside.ok, true, inside.output)
    assert.equal(inside.cipher, 'ECDHE-RSA-AES256-GCM-SHA384')
    // The TLS 1.2-only policy: no TLS 1.3 either.
    assert.equal((await sClient(port.fsRes, ['-CAfile', localhost.cert, '-tls1_3'])).ok, false)
    // The same client ciphers do connect where the policy has them: the refusal above is the policy's.
    const ext = await sClient(port.ext, ['-CAfile', localhost.cert, '-tls1_2', '-cipher', 'AES128-GCM-SHA256'])
    assert.equal(ext.ok, true, ext.output)
    assert.equal(ext.cipher, 'AES128-GCM-SHA256')
  })

  test("without SslPolicy, ALB's console default (its classical twin without ML-KEM)", async () => {
    // ELBSecurityPolicy-TLS13-1-2-Res-(PQ-2025-09|2021-06): TLS 1.2 and 1.3, ECDHE with AES-GCM only.
    assert.equal((await sClient(port.fallback, ['-CAfile', localhost.cert, '-tls1_3'])).ok, true)
    const gcm = await sClient(port.fallback, ['-CAfile', localhost.cert, '-tls1_2'])
    assert.equal(gcm.cipher, 'ECDHE-RSA-AES128-GCM-SHA256', gcm.output)
    const sha256 = await sClient(port.fallback, [
      '-CAfile',
      localhost.cert,
      '-tls1_2',
      '-cipher',
      'ECDHE-RSA-AES128-SHA256',
    ])
    assert.equal(sha256.ok, false, sha256.output)
  })

  test('curl and Node tls see the same: TLS 1.2 refused by the TLS 1.3-only listener, TLS 1.3 served', async () => {
    const url = `https://localhost:${port.tls13}/`
    const resolve = `localhost:${port.tls13}:127.0.0.1`
    const refused = await curl(['--cacert', localhost.cert, '--resolve', resolve, '--tlsv1.2', '--tls-max', '1.2', url])
    assert.notEqual(refused.code, 0, refused.stderr)
    const served = await curl(['--cacert', localhost.cert, '--resolve', resolve, '--tlsv1.3', url])
    assert.equal(served.code, 0, served.stderr)
    assert.equal(served.body, 'ok')

    const socket = tls.connect({
      port: port.tls13,
      host: '127.0.0.1',
      servername: 'localhost',
      ca: await readFile(localhost.cert),
      maxVersion: 'TLSv1.2',
    })
    const [error] = (await once(socket, 'error')) as [NodeJS.ErrnoException]
    assert.match(error.code ?? '', /ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION|ERR_SSL_UNSUPPORTED_PROTOCOL/)
  })

  test("the access log records the negotiated protocol and cipher in ALB's (OpenSSL's) spelling", async () => {
    const resolve = (p: number) => ['--resolve', `localhost:${p}:127.0.0.1`, '--cacert', localhost.cert]
    const tls12 = await curl([
      ...resolve(port.ext),
      '--tlsv1.2',
      '--tls-max',
      '1.2',
      '--ciphers',
      'ECDHE-RSA-AES256-GCM-SHA384',
      `https://localhost:${port.ext}/?id=tls12`,
    ])
    assert.equal(tls12.code, 0, tls12.stderr)
    const tls13 = await curl([...resolve(port.tls13), `https://localhost:${port.tls13}/?id=tls13`])
    assert.equal(tls13.code, 0, tls13.stderr)
    const lines = async () =>
      (await readFile(log, 'utf8').catch(() => ''))
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { request: string; ssl_protocol: string; ssl_cipher: string })
    await waitFor(async () => (await lines()).filter((l) => /id=tls1[23]/.test(l.request)).length === 2, 'the log')
    const entry = async (id: string) => (await lines()).find((l) => l.request.includes(`id=${id}`))!
    assert.deepEqual(
      { protocol: (await entry('tls12')).ssl_protocol, cipher: (await entry('tls12')).ssl_cipher },
      { protocol: 'TLSv1.2', cipher: 'ECDHE-RSA-AES256-GCM-SHA384' },
    )
    assert.deepEqual(
      { protocol: (await entry('tls13')).ssl_protocol, cipher: (await entry('tls13')).ssl_cipher },
      { protocol: 'TLSv1.3', cipher: 'TLS_AES_128_GCM_SHA256' },
    )
  })

  test('refused handshakes count in ClientTLSNegotiationErrorCount of their listener', async () => {
    const metrics = await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text()
    const count = new RegExp(`ClientTLSNegotiationErrorCount\\{[^}]*listener="listener/${port.fsRes}"[^}]*\\} (\\d+)`)
    assert.ok(Number(count.exec(metrics)?.[1] ?? 0) >= 3, metrics.slice(0, 2000))
  })
})

describe('a policy this Node.js cannot honour is refused at start, with file:line and the nearest policy', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-policies-refused-'))
  })
  after(() => rm(dir, { recursive: true, force: true }))

  async function startWith(policy: string): Promise<{ code: number | null; output: string; file: string }> {
    const file = join(dir, `${policy}.yaml`)
    await writeFile(
      file,
      `Listeners:
  - Port: ${await freePort()}
    Protocol: HTTPS
    SslPolicy: ${policy}
    Portcullis: { Address: 127.0.0.1 }
    DefaultActions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: "200" } }]
Portcullis:
  StateDirectory: ./state
  LocalCertificates: true
`,
    )
    const { code, stdout, stderr } = await runPortcullis(['start', '--config', file, '--workers', '1'], dir)
    return { code, output: stdout + stderr, file }
  }

  test('TLS 1.0 and 1.1 (ELBSecurityPolicy-2016-08, AWS’s API default): the same ciphers on TLS 1.2 are named', async () => {
    const { code, output, file } = await startWith('ELBSecurityPolicy-2016-08')
    assert.notEqual(code, 0)
    assert.match(
      output,
      new RegExp(
        `${file.replaceAll('.', '\\.')}:4:16 Listeners\\[0\\]\\.SslPolicy: ELBSecurityPolicy-2016-08: this policy allows TLS 1\\.0 and 1\\.1, which OpenSSL 3 negotiates only at security level 0.*; the nearest policy this Node\\.js honours is ELBSecurityPolicy-TLS-1-2-Ext-2018-06`,
      ),
    )
  })

  test('a FIPS policy without a FIPS provider', async () => {
    const { code, output } = await startWith('ELBSecurityPolicy-TLS13-1-2-Res-FIPS-2023-04')
    assert.notEqual(code, 0)
    assert.match(
      output,
      /:4:16 Listeners\[0\]\.SslPolicy: .*without a FIPS provider .*; the nearest policy this Node\.js honours is ELBSecurityPolicy-TLS13-1-2-Res-2021-06/,
    )
  })

  test(`a post-quantum policy: ${runtime.mlKem ? 'honoured, this OpenSSL has ML-KEM' : 'refused, this OpenSSL lacks ML-KEM'}`, async () => {
    if (!runtime.mlKem) {
      const { code, output } = await startWith('ELBSecurityPolicy-TLS13-1-3-PQ-2025-09')
      assert.notEqual(code, 0)
      assert.match(
        output,
        new RegExp(
          `:4:16 Listeners\\[0\\]\\.SslPolicy: .*ML-KEM post-quantum key exchange, which this Node\\.js's OpenSSL ${runtime.openssl.replaceAll('.', '\\.')} lacks .*; the nearest policy this Node\\.js honours is ELBSecurityPolicy-TLS13-1-3-2021-06`,
        ),
      )
      return
    }
    // Node's client offering only the hybrid group: the PQ listener agrees, a classical policy's listener cannot.
    const pq = await freePort()
    const classical = await freePort()
    const file = join(dir, 'pq.yaml')
    const listener = (p: number, policy: string) => `  - Port: ${p}
    Protocol: HTTPS
    SslPolicy: ${policy}
    Portcullis: { Address: 127.0.0.1 }
    DefaultActions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: "200" } }]
`
    await writeFile(
      file,
      `Listeners:
${listener(pq, 'ELBSecurityPolicy-TLS13-1-3-PQ-2025-09')}${listener(classical, 'ELBSecurityPolicy-TLS13-1-3-2021-06')}Portcullis:
  StateDirectory: ./state
  LocalCertificates: true
`,
    )
    const gateway = await startGatewayCli(file, dir)
    try {
      const hybridOnly = (p: number) =>
        tls.connect({
          port: p,
          host: '127.0.0.1',
          servername: 'localhost',
          rejectUnauthorized: false,
          ecdhCurve: 'X25519MLKEM768',
        })
      const ok = hybridOnly(pq)
      await once(ok, 'secureConnect')
      assert.equal(ok.getProtocol(), 'TLSv1.3')
      ok.destroy()
      const refused = hybridOnly(classical)
      const [error] = (await once(refused, 'error')) as [NodeJS.ErrnoException]
      assert.match(error.code ?? '', /ALERT_HANDSHAKE_FAILURE/)
    } finally {
      gateway.child.kill('SIGTERM')
      await once(gateway.child, 'exit')
    }
  })

  test("validate's summary prints each HTTPS listener's policy, what it allows and its ciphers in order", async () => {
    const file = join(dir, 'summary.yaml')
    const listener = (policy: string) => `  - Port: ${0}
    Protocol: HTTPS
${policy}    Portcullis: { Address: 127.0.0.1 }
    DefaultActions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: "200" } }]
`
    await writeFile(
      file,
      `Listeners:
${listener('    SslPolicy: ELBSecurityPolicy-FS-1-2-Res-2020-10\n')}${listener('')}Portcullis:
  StateDirectory: ./state
  LocalCertificates: true
`,
    )
    const { code, stdout, stderr } = await runPortcullis(['validate', file], dir)
    assert.equal(code, 0, stderr)
    assert.match(
      stdout,
      /\n {4}security policy ELBSecurityPolicy-FS-1-2-Res-2020-10: TLS 1\.2; 4 TLS 1\.2 ciphers \(all forward-secret\)\n {6}ciphers ECDHE-ECDSA-AES128-GCM-SHA256 ECDHE-RSA-AES128-GCM-SHA256 ECDHE-ECDSA-AES256-GCM-SHA384 ECDHE-RSA-AES256-GCM-SHA384\n/,
    )
    assert.match(
      stdout,
      runtime.mlKem
        ? /\n {4}security policy ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09 \(no SslPolicy: ALB console's default\): TLS 1\.2, TLS 1\.3; 4 TLS 1\.2 ciphers \(all forward-secret\); ML-KEM hybrid key exchange\n/
        : /\n {4}security policy ELBSecurityPolicy-TLS13-1-2-Res-2021-06 \(no SslPolicy: ALB console's default ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09 without ML-KEM, which OpenSSL [\d.]+ lacks\): TLS 1\.2, TLS 1\.3; 4 TLS 1\.2 ciphers \(all forward-secret\)\n {6}ciphers TLS_AES_128_GCM_SHA256 TLS_AES_256_GCM_SHA384 TLS_CHACHA20_POLY1305_SHA256 ECDHE-ECDSA-AES128-GCM-SHA256/,
    )
  })

  test('an unknown name: did you mean', async () => {
    const { code, output } = await startWith('ELBSecurityPolicy-TLS13-1-2-2021-07')
    assert.notEqual(code, 0)
    assert.match(
      output,
      /:4:16 Listeners\[0\]\.SslPolicy: unknown security policy ELBSecurityPolicy-TLS13-1-2-2021-07; did you mean ELBSecurityPolicy-TLS13-1-2-2021-06/,
    )
  })
})

describe('a reload changes the policy of a running listener (SIGHUP)', { timeout: 60_000 }, () => {
  test('TLS 1.2 and 1.3, then TLS 1.3 only; a reload to a policy this Node.js cannot honour is rejected', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portcullis-policies-reload-'))
    const port = await freePort()
    const file = join(dir, 'portcullis.yaml')
    const config = (policy: string) => `Listeners:
  - Port: ${port}
    Protocol: HTTPS
    SslPolicy: ${policy}
    Portcullis: { Address: 127.0.0.1 }
    DefaultActions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: "200" } }]
Portcullis:
  StateDirectory: ./state
  LocalCertificates: true
`
    await writeFile(file, config('ELBSecurityPolicy-TLS13-1-2-2021-06'))
    const gateway = await startGatewayCli(file, dir)
    const tls12 = () => sClient(port, ['-tls1_2'])
    try {
      assert.equal((await tls12()).ok, true)
      await writeFile(file, config('ELBSecurityPolicy-TLS13-1-3-2021-06'))
      gateway.child.kill('SIGHUP')
      await waitFor(async () => !(await tls12()).ok, 'TLS 1.2 refused after the reload')
      assert.equal((await sClient(port, ['-tls1_3'])).ok, true)

      await writeFile(file, config('ELBSecurityPolicy-TLS-1-1-2017-01'))
      gateway.child.kill('SIGHUP')
      await waitFor(() => gateway.output().includes('configuration rejected'), 'the rejected reload')
      assert.match(gateway.output(), /ELBSecurityPolicy-TLS-1-1-2017-01: this policy allows TLS 1\.1/)
      // The running policy stays.
      assert.equal((await tls12()).ok, false)
      assert.equal((await sClient(port, ['-tls1_3'])).ok, true)
    } finally {
      gateway.child.kill('SIGTERM')
      await once(gateway.child, 'exit')
      await rm(dir, { recursive: true, force: true })
    }
  })
})
