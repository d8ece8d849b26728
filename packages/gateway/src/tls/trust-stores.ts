/**
 * Mutual TLS on a listener's sockets: what its secure contexts and server
 * need to ask for a client certificate and, in `verify` mode, to check it
 * against a trust store (its CA bundle and revocation lists, read afresh on
 * every start and reload), and the decision taken once the handshake is done.
 *
 * The chain, validity and revocation checks are OpenSSL's (Node's `ca` and
 * `crl`): nothing here verifies a certificate by hand. Node verifies during
 * the handshake but lets the server decide (`rejectUnauthorized: false`), so
 * that a refused handshake is counted and logged with its reason before the
 * connection is closed, as ALB's connection log records it.
 */
import { constants } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { TLSSocket } from 'node:tls'
import type { MutualAuthenticationModel, TrustStoreModel } from '../config/model.js'
import { presentedChain, type TrustMaterial, trustMaterial, verifyIgnoringTime } from './time-tolerant.js'

/** What a listener's TLS needs for mutual TLS. */
export interface ClientCertificateTls {
  /** Added to every secure context of the listener (its default certificate's and each SNI one). */
  readonly contextOptions: {
    readonly ca?: readonly Buffer[]
    readonly crl?: readonly Buffer[]
    readonly secureOptions: number
  }
  /** Added to the server's options (and to `setSecureContext` on reload). */
  readonly serverOptions: { readonly requestCert: true; readonly rejectUnauthorized: false }
}

/**
 * The TLS options of mutual TLS `mtls`, reading the trust store's files now
 * (so that a reload picks up a new bundle or revocation list for new
 * connections, while open ones keep what they negotiated).
 *
 * Session tickets are off: ALB does not resume sessions with mutual TLS, and
 * a resumed session would skip the certificate check of a trust store that
 * changed since.
 */
export function clientCertificateTls(mtls: MutualAuthenticationModel): ClientCertificateTls {
  const serverOptions = { requestCert: true, rejectUnauthorized: false } as const
  const secureOptions = constants.SSL_OP_NO_TICKET
  if (mtls.mode === 'passthrough') return { contextOptions: { secureOptions }, serverOptions }
  const store = mtls.trustStore
  // Read with the context's files, for the second look IgnoreClientCertificateExpiry takes.
  if (mtls.ignoreClientCertificateExpiry) materials.set(store, trustMaterial(store))
  return {
    contextOptions: {
      ca: [readFileSync(store.caCertificatesBundleFile)],
      crl: store.revocationFiles.map((f) => readFileSync(f)),
      secureOptions,
    },
    serverOptions,
  }
}

/**
 * Why a finished handshake on a listener with mutual TLS `mtls` is refused
 * (ALB's `tls_verify_status`, `Failed:…`), or undefined when it is admitted:
 * `verify` admits only a certificate OpenSSL verified against the trust
 * store; `passthrough` admits any certificate, or none.
 */
export function refusedClientCertificate(
  mtls: MutualAuthenticationModel | undefined,
  socket: TLSSocket,
): string | undefined {
  if (mtls?.mode !== 'verify') return undefined
  const status = tlsVerifyStatus(socket, mtls)
  return status === 'Success' ? undefined : status
}

/** Each trust store's parsed files, for stores whose listeners ignore client certificate expiry. */
const materials = new WeakMap<TrustStoreModel, TrustMaterial>()

/** Where a socket keeps its verdict: computed once, read by the connection log and the request headers. */
const STATUS = Symbol('portcullis.tlsVerifyStatus')
type Judged = TLSSocket & { [STATUS]?: string }

type VerifyModel = Extract<MutualAuthenticationModel, { mode: 'verify' }>

/**
 * ALB's `tls_verify_status` for a handshake on a `verify` listener:
 * `Success`, or `Failed:` and ALB's error reason code, from OpenSSL's
 * verification result as Node reports it (`authorizationError`). With
 * `IgnoreClientCertificateExpiry`, a chain OpenSSL refused for a date is
 * verified again without dates ({@link verifyIgnoringTime}).
 */
export function tlsVerifyStatus(socket: TLSSocket, mtls: VerifyModel): string {
  const judged = socket as Judged
  judged[STATUS] ??= judge(socket, mtls)
  return judged[STATUS]
}

function judge(socket: TLSSocket, mtls: VerifyModel): string {
  if (socket.authorized) return 'Success'
  // AWS's table has no code for a client that sent no certificate: ours (docs/alb-contract.md).
  if (socket.getPeerX509Certificate() === undefined) return 'Failed:ClientCertNotPresent'
  const code = String(socket.authorizationError ?? '')
  if (mtls.ignoreClientCertificateExpiry && (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID')) {
    let material = materials.get(mtls.trustStore)
    if (material === undefined) {
      material = trustMaterial(mtls.trustStore)
      materials.set(mtls.trustStore, material)
    }
    return verifyIgnoringTime(presentedChain(socket), material)
  }
  return `Failed:${verifyFailure(code)}`
}

/** The connection's client certificate was admitted by a `verify` listener (by OpenSSL, or on the second look). */
export function admittedByVerify(socket: TLSSocket): boolean {
  return socket.authorized || (socket as Judged)[STATUS] === 'Success'
}

/** ALB's error reason code for OpenSSL's verification error `code` (`CERT_HAS_EXPIRED`…). */
export function verifyFailure(code: string): string {
  return VERIFY_FAILURES[code] ?? 'ClientCertInvalid'
}

/**
 * OpenSSL's verification errors, as ALB's connection log names them (its
 * "error reason codes"): ClientCertMaxChainDepthExceeded, ClientCertCrlHit,
 * ClientCertCrlProcessingError, ClientCertUntrusted, ClientCertNotYetValid,
 * ClientCertExpired, ClientCertInvalid (anything else about the certificate).
 */
const VERIFY_FAILURES: Readonly<Record<string, string>> = {
  CERT_HAS_EXPIRED: 'ClientCertExpired',
  CERT_NOT_YET_VALID: 'ClientCertNotYetValid',
  CERT_REVOKED: 'ClientCertCrlHit',
  UNABLE_TO_GET_CRL: 'ClientCertCrlProcessingError',
  CRL_HAS_EXPIRED: 'ClientCertCrlProcessingError',
  CRL_NOT_YET_VALID: 'ClientCertCrlProcessingError',
  CRL_SIGNATURE_FAILURE: 'ClientCertCrlProcessingError',
  UNABLE_TO_DECRYPT_CRL_SIGNATURE: 'ClientCertCrlProcessingError',
  UNABLE_TO_GET_ISSUER_CERT: 'ClientCertUntrusted',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'ClientCertUntrusted',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'ClientCertUntrusted',
  SELF_SIGNED_CERT_IN_CHAIN: 'ClientCertUntrusted',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'ClientCertUntrusted',
  CERT_UNTRUSTED: 'ClientCertUntrusted',
  CERT_CHAIN_TOO_LONG: 'ClientCertMaxChainDepthExceeded',
  PATH_LENGTH_EXCEEDED: 'ClientCertMaxChainDepthExceeded',
}
