/**
 * `createAlbClientCertificateReader` on headers encoded as ALB sends them,
 * for certificates made by `openssl` at test time; the expected values come
 * from `openssl x509`, not from the code under test.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { promisify } from 'node:util'
import { createAlbClientCertificateReader, isAlbVerifyError } from '../src/index.js'
import { presentedClientCertificateHeaders, verifiedClientCertificateHeaders } from '../src/mint/index.js'

const run = promisify(execFile)

/** PEM URL-encoded as ALB sends it: `+`, `=` and `/` kept. */
const albEncoded = (pem: string) =>
  encodeURIComponent(pem).replace(/%2B/g, '+').replace(/%3D/g, '=').replace(/%2F/g, '/')

describe('createAlbClientCertificateReader', () => {
  let dir: string
  let caPem: string
  let leafPem: string
  let facts: { serial: string; issuer: string; subject: string; notBefore: string; notAfter: string }
  const read = createAlbClientCertificateReader({ trustedProxies: ['10.0.0.0/16'] })
  const fromLb = { remoteAddress: '10.0.3.7' }
  let verifyHeaders: Record<string, string>

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'verify-mtls-'))
    const o = (...args: string[]) => run('openssl', args, { cwd: dir })
    await o(
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-subj',
      '/O=Tests/CN=Test CA',
      '-days',
      '2',
    )
    await o(
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      'leaf.key',
      '-out',
      'leaf.csr',
      '-subj',
      '/O=Acme, Inc./CN=client-1',
    )
    await writeFile(join(dir, 'ext'), 'extendedKeyUsage = clientAuth\n')
    await o(
      'x509',
      '-req',
      '-in',
      'leaf.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-set_serial',
      '0x0A1B2C',
      '-days',
      '1',
      '-extfile',
      'ext',
      '-out',
      'leaf.pem',
    )
    caPem = await readFile(join(dir, 'ca.pem'), 'utf8')
    leafPem = await readFile(join(dir, 'leaf.pem'), 'utf8')
    const { stdout } = await o(
      'x509',
      '-in',
      'leaf.pem',
      '-noout',
      '-serial',
      '-issuer',
      '-subject',
      '-startdate',
      '-enddate',
      '-nameopt',
      'RFC2253',
      '-dateopt',
      'iso_8601',
    )
    const field = (name: string) => new RegExp(`^${name}=(.*)$`, 'm').exec(stdout)?.[1] ?? ''
    facts = {
      serial: field('serial'),
      issuer: field('issuer'),
      subject: field('subject'),
      notBefore: field('notBefore').replace(' ', 'T'),
      notAfter: field('notAfter').replace(' ', 'T'),
    }
    verifyHeaders = {
      'x-amzn-mtls-clientcert-serial-number': facts.serial,
      'x-amzn-mtls-clientcert-issuer': facts.issuer,
      'x-amzn-mtls-clientcert-subject': facts.subject,
      'x-amzn-mtls-clientcert-validity': `NotBefore=${facts.notBefore};NotAfter=${facts.notAfter}`,
      'x-amzn-mtls-clientcert-leaf': albEncoded(leafPem),
    }
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  const code = (fn: () => unknown) => {
    try {
      fn()
    } catch (error) {
      assert.ok(isAlbVerifyError(error), String(error))
      return error.code
    }
    return 'no error'
  }

  test('verify headers become a typed result', () => {
    const cert = read(verifyHeaders, fromLb)
    assert.ok(cert?.mode === 'verify')
    assert.equal(cert.serialNumber, '0A1B2C')
    assert.equal(cert.serialNumber, facts.serial)
    assert.equal(cert.subject, 'CN=client-1,O=Acme\\, Inc.')
    assert.equal(cert.issuer, facts.issuer)
    assert.equal(cert.notBefore.toISOString().replace('.000', ''), facts.notBefore)
    assert.equal(cert.notAfter.toISOString().replace('.000', ''), facts.notAfter)
    assert.equal(cert.leaf.toString(), leafPem)
  })

  test('the passthrough chain, leaf first, under a renamed header; fetch Headers too', () => {
    const renamed = createAlbClientCertificateReader({
      trustedProxies: ['10.0.0.0/16'],
      headerNames: { chain: 'X-Client-Chain' },
    })
    const cert = renamed(new Headers({ 'x-client-chain': albEncoded(leafPem + caPem) }), fromLb)
    assert.ok(cert?.mode === 'passthrough')
    assert.deepEqual(
      cert.chain.map((c) => c.toString()),
      [leafPem, caPem],
    )
    assert.match(cert.leaf.subject, /CN=client-1/)
    // Under its renamed name only: ALB's name is not read.
    assert.equal(renamed({ 'x-amzn-mtls-clientcert': albEncoded(leafPem) }, fromLb), undefined)
  })

  test('no headers: undefined', () => {
    assert.equal(read({ 'user-agent': 'curl' }, fromLb), undefined)
  })

  test('a peer that is not the load balancer: ERR_UNTRUSTED_PROXY, whatever it sends', () => {
    assert.equal(
      code(() => read(verifyHeaders, { remoteAddress: '192.0.2.1' })),
      'ERR_UNTRUSTED_PROXY',
    )
    assert.equal(
      code(() => read({}, { remoteAddress: undefined })),
      'ERR_UNTRUSTED_PROXY',
    )
  })

  test('headers that do not hold together: ERR_MALFORMED', () => {
    const cases: Record<string, string>[] = [
      { ...verifyHeaders, 'x-amzn-mtls-clientcert-serial-number': '0A1B2D' },
      { ...verifyHeaders, 'x-amzn-mtls-clientcert-validity': 'NotBefore=yesterday' },
      { ...verifyHeaders, 'x-amzn-mtls-clientcert-leaf': '%E0%A4%A' },
      {
        ...verifyHeaders,
        'x-amzn-mtls-clientcert-leaf': albEncoded('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'),
      },
      { 'x-amzn-mtls-clientcert-subject': facts.subject },
      { ...verifyHeaders, 'x-amzn-mtls-clientcert': albEncoded(leafPem) },
      { 'x-amzn-mtls-clientcert': 'not a certificate' },
    ]
    for (const headers of cases)
      assert.equal(
        code(() => read(headers, fromLb)),
        'ERR_MALFORMED',
        JSON.stringify(headers),
      )
    assert.equal(
      code(() => read({ 'x-amzn-mtls-clientcert': 'A'.repeat(64 * 1024 + 1) }, fromLb)),
      'ERR_TOO_LARGE',
    )
  })

  test("mint writes the headers ALB sends: equal to openssl's values, and read back as they were", () => {
    const leaf = new X509Certificate(leafPem)
    assert.deepEqual(verifiedClientCertificateHeaders(leaf), verifyHeaders)
    assert.deepEqual(presentedClientCertificateHeaders([leaf, new X509Certificate(caPem)]), {
      'x-amzn-mtls-clientcert': albEncoded(leafPem + caPem),
    })
    assert.deepEqual(presentedClientCertificateHeaders([]), {})
  })

  test('trustedProxies is required', () => {
    assert.throws(() => createAlbClientCertificateReader({ trustedProxies: [] }), TypeError)
  })
})
