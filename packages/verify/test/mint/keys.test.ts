import assert from 'node:assert/strict'
import { createPublicKey, generateKeyPairSync } from 'node:crypto'
import { test } from 'node:test'
import { generateSigningKey, importSigningKey, publicKeyPem } from '../../src/mint/index.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

test('generateSigningKey: P-256, a UUID kid, frozen', () => {
  const key = generateSigningKey()
  assert.match(key.kid, UUID)
  assert.equal(key.privateKey.asymmetricKeyDetails?.namedCurve, 'prime256v1')
  assert.equal(key.publicKey.type, 'public')
  assert.ok(Object.isFrozen(key))
  assert.notEqual(generateSigningKey().kid, key.kid)
})

test('publicKeyPem: SPKI PEM of the key, also from a private or public KeyObject', () => {
  const key = generateSigningKey()
  const pem = publicKeyPem(key)
  assert.match(pem, /^-----BEGIN PUBLIC KEY-----\n[\s\S]+\n-----END PUBLIC KEY-----\n$/)
  assert.equal(publicKeyPem(key.privateKey), pem)
  assert.equal(publicKeyPem(key.publicKey), pem)
  assert.ok(createPublicKey(pem).equals(key.publicKey))
})

test('importSigningKey round-trips a stored key (PKCS#8 and SEC1)', () => {
  const key = generateSigningKey()
  for (const type of ['pkcs8', 'sec1'] as const) {
    const privateKeyPem = key.privateKey.export({ type, format: 'pem' }).toString()
    const imported = importSigningKey({ kid: key.kid, privateKeyPem })
    assert.equal(imported.kid, key.kid)
    assert.equal(publicKeyPem(imported), publicKeyPem(key))
  }
})

test('importSigningKey rejects non-UUID kids, other curves and junk', () => {
  const key = generateSigningKey()
  const pem = key.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey.export({
    type: 'pkcs8',
    format: 'pem',
  })
  assert.throws(() => importSigningKey({ kid: '../x', privateKeyPem: pem }), TypeError)
  assert.throws(() => importSigningKey({ kid: key.kid, privateKeyPem: p384.toString() }), TypeError)
  assert.throws(() => importSigningKey({ kid: key.kid, privateKeyPem: 'junk' }), TypeError)
  assert.throws(() => importSigningKey({ kid: key.kid, privateKeyPem: publicKeyPem(key) }), TypeError)
})
