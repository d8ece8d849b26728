import { X509Certificate } from 'node:crypto'
import { AlbVerifyError } from './errors.js'
import { type HeaderSource, readSingleHeader } from './headers.js'
import { compileTrustedProxies } from './net/trusted-proxies.js'

/**
 * The names of ALB's mutual-TLS request headers, lower-case. A listener
 * may rename them (`routing.http.request.x_amzn_mtls_clientcert_*.header_name`).
 */
export interface AlbClientCertificateHeaderNames {
  /** `verify`: the leaf's serial number, upper-case hex. */
  readonly serialNumber: string
  /** `verify`: the leaf's issuer, RFC 2253. */
  readonly issuer: string
  /** `verify`: the leaf's subject, RFC 2253. */
  readonly subject: string
  /** `verify`: `NotBefore=…;NotAfter=…`, ISO 8601 to the second. */
  readonly validity: string
  /** `verify`: the leaf, URL-encoded PEM. */
  readonly leaf: string
  /** `passthrough`: the whole presented chain, leaf first, URL-encoded PEM. */
  readonly chain: string
}

/** ALB's own header names. */
export const ALB_CLIENT_CERTIFICATE_HEADERS: AlbClientCertificateHeaderNames = Object.freeze({
  serialNumber: 'x-amzn-mtls-clientcert-serial-number',
  issuer: 'x-amzn-mtls-clientcert-issuer',
  subject: 'x-amzn-mtls-clientcert-subject',
  validity: 'x-amzn-mtls-clientcert-validity',
  leaf: 'x-amzn-mtls-clientcert-leaf',
  chain: 'x-amzn-mtls-clientcert',
})

/** What the load balancer says of the client's certificate. */
export type AlbClientCertificate =
  | {
      /** The load balancer verified the certificate against its trust store (`verify` mode). */
      readonly mode: 'verify'
      /** Upper-case hexadecimal, as ALB sends it. */
      readonly serialNumber: string
      /** RFC 2253, as ALB sends it. */
      readonly issuer: string
      /** RFC 2253, as ALB sends it. */
      readonly subject: string
      readonly notBefore: Date
      readonly notAfter: Date
      readonly leaf: X509Certificate
    }
  | {
      /**
       * The load balancer passed the chain on unverified (`passthrough` mode):
       * the application must verify it itself before believing any of it.
       */
      readonly mode: 'passthrough'
      readonly leaf: X509Certificate
      /** Leaf first, as the client presented it. */
      readonly chain: readonly X509Certificate[]
    }

/** Options of {@link createAlbClientCertificateReader}. */
export interface AlbClientCertificateReaderOptions {
  /**
   * The load balancer's addresses (CIDRs). Required: these headers vouch for
   * a client only when the load balancer set them; a client that reaches the
   * application directly can send any it likes.
   */
  readonly trustedProxies: readonly string[]
  /** Header names the listener renamed; the others keep ALB's names. */
  readonly headerNames?: Partial<AlbClientCertificateHeaderNames>
}

/** Reads a request's client certificate; see {@link createAlbClientCertificateReader}. */
export type AlbClientCertificateReader = (
  headers: HeaderSource,
  request: { readonly remoteAddress: string | undefined },
) => AlbClientCertificate | undefined

/** Longest header value read (ALB's own headers stay far below; a chain of a few certificates fits). */
const MAX_HEADER_LENGTH = 64 * 1024

const VALIDITY = /^NotBefore=(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ);NotAfter=(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)$/
const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g

/**
 * A reader of ALB's mutual-TLS headers (`X-Amzn-Mtls-Clientcert-*` from a
 * `verify` listener, `X-Amzn-Mtls-Clientcert` from a `passthrough` one) into
 * a typed {@link AlbClientCertificate}, certificates as Node's
 * `X509Certificate`. Returns undefined when the request carries none of them.
 *
 * Only a request from the load balancer is read: a peer outside
 * `trustedProxies` is `ERR_UNTRUSTED_PROXY`, whatever its headers (make sure
 * the application cannot be reached but through the load balancer, too).
 * Headers that do not parse, disagree with each other (the serial number
 * against the leaf's), come only in part, or are repeated are `ERR_MALFORMED`;
 * one longer than 64 KiB is `ERR_TOO_LARGE`.
 *
 * @throws {TypeError} when `trustedProxies` is empty or not CIDRs.
 *
 * @example
 * ```ts
 * const readClientCertificate = createAlbClientCertificateReader({ trustedProxies: ['10.0.0.0/16'] })
 * const cert = readClientCertificate(req.headers, { remoteAddress: req.socket.remoteAddress })
 * if (cert?.mode === 'verify') console.log(cert.subject, cert.serialNumber)
 * ```
 */
export function createAlbClientCertificateReader(
  options: AlbClientCertificateReaderOptions,
): AlbClientCertificateReader {
  const isTrustedPeer = compileTrustedProxies(options.trustedProxies)
  const names = { ...ALB_CLIENT_CERTIFICATE_HEADERS }
  for (const [key, value] of Object.entries(options.headerNames ?? {})) {
    if (value !== undefined) names[key as keyof AlbClientCertificateHeaderNames] = value.toLowerCase()
  }
  return (headers, request) => {
    if (!isTrustedPeer(request.remoteAddress)) {
      throw new AlbVerifyError(
        'ERR_UNTRUSTED_PROXY',
        `peer ${request.remoteAddress ?? '(unknown)'} is not the load balancer: its client-certificate headers mean nothing`,
      )
    }
    const read = (name: string) => {
      const value = readSingleHeader(headers, name)
      if (value !== undefined && value.length > MAX_HEADER_LENGTH) {
        throw new AlbVerifyError('ERR_TOO_LARGE', `header ${name} is longer than ${MAX_HEADER_LENGTH} characters`)
      }
      return value
    }
    const verify = {
      serialNumber: read(names.serialNumber),
      issuer: read(names.issuer),
      subject: read(names.subject),
      validity: read(names.validity),
      leaf: read(names.leaf),
    }
    const chain = read(names.chain)
    const present = Object.entries(verify).filter(([, v]) => v !== undefined)
    if (present.length > 0 && chain !== undefined) {
      throw new AlbVerifyError('ERR_MALFORMED', 'both verify and passthrough client-certificate headers are present')
    }
    if (chain !== undefined) {
      const certificates = certificatesOf(chain, names.chain)
      return { mode: 'passthrough', leaf: certificates[0]!, chain: certificates }
    }
    if (present.length === 0) return undefined
    if (present.length < 5) {
      const missing = Object.entries(verify)
        .filter(([, v]) => v === undefined)
        .map(([k]) => names[k as keyof AlbClientCertificateHeaderNames])
      throw new AlbVerifyError('ERR_MALFORMED', `client-certificate headers missing: ${missing.join(', ')}`)
    }
    const validity = VALIDITY.exec(verify.validity!)
    if (validity === null)
      throw new AlbVerifyError('ERR_MALFORMED', `header ${names.validity} is not NotBefore=…;NotAfter=…`)
    const certificates = certificatesOf(verify.leaf!, names.leaf)
    if (certificates.length !== 1)
      throw new AlbVerifyError('ERR_MALFORMED', `header ${names.leaf} holds more than one certificate`)
    const leaf = certificates[0]!
    if (!/^[0-9A-F]+$/.test(verify.serialNumber!) || leaf.serialNumber.toUpperCase() !== verify.serialNumber) {
      throw new AlbVerifyError(
        'ERR_MALFORMED',
        `header ${names.serialNumber} is not the serial number of ${names.leaf}`,
      )
    }
    return {
      mode: 'verify',
      serialNumber: verify.serialNumber!,
      issuer: verify.issuer!,
      subject: verify.subject!,
      notBefore: new Date(validity[1]!),
      notAfter: new Date(validity[2]!),
      leaf,
    }
  }
}

/** The certificates of a URL-encoded PEM header value, in order; at least one. */
function certificatesOf(value: string, name: string): X509Certificate[] {
  let pem: string
  try {
    pem = decodeURIComponent(value)
  } catch {
    throw new AlbVerifyError('ERR_MALFORMED', `header ${name} is not URL-encoded`)
  }
  const blocks = pem.match(PEM_CERTIFICATE) ?? []
  if (blocks.length === 0) throw new AlbVerifyError('ERR_MALFORMED', `header ${name} holds no PEM certificate`)
  try {
    return blocks.map((block) => new X509Certificate(block))
  } catch (error) {
    throw new AlbVerifyError('ERR_MALFORMED', `header ${name} holds a certificate that does not parse`, {
      cause: error,
    })
  }
}
