import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
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

/** parseAlbToken's header with its key order, or its error code and message. */
function outcome(token: string): unknown {
  try {
    const { header } = parseAlbToken(token)
    return { header, keys: Object.keys(header) }
  } catch (err) {
    assert.ok(err instanceof AlbVerifyError)
    return `${err.code}: ${err.message}`
  }
}

test('a header that is the last ALB-shaped one but for what follows "exp": parses exactly as JSON.parse gives it', () => {
  // ALB headers differ only in their exp, written last; a header whose bytes up to `"exp":` are those of the
  // last one (that parsed, passed the checks and ended in `,"exp":<digits>}`) is built from it. Whatever follows,
  // the outcome must be the one of a full JSON.parse: each header is parsed once right after one that shares its
  // prefix, and once after one that does not.
  const payload = JSON.stringify({ sub: 's', exp: 2_000_000_000, iss: ISSUER })
  const { exp: _exp, ...fields } = albHeader(key.kid, 0)
  const unrelated = rawToken(JSON.stringify(albHeader(key.kid, 1_700_000_000, { client: 'unrelated' })), payload)
  const extra = fc.dictionary(
    fc.oneof(fc.constantFrom('exp', 'kid', 'typ', 'alg', 'x', '__proto__', 'a"b', ',"exp":'), fc.string()),
    fc.oneof(fc.jsonValue(), fc.constantFrom(',"exp":', '\\', '"', '}')),
    { maxKeys: 3 },
  )
  const expText = fc.oneof(
    fc.stringMatching(/^[1-9][0-9]{0,14}$/),
    fc.stringMatching(/^[0-9]{1,20}$/),
    fc.constantFrom('0', '01', '1.5', '1e3', '-5', '1e400', ' 1', '1 ', '"1"', 'null', '{}', '', '1,"kid":"x"', '1}'),
    // Around 2^53, where a digit-by-digit sum can round unlike JSON.parse.
    fc.constantFrom('9007199254740993', '9999999999999999', '18014398509481985', '99999999999999999'),
  )
  const tail = fc.constantFrom('}', '} ', '}}', ',"exp":1}', '', ']')
  // Keys whose JSON ends like `"exp":` without being "exp".
  const lastKey = fc.constantFrom('exp', 'exp', 'a"exp', '\\exp', 'xexp', ',"exp')
  fc.assert(
    fc.property(extra, lastKey, expText, tail, (more, last, value, end) => {
      const prefix = `${JSON.stringify({ ...fields, ...more }).slice(0, -1)},${JSON.stringify(last)}:`
      const primer = rawToken(`${prefix}1700000000}`, payload)
      const token = rawToken(`${prefix}${value}${end}`, payload)
      outcome(primer)
      const afterSamePrefix = outcome(token)
      outcome(unrelated)
      assert.deepEqual(afterSamePrefix, outcome(token))
    }),
    { numRuns: 2000 },
  )
})

test('ALB-shaped headers: each exp read right, each result a separate object', () => {
  const payload = JSON.stringify({ sub: 's', exp: 2_000_000_000, iss: ISSUER })
  const token = (exp: number) => rawToken(JSON.stringify(albHeader(key.kid, exp)), payload)
  const first = parseAlbToken(token(1_700_000_000)).header as Record<string, unknown>
  for (const exp of [1, 9, 10, 1_700_000_001, 999_999_999_999_999]) {
    const { header } = parseAlbToken(token(exp))
    assert.deepEqual(header, albHeader(key.kid, exp))
    assert.deepEqual(Object.keys(header), Object.keys(albHeader(key.kid, exp)))
  }
  // A caller may change what it got; nothing it does reaches a later result.
  first['kid'] = 'changed'
  first['extra'] = 1
  const second = parseAlbToken(token(1_700_000_002)).header as Record<string, unknown>
  assert.deepEqual(second, albHeader(key.kid, 1_700_000_002))
  second['signer'] = 'changed'
  assert.deepEqual(parseAlbToken(token(1_700_000_003)).header, albHeader(key.kid, 1_700_000_003))
  // Nested values are never shared either.
  const { exp: _exp, ...fields } = albHeader(key.kid, 0)
  const nested = (exp: number) => rawToken(JSON.stringify({ ...fields, x: { y: 1 }, exp }), payload)
  const a = parseAlbToken(nested(1_700_000_004)).header
  const b = parseAlbToken(nested(1_700_000_005)).header
  const c = parseAlbToken(nested(1_700_000_006)).header
  assert.ok(a['x'] !== b['x'] && b['x'] !== c['x'] && a['x'] !== c['x'])
  assert.deepEqual(c, { ...fields, x: { y: 1 }, exp: 1_700_000_006 })
})
