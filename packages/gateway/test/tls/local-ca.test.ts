import 'reflect-metadata'
import assert from 'node:assert/strict'
import { createPrivateKey, X509Certificate as NodeX509Certificate, webcrypto } from 'node:crypto'
import { mkdtemp, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { connect } from 'node:tls'
import * as x509 from '@peculiar/x509'
import { ensureLeafCertificate, ensureLocalCa, trustInstructions } from '../../src/tls/local-ca.js'
import { listen } from '../fixtures/ports.js'

async function temporaryState(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'portcullis-ca-'))
}

async function serve(cert: string, key: string, host: string): Promise<Server> {
  const server = createServer({ cert, key }, (_req, res) => res.end('ok'))
  await listen(server, host)
  return server
}

/** Connects with ONLY the given CA trusted and reports whether the chain and name verified. */
function handshake(
  port: number,
  host: string,
  servername: string | undefined,
  ca: string,
): Promise<{ authorized: boolean; error: string | undefined }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host, ca, ...(servername ? { servername } : {}), rejectUnauthorized: true })
    socket.once('secureConnect', () => {
      resolve({ authorized: socket.authorized, error: undefined })
      socket.end()
    })
    socket.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code && /CERT|ALTNAME|SELF_SIGNED|UNABLE/.test(error.code))
        resolve({ authorized: false, error: error.code })
      else reject(error)
    })
  })
}

describe('local CA', () => {
  let state: string
  before(async () => {
    state = await temporaryState()
  })
  after(async () => {
    await rm(state, { recursive: true, force: true })
  })

  test('creates a P-256 CA once, with a private key only its owner can read, and reuses it', async () => {
    const first = await ensureLocalCa(state)
    assert.equal(first.caCertPath, join(state, 'tls', 'ca.pem'))
    assert.equal((await stat(first.caKeyPath)).mode & 0o777, 0o600)
    assert.equal((await stat(join(state, 'tls'))).mode & 0o777, 0o700)
    const cert = new NodeX509Certificate(first.caCertPem)
    assert.equal(cert.ca, true)
    assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1')
    assert.ok(cert.checkPrivateKey(createPrivateKey(await readFile(first.caKeyPath, 'utf8'))))
    const parsed = new x509.X509Certificate(first.caCertPem)
    const constraints = parsed.getExtension(x509.BasicConstraintsExtension)
    assert.equal(constraints?.ca, true)
    assert.equal(constraints?.pathLength, 0)
    assert.equal(constraints?.critical, true)
    const usages = parsed.getExtension(x509.KeyUsagesExtension)
    assert.equal(usages?.usages, x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign)

    const second = await ensureLocalCa(state)
    assert.equal(second.caCertPem, first.caCertPem)
    const [a, b] = await Promise.all([ensureLocalCa(state), ensureLocalCa(state)])
    assert.equal(a.caCertPem, first.caCertPem)
    assert.equal(b.caCertPem, first.caCertPem)
  })

  test('replaces a CA whose key does not match its certificate', async () => {
    const own = await temporaryState()
    try {
      const original = await ensureLocalCa(own)
      const stray = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
        'sign',
      ])) as webcrypto.CryptoKeyPair
      const der = await webcrypto.subtle.exportKey('pkcs8', stray.privateKey)
      await writeFile(original.caKeyPath, x509.PemConverter.encode(der, 'PRIVATE KEY'))
      const replaced = await ensureLocalCa(own)
      assert.notEqual(replaced.caCertPem, original.caCertPem)
      const cert = new NodeX509Certificate(replaced.caCertPem)
      assert.ok(cert.checkPrivateKey(createPrivateKey(await readFile(replaced.caKeyPath, 'utf8'))))
    } finally {
      await rm(own, { recursive: true, force: true })
    }
  })

  test('issues a leaf for localhost, 127.0.0.1 and ::1 that a TLS client trusting only the CA accepts', async () => {
    const ca = await ensureLocalCa(state)
    const leaf = await ensureLeafCertificate(state)
    assert.equal((await stat(leaf.keyPath)).mode & 0o777, 0o600)
    assert.equal(await readFile(leaf.certPath, 'utf8'), leaf.certPem)
    const cert = new NodeX509Certificate(leaf.certPem)
    assert.equal(cert.ca, false)
    assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.1'])
    assert.ok(cert.checkIssued(new NodeX509Certificate(ca.caCertPem)))
    const lifetimeDays = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 86_400_000
    assert.ok(lifetimeDays <= 398, `leaf lifetime ${lifetimeDays} days`)

    const v4 = await serve(leaf.certPem, leaf.keyPem, '127.0.0.1')
    const v6 = await serve(leaf.certPem, leaf.keyPem, '::1')
    try {
      const v4Port = (v4.address() as AddressInfo).port
      const v6Port = (v6.address() as AddressInfo).port
      assert.deepEqual(await handshake(v4Port, '127.0.0.1', 'localhost', ca.caCertPem), {
        authorized: true,
        error: undefined,
      })
      // No SNI: the client checks the IP address against the IP SANs.
      assert.deepEqual(await handshake(v4Port, '127.0.0.1', undefined, ca.caCertPem), {
        authorized: true,
        error: undefined,
      })
      assert.deepEqual(await handshake(v6Port, '::1', undefined, ca.caCertPem), { authorized: true, error: undefined })
      assert.deepEqual(await handshake(v4Port, '127.0.0.1', 'example.com', ca.caCertPem), {
        authorized: false,
        error: 'ERR_TLS_CERT_ALTNAME_INVALID',
      })
      // Another CA does not vouch for this leaf.
      const stranger = await temporaryState()
      try {
        const other = await ensureLocalCa(stranger)
        const rejected = await handshake(v4Port, '127.0.0.1', 'localhost', other.caCertPem)
        assert.equal(rejected.authorized, false)
      } finally {
        await rm(stranger, { recursive: true, force: true })
      }
    } finally {
      v4.close()
      v6.close()
    }
  })

  test('reuses a leaf for the same names in any order or case, and issues separate ones for other names', async () => {
    const first = await ensureLeafCertificate(state, ['localhost', '127.0.0.1'])
    const again = await ensureLeafCertificate(state, ['127.0.0.1', 'LOCALHOST', 'localhost'])
    assert.equal(again.certPem, first.certPem)
    assert.equal(again.certPath, first.certPath)

    const other = await ensureLeafCertificate(state, ['app.example.test', '*.apps.example.test', '0:0::1'])
    assert.notEqual(other.certPath, first.certPath)
    const san = new NodeX509Certificate(other.certPem).subjectAltName
    assert.equal(san, 'DNS:app.example.test, DNS:*.apps.example.test, IP Address:0:0:0:0:0:0:0:1')
    assert.equal(
      (await ensureLeafCertificate(state, ['app.example.test', '*.apps.example.test', '::1'])).certPem,
      other.certPem,
    )
    // The earlier set is untouched.
    assert.equal((await ensureLeafCertificate(state, ['localhost', '127.0.0.1'])).certPem, first.certPem)
  })

  test('re-issues a leaf that is about to expire', async () => {
    const ca = await ensureLocalCa(state)
    const names = ['soon.example.test']
    const current = await ensureLeafCertificate(state, names)
    const issuer = new x509.X509Certificate(ca.caCertPem)
    const caKeyDer = createPrivateKey(await readFile(ca.caKeyPath, 'utf8')).export({ format: 'der', type: 'pkcs8' })
    const caKey = (await webcrypto.subtle.importKey('pkcs8', caKeyDer, { name: 'ECDSA', namedCurve: 'P-256' }, false, [
      'sign',
    ])) as webcrypto.CryptoKey
    const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
      'sign',
      'verify',
    ])) as webcrypto.CryptoKeyPair
    const expiring = await x509.X509CertificateGenerator.create({
      subject: 'CN=soon.example.test',
      issuer: issuer.subject,
      notBefore: new Date(Date.now() - 86_400_000),
      notAfter: new Date(Date.now() + 3 * 86_400_000),
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      publicKey: keys.publicKey,
      signingKey: caKey,
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: 'soon.example.test' }])],
    })
    const keyDer = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)
    await writeFile(current.certPath, expiring.toString('pem'))
    await writeFile(current.keyPath, x509.PemConverter.encode(keyDer, 'PRIVATE KEY'))

    const renewed = await ensureLeafCertificate(state, names)
    const cert = new NodeX509Certificate(renewed.certPem)
    assert.ok(Date.parse(cert.validTo) - Date.now() > 300 * 86_400_000)
    assert.equal(renewed.certPath, current.certPath)
  })

  test('re-issues leaves when the CA they chain to was replaced', async () => {
    const own = await temporaryState()
    try {
      const leaf = await ensureLeafCertificate(own)
      const ca = await ensureLocalCa(own)
      await unlink(ca.caCertPath)
      await unlink(ca.caKeyPath)
      const newLeaf = await ensureLeafCertificate(own)
      const newCa = await ensureLocalCa(own)
      assert.notEqual(newCa.caCertPem, ca.caCertPem)
      assert.notEqual(newLeaf.certPem, leaf.certPem)
      assert.ok(new NodeX509Certificate(newLeaf.certPem).checkIssued(new NodeX509Certificate(newCa.caCertPem)))
    } finally {
      await rm(own, { recursive: true, force: true })
    }
  })

  test('refuses names that are neither DNS names nor IP addresses', async () => {
    await assert.rejects(ensureLeafCertificate(state, []), TypeError)
    for (const bad of [
      '',
      'exa mple.com',
      'a..b',
      '-lead.example',
      'x.*.example',
      'https://localhost',
      '999.1.1.1',
      'under_score.example',
      `${'a'.repeat(64)}.example`,
    ]) {
      await assert.rejects(ensureLeafCertificate(state, [bad]), TypeError, bad)
    }
  })

  test('tells how to trust the CA', () => {
    const text = trustInstructions('/var/lib/portcullis/tls/ca.pem')
    assert.match(text, /NODE_EXTRA_CA_CERTS=\/var\/lib\/portcullis\/tls\/ca\.pem/)
    assert.match(text, /update-ca-certificates/)
    assert.match(text, /curl --cacert \/var\/lib\/portcullis\/tls\/ca\.pem https:\/\/localhost:8443\//)
    assert.match(
      trustInstructions('/ca.pem', 'https://127.0.0.1:9443/x'),
      /curl --cacert \/ca\.pem https:\/\/127\.0\.0\.1:9443\/x/,
    )
    assert.match(text, /certutil -d sql:\$HOME\/\.pki\/nssdb/)
    assert.match(trustInstructions('/home/a b/ca.pem'), /NODE_EXTRA_CA_CERTS="\/home\/a b\/ca\.pem"/)
  })
})
