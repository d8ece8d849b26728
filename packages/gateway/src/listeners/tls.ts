import { X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls'
import type { CertificateModel, GatewayConfig, ListenerModel } from '../config/model.js'
import { ensureLeafCertificate } from '../tls/local-ca.js'
import { listenerSecurityPolicy, type PolicyTlsOptions, tlsOptionsFor } from '../tls/security-policies.js'
import { type ClientCertificateTls, clientCertificateTls } from '../tls/trust-stores.js'

/** A listener's certificates as its HTTPS server uses them. */
export interface ListenerTls {
  /** The default certificate's context, used when SNI names no known host (as ALB does). */
  readonly defaultContext: SecureContext
  /**
   * The default certificate's PEM material, the listener's security policy
   * ({@link tlsOptionsFor}) and, with mutual TLS, the trust store and the
   * server's request for a client certificate: the server's options, and
   * `server.setSecureContext`'s on reload.
   */
  readonly defaultOptions: {
    readonly cert: Buffer
    readonly key: Buffer
    readonly requestCert?: boolean
  } & PolicyTlsOptions
  /** `SNICallback` choosing among the listener's certificates by server name. */
  readonly sniCallback: (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void) => void
}

interface Entry {
  readonly names: readonly string[]
  readonly context: SecureContext
  readonly cert: Buffer
  readonly key: Buffer
}

/**
 * The TLS material of an HTTPS listener: its certificate files, or, with
 * `Portcullis.LocalCertificates`, a certificate from the local CA for its
 * host names (issued when there is none yet, else the one on disk).
 */
export async function listenerTls(model: ListenerModel, stateDirectory: string): Promise<ListenerTls> {
  const policy = tlsOptionsFor(listenerSecurityPolicy(model.sslPolicy))
  const clientAuth = model.mutualAuthentication && clientCertificateTls(model.mutualAuthentication)
  if (model.localCertificateNames === undefined) return loadListenerTls(model.certificates, policy, clientAuth)
  const leaf = await ensureLeafCertificate(stateDirectory, model.localCertificateNames)
  return loadListenerTls(
    [{ certificateFile: leaf.certPath, privateKeyFile: leaf.keyPath, isDefault: true }],
    policy,
    clientAuth,
  )
}

/**
 * Issues the local-CA certificates the configuration's listeners need, so
 * that a cluster primary writes them once before its workers start and only
 * read them.
 */
export async function issueLocalCertificates(config: GatewayConfig): Promise<void> {
  for (const listener of config.listeners) {
    if (listener.protocol === 'HTTPS' && listener.localCertificateNames !== undefined) {
      await ensureLeafCertificate(config.portcullis.stateDirectory, listener.localCertificateNames)
    }
  }
}

/**
 * Loads a listener's certificates and builds SNI selection over them: an
 * exact DNS name wins over a wildcard (`*.example.com` covers one label only),
 * and an unknown name gets the default certificate. Every context carries
 * the listener's security policy (`SslPolicy`), so that the protocols and
 * ciphers do not depend on which certificate a client's SNI selects.
 */
export function loadListenerTls(
  certificates: readonly CertificateModel[],
  policy: PolicyTlsOptions,
  clientAuth?: ClientCertificateTls,
): ListenerTls {
  // Every context asks for the client certificate the same way: SNI switches contexts mid-handshake.
  const mtls = clientAuth?.contextOptions
  const entries: Entry[] = certificates.map((c) => {
    const cert = readFileSync(c.certificateFile)
    const key = readFileSync(c.privateKeyFile)
    const context = createSecureContext({ cert, key, ...policy, ...mtls } as SecureContextOptions)
    return { names: certificateNames(new X509Certificate(cert)), context, cert, key }
  })
  const exact = new Map<string, SecureContext>()
  const wildcard = new Map<string, SecureContext>()
  for (const entry of entries) {
    for (const name of entry.names) {
      if (name.startsWith('*.')) {
        if (!wildcard.has(name.slice(2))) wildcard.set(name.slice(2), entry.context)
      } else if (!exact.has(name)) exact.set(name, entry.context)
    }
  }
  const defaultContext = entries[0]!.context
  return {
    defaultContext,
    defaultOptions: { cert: entries[0]!.cert, key: entries[0]!.key, ...policy, ...mtls, ...clientAuth?.serverOptions },
    sniCallback(servername, cb) {
      const name = servername.toLowerCase()
      const dot = name.indexOf('.')
      cb(null, exact.get(name) ?? (dot === -1 ? undefined : wildcard.get(name.slice(dot + 1))) ?? defaultContext)
    },
  }
}

/** DNS names a certificate is valid for: its SANs, or its CN when it has none. */
export function certificateNames(cert: X509Certificate): string[] {
  const names: string[] = []
  for (const part of (cert.subjectAltName ?? '').split(',')) {
    const entry = part.trim()
    if (entry.startsWith('DNS:')) names.push(entry.slice(4).toLowerCase())
  }
  if (names.length === 0) {
    const cn = /(?:^|\n)CN=([^\n]+)/.exec(cert.subject)?.[1]
    if (cn !== undefined) names.push(cn.toLowerCase())
  }
  return names
}
