// Property-based: whatever arrives in x-amzn-oidc-data, verify settles with
// claims or an AlbVerifyError — never another exception, never a hang.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import fc from 'fast-check'
import { type AlbVerifier, AlbVerifyError } from '../src/index.js'
import { generateSigningKey, signAlbToken } from '../src/mint/index.js'
import {
  albHeader,
  b64,
  CLIENT_ID,
  ISSUER,
  nowSeconds,
  SIGNER,
  signParts,
  startKeyServer,
  type TestServer,
  verifierFor,
} from './helpers.js'

const key = generateSigningKey()
let server: TestServer
let verifier: AlbVerifier

before(async () => {
  server = await startKeyServer([key])
  verifier = verifierFor(server.url, { keyFetchTimeoutMs: 1000 })
})
after(() => server.close())

/** Resolves to 'claims' or the error code; fails on any other outcome or if it does not settle in time. */
async function outcome(token: string): Promise<string> {
  let timer: NodeJS.Timeout | undefined
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('verify did not settle')), 5000)
  })
  try {
    const claims = await Promise.race([verifier.verify(token), hang])
    assert.equal(typeof claims.exp, 'number')
    return 'claims'
  } catch (err) {
    if (err instanceof AlbVerifyError) return err.code
    throw err
  } finally {
    clearTimeout(timer)
  }
}

const validToken = () =>
  signAlbToken({
    claims: { sub: 'user-1', email: 'u@example.com' },
    key,
    signer: SIGNER,
    issuer: ISSUER,
    clientId: CLIENT_ID,
  })

test('arbitrary strings', async () => {
  await fc.assert(
    fc.asyncProperty(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.base64String()), async (input) => {
      assert.notEqual(await outcome(input), 'claims')
    }),
    { numRuns: 500 },
  )
})

test('three-segment strings from the token alphabet', async () => {
  const segment = fc.string({ unit: fc.constantFrom(...'AZaz09-_='.split('')), maxLength: 40 })
  await fc.assert(
    fc.asyncProperty(fc.tuple(segment, segment, segment), async ([h, p, s]) => {
      assert.notEqual(await outcome(`${h}.${p}.${s}`), 'claims')
    }),
    { numRuns: 300 },
  )
})

type Mutation =
  | { kind: 'replace'; at: number; char: string }
  | { kind: 'insert'; at: number; char: string }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'truncate'; at: number }

const char = fc.oneof(
  fc.constantFrom('.', '=', '-', '_', 'A', '+', '/', ' ', '%'),
  fc.string({ minLength: 1, maxLength: 1 }),
)
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), char }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), char }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
)

function mutate(token: string, mutations: readonly Mutation[]): string {
  let out = token
  for (const m of mutations) {
    const at = out.length === 0 ? 0 : m.at % out.length
    if (m.kind === 'replace') out = out.slice(0, at) + m.char + out.slice(at + 1)
    else if (m.kind === 'insert') out = out.slice(0, at) + m.char + out.slice(at)
    else if (m.kind === 'delete') out = out.slice(0, at) + out.slice(at + m.length)
    else out = out.slice(0, at)
  }
  return out
}

test('mutated valid tokens', async () => {
  const token = validToken()
  assert.equal(await outcome(token), 'claims')
  const signingInput = token.slice(0, token.lastIndexOf('.'))
  const signature = Buffer.from(token.slice(token.lastIndexOf('.') + 1), 'base64url')
  await fc.assert(
    fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 4 }), async (mutations) => {
      const mutated = mutate(token, mutations)
      const result = await outcome(mutated)
      // Only a mutation that leaves the signed part and the signature bytes unchanged may
      // still verify (e.g. dropping the signature's padding, which is not signed over).
      if (result === 'claims') {
        const [h, p, sig] = mutated.split('.') as [string, string, string]
        assert.equal(`${h}.${p}`, signingInput)
        assert.deepEqual(Buffer.from(sig, 'base64url'), signature)
      }
    }),
    { numRuns: 500 },
  )
})

test('validly signed tokens with arbitrary header fields and payloads', async () => {
  const exp = nowSeconds() + 600
  const header = fc.record(
    {
      typ: fc.oneof(fc.constant('JWT'), fc.jsonValue()),
      kid: fc.oneof(fc.constant(key.kid), fc.uuid(), fc.jsonValue()),
      alg: fc.oneof(fc.constant('ES256'), fc.jsonValue()),
      iss: fc.oneof(fc.constant(ISSUER), fc.jsonValue()),
      client: fc.oneof(fc.constant(CLIENT_ID), fc.jsonValue()),
      signer: fc.oneof(fc.constant(SIGNER), fc.jsonValue()),
      exp: fc.oneof(fc.constant(exp), fc.jsonValue()),
    },
    { requiredKeys: [] },
  )
  const payload = fc.oneof(
    fc.dictionary(fc.string(), fc.jsonValue()),
    fc.record({ sub: fc.jsonValue(), exp: fc.oneof(fc.constant(exp), fc.double()), iss: fc.constant(ISSUER) }),
    fc.jsonValue(),
  )
  await fc.assert(
    fc.asyncProperty(header, payload, async (h, p) => {
      const token = signParts(albHeader(key.kid, exp, h), b64(JSON.stringify(p)), key.privateKey)
      await outcome(token)
    }),
    { numRuns: 300 },
  )
})
