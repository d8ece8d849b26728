/**
 * `@portcullis/verify/mint`: the signing side of ALB's identity-token contract.
 * Create real tokens and a real key server for tests and local development
 * instead of faking `x-amzn-oidc-*` headers, and the `X-Amzn-Mtls-*` headers
 * of a client certificate in ALB's encodings.
 *
 * @packageDocumentation
 */
export {
  albCertificateValidity,
  presentedClientCertificateHeaders,
  rfc2253Name,
  verifiedClientCertificateHeaders,
} from './client-certificate.js'
export { createKeyHandler } from './key-handler.js'
export { type AlbSigningKey, generateSigningKey, importSigningKey, publicKeyPem } from './keys.js'
export { type SignAlbTokenOptions, signAlbToken } from './sign.js'
