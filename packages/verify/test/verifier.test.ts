import assert from 'node:assert/strict'
import { generateKeyPairSync, randomUUID } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { AlbVerifyError, type AlbVerifyErrorCode, createAlbVerifier, MAX_TOKEN_LENGTH } from '../src/index.js'
import { generateSigningKey, publicKeyPem, signAlbToken } from '../src/mint/index.js'
import {
  albHeader,
  b64,
  CLIENT_ID,
  ISSUER,
  nowSeconds,
  OTHER_SIGNER,
  SIGNER,
  signHs256,
  signParts,
  startKeyServer,
  type TestServer,
  verifierFor,
} from './helpers.js'

const key = generateSigningKey()
let server: TestServer

before(async () => {
  server = await startKeyServer([key])
})
after(() => server.close())

function mint(claims: Record<string, unknown> = { sub: 'user-1' }, options: { now?: number; exp?: number } = {}) {
  return signAlbToken({
    claims,
    key,
    signer: SIGNER,
    issuer: ISSUER,
    clientId: CLIENT_ID,
    ...(options.now === undefined ? {} : { now: options.now }),
    ...(options.exp === undefined ? {} : { expiresInSeconds: options.exp }),
  })
}

async function rejects(promise: Promise<unknown>, code: AlbVerifyErrorCode): Promise<AlbVerifyError> {
  try {
    await promise
  } catch (err) {
    assert.ok(err instanceof AlbVerifyError, `expected AlbVerifyError, got ${String(err)}`)
    assert.equal(err.code, code, err.message)
    return err
  }
  assert.fail(`expected rejection with ${code}`)
}

/** Asserts that `token` is rejected with `code` without the key server being contacted. */
async function rejectsOffline(token: string, code: AlbVerifyErrorCode, options = {}) {
  const before = server.requests.length
  await rejects(verifierFor(server.url, options).verify(token), code)
  assert.equal(server.requests.length, before, 'no key fetch may happen for this rejection')
}

describe('accepts', () => {
  test('a minted token, with its claims deeply frozen and exp set', async () => {
    const token = mint({ sub: 'user-1', email: 'u@example.com', groups: ['a', { nested: true }] })
    const claims = await verifierFor(server.url).verify(token)
    assert.equal(claims.sub, 'user-1')
    assert.equal(claims.iss, ISSUER)
    assert.equal(typeof claims.exp, 'number')
    assert.deepEqual(claims['groups'], ['a', { nested: true }])
    assert.ok(Object.isFrozen(claims) && Object.isFrozen(claims['groups']))
    assert.ok(Object.isFrozen((claims['groups'] as object[])[1]))
  })

  test('any of several signers, issuers and client ids', async () => {
    const verifier = verifierFor(server.url, {
      signer: [OTHER_SIGNER, SIGNER],
      issuer: ['https://other', ISSUER],
      clientId: ['x', CLIENT_ID],
    })
    assert.equal((await verifier.verify(mint())).sub, 'user-1')
  })

  test('issuer and client id explicitly unchecked with null', async () => {
    const token = signAlbToken({ claims: { sub: 's' }, key, signer: SIGNER, issuer: 'https://any', clientId: 'any' })
    const verifier = verifierFor(server.url, { issuer: null, clientId: null })
    assert.equal((await verifier.verify(token)).iss, 'https://any')
  })

  test('exp only in the header (older ALB tokens) or only in the payload', async () => {
    const exp = nowSeconds() + 60
    const headerOnly = signParts(albHeader(key.kid, exp), { sub: 'h', iss: ISSUER }, key.privateKey)
    assert.equal((await verifierFor(server.url).verify(headerOnly)).exp, exp)
    const { exp: _omit, ...header } = albHeader(key.kid, exp)
    const payloadOnly = signParts(header, { sub: 'p', exp, iss: ISSUER }, key.privateKey)
    assert.equal((await verifierFor(server.url).verify(payloadOnly)).exp, exp)
  })

  test('a header without typ; iss only in the payload; iss only in the header', async () => {
    const exp = nowSeconds() + 60
    const { typ: _t, iss: _i, ...header } = albHeader(key.kid, exp)
    assert.equal(
      (await verifierFor(server.url).verify(signParts(header, { sub: 'a', exp, iss: ISSUER }, key.privateKey))).sub,
      'a',
    )
    assert.equal(
      (await verifierFor(server.url).verify(signParts(albHeader(key.kid, exp), { sub: 'b', exp }, key.privateKey))).sub,
      'b',
    )
  })

  test('an uppercase kid (UUIDs are case-insensitive)', async () => {
    const exp = nowSeconds() + 60
    const token = signParts(albHeader(key.kid.toUpperCase(), exp), { sub: 'u', exp, iss: ISSUER }, key.privateKey)
    assert.equal((await verifierFor(server.url).verify(token)).sub, 'u')
  })

  test('padded and unpadded tokens, each signed over its own bytes', async () => {
    const exp = nowSeconds() + 60
    const padded = signParts(albHeader(key.kid, exp), { sub: 'pad', exp, iss: ISSUER }, key.privateKey)
    const unpadded = signParts(albHeader(key.kid, exp), { sub: 'pad', exp, iss: ISSUER }, key.privateKey, {
      pad: false,
    })
    assert.ok(padded.includes('=') && !unpadded.includes('='))
    const verifier = verifierFor(server.url)
    assert.equal((await verifier.verify(padded)).sub, 'pad')
    assert.equal((await verifier.verify(unpadded)).sub, 'pad')
  })

  test('a token of exactly the maximum length', async () => {
    const exp = nowSeconds() + 60
    // Unpadded lengths skip every value ≡ 1 (mod 4), so vary the header too until one lands exactly.
    let token = ''
    search: for (let extra = 0; extra < 4; extra++) {
      for (let n = 11000; n < 13000; n++) {
        const header = albHeader(key.kid, exp, { x: 'y'.repeat(extra) })
        const payload = { sub: 'big', pad: 'x'.repeat(n), exp, iss: ISSUER }
        token = signParts(header, payload, key.privateKey, { pad: false })
        if (token.length >= MAX_TOKEN_LENGTH) {
          if (token.length === MAX_TOKEN_LENGTH) break search
          continue search
        }
      }
    }
    assert.equal(token.length, MAX_TOKEN_LENGTH)
    assert.equal((await verifierFor(server.url).verify(token)).sub, 'big')
  })
})

describe('rejects before any network access', () => {
  const exp = nowSeconds() + 600

  test('a token over 16 KiB, before decoding', async () => {
    await rejectsOffline('a'.repeat(MAX_TOKEN_LENGTH + 1), 'ERR_TOO_LARGE')
    // Even a garbage string is classified by size first.
    await rejectsOffline('.'.repeat(MAX_TOKEN_LENGTH + 1), 'ERR_TOO_LARGE')
  })

  test('wrong segment counts and non-strings', async () => {
    const valid = mint()
    const [h, p, s] = valid.split('.') as [string, string, string]
    for (const token of ['', 'abc', `${h}.${p}`, `${h}.${p}.${s}.${s}`, `${h}..${s}`, `.${p}.${s}`, `${h}.${p}.`]) {
      await rejectsOffline(token, token === `${h}.${p}.` ? 'ERR_SIGNATURE' : 'ERR_MALFORMED')
    }
    await rejects(verifierFor(server.url).verify(42 as unknown as string), 'ERR_MALFORMED')
  })

  test('characters outside base64url and misplaced padding', async () => {
    const [h, p, s] = mint().split('.') as [string, string, string]
    const bad = [
      `${h.replace(/=+$/, '')}+.${p}.${s}`,
      `${h}.${p.slice(0, 4)}/${p.slice(5)}.${s}`,
      `${h}.${p}.${s}=`,
      `=${h}.${p}.${s}`,
      `${h.slice(0, 8)}=${h.slice(9)}.${p}.${s}`,
      `${h} .${p}.${s}`,
    ]
    for (const token of bad) await rejectsOffline(token, 'ERR_MALFORMED')
  })

  test('a valid token with one character swapped for a non-ASCII one of the same low byte', async () => {
    // Decoding reads the token's bytes, and the signature covers bytes: a copy
    // that kept only low bytes would verify each of these against the original signature.
    const token = mint()
    const dot1 = token.indexOf('.')
    const dot2 = token.lastIndexOf('.')
    for (const at of [0, dot1 - 2, dot1 + 1, dot2 - 2, dot2 + 1, token.length - 3]) {
      const char = token.charCodeAt(at)
      assert.ok(char !== 0x2e && char !== 0x3d, `position ${at} is a base64url character`)
      for (const high of [0x100, 0xff00]) {
        const swapped = token.slice(0, at) + String.fromCharCode(high | char) + token.slice(at + 1)
        await rejectsOffline(swapped, 'ERR_MALFORMED')
      }
    }
  })

  test('a token of the maximum length in three-byte characters', async () => {
    // 3 bytes each in UTF-8: the whole token is 48 KiB of bytes; then one at the very end of an ASCII token.
    const third = '\u0800'.repeat(Math.floor((MAX_TOKEN_LENGTH - 2) / 3))
    const token = `${third}.${third}.${third}${'\u0800'.repeat(MAX_TOKEN_LENGTH - 2 - 3 * third.length)}`
    assert.equal(token.length, MAX_TOKEN_LENGTH)
    await rejectsOffline(token, 'ERR_MALFORMED')
    await rejectsOffline(`${'A'.repeat(MAX_TOKEN_LENGTH - 8)}.AAA.A\u0800A`, 'ERR_MALFORMED')
  })

  test('header or payload that is not a JSON object, or has mistyped fields', async () => {
    const payload = { sub: 's', exp, iss: ISSUER }
    const cases: Array<[unknown, unknown]> = [
      ['not json', payload],
      [[1, 2], payload],
      [null, payload],
      [albHeader(key.kid, exp), 'not json'],
      [albHeader(key.kid, exp), ['array']],
      [albHeader(key.kid, exp, { signer: 42 }), payload],
      [albHeader(key.kid, exp, { exp: '1' }), payload],
      [albHeader(key.kid, exp, { client: false }), payload],
      [albHeader(key.kid, exp, { typ: 'at+jwt' }), payload],
      [albHeader(key.kid, exp), { ...payload, sub: 7 }],
      [albHeader(key.kid, exp), { ...payload, exp: 'tomorrow' }],
      [albHeader(key.kid, exp), { ...payload, nbf: null }],
      [albHeader(key.kid, exp), { ...payload, iss: ['x'] }],
    ]
    for (const [header, body] of cases) {
      const input =
        b64(typeof header === 'string' ? header : JSON.stringify(header)) +
        '.' +
        b64(typeof body === 'string' ? body : JSON.stringify(body))
      const token = input + '.' + b64(Buffer.alloc(64))
      await rejectsOffline(token, 'ERR_MALFORMED')
    }
  })

  test('missing exp in both header and payload', async () => {
    const { exp: _e, ...header } = albHeader(key.kid, exp)
    await rejectsOffline(signParts(header, { sub: 's', iss: ISSUER }, key.privateKey), 'ERR_MALFORMED')
  })

  test('alg none, HS256 with the public PEM as secret, RS256, ES384, ES512, missing alg', async () => {
    const payload = { sub: 'admin', exp, iss: ISSUER }
    await rejectsOffline(`${b64(albHeader(key.kid, exp, { alg: 'none' }))}.${b64(payload)}.`, 'ERR_ALG')
    await rejectsOffline(signHs256(albHeader(key.kid, exp, { alg: 'HS256' }), payload, publicKeyPem(key)), 'ERR_ALG')
    for (const alg of ['RS256', 'ES384', 'ES512', 'es256', 'PS256']) {
      await rejectsOffline(signParts(albHeader(key.kid, exp, { alg }), payload, key.privateKey), 'ERR_ALG')
    }
    const { alg: _a, ...noAlg } = albHeader(key.kid, exp)
    await rejectsOffline(signParts(noAlg, payload, key.privateKey), 'ERR_ALG')
  })

  test('kid that is not a UUID: traversal, encoded, URL-ish, missing', async () => {
    const payload = { sub: 's', exp, iss: ISSUER }
    for (const kid of [
      '../../latest/meta-data/iam',
      '..%2f..%2fadmin',
      '%2e%2e',
      `${key.kid}/../x`,
      `${key.kid}?x=1`,
      `${key.kid}#`,
      `${key.kid} `,
      key.kid.replaceAll('-', ''),
      'http://169.254.169.254/',
      '',
    ]) {
      await rejectsOffline(signParts(albHeader(kid, exp), payload, key.privateKey), 'ERR_KID')
    }
    const { kid: _k, ...noKid } = albHeader(key.kid, exp)
    await rejectsOffline(signParts(noKid, payload, key.privateKey), 'ERR_KID')
  })

  test('a signature that is not 64 raw bytes (DER)', async () => {
    const token = signParts(albHeader(key.kid, exp), { sub: 's', exp, iss: ISSUER }, key.privateKey, { der: true })
    await rejectsOffline(token, 'ERR_SIGNATURE')
  })

  test('a signer other than the pinned ARN (ALBeast), even with a valid signature', async () => {
    // Same regional key server, someone else's load balancer: the signature is fine, the signer is not.
    const token = signAlbToken({
      claims: { sub: 'admin' },
      key,
      signer: OTHER_SIGNER,
      issuer: ISSUER,
      clientId: CLIENT_ID,
    })
    await rejectsOffline(token, 'ERR_SIGNER')
    const { signer: _s, ...noSigner } = albHeader(key.kid, exp)
    await rejectsOffline(signParts(noSigner, { sub: 's', exp, iss: ISSUER }, key.privateKey), 'ERR_SIGNER')
  })

  test('a signer pin is checked before an unknown kid is fetched', async () => {
    const token = signParts(albHeader(randomUUID(), exp, { signer: OTHER_SIGNER }), { sub: 's', exp }, key.privateKey)
    await rejectsOffline(token, 'ERR_SIGNER')
  })

  test('a client id other than the configured one, or none', async () => {
    const token = signAlbToken({ claims: { sub: 's' }, key, signer: SIGNER, issuer: ISSUER, clientId: 'other' })
    await rejectsOffline(token, 'ERR_CLIENT')
    const { client: _c, ...noClient } = albHeader(key.kid, exp)
    await rejectsOffline(signParts(noClient, { sub: 's', exp, iss: ISSUER }, key.privateKey), 'ERR_CLIENT')
  })

  test('an issuer other than the configured one, none, or header and payload disagreeing', async () => {
    const token = signAlbToken({
      claims: { sub: 's' },
      key,
      signer: SIGNER,
      issuer: 'https://evil',
      clientId: CLIENT_ID,
    })
    await rejectsOffline(token, 'ERR_ISSUER')
    const { iss: _i, ...noIss } = albHeader(key.kid, exp)
    await rejectsOffline(signParts(noIss, { sub: 's', exp }, key.privateKey), 'ERR_ISSUER')
    const disagree = signParts(albHeader(key.kid, exp), { sub: 's', exp, iss: 'https://evil' }, key.privateKey)
    await rejectsOffline(disagree, 'ERR_ISSUER')
    await rejectsOffline(disagree, 'ERR_ISSUER', { issuer: null })
  })

  test('a verifier that has accepted a signer, client and issuer checks every later token against its pins', async () => {
    // The verifier remembers the last allowed signer, client and issuer it saw: whatever came before, a token
    // with another or none must still be rejected, and each allowed value still accepted.
    const SECOND_SIGNER = SIGNER.replace('/my-alb/', '/second/')
    const verifier = verifierFor(server.url, {
      signer: [SIGNER, SECOND_SIGNER],
      issuer: [ISSUER, 'https://second'],
      clientId: [CLIENT_ID, 'second-client'],
    })
    let n = 0
    const token = (fields: Record<string, unknown>, payloadIss: string | undefined = fields['iss'] as string) => {
      const header = Object.fromEntries(
        Object.entries(albHeader(key.kid, exp, fields)).filter(([, v]) => v !== undefined),
      )
      return signParts(
        header,
        { sub: `s${n++}`, exp, ...(payloadIss === undefined ? {} : { iss: payloadIss }) },
        key.privateKey,
      )
    }
    const accepts = async (fields: Record<string, unknown>) =>
      assert.match((await verifier.verify(token({ iss: ISSUER, ...fields }))).sub as string, /^s\d+$/)
    await accepts({})
    const before = server.requests.length
    for (const signer of [OTHER_SIGNER, `${SIGNER}x`, SIGNER.slice(0, -1), undefined]) {
      await rejects(verifier.verify(token({ iss: ISSUER, signer })), 'ERR_SIGNER')
      await accepts({})
    }
    for (const client of ['x', `${CLIENT_ID}x`, CLIENT_ID.slice(0, -1), undefined]) {
      await rejects(verifier.verify(token({ iss: ISSUER, client })), 'ERR_CLIENT')
      await accepts({})
    }
    for (const iss of ['https://evil', `${ISSUER}/`, ISSUER.slice(0, -1)]) {
      await rejects(verifier.verify(token({ iss })), 'ERR_ISSUER')
      await accepts({})
    }
    await rejects(verifier.verify(token({ iss: undefined }, undefined)), 'ERR_ISSUER')
    await accepts({ signer: SECOND_SIGNER, client: 'second-client', iss: 'https://second' })
    await rejects(verifier.verify(token({ iss: ISSUER, signer: OTHER_SIGNER })), 'ERR_SIGNER')
    await accepts({})
    await accepts({ signer: SECOND_SIGNER, client: 'second-client', iss: 'https://second' })
    assert.equal(server.requests.length, before, 'the key was fetched once, before')
  })

  test('checks run in the documented order', async () => {
    // Each token fails two checks; the earlier one must be reported.
    const payload = { sub: 's', exp, iss: ISSUER }
    await rejectsOffline(
      signParts(albHeader('nope', exp, { alg: 'RS256', signer: OTHER_SIGNER }), payload, key.privateKey),
      'ERR_ALG',
    )
    await rejectsOffline(
      signParts(albHeader('nope', exp, { signer: OTHER_SIGNER }), payload, key.privateKey),
      'ERR_KID',
    )
    await rejectsOffline(
      signParts(albHeader(key.kid, exp, { signer: OTHER_SIGNER, client: 'x', iss: 'y' }), payload, key.privateKey),
      'ERR_SIGNER',
    )
    await rejectsOffline(
      signParts(albHeader(key.kid, exp, { client: 'x', iss: 'y' }), payload, key.privateKey),
      'ERR_CLIENT',
    )
  })
})

describe('rejects after fetching the key', () => {
  test('a tampered payload', async () => {
    const [h, , s] = mint({ sub: 'user-1' }).split('.') as [string, string, string]
    const forged = `${h}.${b64({ sub: 'admin', exp: nowSeconds() + 60, iss: ISSUER })}.${s}`
    await rejects(verifierFor(server.url).verify(forged), 'ERR_SIGNATURE')
  })

  test('a tampered header', async () => {
    const token = mint()
    const [, p, s] = token.split('.') as [string, string, string]
    const forged = `${b64(albHeader(key.kid, nowSeconds() + 9999))}.${p}.${s}`
    await rejects(verifierFor(server.url).verify(forged), 'ERR_SIGNATURE')
  })

  test('a signature by a different key under the published kid', async () => {
    const attacker = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
    const exp = nowSeconds() + 60
    const token = signParts(albHeader(key.kid, exp), { sub: 'admin', exp, iss: ISSUER }, attacker.privateKey)
    await rejects(verifierFor(server.url).verify(token), 'ERR_SIGNATURE')
  })

  test('a padded token whose padding was stripped after signing', async () => {
    const token = mint()
    assert.ok(
      token
        .split('.')
        .slice(0, 2)
        .some((segment) => segment.endsWith('=')),
      'fixture must carry padding',
    )
    const [h, p, s] = token.split('.') as [string, string, string]
    const stripped = `${h.replace(/=+$/, '')}.${p.replace(/=+$/, '')}.${s}`
    await rejects(verifierFor(server.url).verify(stripped), 'ERR_SIGNATURE')
  })

  test('an all-zero or all-ones signature', async () => {
    const [h, p] = mint().split('.') as [string, string, string]
    await rejects(verifierFor(server.url).verify(`${h}.${p}.${b64(Buffer.alloc(64))}`), 'ERR_SIGNATURE')
    await rejects(verifierFor(server.url).verify(`${h}.${p}.${b64(Buffer.alloc(64, 0xff))}`), 'ERR_SIGNATURE')
  })

  test('an expired token, even with a valid signature; the signature is checked first', async () => {
    const old = nowSeconds() - 1000
    await rejects(verifierFor(server.url).verify(mint({ sub: 's' }, { now: old })), 'ERR_EXPIRED')
    const [h, p] = mint({ sub: 's' }, { now: old }).split('.') as [string, string, string]
    await rejects(verifierFor(server.url).verify(`${h}.${p}.${b64(Buffer.alloc(64, 1))}`), 'ERR_SIGNATURE')
  })
})

describe('time', () => {
  const T = 2_000_000_000
  const at = (seconds: number) => () => seconds * 1000

  test('exp: valid just before, expired exactly at exp', async () => {
    const token = mint({ sub: 's' }, { now: T - 120 })
    assert.equal((await verifierFor(server.url, { clock: at(T - 0.001) }).verify(token)).exp, T)
    await rejects(verifierFor(server.url, { clock: at(T) }).verify(token), 'ERR_EXPIRED')
  })

  test('clock tolerance extends exp by exactly that many seconds', async () => {
    const token = mint({ sub: 's' }, { now: T - 120 })
    const options = { clockToleranceSeconds: 5 }
    assert.equal((await verifierFor(server.url, { ...options, clock: at(T + 4.999) }).verify(token)).sub, 's')
    await rejects(verifierFor(server.url, { ...options, clock: at(T + 5) }).verify(token), 'ERR_EXPIRED')
  })

  test('header and payload exp disagree: the earlier wins, whichever it is', async () => {
    const earlyHeader = signParts(albHeader(key.kid, T), { sub: 's', exp: T + 100, iss: ISSUER }, key.privateKey)
    const earlyPayload = signParts(albHeader(key.kid, T + 100), { sub: 's', exp: T, iss: ISSUER }, key.privateKey)
    for (const token of [earlyHeader, earlyPayload]) {
      assert.equal((await verifierFor(server.url, { clock: at(T - 1) }).verify(token)).exp, T)
      await rejects(verifierFor(server.url, { clock: at(T + 50) }).verify(token), 'ERR_EXPIRED')
    }
  })

  test('nbf and iat in the future are rejected, within tolerance accepted', async () => {
    for (const field of ['nbf', 'iat']) {
      const token = signParts(albHeader(key.kid, T + 100), { sub: 's', [field]: T + 10, iss: ISSUER }, key.privateKey)
      await rejects(verifierFor(server.url, { clock: at(T) }).verify(token), 'ERR_NOT_YET_VALID')
      assert.equal((await verifierFor(server.url, { clock: at(T + 10) }).verify(token)).sub, 's')
      assert.equal((await verifierFor(server.url, { clock: at(T), clockToleranceSeconds: 10 }).verify(token)).sub, 's')
    }
  })

  test('the verified-token cache re-checks exp on every hit', async () => {
    let now = T - 10
    const verifier = verifierFor(server.url, { clock: () => now * 1000 })
    const token = mint({ sub: 'cached' }, { now: T - 120 })
    const first = await verifier.verify(token)
    assert.equal(await verifier.verify(token), first, 'a hit returns the cached claims')
    now = T
    await rejects(verifier.verify(token), 'ERR_EXPIRED')
  })
})

describe('verified-token cache', () => {
  test('a repeated token is verified once, without touching the key server again', async () => {
    const verifier = verifierFor(server.url)
    const token = mint({ sub: 'again' })
    const first = await verifier.verify(token)
    const fetches = server.requests.length
    for (let i = 0; i < 5; i++) assert.equal(await verifier.verify(token), first)
    assert.equal(server.requests.length, fetches)
  })

  test('a token that ends like a cached one is verified on its own bytes, never served from the cache', async () => {
    // The cache finds entries by the token's last characters and compares the whole token on a hit:
    // a forgery that keeps a cached token's signature must still be verified, and fail.
    const verifier = verifierFor(server.url)
    const token = mint({ sub: 'victim', role: 'user' })
    const cached = await verifier.verify(token)
    const [h, p, s] = token.split('.') as [string, string, string]
    const exp = nowSeconds() + 600
    const forgeries = [
      `${h}.${b64({ sub: 'victim', role: 'admin', exp, iss: ISSUER })}.${s}`,
      `${b64(albHeader(key.kid, exp + 1))}.${p}.${s}`,
      `${mint({ sub: 'other' }).split('.').slice(0, 2).join('.')}.${s}`,
      `${h}.${p}.${s.slice(0, 8).split('').reverse().join('')}${s.slice(8)}`,
      `${h}.${p.replace(/=+$/, '')}.${s}`,
    ]
    for (const forged of forgeries) {
      assert.equal(forged.slice(-32), token.slice(-32))
      assert.notEqual(forged, token)
      await rejects(verifier.verify(forged), 'ERR_SIGNATURE')
      assert.equal(await verifier.verify(token), cached, 'the verified token is still a hit')
    }
    // The same token with its signature padding dropped is another token: verified on its own (the padding is
    // not signed over), not served from the padded token's entry.
    const unpadded = `${h}.${p}.${s.replace(/=+$/, '')}`
    const claims = await verifier.verify(unpadded)
    assert.notEqual(claims, cached)
    assert.deepEqual(claims, cached)
    assert.equal(await verifier.verify(unpadded), claims)
    assert.equal(await verifier.verify(token), cached)
  })

  test('tokenCacheSize 0 disables it', async () => {
    const verifier = verifierFor(server.url, { tokenCacheSize: 0 })
    const token = mint({ sub: 'nocache' })
    const first = await verifier.verify(token)
    const second = await verifier.verify(token)
    assert.notEqual(first, second)
    assert.deepEqual(first, second)
  })

  test('failures are not cached: the same bad token fails each time', async () => {
    const verifier = verifierFor(server.url)
    const [h, p] = mint().split('.') as [string, string, string]
    const bad = `${h}.${p}.${b64(Buffer.alloc(64, 2))}`
    await rejects(verifier.verify(bad), 'ERR_SIGNATURE')
    await rejects(verifier.verify(bad), 'ERR_SIGNATURE')
  })
})

describe('options', () => {
  test('invalid options throw TypeError at creation', () => {
    const base = { signer: SIGNER, issuer: ISSUER, clientId: CLIENT_ID, keyEndpoint: 'http://127.0.0.1:1' }
    const invalid: unknown[] = [
      { ...base, signer: undefined },
      { ...base, signer: [] },
      { ...base, signer: '' },
      { ...base, issuer: undefined },
      { ...base, clientId: undefined },
      { ...base, clientId: [''] },
      { ...base, keyEndpoint: 'ftp://x' },
      { ...base, keyEndpoint: 'not a url' },
      { ...base, keyEndpoint: 'https://x/keys?kid=' },
      { ...base, clockToleranceSeconds: -1 },
      { ...base, keyFetchTimeoutMs: 0 },
      { ...base, tokenCacheSize: Number.NaN },
      { ...base, trustedProxies: [] },
      { ...base, trustedProxies: ['10.0.0.0/33'] },
      { signer: 'not-an-arn', issuer: null, clientId: null },
      null,
    ]
    for (const options of invalid) {
      assert.throws(() => createAlbVerifier(options as never), TypeError, JSON.stringify(options))
    }
  })

  test('keyEndpoint with a trailing slash and a path prefix', async () => {
    const exp = nowSeconds() + 60
    const token = signParts(albHeader(key.kid, exp), { sub: 'slash', exp, iss: ISSUER }, key.privateKey)
    const before = server.requests.length
    assert.equal((await verifierFor(`${server.url}/`).verify(token)).sub, 'slash')
    assert.deepEqual(server.requests.slice(before), [`/${key.kid}`])
  })
})
