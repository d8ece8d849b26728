import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { createAlbVerifier, parseAlbToken } from '@portcullis/verify'
import { AlbJwksCache } from 'aws-jwt-verify/alb-cache'
import { AlbJwtVerifier } from 'aws-jwt-verify/alb-verifier'
import { AlbJwtInvalidSignerError } from 'aws-jwt-verify/error'
import { SimpleFetcher } from 'aws-jwt-verify/https'
import { stateDirectoryKeyRings } from '../../src/auth/index.js'
import { ensureLeafCertificate, ensureLocalCa } from '../../src/tls/local-ca.js'
import { listen } from '../fixtures/ports.js'
import { waitFor } from '../fixtures/process.js'
import { Browser } from './fixtures/browser.js'
import {
  clientOf,
  type EchoBody,
  LB_ARN,
  oidcAction,
  startIdpAndGateway,
  startKeyServer,
  startTestGateway,
  type TestGateway,
} from './fixtures/gateway.js'
import type { TestProvider } from './fixtures/provider.js'

describe('x-amzn-oidc-data interop, key rotation, and instances sharing a state directory', () => {
  let idp: TestProvider
  let gw: TestGateway
  let tlsDir: string

  before(async () => {
    ;({ idp, gw } = await startIdpAndGateway({
      routes: (idp) => [{ prefix: '/', action: oidcAction(clientOf(idp)) }],
    }))
    tlsDir = await mkdtemp(join(tmpdir(), 'portcullis-interop-tls-'))
  })
  after(async () => {
    await gw.close()
    await idp.close()
    await rm(tlsDir, { recursive: true, force: true })
  })

  async function identityToken(browser: Browser, target: TestGateway): Promise<string> {
    const res = await browser.fetch(`${target.url}/x`)
    assert.equal(res.status, 200)
    return ((await res.json()) as EchoBody).headers['x-amzn-oidc-data']!
  }

  test('verifies with aws-jwt-verify’s AlbJwtVerifier against keysHandler served over HTTPS', async () => {
    const browser = new Browser()
    await browser.login(`${gw.url}/x`)
    const token = await identityToken(browser, gw)
    const ca = await ensureLocalCa(tlsDir)
    const leaf = await ensureLeafCertificate(tlsDir)
    const server = createServer({ cert: leaf.certPem, key: leaf.keyPem }, (req, res) => {
      if (!req.url?.startsWith('/keys/')) {
        res.writeHead(404)
        res.end()
        return
      }
      req.url = req.url.slice('/keys'.length)
      gw.auth.keysHandler(req, res)
    })
    const port = await listen(server)
    try {
      const verifier = AlbJwtVerifier.create(
        { albArn: LB_ARN, issuer: idp.issuer, clientId: idp.clientId, jwksUri: `https://127.0.0.1:${port}/keys` },
        {
          jwksCache: new AlbJwksCache({ fetcher: new SimpleFetcher({ defaultRequestOptions: { ca: ca.caCertPem } }) }),
        },
      )
      const payload = await verifier.verify(token)
      assert.equal(payload.sub, 'alice')
      assert.equal(payload['email'], 'alice@example.test')
      // The signer pin holds: another load balancer's ARN is refused.
      const other = AlbJwtVerifier.create(
        {
          albArn: LB_ARN.replace('portcullis-test', 'someone-else'),
          issuer: idp.issuer,
          clientId: idp.clientId,
          jwksUri: `https://127.0.0.1:${port}/keys`,
        },
        {
          jwksCache: new AlbJwksCache({ fetcher: new SimpleFetcher({ defaultRequestOptions: { ca: ca.caCertPem } }) }),
        },
      )
      await assert.rejects(other.verify(token), AlbJwtInvalidSignerError)
    } finally {
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
    }
  })

  test('after a rotation (and reload), new tokens use the new key and tokens of the old key still verify', async () => {
    const browser = new Browser()
    await browser.login(`${gw.url}/x`)
    const before = await identityToken(browser, gw)
    const { kid } = await stateDirectoryKeyRings(gw.stateDirectory).rotateSigningKey()
    await gw.reload()
    const afterRotation = await identityToken(browser, gw)
    assert.equal(parseAlbToken(afterRotation).header.kid, kid)
    assert.notEqual(parseAlbToken(before).header.kid, kid)
    const keys = await startKeyServer(gw.auth)
    try {
      const verifier = createAlbVerifier({
        signer: LB_ARN,
        issuer: idp.issuer,
        clientId: idp.clientId,
        keyEndpoint: keys.url,
      })
      assert.equal((await verifier.verify(before)).sub, 'alice')
      assert.equal((await verifier.verify(afterRotation)).sub, 'alice')
    } finally {
      await keys.close()
    }
  })

  test('a running runtime picks up a rotation made elsewhere (no reload) within seconds', async () => {
    const browser = new Browser()
    await browser.login(`${gw.url}/x`)
    const { kid } = await stateDirectoryKeyRings(gw.stateDirectory).rotateSigningKey()
    // Measures the runtime's key-ring check (every 5 s): polled for the new kid.
    await waitFor(
      async () => parseAlbToken(await identityToken(browser, gw)).header.kid === kid,
      `tokens signed with ${kid}`,
      20_000,
    )
  })

  test('two instances sharing the state directory: each accepts the other’s sessions and targets accept either’s tokens', async () => {
    const twin = await startTestGateway({
      stateDirectory: gw.stateDirectory,
      routes: [
        {
          prefix: '/',
          action: oidcAction({ issuer: idp.issuer, clientId: idp.clientId, clientSecret: idp.clientSecret }),
        },
      ],
    })
    try {
      const browser = new Browser()
      await browser.login(`${gw.url}/x`)
      // Same host, other port: carry the session cookie over as a browser would for one site.
      for (const [name, value] of browser.cookies(gw.url)) browser.cookies(twin.url).set(name, value)
      const fromTwin = await identityToken(browser, twin)
      const keys = await startKeyServer(gw.auth)
      try {
        const verifier = createAlbVerifier({
          signer: LB_ARN,
          issuer: idp.issuer,
          clientId: idp.clientId,
          keyEndpoint: keys.url,
        })
        assert.equal((await verifier.verify(fromTwin)).sub, 'alice')
      } finally {
        await keys.close()
      }
    } finally {
      await twin.close()
    }
  })
})
