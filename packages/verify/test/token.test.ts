import assert from 'node:assert/strict'
import { test } from 'node:test'
import { AlbVerifyError, parseAlbToken } from '../src/index.js'
import { generateSigningKey, signAlbToken } from '../src/mint/index.js'
import { albHeader, b64, CLIENT_ID, ISSUER, SIGNER } from './helpers.js'

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

/** A token of the given header and payload JSON texts and a 64-byte signature (any signature: parsing does not check it). */
function rawToken(headerJson: string, payloadJson: string, signatureBytes = 64): string {
  return `${b64(headerJson)}.${b64(payloadJson)}.${b64(Buffer.alloc(signatureBytes))}`
}

/** The code and message of parseAlbToken's error. */
function failure(token: string): string {
  try {
    parseAlbToken(token)
  } catch (err) {
    assert.ok(err instanceof AlbVerifyError)
    return `${err.code}: ${err.message}`
  }
  assert.fail('expected parseAlbToken to throw')
}

test('every typed field: a mistyped value is rejected with its name, in the documented order', () => {
  const exp = 2_000_000_000
  const payload = JSON.stringify({ sub: 's', exp, iss: ISSUER })
  const header = JSON.stringify(albHeader(key.kid, exp))
  // Duplicate JSON keys: the last one wins, so each override is placed after the valid field.
  const withField = (json: string, field: string, value: string) => `${json.slice(0, -1)},"${field}":${value}}`
  // Where a field stands in the JSON does not matter: the order of the checks does.
  const headerJson = (fields: Record<string, string>) =>
    Object.entries(fields).reduce((json, [field, value]) => withField(json, field, value), header)
  const notStrings = ['1', 'null', 'true', '{}', '["x"]']
  const notNumbers = ['"1"', 'null', 'true', '{}', '[1]', '1e400', '-1e400']
  for (const field of ['typ', 'kid', 'alg', 'iss', 'client', 'signer']) {
    for (const value of notStrings) {
      assert.equal(
        failure(rawToken(withField(header, field, value), payload)),
        `ERR_MALFORMED: token header field "${field}" must be a string`,
        `${field}: ${value}`,
      )
    }
  }
  for (const value of notNumbers) {
    assert.equal(
      failure(rawToken(withField(header, 'exp', value), payload)),
      'ERR_MALFORMED: token header field "exp" must be a number',
      value,
    )
  }
  for (const field of ['exp', 'nbf', 'iat']) {
    for (const value of notNumbers) {
      assert.equal(
        failure(rawToken(header, withField(payload, field, value))),
        `ERR_MALFORMED: token payload field "${field}" must be a number`,
        `${field}: ${value}`,
      )
    }
  }
  for (const field of ['iss', 'sub']) {
    for (const value of notStrings) {
      assert.equal(
        failure(rawToken(header, withField(payload, field, value))),
        `ERR_MALFORMED: token payload field "${field}" must be a string`,
        `${field}: ${value}`,
      )
    }
  }
  // Order: header fields in turn, then exp; all header types before typ, alg and kid values;
  // those before the signature length; the signature length before anything in the payload.
  const badPayload = withField(payload, 'sub', '1')
  const cases: Array<[string, string, number, string]> = [
    [headerJson({ signer: '1', client: '1', iss: '1', alg: '1', kid: '1', typ: '1' }), payload, 64, 'field "typ"'],
    [headerJson({ signer: '1', client: '1', iss: '1', alg: '1', kid: '1' }), payload, 64, 'field "kid"'],
    [headerJson({ signer: '1', client: '1', iss: '1', alg: '1' }), payload, 64, 'field "alg"'],
    [headerJson({ signer: '1', client: '1', iss: '1' }), payload, 64, 'field "iss"'],
    [headerJson({ signer: '1', client: '1' }), payload, 64, 'field "client"'],
    [withField(headerJson({ signer: '1' }), 'exp', '"x"'), payload, 64, 'field "signer"'],
    [withField(withField(header, 'typ', '"at+jwt"'), 'exp', '"x"'), payload, 64, 'field "exp"'],
    [withField(withField(header, 'typ', '"at+jwt"'), 'alg', '"RS256"'), payload, 64, '"typ" is not "JWT"'],
    [withField(withField(header, 'alg', '"RS256"'), 'kid', '"x"'), payload, 64, '"alg" is not ES256'],
    [withField(header, 'kid', '"x"'), badPayload, 63, '"kid" is not a UUID'],
    [header, badPayload, 63, 'not a raw 64-byte ES256 signature'],
    [header, withField(withField(payload, 'exp', '"x"'), 'sub', '1'), 64, 'field "exp"'],
    [header, withField(withField(withField(payload, 'nbf', '"x"'), 'iat', '"x"'), 'iss', '1'), 64, 'field "nbf"'],
    [header, withField(withField(withField(payload, 'iat', '"x"'), 'iss', '1'), 'sub', '1'), 64, 'field "iat"'],
    [header, withField(withField(payload, 'iss', '1'), 'sub', '1'), 64, 'field "iss"'],
  ]
  for (const [h, p, signatureBytes, expected] of cases) {
    const message = failure(rawToken(h, p, signatureBytes))
    assert.ok(message.includes(expected), `${message} should name ${expected}`)
  }
})

test('a kid equal to the last valid one is accepted without the regex; any other is matched again', () => {
  const exp = 2_000_000_000
  const payload = JSON.stringify({ sub: 's', exp, iss: ISSUER })
  const withKid = (kid: unknown) => rawToken(JSON.stringify(albHeader(key.kid, exp, { kid })), payload)
  assert.equal(parseAlbToken(withKid(key.kid)).header.kid, key.kid)
  for (const kid of ['', `${key.kid} `, key.kid.slice(1), `${key.kid}0`, key.kid.replaceAll('-', '_')]) {
    assert.equal(failure(withKid(kid)), 'ERR_KID: token "kid" is not a UUID', kid)
    // The last valid kid is remembered across failures.
    assert.equal(parseAlbToken(withKid(key.kid)).header.kid, key.kid)
  }
  assert.equal(failure(withKid(null)), 'ERR_MALFORMED: token header field "kid" must be a string')
  assert.equal(
    failure(rawToken(JSON.stringify({ ...albHeader(key.kid, exp), kid: undefined }), payload)),
    'ERR_KID: token "kid" is not a UUID',
  )
  const upper = key.kid.toUpperCase()
  assert.equal(parseAlbToken(withKid(upper)).header.kid, upper)
  assert.equal(failure(withKid(`${upper}x`)), 'ERR_KID: token "kid" is not a UUID')
})
