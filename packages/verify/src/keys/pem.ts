import { createPublicKey, type KeyObject } from 'node:crypto'
import { AlbVerifyError } from '../errors.js'

// Only a SubjectPublicKeyInfo PEM. `createPublicKey` alone would also accept
// certificates and private keys (deriving the public half), which a key server
// must never be able to slip in.
const SPKI_PEM = /^-----BEGIN PUBLIC KEY-----\r?\n(?:[A-Za-z0-9+/=]{1,76}\r?\n)+-----END PUBLIC KEY-----\r?\n?$/

/**
 * Parses a key server answer into an ES256 verification key.
 *
 * @throws {AlbVerifyError} `ERR_KEY_INVALID` unless `pem` is a PEM SPKI EC key on P-256.
 */
export function parseP256PublicKeyPem(pem: string): KeyObject {
  const text = pem.trim() + '\n'
  if (!SPKI_PEM.test(text)) throw new AlbVerifyError('ERR_KEY_INVALID', 'key server answer is not a PEM public key')
  let key: KeyObject
  try {
    key = createPublicKey({ key: text, format: 'pem' })
  } catch (err) {
    throw new AlbVerifyError('ERR_KEY_INVALID', 'key server answer is not a valid public key', { cause: err })
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new AlbVerifyError('ERR_KEY_INVALID', 'key server answer is not a P-256 EC public key')
  }
  return key
}
