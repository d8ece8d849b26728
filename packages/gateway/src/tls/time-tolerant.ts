/**
 * The second look `IgnoreClientCertificateExpiry: true` takes at a client
 * chain OpenSSL refused for its dates alone (`CERT_HAS_EXPIRED`,
 * `CERT_NOT_YET_VALID`): the whole verification again, without the dates.
 *
 * Written here because Node's TLS offers no way to set OpenSSL's
 * `X509_V_FLAG_NO_CHECK_TIME`, and OpenSSL reports only its last error: an
 * expired certificate may hide an untrusted chain or a revocation, so
 * nothing of OpenSSL's verdict is reused. Signatures are checked with
 * node:crypto (`X509Certificate.verify`, `crypto.verify` for revocation
 * lists); revocation lists are read with @peculiar/x509. Strict: a chain to
 * a CA of the trust store, CA flags on issuers, the client purpose on the
 * leaf, and with revocation lists, one valid signed list for every issuer
 * in the chain (as OpenSSL's check of the whole chain asks).
 */
// tsyringe (used by @peculiar/x509) needs the Reflect metadata API loaded first.
import 'reflect-metadata'
import { verify as verifySignature, X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { DetailedPeerCertificate, TLSSocket } from 'node:tls'
import * as x509 from '@peculiar/x509'
import type { TrustStoreModel } from '../config/model.js'

/** A trust store as the second look needs it: its CAs and its revocation lists, parsed. */
export interface TrustMaterial {
  readonly anchors: readonly X509Certificate[]
  readonly crls: readonly { readonly crl: x509.X509Crl; readonly der: Buffer }[]
}

/** Reads and parses the trust store's files (as the TLS context reads them, at start and reload). */
export function trustMaterial(store: TrustStoreModel): TrustMaterial {
  const bundle = readFileSync(store.caCertificatesBundleFile, 'utf8')
  const anchors = (bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map(
    (pem) => new X509Certificate(pem),
  )
  const crls = store.revocationFiles.flatMap((file) =>
    (readFileSync(file, 'utf8').match(/-----BEGIN X509 CRL-----[\s\S]+?-----END X509 CRL-----/g) ?? []).map((pem) => {
      const crl = new x509.X509Crl(pem)
      return { crl, der: Buffer.from(crl.rawData) }
    }),
  )
  return { anchors, crls }
}

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2'
const ANY_EXTENDED_KEY_USAGE = '2.5.29.37.0'
/** OpenSSL's default bound on a chain's length. */
const MAX_DEPTH = 100

/**
 * ALB's `tls_verify_status` of `chain` (leaf first, as the client presented
 * it) against `trust`, every date ignored: `Success`, or `Failed:` and ALB's
 * reason code. `now` is for the revocation lists' own dates only.
 */
export function verifyIgnoringTime(chain: readonly X509Certificate[], trust: TrustMaterial, now = new Date()): string {
  const leaf = chain[0]
  if (leaf === undefined) return 'Failed:ClientCertNotPresent'
  if (leaf.ca || !allowsClientAuth(leaf)) return 'Failed:ClientCertInvalid'
  // The path from the leaf to a CA of the trust store, each certificate signed by the next.
  const path: X509Certificate[] = [leaf]
  let anchor: X509Certificate | undefined
  while (anchor === undefined) {
    const current = path.at(-1)!
    anchor = trust.anchors.find((a) => issued(a, current))
    if (anchor !== undefined) break
    if (path.length > MAX_DEPTH) return 'Failed:ClientCertMaxChainDepthExceeded'
    const next = chain.find((c) => c.ca && !path.includes(c) && issued(c, current))
    if (next === undefined) return 'Failed:ClientCertUntrusted'
    path.push(next)
  }
  if (trust.crls.length === 0) return 'Success'
  for (let i = 0; i < path.length; i++) {
    const issuer = path[i + 1] ?? anchor
    const status = revocation(path[i]!, issuer, trust, now)
    if (status !== undefined) return status
  }
  return 'Success'
}

/** `issuer` names and signed `cert`. */
function issued(issuer: X509Certificate, cert: X509Certificate): boolean {
  return cert.checkIssued(issuer) && cert.verify(issuer.publicKey)
}

/** The leaf may be used by a TLS client: no extended key usage, or one with clientAuth (or any). */
function allowsClientAuth(leaf: X509Certificate): boolean {
  // Node 20 names the extended key usage `keyUsage`; later versions add `extKeyUsage` for it.
  const usage = (leaf as X509Certificate & { extKeyUsage?: string[] }).extKeyUsage ?? leaf.keyUsage
  return usage === undefined || usage.includes(CLIENT_AUTH) || usage.includes(ANY_EXTENDED_KEY_USAGE)
}

/** Why `cert` is refused by its issuer's revocation list, or undefined when the list clears it. */
function revocation(
  cert: X509Certificate,
  issuer: X509Certificate,
  trust: TrustMaterial,
  now: Date,
): string | undefined {
  const issuerName = new x509.X509Certificate(issuer.raw).subjectName.toString()
  const list = trust.crls.find(({ crl, der }) => crl.issuerName.toString() === issuerName && signedBy(der, crl, issuer))
  if (list === undefined) return 'Failed:ClientCertCrlProcessingError'
  const { crl } = list
  if (crl.thisUpdate > now || (crl.nextUpdate !== undefined && crl.nextUpdate < now)) {
    return 'Failed:ClientCertCrlProcessingError'
  }
  return crl.findRevoked(new x509.X509Certificate(cert.raw)) === null ? undefined : 'Failed:ClientCertCrlHit'
}

/**
 * The revocation list's signature verifies with `issuer`'s key. Its signed
 * part and signature are cut from the DER by hand (a SEQUENCE of three:
 * tbsCertList, signatureAlgorithm, signature) because @peculiar/x509 only
 * verifies asynchronously, and the verdict is needed inside the handshake's
 * event. RSA PKCS#1 v1.5, ECDSA and EdDSA; anything else is not accepted.
 */
function signedBy(der: Buffer, crl: x509.X509Crl, issuer: X509Certificate): boolean {
  try {
    const outer = header(der, 0)
    const tbs = header(der, outer.contentStart)
    const algorithm = header(der, tbs.end)
    const signature = header(der, algorithm.end)
    // A BIT STRING: its first content byte counts the unused bits (0 for signatures).
    const signatureBytes = der.subarray(signature.contentStart + 1, signature.end)
    const { name, hash: hashed } = crl.signatureAlgorithm as { name: string; hash?: { name: string } }
    const hash = hashed?.name
    const digest = hash === undefined ? null : hash.replace('-', '').toLowerCase()
    if (name !== 'RSASSA-PKCS1-v1_5' && name !== 'ECDSA' && name !== 'Ed25519' && name !== 'Ed448') return false
    return verifySignature(digest, der.subarray(tbs.start, tbs.end), issuer.publicKey, signatureBytes)
  } catch {
    return false
  }
}

/** The DER element at `start`: where its content starts and where it ends. */
function header(der: Buffer, start: number): { start: number; contentStart: number; end: number } {
  const first = der[start + 1]!
  let length = first
  let contentStart = start + 2
  if (first >= 0x80) {
    const bytes = first & 0x7f
    if (bytes === 0 || bytes > 4) throw new Error('unsupported DER length')
    length = 0
    for (let i = 0; i < bytes; i++) length = length * 256 + der[start + 2 + i]!
    contentStart += bytes
  }
  const end = contentStart + length
  if (end > der.length) throw new Error('truncated DER')
  return { start, contentStart, end }
}

/** The client's chain, leaf first, as Node links it (each certificate to its issuer, up to a self-signed one). */
export function presentedChain(socket: TLSSocket): X509Certificate[] {
  const chain: X509Certificate[] = []
  const seen = new Set<string>()
  let cert: DetailedPeerCertificate | undefined = socket.getPeerCertificate(true)
  while (cert?.raw !== undefined && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256)
    chain.push(new X509Certificate(cert.raw))
    cert = cert.issuerCertificate
  }
  return chain
}
