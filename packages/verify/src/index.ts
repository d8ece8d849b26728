/**
 * `@portcullis/verify`: verify AWS Application Load Balancer identity tokens
 * (`x-amzn-oidc-data`) correctly — signer pinning, key fetch by kid, ES256,
 * expiry — with no dependencies beyond Node's built-ins.
 *
 * @packageDocumentation
 */
export {
  ALB_VERIFY_ERROR_CODES,
  AlbVerifyError,
  type AlbVerifyErrorCode,
  isAlbVerifyError,
  PortcullisVerifyError,
  type PortcullisVerifyErrorCode,
} from './errors.js'
export type { HeaderSource } from './headers.js'
export { defaultKeyEndpoint } from './keys/endpoint.js'
export {
  ALB_CLIENT_CERTIFICATE_HEADERS,
  type AlbClientCertificate,
  type AlbClientCertificateHeaderNames,
  type AlbClientCertificateReader,
  type AlbClientCertificateReaderOptions,
  createAlbClientCertificateReader,
} from './mtls.js'
export { type AlbTokenHeader, MAX_TOKEN_LENGTH, type ParsedAlbToken, parseAlbToken } from './token.js'
export {
  type AlbClaims,
  type AlbIdentity,
  type AlbVerifier,
  type AlbVerifierOptions,
  createAlbVerifier,
} from './verifier.js'
