// Key caching behaviour, observed by counting requests on a real key server.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { AlbVerifyError } from '../../src/index.js'
import { generateSigningKey, signAlbToken } from '../../src/mint/index.js'
import {
  albHeader,
  CLIENT_ID,
  ISSUER,
  nowSeconds,
  SIGNER,
  signParts,
  startKeyServer,
  type TestServer,
  verifierFor,
} from '../helpers.js'

const key = generateSigningKey()
let server: TestServer

before(async () => {
  server = await startKeyServer([key])
})
after(() => server.close())

function tokenFor(kid: string, sub = 'user'): string {
  const exp = nowSeconds() + 600
  return signParts(albHeader(kid, exp), { sub, exp, iss: ISSUER }, key.privateKey)
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise
    return 'ok'
  } catch (err) {
    assert.ok(err instanceof AlbVerifyError, String(err))
    return err.code
  }
}

function fetchesSince(start: number): string[] {
  return server.requests.slice(start)
}

describe('key cache', () => {
  test('100 concurrent verifies of a new kid make exactly one fetch (single-flight)', async () => {
    const verifier = verifierFor(server.url)
    const start = server.requests.length
    const tokens = Array.from({ length: 100 }, (_, i) =>
      signAlbToken({ claims: { sub: `u${i}` }, key, signer: SIGNER, issuer: ISSUER, clientId: CLIENT_ID }),
    )
    const claims = await Promise.all(tokens.map((token) => verifier.verify(token)))
    assert.deepEqual(
      claims.map((c) => c.sub),
      tokens.map((_, i) => `u${i}`),
    )
    assert.deepEqual(fetchesSince(start), [`/${key.kid}`])
  })

  test('a fetched key is reused for later tokens', async () => {
    const verifier = verifierFor(server.url)
    const start = server.requests.length
    for (let i = 0; i < 5; i++) await verifier.verify(tokenFor(key.kid, `later${i}`))
    assert.equal(fetchesSince(start).length, 1)
  })

  test('the positive cache is bounded: an evicted key is fetched again', async () => {
    const keys = [generateSigningKey(), generateSigningKey()]
    const local = await startKeyServer(keys)
    try {
      const verifier = verifierFor(local.url, { keyCacheSize: 1 })
      const token = (k: (typeof keys)[number], sub: string) => {
        const exp = nowSeconds() + 600
        return signParts(albHeader(k.kid, exp), { sub, exp, iss: ISSUER }, k.privateKey)
      }
      await verifier.verify(token(keys[0]!, 'a'))
      await verifier.verify(token(keys[1]!, 'b'))
      await verifier.verify(token(keys[0]!, 'c'))
      assert.deepEqual(local.requests, [`/${keys[0]!.kid}`, `/${keys[1]!.kid}`, `/${keys[0]!.kid}`])
    } finally {
      await local.close()
    }
  })

  test('the positive cache expires after keyCacheTtlSeconds', async () => {
    let now = Date.now()
    const verifier = verifierFor(server.url, { clock: () => now, keyCacheTtlSeconds: 60 })
    const start = server.requests.length
    await verifier.verify(tokenFor(key.kid, 'ttl1'))
    now += 59_000
    await verifier.verify(tokenFor(key.kid, 'ttl2'))
    now += 2_000
    await verifier.verify(tokenFor(key.kid, 'ttl3'))
    assert.equal(fetchesSince(start).length, 2)
  })
})

describe('negative cache and fetch limits', () => {
  test('N tokens with the same unknown kid cause one fetch until the negative TTL passes', async () => {
    let now = Date.now()
    const verifier = verifierFor(server.url, { clock: () => now, negativeKeyCacheTtlSeconds: 30 })
    const unknown = randomUUID()
    const start = server.requests.length
    const concurrent = await Promise.all(
      Array.from({ length: 20 }, (_, i) => codeOf(verifier.verify(tokenFor(unknown, `c${i}`)))),
    )
    assert.deepEqual(new Set(concurrent), new Set(['ERR_KID']))
    for (let i = 0; i < 20; i++) assert.equal(await codeOf(verifier.verify(tokenFor(unknown, `s${i}`))), 'ERR_KID')
    assert.deepEqual(fetchesSince(start), [`/${unknown}`])
    now += 31_000
    assert.equal(await codeOf(verifier.verify(tokenFor(unknown, 'again'))), 'ERR_KID')
    assert.equal(fetchesSince(start).length, 2)
  })

  test('the rejection for a negatively cached kid carries the original failure as cause', async () => {
    const verifier = verifierFor(server.url)
    const unknown = randomUUID()
    await codeOf(verifier.verify(tokenFor(unknown, 'a')))
    try {
      await verifier.verify(tokenFor(unknown, 'b'))
      assert.fail('must reject')
    } catch (err) {
      assert.ok(err instanceof AlbVerifyError && err.code === 'ERR_KID')
      assert.ok(err.cause instanceof AlbVerifyError && /404/.test(err.cause.message))
    }
  })

  test('a flood of distinct unknown kids is bounded by the in-flight cap and the burst', async () => {
    let now = Date.now()
    const verifier = verifierFor(server.url, {
      clock: () => now,
      keyFetchBurst: 10,
      keyFetchRatePerSecond: 1,
      maxConcurrentKeyFetches: 4,
    })
    const start = server.requests.length
    // 200 at once: only the in-flight cap gets through.
    const flood = await Promise.all(Array.from({ length: 200 }, () => codeOf(verifier.verify(tokenFor(randomUUID())))))
    // The four admitted fetches learn the kid does not exist; the rest were refused by the limiter.
    assert.equal(flood.filter((code) => code === 'ERR_KID').length, 4)
    assert.equal(flood.filter((code) => code === 'ERR_KEY_FETCH').length, 196)
    assert.equal(fetchesSince(start).length, 4)
    // 200 more, one after another: the rest of the burst, then nothing while the clock stands still.
    for (let i = 0; i < 200; i++) await codeOf(verifier.verify(tokenFor(randomUUID())))
    assert.equal(fetchesSince(start).length, 10)
    // The steady rate refills one fetch per second.
    now += 3_000
    for (let i = 0; i < 50; i++) await codeOf(verifier.verify(tokenFor(randomUUID())))
    assert.equal(fetchesSince(start).length, 13)
  })

  test('a real kid refused by the limiter is not negatively cached and works once a slot frees', async () => {
    let now = Date.now()
    const verifier = verifierFor(server.url, { clock: () => now, keyFetchBurst: 1, keyFetchRatePerSecond: 1 })
    assert.equal(await codeOf(verifier.verify(tokenFor(randomUUID()))), 'ERR_KID')
    const refused = await verifier.verify(tokenFor(key.kid, 'refused')).catch((err: unknown) => err)
    assert.ok(refused instanceof AlbVerifyError && /limit/.test(refused.message))
    now += 1_000
    assert.equal((await verifier.verify(tokenFor(key.kid, 'admitted'))).sub, 'admitted')
  })
})
