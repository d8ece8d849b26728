import { createPrivateKey, createPublicKey, generateKeyPairSync, KeyObject, randomUUID } from 'node:crypto'

/** An ALB-style signing key: a P-256 key pair and the UUID `kid` it is published under. */
export interface AlbSigningKey {
  readonly kid: string
  readonly privateKey: KeyObject
  readonly publicKey: KeyObject
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/**
 * Generates a fresh P-256 signing key with a random UUID `kid`, as ALB does.
 *
 * @example
 * ```ts
 * const key = generateSigningKey()
 * console.log(key.kid) // e.g. '3f0d4a47-…'
 * ```
 */
export function generateSigningKey(): AlbSigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
  return Object.freeze({ kid: randomUUID(), privateKey, publicKey })
}

/**
 * Rebuilds a signing key from a stored private key (PEM, PKCS#8 or SEC1) and
 * its `kid`, so several processes can sign with, and publish, the same key.
 *
 * @throws {TypeError} if `kid` is not a UUID or the key is not a P-256 private key.
 * @example
 * ```ts
 * const key = importSigningKey({ kid: process.env.KID!, privateKeyPem: readFileSync('key.pem', 'utf8') })
 * ```
 */
export function importSigningKey(options: { kid: string; privateKeyPem: string }): AlbSigningKey {
  if (typeof options.kid !== 'string' || !UUID.test(options.kid)) throw new TypeError('kid must be a UUID')
  let privateKey: KeyObject
  try {
    privateKey = createPrivateKey({ key: options.privateKeyPem, format: 'pem' })
  } catch (err) {
    throw new TypeError('privateKeyPem is not a PEM private key', { cause: err })
  }
  if (privateKey.asymmetricKeyType !== 'ec' || privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new TypeError('privateKeyPem is not a P-256 EC private key')
  }
  return Object.freeze({ kid: options.kid, privateKey, publicKey: createPublicKey(privateKey) })
}

/**
 * The SubjectPublicKeyInfo PEM of a signing key (or of any key object; a
 * private key yields its public half): exactly what ALB's key server returns.
 *
 * @example
 * ```ts
 * const pem = publicKeyPem(generateSigningKey()) // '-----BEGIN PUBLIC KEY-----\n…'
 * ```
 */
export function publicKeyPem(key: AlbSigningKey | KeyObject): string {
  const keyObject = key instanceof KeyObject ? key : key.publicKey
  const publicKey = keyObject.type === 'public' ? keyObject : createPublicKey(keyObject)
  return publicKey.export({ type: 'spki', format: 'pem' }) as string
}
