import { sign } from 'node:crypto'
import { encodeBase64urlPadded } from '../base64url.js'
import type { AlbSigningKey } from './keys.js'

/** Options of {@link signAlbToken}. */
export interface SignAlbTokenOptions {
  /** The user's claims (ALB forwards the IdP's userinfo answer); `exp` and `iss` are set by the signer. */
  claims: Record<string, unknown>
  key: AlbSigningKey
  /** The load balancer ARN placed in the header `signer`. */
  signer: string
  /** The IdP issuer, placed in header and payload `iss`. */
  issuer: string
  /** The OIDC client id, placed in the header `client`. */
  clientId: string
  /** Lifetime in seconds. Default 120. */
  expiresInSeconds?: number
  /** The current time in seconds since the epoch. Default now; for tests. */
  now?: number
}

/**
 * Signs a token in ALB's exact `x-amzn-oidc-data` wire format: header fields
 * in the order `typ, kid, alg, iss, client, signer, exp`; payload = claims +
 * `exp` + `iss`; every segment base64url with `=` padding; ES256 signature
 * over the padded `header.payload`, as raw 64-byte `R || S`.
 *
 * @throws {TypeError} on a non-positive lifetime or non-string signer/issuer/clientId.
 * @example
 * ```ts
 * const token = signAlbToken({
 *   claims: { sub: 'user-1', email: 'u@example.com' },
 *   key, signer: albArn, issuer: 'https://idp.example.com', clientId: 'my-client-id',
 * })
 * ```
 */
export function signAlbToken(options: SignAlbTokenOptions): string {
  const { claims, key, signer, issuer, clientId } = options
  for (const [name, value] of [
    ['signer', signer],
    ['issuer', issuer],
    ['clientId', clientId],
  ] as const) {
    if (typeof value !== 'string' || value === '') throw new TypeError(`${name} must be a non-empty string`)
  }
  const lifetime = options.expiresInSeconds ?? 120
  if (!Number.isInteger(lifetime) || lifetime <= 0) throw new TypeError('expiresInSeconds must be a positive integer')
  const now = options.now ?? Math.floor(Date.now() / 1000)
  if (!Number.isFinite(now)) throw new TypeError('now must be a finite number of seconds')
  const exp = Math.floor(now) + lifetime

  const header = JSON.stringify({ typ: 'JWT', kid: key.kid, alg: 'ES256', iss: issuer, client: clientId, signer, exp })
  // The claims keep their order; exp and iss are (re)placed at the end, as ALB appends them.
  const payloadObject: Record<string, unknown> = { ...claims }
  delete payloadObject['exp']
  delete payloadObject['iss']
  payloadObject['exp'] = exp
  payloadObject['iss'] = issuer
  const signingInput = encodeBase64urlPadded(header) + '.' + encodeBase64urlPadded(JSON.stringify(payloadObject))
  const signature = sign('sha256', Buffer.from(signingInput, 'latin1'), {
    key: key.privateKey,
    dsaEncoding: 'ieee-p1363',
  })
  return signingInput + '.' + encodeBase64urlPadded(signature)
}
