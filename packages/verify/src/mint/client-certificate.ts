/**
 * The request headers of ALB's mutual TLS, in ALB's encodings ("Mutual
 * authentication with TLS in Application Load Balancer", HTTP headers):
 *
 * - `verify`: `X-Amzn-Mtls-Clientcert-Serial-Number` (the leaf's serial in
 *   hexadecimal), `-Issuer` and `-Subject` (RFC 2253 distinguished names),
 *   `-Validity` (`NotBefore=…;NotAfter=…`, ISO 8601 in UTC, seconds) and
 *   `-Leaf` (the leaf certificate's PEM, URL-encoded with `+`, `=` and `/`
 *   left as they are);
 * - `passthrough`: `X-Amzn-Mtls-Clientcert`, the whole chain the client
 *   presented, leaf first, as URL-encoded PEM.
 *
 * What the load balancer writes (the gateway uses these), and what a test or
 * `portcullis probe` sends to play it. Pure: certificates in, header values out.
 */
import type { X509Certificate } from 'node:crypto'
import { ALB_CLIENT_CERTIFICATE_HEADERS, type AlbClientCertificateHeaderNames } from '../mtls.js'

/**
 * The headers a `verify` listener sends for a client certificate it verified.
 *
 * @example
 * ```ts
 * const headers = verifiedClientCertificateHeaders(new X509Certificate(pem))
 * headers['x-amzn-mtls-clientcert-subject'] // 'CN=alice,O=Example'
 * ```
 */
export function verifiedClientCertificateHeaders(
  leaf: X509Certificate,
  names: AlbClientCertificateHeaderNames = ALB_CLIENT_CERTIFICATE_HEADERS,
): Record<string, string> {
  return {
    [names.serialNumber]: leaf.serialNumber.toUpperCase(),
    [names.issuer]: rfc2253Name(leaf.issuer),
    [names.subject]: rfc2253Name(leaf.subject),
    [names.validity]: albCertificateValidity(leaf),
    [names.leaf]: urlEncodedPem(leaf.toString()),
  }
}

/**
 * The header a `passthrough` listener sends for the chain a client presented,
 * leaf first; none without a certificate.
 *
 * @example
 * ```ts
 * presentedClientCertificateHeaders([leaf, intermediate]) // { 'x-amzn-mtls-clientcert': '-----BEGIN%20CERTIFICATE-----%0A…' }
 * ```
 */
export function presentedClientCertificateHeaders(
  chain: readonly X509Certificate[],
  names: AlbClientCertificateHeaderNames = ALB_CLIENT_CERTIFICATE_HEADERS,
): Record<string, string> {
  if (chain.length === 0) return {}
  return { [names.chain]: urlEncodedPem(chain.map((c) => c.toString()).join('')) }
}

/**
 * A distinguished name as RFC 2253 writes it (OpenSSL's `-nameopt RFC2253`),
 * from Node's `X509Certificate#subject` / `#issuer` text: the most specific
 * RDN first, comma-separated, non-ASCII bytes as `\XX`. Node prints a name
 * one RDN per line, most general first, already escaped as RFC 2253 requires
 * (`,`, `+`, `"`, `\`, `<`, `>`, `;`, a leading `#` or space, a trailing
 * space). Known limit: a multi-valued RDN (`CN=a+O=b`) comes out as two RDNs,
 * since Node's text does not tell them apart.
 *
 * @example
 * ```ts
 * rfc2253Name('O=Example\nCN=alice') // 'CN=alice,O=Example'
 * ```
 */
export function rfc2253Name(nodeName: string): string {
  return nodeName
    .split('\n')
    .filter((line) => line !== '')
    .reverse()
    .join(',')
    .replace(/[\u0080-\u{10ffff}]/gu, (ch) =>
      [...Buffer.from(ch, 'utf8')].map((b) => `\\${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''),
    )
}

/**
 * ALB's validity of a certificate.
 *
 * @example
 * ```ts
 * albCertificateValidity(leaf) // 'NotBefore=2023-09-21T01:50:17Z;NotAfter=2024-09-20T01:50:17Z'
 * ```
 */
export function albCertificateValidity(cert: X509Certificate): string {
  return `NotBefore=${isoSeconds(cert.validFrom)};NotAfter=${isoSeconds(cert.validTo)}`
}

/** `Sep 21 01:50:17 2023 GMT` → `2023-09-21T01:50:17Z`. */
function isoSeconds(text: string): string {
  return new Date(text).toISOString().replace(/\.\d{3}Z$/, 'Z')
}

/** PEM percent-encoded as ALB sends it: `+`, `=` and `/` kept, newlines `%0A`, spaces `%20`. */
function urlEncodedPem(pem: string): string {
  return encodeURIComponent(pem).replace(/%2B/g, '+').replace(/%3D/g, '=').replace(/%2F/g, '/')
}
