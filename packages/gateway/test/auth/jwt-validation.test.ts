import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from 'jose'
import type { JwtValidationAction } from '../../src/config/model.js'
import { ensureLeafCertificate, ensureLocalCa } from '../../src/tls/local-ca.js'
import { freePort, listen } from '../fixtures/ports.js'
import { send } from '../fixtures/servers.js'
import { type EchoBody, startTestGateway, type TestGateway } from './fixtures/gateway.js'

const ISSUER = 'https://issuer.example.test'

interface SigningKey {
  readonly kid: string
  readonly alg: 'RS256' | 'ES256'
  readonly privateKey: CryptoKey
  readonly jwk: JWK
}

async function newKey(kid: string, alg: 'RS256' | 'ES256' = 'RS256'): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  return { kid, alg, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } }
}

function sign(key: SigningKey, claims: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  return new SignJWT({ iss: ISSUER, exp: now + 300, iat: now, ...claims })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, ...header })
    .sign(key.privateKey)
}

function stop(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve())
    server.closeAllConnections()
  })
}

function action(jwksEndpoint: string, extra: Partial<JwtValidationAction> = {}): JwtValidationAction {
  return {
    type: 'jwt-validation',
    order: 1,
    jwksEndpoint,
    issuer: ISSUER,
    additionalClaims: [],
    algorithms: ['RS256'],
    ...extra,
  }
}

describe('jwt-validation against a real JWKS endpoint', () => {
  let rsa: SigningKey
  let ec: SigningKey
  let rotated: SigningKey
  /** What the JWKS server publishes now; tests change it. */
  let published: JWK[]
  let jwksHits = 0
  let jwks: Server
  let jwksUrl: string
  let gw: TestGateway
  let closedPort: number

  before(async () => {
    rsa = await newKey('rsa-1')
    ec = await newKey('ec-1', 'ES256')
    rotated = await newKey('rsa-2')
    published = [rsa.jwk, ec.jwk]
    jwks = createHttpServer((req: IncomingMessage, res: ServerResponse) => {
      jwksHits++
      if (req.url === '/big') {
        // Over 150 KB: refused whatever it contains.
        const padding = 'x'.repeat(151 * 1024)
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ keys: [rsa.jwk], padding }))
        return
      }
      if (req.url === '/many') {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ keys: Array.from({ length: 11 }, (_, i) => ({ ...rsa.jwk, kid: `k${i}` })) }))
        return
      }
      if (req.url === '/down') {
        res.writeHead(503)
        res.end()
        return
      }
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ keys: published }))
    })
    jwksUrl = `http://127.0.0.1:${await listen(jwks)}`
    // Nobody listens on it: connections are refused.
    closedPort = await freePort()

    gw = await startTestGateway({
      idpTimeoutMs: 5000,
      routes: [
        { prefix: '/api', action: action(`${jwksUrl}/jwks`) },
        { prefix: '/es', action: action(`${jwksUrl}/jwks-es`, { algorithms: ['RS256', 'ES256'] }) },
        {
          prefix: '/claims',
          action: action(`${jwksUrl}/jwks-claims`, {
            additionalClaims: [
              { name: 'tenant', format: 'single-string', values: ['acme', 'globex'] },
              { name: 'groups', format: 'string-array', values: ['admins'] },
              { name: 'scope', format: 'space-separated-values', values: ['orders:read', 'orders:write'] },
            ],
          }),
        },
        { prefix: '/big', action: action(`${jwksUrl}/big`) },
        { prefix: '/many', action: action(`${jwksUrl}/many`) },
        { prefix: '/down', action: action(`${jwksUrl}/down`) },
        { prefix: '/refused', action: action(`http://127.0.0.1:${closedPort}/jwks`) },
      ],
    })
  })
  after(async () => {
    await gw.close()
    await stop(jwks)
  })

  async function call(path: string, token: string | undefined, scheme = 'Bearer') {
    const headers: Record<string, string> = {}
    if (token !== undefined) headers['authorization'] = `${scheme} ${token}`
    return fetch(`${gw.url}${path}`, { headers, redirect: 'manual' })
  }

  async function expectInvalid(res: Response) {
    assert.equal(res.status, 401)
    assert.equal(res.headers.get('www-authenticate'), 'Bearer error="invalid_token"')
    assert.equal(gw.lastErrorReason, 'AuthInvalidBearerToken')
    await res.arrayBuffer()
  }

  test('a valid RS256 token is forwarded, request unchanged (no identity headers added)', async () => {
    const res = await call('/api/x?q=1', await sign(rsa, { sub: 'svc' }))
    assert.equal(res.status, 200)
    const body = (await res.json()) as EchoBody
    assert.equal(body.path, '/api/x?q=1')
    assert.deepEqual(body.headers, {})
    // The scheme is case-insensitive.
    assert.equal((await call('/api/x', await sign(rsa, {}), 'bearer')).status, 200)
  })

  test('no token → 401 with WWW-Authenticate: Bearer (no error code)', async () => {
    for (const res of [await call('/api/x', undefined), await call('/api/x', 'abc', 'Basic')]) {
      assert.equal(res.status, 401)
      assert.equal(res.headers.get('www-authenticate'), 'Bearer')
      assert.equal(gw.lastErrorReason, 'AuthMissingBearerToken')
      await res.arrayBuffer()
    }
  })

  test('rejections → 401 invalid_token: garbage, wrong issuer, expired, nbf and iat in the future, no exp, bad signature', async () => {
    const now = Math.floor(Date.now() / 1000)
    await expectInvalid(await call('/api/x', 'not.a.jwt'))
    await expectInvalid(await call('/api/x', await sign(rsa, { iss: 'https://other.example' })))
    await expectInvalid(await call('/api/x', await sign(rsa, { exp: now - 120 })))
    await expectInvalid(await call('/api/x', await sign(rsa, { nbf: now + 600 })))
    await expectInvalid(await call('/api/x', await sign(rsa, { iat: now + 600 })))
    const noExp = await new SignJWT({ iss: ISSUER })
      .setProtectedHeader({ alg: 'RS256', kid: rsa.kid })
      .sign(rsa.privateKey)
    await expectInvalid(await call('/api/x', noExp))
    const good = await sign(rsa, {})
    const [h, p] = good.split('.')
    const forged = await sign(rotated, {}, { kid: rsa.kid })
    await expectInvalid(await call('/api/x', `${h}.${p}.${forged.split('.')[2]}`))
    await expectInvalid(await call('/api/x', `${h}.${p}.`))
    await expectInvalid(await call('/api/x', 'x'.repeat(17 * 1024)))
  })

  test('more than one Authorization header → 401 invalid_token, whichever comes first: an unchecked token never rides along', async () => {
    const valid = `Bearer ${await sign(rsa, {})}`
    for (const headers of [
      ['Authorization', valid, 'Authorization', 'Bearer forged'],
      ['Authorization', 'Bearer forged', 'Authorization', valid],
      ['Authorization', valid, 'authorization', valid],
    ]) {
      const res = await send(`${gw.url}/api/x`, { headers: ['Host', 'gw.example', ...headers] })
      assert.equal(res.status, 401, res.body)
      assert.equal(res.headers['www-authenticate'], 'Bearer error="invalid_token"')
      assert.equal(gw.lastErrorReason, 'AuthInvalidBearerToken')
    }
    const single = await send(`${gw.url}/api/x`, { headers: ['Host', 'gw.example', 'Authorization', valid] })
    assert.equal(single.status, 200, 'the same token alone is accepted')
  })

  test('algorithms: ES256 is refused unless opted in; HS256 and none are always refused', async () => {
    await expectInvalid(await call('/api/x', await sign(ec, {})))
    assert.equal((await call('/es/x', await sign(ec, {}))).status, 200)
    const secret = new TextEncoder().encode('a'.repeat(32))
    const hs = await new SignJWT({ iss: ISSUER, exp: Math.floor(Date.now() / 1000) + 60 })
      .setProtectedHeader({ alg: 'HS256', kid: rsa.kid })
      .sign(secret)
    await expectInvalid(await call('/es/x', hs))
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', kid: rsa.kid })).toString('base64url')}.${Buffer.from(
      JSON.stringify({ iss: ISSUER, exp: Math.floor(Date.now() / 1000) + 60 }),
    ).toString('base64url')}.`
    await expectInvalid(await call('/api/x', none))
  })

  test('AdditionalClaims in all three formats', async () => {
    const ok = { tenant: 'acme', groups: ['dev', 'admins'], scope: 'profile orders:write' }
    assert.equal((await call('/claims/x', await sign(rsa, ok))).status, 200)
    assert.equal((await call('/claims/x', await sign(rsa, { ...ok, tenant: 'globex' }))).status, 200)
    await expectInvalid(await call('/claims/x', await sign(rsa, { ...ok, tenant: 'initech' })))
    await expectInvalid(await call('/claims/x', await sign(rsa, { ...ok, tenant: ['acme'] })))
    await expectInvalid(await call('/claims/x', await sign(rsa, { ...ok, groups: ['dev'] })))
    await expectInvalid(await call('/claims/x', await sign(rsa, { ...ok, groups: 'admins' })))
    await expectInvalid(await call('/claims/x', await sign(rsa, { ...ok, groups: ['admins', 3] })))
    await expectInvalid(await call('/claims/x', await sign(rsa, { ...ok, scope: 'orders:readonly profile' })))
    await expectInvalid(await call('/claims/x', await sign(rsa, { ...ok, scope: ['orders:read'] })))
    const { tenant: _t, ...missing } = ok
    await expectInvalid(await call('/claims/x', await sign(rsa, missing)))
  })

  test('JWKS over 150 KB or with more than 10 keys is refused (500: no usable keys)', async () => {
    for (const path of ['/big/x', '/many/x']) {
      const res = await call(path, await sign(rsa, {}))
      assert.equal(res.status, 500, path)
      assert.equal(gw.lastErrorReason, 'AuthJwksEpRequestFailed')
      await res.arrayBuffer()
    }
  })

  test('JWKS endpoint down or refusing connections → 500 AuthJwksEpRequestFailed, never a 401 for a good token', async () => {
    for (const path of ['/down/x', '/refused/x']) {
      const res = await call(path, await sign(rsa, {}))
      assert.equal(res.status, 500, path)
      assert.equal(gw.lastErrorReason, 'AuthJwksEpRequestFailed')
      await res.arrayBuffer()
    }
    // Within the back-off after a failure the endpoint is not asked again.
    const hits = jwksHits
    const again = await call('/down/x', await sign(rsa, {}))
    assert.equal(again.status, 500)
    await again.arrayBuffer()
    assert.equal(jwksHits, hits)
  })

  test('keys are cached; a token with an unknown kid triggers one refetch (key rotation at the IdP)', async () => {
    // Warm the cache, then count fetches.
    assert.equal((await call('/api/x', await sign(rsa, {}))).status, 200)
    const hits = jwksHits
    for (let i = 0; i < 5; i++) assert.equal((await call('/api/x', await sign(rsa, {}))).status, 200)
    assert.equal(jwksHits, hits, 'served from the cache')
    published = [rsa.jwk, rotated.jwk]
    assert.equal((await call('/api/x', await sign(rotated, {}))).status, 200)
    assert.equal(jwksHits, hits + 1)
    // Another unknown kid within the cooldown: refused without hammering the endpoint.
    await expectInvalid(await call('/api/x', await sign(await newKey('rsa-3'), {})))
    assert.equal(jwksHits, hits + 1)
  })
})

describe('outbound TLS trusts Portcullis.CaFile', () => {
  let dir: string
  let server: Server
  let url: string
  let key: SigningKey

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-jwks-tls-'))
    key = await newKey('tls-1')
    const leaf = await ensureLeafCertificate(dir)
    server = createHttpsServer({ cert: leaf.certPem, key: leaf.keyPem }, (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ keys: [key.jwk] }))
    })
    url = `https://127.0.0.1:${await listen(server)}/jwks`
  })
  after(async () => {
    await stop(server)
    await rm(dir, { recursive: true, force: true })
  })

  test('an https JWKS signed by a private CA verifies with the CA file, and fails closed without it', async () => {
    const ca = await ensureLocalCa(dir)
    const trusted = await startTestGateway({ caFile: ca.caCertPath, routes: [{ prefix: '/', action: action(url) }] })
    const untrusted = await startTestGateway({ routes: [{ prefix: '/', action: action(url) }] })
    try {
      const token = await sign(key, {})
      const ok = await fetch(`${trusted.url}/x`, { headers: { authorization: `Bearer ${token}` } })
      assert.equal(ok.status, 200)
      await ok.arrayBuffer()
      const refused = await fetch(`${untrusted.url}/x`, { headers: { authorization: `Bearer ${token}` } })
      assert.equal(refused.status, 500)
      await refused.arrayBuffer()
    } finally {
      await trusted.close()
      await untrusted.close()
    }
  })
})
