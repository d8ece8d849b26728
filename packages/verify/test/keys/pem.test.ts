import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { test } from 'node:test'
import { AlbVerifyError } from '../../src/index.js'
import { parseP256PublicKeyPem } from '../../src/keys/pem.js'

const p256 = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })

function invalid(text: string) {
  assert.throws(
    () => parseP256PublicKeyPem(text),
    (err: unknown) => err instanceof AlbVerifyError && err.code === 'ERR_KEY_INVALID',
  )
}

test('accepts a P-256 SPKI PEM', () => {
  const key = parseP256PublicKeyPem(p256.publicKey.export({ type: 'spki', format: 'pem' }).toString())
  assert.equal(key.type, 'public')
  assert.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1')
})

test('rejects other curves, key types, private keys, certificates-shaped and junk text', () => {
  invalid(
    generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  )
  invalid(
    generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  )
  invalid(p256.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString())
  invalid(p256.privateKey.export({ type: 'sec1', format: 'pem' }).toString())
  invalid('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n')
  invalid(p256.publicKey.export({ type: 'spki', format: 'der' }).toString('base64'))
  invalid('')
  // Two keys concatenated: only exactly one PEM block is accepted.
  const one = p256.publicKey.export({ type: 'spki', format: 'pem' }).toString()
  invalid(one + one)
})
