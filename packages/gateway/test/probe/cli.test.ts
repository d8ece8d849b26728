// `portcullis probe` as a real process (the CLI from source) against real
// targets: exit codes 0/1/2, the JSON and SARIF shapes, and every way the
// command refuses to start.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { promisify } from 'node:util'
import { createAlbClientCertificateReader } from '@portcullis/verify'
import { createKeyHandler } from '@portcullis/verify/mint'
import { withAlbAuth } from '@portcullis/verify/node'
import { loadSigningKeys } from '../fixtures/keys.js'
import { listen } from '../fixtures/ports.js'
import { portcullis } from '../fixtures/process.js'

const SIGNER = 'arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/cli-probe/0123456789abcdef'
const ISSUER = 'https://idp.example.com'
const CLIENT_ID = 'cli-probe-client'

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

function run(args: string[], cwd: string): Promise<Run> {
  const child = portcullis(['probe', ...args], cwd)
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk) => (stdout += chunk))
  child.stderr.on('data', (chunk) => (stderr += chunk))
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })))
}

async function serve(server: Server): Promise<string> {
  return `http://127.0.0.1:${await listen(server)}`
}

function close(server: Server): Promise<void> {
  server.closeAllConnections()
  return new Promise((resolve) => server.close(() => resolve()))
}

describe('portcullis probe', () => {
  let dir: string
  let servers: Server[]
  let correct: string
  let trusting: string
  let mtlsTrusting: string
  let mtlsCorrect: string
  let activeKeyFile: string
  let partnerPem: string
  const trust = () => ['--signer', SIGNER, '--issuer', ISSUER, '--client-id', CLIENT_ID]

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-probe-'))
    // A gateway state directory with its active key, served as the gateway's /keys would.
    const ring = await loadSigningKeys(join(dir, 'state'))
    activeKeyFile = join(dir, 'state', 'signing-keys', `${ring.active.kid}.pem`)
    const keys = createServer(createKeyHandler(ring.published))
    const keyEndpoint = await serve(keys)
    const verified = createServer(
      withAlbAuth({ signer: SIGNER, issuer: ISSUER, clientId: CLIENT_ID, keyEndpoint }, (_req, res, { identity }) => {
        res.end(identity)
      }),
    )
    const naive = createServer((req, res) => {
      res.writeHead(req.headers['x-amzn-oidc-identity'] === undefined ? 401 : 200).end()
    })
    // Behind a mutual-TLS listener: one believes X-Amzn-Mtls-Clientcert-Subject from anyone, one reads it
    // with createAlbClientCertificateReader, which believes only the load balancer's addresses.
    const partner = 'CN=partner-1'
    const mtlsNaive = createServer((req, res) => {
      res.writeHead(req.headers['x-amzn-mtls-clientcert-subject'] === partner ? 200 : 401).end()
    })
    const read = createAlbClientCertificateReader({ trustedProxies: ['10.0.0.0/16'] })
    const mtlsVerified = createServer((req, res) => {
      try {
        const cert = read(req.headers, { remoteAddress: req.socket.remoteAddress })
        res.writeHead(cert?.mode === 'verify' && cert.subject === partner ? 200 : 401).end()
      } catch {
        res.writeHead(403).end()
      }
    })
    servers = [keys, verified, naive, mtlsNaive, mtlsVerified]
    correct = `${await serve(verified)}/me`
    trusting = `${await serve(naive)}/me`
    mtlsTrusting = `${await serve(mtlsNaive)}/partner`
    mtlsCorrect = `${await serve(mtlsVerified)}/partner`
    partnerPem = join(dir, 'partner.pem')
    await promisify(execFile)('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      join(dir, 'partner.key'),
      '-out',
      partnerPem,
      '-subj',
      '/CN=partner-1',
      '-days',
      '1',
    ])
  })
  after(async () => {
    await Promise.all(servers.map(close))
    await rm(dir, { recursive: true, force: true })
  })

  test('a target that verifies: exit 0, the table says PASS', async () => {
    const result = await run([correct, '--state-dir', join(dir, 'state'), ...trust()], dir)
    assert.equal(result.code, 0, result.stderr)
    assert.match(result.stdout, /^CASE +A CORRECT TARGET +THIS TARGET +VERDICT$/m)
    assert.match(result.stdout, /^another load balancer's signer \(ALBeast\) +refuses: signer not pinned +401 +ok$/m)
    assert.match(result.stdout, /^PASS: every forgery was refused \(13 cases\) \(15 requests\)$/m)
  })

  test('--json with --signing-key {kid}.pem: exit 0 and the report as data', async () => {
    const result = await run([correct, '--signing-key', activeKeyFile, ...trust(), '--json'], dir)
    assert.equal(result.code, 0, result.stderr)
    const report = JSON.parse(result.stdout)
    assert.equal(report.outcome, 'pass')
    assert.equal(report.target, correct)
    assert.equal(report.results.length, 15)
    assert.deepEqual(Object.keys(report.results[2]).sort(), [
      'correct',
      'detail',
      'expected',
      'family',
      'id',
      'role',
      'status',
      'title',
      'verdict',
    ])
  })

  test('a target that trusts the headers: exit 1, one SARIF result per accepted forgery', async () => {
    const result = await run([trusting, '--state-dir', join(dir, 'state'), ...trust(), '--format', 'sarif'], dir)
    assert.equal(result.code, 1, result.stderr)
    const sarif = JSON.parse(result.stdout)
    assert.equal(sarif.version, '2.1.0')
    assert.equal(sarif.runs.length, 1)
    const [run0] = sarif.runs
    assert.equal(run0.tool.driver.name, 'portcullis probe')
    assert.equal(run0.tool.driver.rules.length, 13)
    assert.equal(run0.invocations[0].exitCode, 1)
    assert.equal(run0.results.length, 11)
    for (const r of run0.results) {
      assert.equal(r.level, 'error')
      assert.equal(run0.tool.driver.rules[r.ruleIndex].id, r.ruleId)
      assert.equal(r.locations[0].physicalLocation.artifactLocation.uri, trusting)
      assert.match(r.message.text, /accepted a forged identity/)
    }
    assert.ok(run0.results.some((r: { ruleId: string }) => r.ruleId === 'portcullis-probe/foreign-signer'))
  })

  test('without a key: keyless cases only, skipped ones named; a correct target is exit 2, never 0', async () => {
    const result = await run([correct], dir)
    assert.equal(result.code, 2, result.stderr)
    assert.match(
      result.stdout,
      /^Skipped \(needs a signing key the target trusts\): positive-control, hs256-public-key, /m,
    )
    assert.match(result.stdout, /^COULD NOT JUDGE: /m)
  })

  test('an accepted forgery is "like the control" only when the control was sent', async () => {
    const keyless = await run([trusting], dir)
    assert.equal(keyless.code, 1, keyless.stderr)
    assert.match(keyless.stdout, /^Skipped \(needs a signing key the target trusts\): positive-control, /m)
    assert.match(keyless.stdout, / 200 +ACCEPTED$/m)
    assert.doesNotMatch(keyless.stdout, /like the control/)
    const keyed = await run([trusting, '--state-dir', join(dir, 'state'), ...trust()], dir)
    assert.equal(keyed.code, 1, keyed.stderr)
    assert.match(keyed.stdout, / 200, like the control +ACCEPTED$/m)
  })

  test('--cases mtls: a target that believes X-Amzn-Mtls-* sent straight to it is exit 1', async () => {
    const result = await run([mtlsTrusting, '--cases', 'mtls', '--client-certificate', partnerPem], dir)
    assert.equal(result.code, 1, result.stderr)
    assert.match(
      result.stdout,
      /^X-Amzn-Mtls-Clientcert-\* of a certificate +ignores or refuses: not from its LB +200 +ACCEPTED$/m,
    )
    assert.match(result.stdout, /^FAIL: the target accepted 1 forged identity: mtls-verify-headers \(4 requests\)$/m)
    const sarif = JSON.parse(
      (await run([mtlsTrusting, '--cases', 'mtls', '--client-certificate', partnerPem, '--format', 'sarif'], dir))
        .stdout,
    )
    assert.deepEqual(
      sarif.runs[0].tool.driver.rules.map((r: { id: string }) => r.id),
      [
        'portcullis-probe/mtls-verify-headers',
        'portcullis-probe/mtls-underscore-headers',
        'portcullis-probe/mtls-passthrough-header',
      ],
    )
    assert.match(sarif.runs[0].results[0].message.text, /answered 200, unlike the baseline/)
  })

  test('--cases mtls: createAlbClientCertificateReader with trustedProxies is exit 0; without a certificate, 2', async () => {
    const result = await run([mtlsCorrect, '--cases', 'mtls', '--client-certificate', partnerPem], dir)
    assert.equal(result.code, 0, result.stdout)
    assert.match(result.stdout, /^PASS: every forgery was refused \(3 cases\) \(4 requests\)$/m)
    const without = await run([mtlsCorrect, '--cases', 'mtls'], dir)
    assert.equal(without.code, 2)
    assert.match(
      without.stdout,
      /^COULD NOT JUDGE: no forgery was accepted, but the mtls cases claimed the probe's own certificate/m,
    )
  })

  test('an unreachable target: exit 2', async () => {
    const down = createServer()
    const url = await serve(down)
    await close(down)
    const result = await run([url, '--json'], dir)
    assert.equal(result.code, 2)
    assert.equal(JSON.parse(result.stdout).outcome, 'inconclusive')
  })

  describe('refuses to start, with one line and exit 2', () => {
    const refusals: [string, () => string[], RegExp][] = [
      ['a URL that is not one', () => ['not a url'], /^portcullis probe: not a URL: not a url\n$/],
      ['another scheme', () => ['file:///etc/passwd'], /only http: and https: URLs/],
      [
        'a missing key file',
        () => [correct, '--signing-key', join(dir, 'nope.pem'), ...trust()],
        /cannot tell the key id/,
      ],
      [
        'an unreadable key file',
        () => [
          correct,
          '--signing-key',
          join(dir, 'nope.pem'),
          '--kid',
          '3f0d4a47-0000-4000-8000-000000000000',
          ...trust(),
        ],
        /cannot read the signing key .*nope\.pem \(ENOENT\)/,
      ],
      [
        'a key file that is not a P-256 key',
        () => [
          correct,
          '--signing-key',
          join(dir, 'not-a-key.pem'),
          '--kid',
          '3f0d4a47-0000-4000-8000-000000000000',
          ...trust(),
        ],
        /not-a-key\.pem: privateKeyPem is not a PEM private key/,
      ],
      [
        'a directory that is not a state directory',
        () => [correct, '--state-dir', dir, ...trust()],
        /is .* a gateway state directory\?/,
      ],
      [
        'a key without --signer',
        () => [correct, '--state-dir', join(dir, 'state')],
        /--signer is required with a signing key/,
      ],
      ['both key sources', () => [correct, '--state-dir', dir, '--signing-key', activeKeyFile], /not both/],
      ['a bad --authenticated-match', () => [correct, '--authenticated-match', '('], /not a regular expression/],
      ['an unknown option', () => [correct, '--scan-subnet'], /unknown option '--scan-subnet'/],
      ['an unknown --cases', () => [correct, '--cases', 'tls'], /argument 'tls' is invalid/],
      [
        'a --client-certificate without mtls cases',
        () => [correct, '--client-certificate', partnerPem],
        /^portcullis probe: --client-certificate is for the mtls cases: add --cases mtls \(or all\)\n$/,
      ],
      [
        'an unreadable --client-certificate',
        () => [correct, '--cases', 'mtls', '--client-certificate', join(dir, 'nope.pem')],
        /cannot read the client certificate .*nope\.pem \(ENOENT\)/,
      ],
      [
        'a --client-certificate that is not one',
        () => [correct, '--cases', 'mtls', '--client-certificate', join(dir, 'not-a-key.pem')],
        /clientCertificate is not PEM certificates/,
      ],
      ['a zero --timeout-ms', () => [correct, '--timeout-ms', '0'], /expected a positive whole number/],
    ]
    before(() => writeFile(join(dir, 'not-a-key.pem'), 'hello\n'))
    for (const [name, args, message] of refusals) {
      test(name, async () => {
        const result = await run(args(), dir)
        assert.equal(result.code, 2)
        assert.match(result.stderr, message)
        assert.doesNotMatch(result.stderr, /\n\s+at /)
        assert.equal(result.stdout, '')
      })
    }
  })
})
