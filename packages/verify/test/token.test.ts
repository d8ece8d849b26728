import assert from 'node:assert/strict'
import { test } from 'node:test'
import { AlbVerifyError, parseAlbToken } from '../src/index.js'
import { generateSigningKey, signAlbToken } from '../src/mint/index.js'
import { CLIENT_ID, ISSUER, SIGNER } from './helpers.js'

const key = generateSigningKey()

test('splits a minted token into header, payload, signing input and raw signature', () => {
  const token = signAlbToken({
    claims: { sub: 's' },
    key,
    signer: SIGNER,
    issuer: ISSUER,
    clientId: CLIENT_ID,
    now: 1000,
  })
  const parsed = parseAlbToken(token)
  assert.deepEqual(parsed.header, {
    typ: 'JWT',
    kid: key.kid,
    alg: 'ES256',
    iss: ISSUER,
    client: CLIENT_ID,
    signer: SIGNER,
    exp: 1120,
  })
  assert.deepEqual(parsed.payload, { sub: 's', exp: 1120, iss: ISSUER })
  assert.equal(parsed.signingInput.toString('latin1'), token.slice(0, token.lastIndexOf('.')))
  assert.equal(parsed.signature.length, 64)
  assert.equal(parsed.expiresAt, 1120)
})

test('throws AlbVerifyError, synchronously, for bad input', () => {
  assert.throws(
    () => parseAlbToken('x.y'),
    (err: unknown) => err instanceof AlbVerifyError && err.code === 'ERR_MALFORMED',
  )
})

test('results own their bytes: a later parse does not change an earlier result', () => {
  const a = signAlbToken({ claims: { sub: 'a' }, key, signer: SIGNER, issuer: ISSUER, clientId: CLIENT_ID })
  const b = signAlbToken({ claims: { sub: 'b' }, key, signer: SIGNER, issuer: ISSUER, clientId: CLIENT_ID })
  const first = parseAlbToken(a)
  const input = Buffer.from(first.signingInput)
  const signature = Buffer.from(first.signature)
  parseAlbToken(b)
  assert.deepEqual(first.signingInput, input)
  assert.deepEqual(first.signature, signature)
})
