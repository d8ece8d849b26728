// verifyRequest against real requests: a node:http target that calls it with
// req.headers and the socket's peer address, as the middleware does.
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { connect } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { type AlbVerifier, AlbVerifyError } from '../src/index.js'
import { generateSigningKey, signAlbToken } from '../src/mint/index.js'
import { CLIENT_ID, ISSUER, SIGNER, startKeyServer, startServer, type TestServer, verifierFor } from './helpers.js'

const key = generateSigningKey()
let keys: TestServer

before(async () => {
  keys = await startKeyServer([key])
})
after(() => keys.close())

const mint = (sub = 'user-1') =>
  signAlbToken({ claims: { sub, email: 'u@example.com' }, key, signer: SIGNER, issuer: ISSUER, clientId: CLIENT_ID })

/** A target that answers 200 with the identity, or 401 with the error code. */
async function target(verifier: AlbVerifier): Promise<TestServer> {
  return startServer((req, res) => {
    verifier.verifyRequest(req.headers, { remoteAddress: req.socket.remoteAddress }).then(
      (identity) => res.end(JSON.stringify({ ok: identity })),
      (err: unknown) => {
        res.statusCode = 401
        res.end(JSON.stringify({ error: err instanceof AlbVerifyError ? err.code : `NOT ALB: ${String(err)}` }))
      },
    )
  })
}

function get(url: string, headers: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, agent: false }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        text += chunk
      })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }))
    })
    req.on('error', reject)
    req.end()
  })
}

/** Sends raw header lines, so one header can be repeated on the wire. */
function getRaw(url: string, headerLines: string[]): Promise<string> {
  const { port } = new URL(url)
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => {
      socket.end(['GET / HTTP/1.1', 'host: x', 'connection: close', ...headerLines, '', ''].join('\r\n'))
    })
    let text = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => {
      text += chunk
    })
    socket.on('end', () => resolve(text.slice(text.indexOf('\r\n\r\n') + 4)))
    socket.on('error', reject)
  })
}

describe('verifyRequest over real HTTP', () => {
  let app: TestServer
  before(async () => {
    app = await target(verifierFor(keys.url))
  })
  after(() => app.close())

  test('returns claims, identity and access token', async () => {
    const { status, body } = await get(app.url, {
      'x-amzn-oidc-data': mint(),
      'x-amzn-oidc-identity': 'user-1',
      'x-amzn-oidc-accesstoken': 'opaque-access-token',
    })
    assert.equal(status, 200)
    const ok = body['ok'] as { claims: Record<string, unknown>; identity: string; accessToken: string }
    assert.equal(ok.claims['email'], 'u@example.com')
    assert.equal(ok.identity, 'user-1')
    assert.equal(ok.accessToken, 'opaque-access-token')
  })

  test('the access token is optional', async () => {
    const { body } = await get(app.url, { 'x-amzn-oidc-data': mint(), 'x-amzn-oidc-identity': 'user-1' })
    assert.ok(!('accessToken' in (body['ok'] as object)))
  })

  test('missing x-amzn-oidc-data or x-amzn-oidc-identity is ERR_MISSING_HEADER', async () => {
    assert.deepEqual((await get(app.url, { 'x-amzn-oidc-identity': 'user-1' })).body, { error: 'ERR_MISSING_HEADER' })
    assert.deepEqual((await get(app.url, { 'x-amzn-oidc-data': mint() })).body, { error: 'ERR_MISSING_HEADER' })
  })

  test('an identity header that differs from sub is ERR_IDENTITY_MISMATCH', async () => {
    const { status, body } = await get(app.url, { 'x-amzn-oidc-data': mint(), 'x-amzn-oidc-identity': 'admin' })
    assert.equal(status, 401)
    assert.deepEqual(body, { error: 'ERR_IDENTITY_MISMATCH' })
  })

  test('a token without sub never matches an identity', async () => {
    const token = signAlbToken({ claims: { email: 'x' }, key, signer: SIGNER, issuer: ISSUER, clientId: CLIENT_ID })
    const { body } = await get(app.url, { 'x-amzn-oidc-data': token, 'x-amzn-oidc-identity': 'undefined' })
    assert.deepEqual(body, { error: 'ERR_IDENTITY_MISMATCH' })
  })

  test('a repeated x-amzn-oidc-data header on the wire is ERR_MALFORMED', async () => {
    const body = await getRaw(app.url, [
      `x-amzn-oidc-data: ${mint()}`,
      `x-amzn-oidc-data: ${mint('user-2')}`,
      'x-amzn-oidc-identity: user-1',
    ])
    assert.deepEqual(JSON.parse(body), { error: 'ERR_MALFORMED' })
  })

  test('a bad token is reported with the verify error code', async () => {
    const { body } = await get(app.url, { 'x-amzn-oidc-data': 'junk', 'x-amzn-oidc-identity': 'user-1' })
    assert.deepEqual(body, { error: 'ERR_MALFORMED' })
  })
})

describe('verifyRequest with other header shapes', () => {
  test('fetch Headers and plain records', async () => {
    const verifier = verifierFor(keys.url)
    const token = mint()
    const fromHeaders = await verifier.verifyRequest(
      new Headers({ 'X-Amzn-Oidc-Data': token, 'X-Amzn-Oidc-Identity': 'user-1' }),
    )
    assert.equal(fromHeaders.identity, 'user-1')
    const fromRecord = await verifier.verifyRequest({ 'X-Amzn-Oidc-Data': token, 'x-amzn-oidc-identity': 'user-1' })
    assert.equal(fromRecord.claims.sub, 'user-1')
  })

  test('arrays and joined duplicates are ERR_MALFORMED', async () => {
    const verifier = verifierFor(keys.url)
    const token = mint()
    const cases = [
      { 'x-amzn-oidc-data': [token, token], 'x-amzn-oidc-identity': 'user-1' },
      { 'x-amzn-oidc-data': token, 'x-amzn-oidc-identity': ['user-1'] },
      { 'x-amzn-oidc-data': token, 'x-amzn-oidc-identity': 'user-1', 'x-amzn-oidc-accesstoken': ['a', 'b'] },
    ]
    for (const headers of cases) {
      await assert.rejects(verifier.verifyRequest(headers), { code: 'ERR_MALFORMED' })
    }
    const joined = new Headers()
    joined.append('x-amzn-oidc-data', token)
    joined.append('x-amzn-oidc-data', token)
    joined.append('x-amzn-oidc-identity', 'user-1')
    await assert.rejects(verifier.verifyRequest(joined), { code: 'ERR_MALFORMED' })
  })

  test('non-object headers are ERR_MISSING_HEADER, never a TypeError', async () => {
    await assert.rejects(verifierFor(keys.url).verifyRequest(null as never), { code: 'ERR_MISSING_HEADER' })
  })
})

describe('trustedProxies', () => {
  const headers = () => ({ 'x-amzn-oidc-data': mint(), 'x-amzn-oidc-identity': 'user-1' })

  test('a real request from 127.0.0.1 passes when loopback is trusted', async () => {
    const app = await target(verifierFor(keys.url, { trustedProxies: ['127.0.0.0/8', '::1/128'] }))
    try {
      assert.equal((await get(app.url, headers())).status, 200)
    } finally {
      await app.close()
    }
  })

  test('a real request from an untrusted peer is ERR_UNTRUSTED_PROXY, before any header is read', async () => {
    const app = await target(verifierFor(keys.url, { trustedProxies: ['10.0.0.0/8'] }))
    try {
      const fetches = keys.requests.length
      assert.deepEqual((await get(app.url, { 'x-amzn-oidc-identity': 'x' })).body, { error: 'ERR_UNTRUSTED_PROXY' })
      assert.deepEqual((await get(app.url, headers())).body, { error: 'ERR_UNTRUSTED_PROXY' })
      assert.equal(keys.requests.length, fetches)
    } finally {
      await app.close()
    }
  })

  test('remoteAddress is required when trustedProxies is set; IPv4-mapped peers match', async () => {
    const verifier = verifierFor(keys.url, { trustedProxies: ['10.0.0.0/8'] })
    await assert.rejects(verifier.verifyRequest(headers()), { code: 'ERR_UNTRUSTED_PROXY' })
    await assert.rejects(verifier.verifyRequest(headers(), {}), { code: 'ERR_UNTRUSTED_PROXY' })
    assert.equal((await verifier.verifyRequest(headers(), { remoteAddress: '::ffff:10.9.8.7' })).identity, 'user-1')
  })

  test('without trustedProxies the peer address is ignored', async () => {
    const verifier = verifierFor(keys.url)
    assert.equal((await verifier.verifyRequest(headers(), { remoteAddress: '203.0.113.9' })).identity, 'user-1')
    assert.equal((await verifier.verifyRequest(headers())).identity, 'user-1')
  })

  test('checkPeer alone, for anonymous requests', () => {
    const verifier = verifierFor(keys.url, { trustedProxies: ['10.0.0.0/8'] })
    verifier.checkPeer('10.0.0.1')
    assert.throws(() => verifier.checkPeer('192.0.2.1'), { code: 'ERR_UNTRUSTED_PROXY' })
    assert.throws(() => verifier.checkPeer(undefined), { code: 'ERR_UNTRUSTED_PROXY' })
    verifierFor(keys.url).checkPeer(undefined)
  })
})
