/**
 * The files of a trust store (`TrustStores[].Portcullis`), checked when a
 * configuration is loaded so that a bad bundle or revocation list is an error
 * with its file and line, not a failed handshake: the bundle must hold CA
 * certificates only (ALB's bundle holds the roots and intermediates a client
 * chain may end in, never a leaf), each revocation list must parse.
 */
import { X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createSecureContext } from 'node:tls'
import type { TrustStoreModel } from './model.js'

/** One problem with a trust store's files: which field, and what. */
export interface TrustStoreProblem {
  /** The field under `Portcullis`: the bundle, or the revocation list at `index`. */
  readonly field: 'CaCertificatesBundleFile' | 'RevocationFiles'
  readonly index?: number
  readonly message: string
  readonly severity: 'error' | 'warning'
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g

/** The PEM certificates of a bundle's text, in order. */
export function pemCertificates(text: string): string[] {
  return text.match(PEM_CERTIFICATE) ?? []
}

function readText(file: string): { text: string } | { error: string } {
  try {
    return { text: readFileSync(file, 'utf8') }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    return { error: code === 'ENOENT' ? `file not found: ${file}` : `cannot read ${file}: ${(err as Error).message}` }
  }
}

/**
 * Every problem of `store`'s files; empty when the bundle and the
 * revocation lists are usable. Reads the files (synchronously: a handful of
 * small PEM files, once per load).
 *
 * @example
 * ```ts
 * for (const p of checkTrustStoreFiles(config.trustStores[0])) console.error(p.field, p.message)
 * ```
 */
export function checkTrustStoreFiles(store: TrustStoreModel, now: number = Date.now()): TrustStoreProblem[] {
  const problems: TrustStoreProblem[] = []
  const bundleField = 'CaCertificatesBundleFile' as const
  const bundle = readText(store.caCertificatesBundleFile)
  if ('error' in bundle) {
    problems.push({ field: bundleField, message: bundle.error, severity: 'error' })
    return problems
  }
  const pems = pemCertificates(bundle.text)
  if (pems.length === 0) {
    problems.push({
      field: bundleField,
      message: `${store.caCertificatesBundleFile} contains no PEM certificate (-----BEGIN CERTIFICATE-----)`,
      severity: 'error',
    })
    return problems
  }
  let usable = true
  pems.forEach((pem, i) => {
    let cert: X509Certificate
    try {
      cert = new X509Certificate(pem)
    } catch {
      usable = false
      problems.push({
        field: bundleField,
        message: `certificate ${i + 1} of ${store.caCertificatesBundleFile} does not parse`,
        severity: 'error',
      })
      return
    }
    const subject = cert.subject.split('\n').reverse().join(',')
    if (!cert.ca) {
      usable = false
      problems.push({
        field: bundleField,
        message: `certificate ${i + 1} of ${store.caCertificatesBundleFile} (${subject}) is not a CA certificate (no basicConstraints CA:TRUE): a trust store bundle holds CA certificates only, never a client's own certificate`,
        severity: 'error',
      })
    } else if (Date.parse(cert.validTo) < now) {
      problems.push({
        field: bundleField,
        message: `CA certificate ${i + 1} (${subject}) expired on ${cert.validTo}: no client certificate chains to it any more`,
        severity: 'warning',
      })
    }
  })
  store.revocationFiles.forEach((file, index) => {
    const crl = readText(file)
    if ('error' in crl) {
      problems.push({ field: 'RevocationFiles', index, message: crl.error, severity: 'error' })
      return
    }
    if (!crl.text.includes('-----BEGIN X509 CRL-----')) {
      problems.push({
        field: 'RevocationFiles',
        index,
        message: `${file} is not a PEM revocation list (-----BEGIN X509 CRL-----); convert a DER one with openssl crl -inform DER -outform PEM`,
        severity: 'error',
      })
      return
    }
    try {
      // OpenSSL's own parser, the one every handshake will use.
      createSecureContext(usable ? { ca: pems, crl: crl.text } : { crl: crl.text })
    } catch (err) {
      problems.push({
        field: 'RevocationFiles',
        index,
        message: `${file} does not parse as a revocation list: ${(err as Error).message}`,
        severity: 'error',
      })
    }
  })
  return problems
}
