/**
 * A local certificate authority for development, kept in
 * `{stateDirectory}/tls/` (paths and file I/O from `state/`), and leaf certificates for the names a developer
 * serves on (`localhost`, `127.0.0.1`, `::1` by default) signed by it.
 *
 * The CA is created once and reused, so a developer trusts it once (see
 * {@link trustInstructions}); leaves are cheap and are re-issued whenever
 * they near expiry, their names change, or the CA they chain to changed.
 */
// tsyringe (used by @peculiar/x509) needs the Reflect metadata API loaded first.
import 'reflect-metadata'
import {
  createHash,
  createPrivateKey,
  X509Certificate as NodeX509Certificate,
  randomBytes,
  webcrypto,
} from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { isIP } from 'node:net'
import * as x509 from '@peculiar/x509'
import { ensurePrivateDirectory, PUBLIC_FILE_MODE, readIfPresent, replaceAtomically, tlsFiles } from '../state/index.js'

/** Names a leaf certificate covers when none are given. */
export const DEFAULT_LEAF_NAMES: readonly string[] = Object.freeze(['localhost', '127.0.0.1', '::1'])

/** The local CA as found on (or written to) disk. */
export interface LocalCa {
  /** PEM of the CA certificate: what a client trusts. */
  readonly caCertPem: string
  /** Absolute path of `ca.pem`. */
  readonly caCertPath: string
  /** Absolute path of `ca-key.pem` (mode 0600). */
  readonly caKeyPath: string
}

/** A leaf certificate signed by the local CA. */
export interface LeafCertificate {
  /** Absolute path of the PEM certificate chain (leaf, then CA). */
  readonly certPath: string
  /** Absolute path of the PEM PKCS#8 private key (mode 0600). */
  readonly keyPath: string
  /** The chain as PEM: the leaf followed by the CA certificate. */
  readonly certPem: string
  readonly keyPem: string
}

const CA_VALIDITY_DAYS = 3650
/** Below the 398-day ceiling browsers impose on server certificates. */
const LEAF_VALIDITY_DAYS = 397
/** Re-issue a leaf this long before it expires, so a running demo never serves an expired one. */
const LEAF_RENEW_BEFORE_DAYS = 30
/** Replace the CA once it has less than a leaf's lifetime left. */
const CA_RENEW_BEFORE_DAYS = LEAF_VALIDITY_DAYS + 1
/** Backdating absorbs clock skew between the machine that issues and the one that checks. */
const BACKDATE_MS = 5 * 60_000
const DAY_MS = 86_400_000
const ECDSA_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const
const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const
const DNS_LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?'
const DNS_NAME = new RegExp(`^(?:\\*\\.)?${DNS_LABEL}(?:\\.${DNS_LABEL})*$`)
const ALL_DIGIT_LAST_LABEL = /(?:^|\.)\d+$/

x509.cryptoProvider.set(webcrypto as unknown as webcrypto.Crypto)

/** One creation at a time per file within this process (two listeners asking at once get one CA). */
const inFlight = new Map<string, Promise<unknown>>()

function singleFlight<T>(key: string, create: () => Promise<T>): Promise<T> {
  const running = inFlight.get(key)
  if (running) return running as Promise<T>
  const started = create().finally(() => inFlight.delete(key))
  inFlight.set(key, started)
  return started
}

function randomSerialNumber(): string {
  const serial = randomBytes(16)
  // A positive, non-zero-leading INTEGER, as RFC 5280 asks.
  serial[0] = (serial[0]! & 0x7f) | 0x01
  return serial.toString('hex')
}

async function exportPrivateKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key)
  return x509.PemConverter.encode(der, 'PRIVATE KEY')
}

async function importSigningKey(pem: string): Promise<webcrypto.CryptoKey> {
  const der = createPrivateKey(pem).export({ format: 'der', type: 'pkcs8' })
  return (await webcrypto.subtle.importKey('pkcs8', der, ECDSA_P256, false, ['sign'])) as webcrypto.CryptoKey
}

function expiresWithin(cert: NodeX509Certificate, days: number): boolean {
  return Date.parse(cert.validTo) - Date.now() < days * DAY_MS
}

/** The CA on disk when its certificate and key match and it has life left; undefined otherwise. */
function usableCa(certPem: string | undefined, keyPem: string | undefined): NodeX509Certificate | undefined {
  if (certPem === undefined || keyPem === undefined) return undefined
  try {
    const cert = new NodeX509Certificate(certPem)
    if (!cert.ca || expiresWithin(cert, CA_RENEW_BEFORE_DAYS)) return undefined
    return cert.checkPrivateKey(createPrivateKey(keyPem)) ? cert : undefined
  } catch {
    return undefined
  }
}

async function createCa(): Promise<{ certPem: string; keyPem: string }> {
  const keys = (await webcrypto.subtle.generateKey(ECDSA_P256, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair
  const now = Date.now()
  // A distinct subject per CA: browsers confuse two trusted CAs that share a name but not a key.
  const id = randomBytes(4).toString('hex')
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerialNumber(),
    name: `CN=Portcullis development CA ${id}, O=Portcullis development`,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + CA_VALIDITY_DAYS * DAY_MS),
    signingAlgorithm: SIGNING_ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  })
  return { certPem: cert.toString('pem'), keyPem: await exportPrivateKeyPem(keys.privateKey) }
}

/**
 * Returns the local development CA of `stateDirectory`, creating it on first
 * use (`tls/ca.pem`, and `tls/ca-key.pem` with mode 0600). An existing CA is
 * reused as long as its key matches and it has more than a leaf's lifetime
 * left; otherwise a new one replaces it (and must be trusted again).
 *
 * @example
 * ```ts
 * const ca = await ensureLocalCa('/var/lib/portcullis')
 * process.stdout.write(trustInstructions(ca.caCertPath))
 * ```
 */
export async function ensureLocalCa(stateDirectory: string): Promise<LocalCa> {
  const { directory, caCert: caCertPath, caKey: caKeyPath } = tlsFiles(stateDirectory)
  await ensurePrivateDirectory(directory)
  return singleFlight(caCertPath, async () => {
    const existingCert = await readIfPresent(caCertPath)
    if (usableCa(existingCert, await readIfPresent(caKeyPath)) && existingCert !== undefined) {
      return { caCertPem: existingCert, caCertPath, caKeyPath }
    }
    const created = await createCa()
    // Key first: a certificate on disk without its key would be "usable" by nobody.
    await replaceAtomically(caKeyPath, created.keyPem)
    await replaceAtomically(caCertPath, created.certPem, PUBLIC_FILE_MODE)
    return { caCertPem: created.certPem, caCertPath, caKeyPath }
  })
}

/**
 * Lower-cases, checks and de-duplicates certificate names. IP addresses are
 * kept in Node's canonical text form so that the same set always compares equal.
 */
function normaliseNames(names: readonly string[]): string[] {
  if (names.length === 0) throw new TypeError('a leaf certificate needs at least one name')
  const seen = new Set<string>()
  for (const raw of names) {
    const name = raw.trim().toLowerCase()
    if (isIP(name) !== 0) seen.add(canonicalIp(name))
    // An all-digit last label would be read as an IPv4 address by clients, never as a host name.
    else if (DNS_NAME.test(name) && !ALL_DIGIT_LAST_LABEL.test(name)) seen.add(name)
    else throw new TypeError(`not a DNS name or IP address: ${JSON.stringify(raw)}`)
  }
  return [...seen]
}

/** IPv6 in its compressed form (`::1`), whichever way it was written or printed. */
function canonicalIp(ip: string): string {
  return isIP(ip) === 6 ? new URL(`http://[${ip}]/`).hostname.slice(1, -1) : ip
}

/** Names in a certificate's subjectAltName as `dns:…`/`ip:…` strings, sorted. */
function sanOf(cert: NodeX509Certificate): string[] {
  const san = cert.subjectAltName ?? ''
  return san
    .split(', ')
    .filter((entry) => entry.length > 0)
    .map((entry) =>
      entry.startsWith('IP Address:')
        ? `ip:${canonicalIp(entry.slice('IP Address:'.length))}`
        : entry.replace(/^DNS:/, 'dns:').toLowerCase(),
    )
    .sort()
}

function expectedSan(names: readonly string[]): string[] {
  return names.map((name) => (isIP(name) === 0 ? `dns:${name}` : `ip:${name}`)).sort()
}

function leafIsUsable(
  certPem: string | undefined,
  keyPem: string | undefined,
  ca: NodeX509Certificate,
  names: readonly string[],
): boolean {
  if (certPem === undefined || keyPem === undefined) return false
  try {
    const cert = new NodeX509Certificate(certPem)
    if (expiresWithin(cert, LEAF_RENEW_BEFORE_DAYS)) return false
    if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) return false
    if (!cert.checkPrivateKey(createPrivateKey(keyPem))) return false
    const actual = sanOf(cert)
    const expected = expectedSan(names)
    return actual.length === expected.length && actual.every((entry, index) => entry === expected[index])
  } catch {
    return false
  }
}

async function createLeaf(
  ca: LocalCa,
  caCert: NodeX509Certificate,
  names: readonly string[],
): Promise<{ certPem: string; keyPem: string }> {
  const keys = (await webcrypto.subtle.generateKey(ECDSA_P256, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair
  const issuer = new x509.X509Certificate(ca.caCertPem)
  const caKey = await importSigningKey(await readFile(ca.caKeyPath, 'utf8'))
  const now = Date.now()
  const notAfter = Math.min(now + LEAF_VALIDITY_DAYS * DAY_MS, Date.parse(caCert.validTo))
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialNumber(),
    subject: `CN=${names[0]}, O=Portcullis development`,
    issuer: issuer.subject,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(notAfter),
    signingAlgorithm: SIGNING_ALGORITHM,
    publicKey: keys.publicKey,
    signingKey: caKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
      new x509.SubjectAlternativeNameExtension(
        names.map((name) => ({ type: isIP(name) === 0 ? ('dns' as const) : ('ip' as const), value: name })),
        false,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(issuer.publicKey),
    ],
  })
  return { certPem: cert.toString('pem'), keyPem: await exportPrivateKeyPem(keys.privateKey) }
}

/**
 * Returns a server certificate for `names` (DNS names, `*.` wildcards, IPv4
 * or IPv6 addresses) signed by the local CA, issuing one when there is none
 * for exactly these names, when it expires within 30 days, or when the CA
 * changed. Each set of names has its own files, `tls/leaf-{hash}.pem` (the
 * leaf followed by the CA) and `tls/leaf-{hash}-key.pem` (mode 0600).
 *
 * @example
 * ```ts
 * const leaf = await ensureLeafCertificate(stateDirectory)
 * https.createServer({ cert: leaf.certPem, key: leaf.keyPem }, handler)
 * ```
 */
export async function ensureLeafCertificate(
  stateDirectory: string,
  names: readonly string[] = DEFAULT_LEAF_NAMES,
): Promise<LeafCertificate> {
  const normalised = normaliseNames(names)
  const ca = await ensureLocalCa(stateDirectory)
  const files = tlsFiles(stateDirectory)
  await ensurePrivateDirectory(files.directory)
  const id = createHash('sha256')
    .update([...normalised].sort().join('\n'))
    .digest('hex')
    .slice(0, 16)
  const certPath = files.leafCert(id)
  const keyPath = files.leafKey(id)
  return singleFlight(certPath, async () => {
    const caCert = new NodeX509Certificate(ca.caCertPem)
    const existingCert = await readIfPresent(certPath)
    const existingKey = await readIfPresent(keyPath)
    if (leafIsUsable(existingCert, existingKey, caCert, normalised) && existingCert && existingKey) {
      return { certPath, keyPath, certPem: existingCert, keyPem: existingKey }
    }
    const created = await createLeaf(ca, caCert, normalised)
    const chain = created.certPem.trimEnd() + '\n' + ca.caCertPem.trimEnd() + '\n'
    await replaceAtomically(keyPath, created.keyPem)
    await replaceAtomically(certPath, chain, PUBLIC_FILE_MODE)
    return { certPath, keyPath, certPem: chain, keyPem: created.keyPem }
  })
}

/**
 * How to make clients trust the local CA at `caCertPath`: Node
 * (`NODE_EXTRA_CA_CERTS`), curl, the Debian/Ubuntu and Fedora system
 * stores, macOS, and browsers (NSS `certutil` for Chrome/Firefox on Linux, or
 * a manual import). `exampleUrl` is what the curl line fetches.
 *
 * @example
 * ```ts
 * process.stdout.write(trustInstructions(ca.caCertPath))
 * ```
 */
export function trustInstructions(caCertPath: string, exampleUrl = 'https://localhost:8443/'): string {
  const path = caCertPath.includes(' ') ? JSON.stringify(caCertPath) : caCertPath
  return [
    `The local development CA is ${path}. To trust it:`,
    `  Node.js:         export NODE_EXTRA_CA_CERTS=${path}`,
    `  curl:            curl --cacert ${path} ${exampleUrl}`,
    `  Debian/Ubuntu:   sudo cp ${path} /usr/local/share/ca-certificates/portcullis-dev.crt && sudo update-ca-certificates`,
    `  Fedora/RHEL:     sudo cp ${path} /etc/pki/ca-trust/source/anchors/portcullis-dev.pem && sudo update-ca-trust`,
    `  macOS:           sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain ${path}`,
    `  Chrome/Firefox on Linux (NSS): certutil -d sql:$HOME/.pki/nssdb -A -t "C,," -n portcullis-dev -i ${path}`,
    `  Any browser:     import ${path} as a trusted certificate authority in its certificate settings.`,
    'Remove it from your trust stores when you no longer need it; its private key sits next to it.',
    '',
  ].join('\n')
}
