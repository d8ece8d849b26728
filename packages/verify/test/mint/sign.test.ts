import assert from 'node:assert/strict'
import { verify } from 'node:crypto'
import { test } from 'node:test'
import { generateSigningKey, signAlbToken } from '../../src/mint/index.js'
import { CLIENT_ID, ISSUER, SIGNER } from '../helpers.js'

const key = generateSigningKey()
const decode = (segment: string) => Buffer.from(segment, 'base64url').toString('utf8')

test('produces the exact ALB wire format', () => {
  const token = signAlbToken({
    claims: { sub: 'user-1', email: 'u@example.com', email_verified: 'true' },
    key,
    signer: SIGNER,
    issuer: ISSUER,
    clientId: CLIENT_ID,
    now: 1_700_000_000,
  })
  const [header, payload, signature] = token.split('.') as [string, string, string]
  for (const segment of [header, payload, signature]) assert.equal(segment.length % 4, 0, 'every segment is padded')
  assert.ok(signature.endsWith('=='), '64 bytes encode to 86 characters plus two = of padding')
  assert.equal(
    decode(header),
    `{"typ":"JWT","kid":"${key.kid}","alg":"ES256","iss":"${ISSUER}","client":"${CLIENT_ID}","signer":"${SIGNER}","exp":1700000120}`,
  )
  assert.equal(
    decode(payload),
    `{"sub":"user-1","email":"u@example.com","email_verified":"true","exp":1700000120,"iss":"${ISSUER}"}`,
  )
  const raw = Buffer.from(signature, 'base64url')
  assert.equal(raw.length, 64)
  const signedBytes = Buffer.from(`${header}.${payload}`, 'latin1')
  assert.ok(verify('sha256', signedBytes, { key: key.publicKey, dsaEncoding: 'ieee-p1363' }, raw))
})

test('exp and iss from the claims are replaced and moved last; the lifetime is configurable', () => {
  const token = signAlbToken({
    claims: { exp: 1, iss: 'spoof', sub: 's' },
    key,
    signer: SIGNER,
    issuer: ISSUER,
    clientId: CLIENT_ID,
    now: 1000,
    expiresInSeconds: 5,
  })
  const payload = JSON.parse(decode(token.split('.')[1]!))
  assert.deepEqual(Object.entries(payload), [
    ['sub', 's'],
    ['exp', 1005],
    ['iss', ISSUER],
  ])
})

test('the default lifetime is 120 seconds from now', () => {
  const before = Math.floor(Date.now() / 1000)
  const token = signAlbToken({ claims: {}, key, signer: SIGNER, issuer: ISSUER, clientId: CLIENT_ID })
  const { exp } = JSON.parse(decode(token.split('.')[0]!)) as { exp: number }
  assert.ok(exp >= before + 120 && exp <= before + 121)
})

test('invalid options are TypeErrors', () => {
  const base = { claims: {}, key, signer: SIGNER, issuer: ISSUER, clientId: CLIENT_ID }
  for (const bad of [
    { ...base, signer: '' },
    { ...base, issuer: 1 },
    { ...base, clientId: undefined },
    { ...base, expiresInSeconds: 0 },
    { ...base, expiresInSeconds: 1.5 },
    { ...base, now: Number.NaN },
  ]) {
    assert.throws(() => signAlbToken(bad as never), TypeError)
  }
})
