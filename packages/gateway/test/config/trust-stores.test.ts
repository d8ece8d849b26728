/**
 * Trust stores and MutualAuthentication refused with the file, line and
 * field that are wrong, by the real `portcullis validate` and `start`
 * processes, with bundles and revocation lists made by `openssl`.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { ensureLeafCertificate, type LeafCertificate } from '../../src/tls/local-ca.js'
import { makeTestPki, type TestPki } from '../fixtures/pki.js'
import { runPortcullis } from '../fixtures/process.js'

describe('trust stores and MutualAuthentication, refused by portcullis validate and start', {
  timeout: 120_000,
}, () => {
  let dir: string
  let pki: TestPki
  let leaf: LeafCertificate

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-trust-stores-'))
    pki = await makeTestPki(join(dir, 'pki'))
    leaf = await ensureLeafCertificate(join(dir, 'state'))
  })

  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  /** A file with one HTTPS listener whose MutualAuthentication is `mtls`, and `stores` as TrustStores. */
  function yaml(mtls: string, stores: string, protocol = 'HTTPS'): string {
    const certificates =
      protocol === 'HTTPS'
        ? `    Certificates: [{ CertificateFile: "${leaf.certPath}", PrivateKeyFile: "${leaf.keyPath}" }]\n`
        : ''
    return `Listeners:
  - Port: 8443
    Protocol: ${protocol}
${certificates}    MutualAuthentication: ${mtls}
    DefaultActions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: "200" } }]
TrustStores:
${stores}`
  }

  const store = (bundle: string, crls: string[] = []) =>
    `  - Name: clients
    Portcullis:
      CaCertificatesBundleFile: "${bundle}"
      RevocationFiles: [${crls.map((c) => `"${c}"`).join(', ')}]
`

  let n = 0
  async function validate(text: string, command: 'validate' | 'start' = 'validate') {
    const file = join(dir, `case-${++n}.yaml`)
    await writeFile(file, text)
    const args = command === 'validate' ? ['validate', file] : ['start', '--config', file, '--workers', '1']
    const result = await runPortcullis(args, dir)
    return { ...result, file, output: result.stdout + result.stderr }
  }

  test('a good trust store with a revocation list validates', async () => {
    const r = await validate(yaml('{ Mode: verify, TrustStoreArn: clients }', store(pki.rootFile, [pki.crlFile])))
    assert.equal(r.code, 0, r.output)
  })

  const cases: [string, () => string, RegExp][] = [
    [
      'a TrustStoreArn that names no trust store',
      () =>
        yaml(
          '{ Mode: verify, TrustStoreArn: arn:aws:elasticloadbalancing:us-east-1:1:truststore/x/1 }',
          store(pki.rootFile),
        ),
      /:5:\d+ .*TrustStoreArn: no trust store arn:aws:elasticloadbalancing:us-east-1:1:truststore\/x\/1 in TrustStores/,
    ],
    [
      'verify without a TrustStoreArn',
      () => yaml('{ Mode: verify }', store(pki.rootFile)),
      /:5:\d+ .*Mode verify needs TrustStoreArn/,
    ],
    [
      'mutual TLS on an HTTP listener',
      () => yaml('{ Mode: passthrough }', store(pki.rootFile), 'HTTP'),
      /:4:\d+ .*Mode: mutual TLS applies to HTTPS listeners only/,
    ],
    [
      'a bundle file that does not exist',
      () => yaml('{ Mode: verify, TrustStoreArn: clients }', store(join(dir, 'missing.pem'))),
      /:10:\d+.*CaCertificatesBundleFile.*file not found: .*missing\.pem/,
    ],
    [
      'a bundle with a leaf certificate in it',
      () => yaml('{ Mode: verify, TrustStoreArn: clients }', store(pki.bundleWithLeafFile)),
      /:10:\d+.*certificate 2 of .*bundle-with-leaf\.pem \(CN=client-1,.*\) is not a CA certificate/,
    ],
    [
      'a bundle that holds no certificate',
      () => yaml('{ Mode: verify, TrustStoreArn: clients }', store(pki.crlFile)),
      /:10:\d+.*contains no PEM certificate/,
    ],
    [
      'a revocation list that is not one',
      () => yaml('{ Mode: verify, TrustStoreArn: clients }', store(pki.rootFile, [pki.rootFile])),
      /:11:\d+.*RevocationFiles\[0\].*is not a PEM revocation list/,
    ],
    [
      'a revocation list that does not parse',
      () => yaml('{ Mode: verify, TrustStoreArn: clients }', store(pki.rootFile, [join(dir, 'broken-crl.pem')])),
      /:11:\d+.*RevocationFiles\[0\].*does not parse as a revocation list/,
    ],
  ]

  for (const [what, text, message] of cases) {
    test(`refuses ${what}, naming the line`, async () => {
      await writeFile(
        join(dir, 'broken-crl.pem'),
        '-----BEGIN X509 CRL-----\nbm90IGEgcmV2b2NhdGlvbiBsaXN0\n-----END X509 CRL-----\n',
      )
      const r = await validate(text())
      assert.equal(r.code, 2, r.output)
      assert.match(r.output, message)
      assert.doesNotMatch(r.output, /\n\s+at /, 'no stack trace')
    })
  }

  test('start refuses a bundle with a leaf in it, as validate does', async () => {
    const r = await validate(yaml('{ Mode: verify, TrustStoreArn: clients }', store(pki.bundleWithLeafFile)), 'start')
    assert.notEqual(r.code, 0)
    assert.match(r.output, /is not a CA certificate/)
  })

  test('IgnoreClientCertificateExpiry true (an insecure opt-in) and AdvertiseTrustStoreCaNames off are warned about, at their lines', async () => {
    const r = await validate(
      yaml(
        '{ Mode: verify, TrustStoreArn: clients, IgnoreClientCertificateExpiry: true, AdvertiseTrustStoreCaNames: "off" }',
        store(pki.rootFile),
      ),
    )
    assert.equal(r.code, 0, r.output)
    assert.match(
      r.output,
      /:5:\d+ warning: .*IgnoreClientCertificateExpiry: expired and not-yet-valid client certificates are admitted/,
    )
    assert.match(r.output, /AdvertiseTrustStoreCaNames off: Portcullis advertises/)
  })
})
