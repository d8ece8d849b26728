// Interop: tokens minted here, with keys served by createKeyHandler on a real
// server, verified by AWS's own aws-jwt-verify. This is the evidence that the
// wire format (padding, header fields, raw R||S, PEM by kid) is faithful.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { AlbJwksCache } from 'aws-jwt-verify/alb-cache'
import { AlbJwtVerifier } from 'aws-jwt-verify/alb-verifier'
import { AlbJwtInvalidSignerError, JwtExpiredError } from 'aws-jwt-verify/error'
import { generateSigningKey, signAlbToken } from '../../src/mint/index.js'
import { CLIENT_ID, ISSUER, OTHER_SIGNER, SIGNER, startKeyServer, type TestServer, verifierFor } from '../helpers.js'

const key = generateSigningKey()
let server: TestServer
const fetched: string[] = []

// aws-jwt-verify's default fetcher speaks only https (node:https.request); this
// one fetches the same URL over plain http from the 127.0.0.1 key server.
const httpFetcher = {
  async fetch(uri: string): Promise<ArrayBuffer> {
    fetched.push(uri)
    const res = await fetch(uri)
    if (res.status !== 200) throw new Error(`HTTP ${res.status}`)
    return res.arrayBuffer()
  },
}

function awsVerifier(signer = SIGNER) {
  return AlbJwtVerifier.create(
    { albArn: signer, issuer: ISSUER, clientId: CLIENT_ID, jwksUri: server.url },
    { jwksCache: new AlbJwksCache({ fetcher: httpFetcher }) },
  )
}

before(async () => {
  server = await startKeyServer([key])
})
after(() => server.close())

describe('aws-jwt-verify accepts minted tokens', () => {
  test('AlbJwtVerifier verifies a minted token, fetching {jwksUri}/{kid} from the key handler', async () => {
    const token = signAlbToken({
      claims: { sub: 'user-1', email: 'u@example.com', name: 'Ünïcödé Üser' },
      key,
      signer: SIGNER,
      issuer: ISSUER,
      clientId: CLIENT_ID,
    })
    const payload = await awsVerifier().verify(token)
    assert.equal(payload.sub, 'user-1')
    assert.equal(payload['name'], 'Ünïcödé Üser')
    assert.deepEqual(fetched, [`${server.url}/${key.kid}`])
    // And this package's verifier agrees.
    assert.deepEqual(await verifierFor(server.url).verify(token), payload)
  })

  test('both verifiers reject a token from another load balancer', async () => {
    const token = signAlbToken({ claims: { sub: 'x' }, key, signer: OTHER_SIGNER, issuer: ISSUER, clientId: CLIENT_ID })
    await assert.rejects(awsVerifier().verify(token), AlbJwtInvalidSignerError)
    await assert.rejects(verifierFor(server.url).verify(token), { code: 'ERR_SIGNER' })
  })

  test('both verifiers reject an expired token', async () => {
    const token = signAlbToken({
      claims: { sub: 'x' },
      key,
      signer: SIGNER,
      issuer: ISSUER,
      clientId: CLIENT_ID,
      now: Math.floor(Date.now() / 1000) - 3600,
    })
    await assert.rejects(awsVerifier().verify(token), JwtExpiredError)
    await assert.rejects(verifierFor(server.url).verify(token), { code: 'ERR_EXPIRED' })
  })
})
