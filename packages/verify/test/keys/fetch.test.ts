// Key server faults, each produced by a real node:http server.
import assert from 'node:assert/strict'
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { AlbVerifyError, type AlbVerifyErrorCode } from '../../src/index.js'
import { generateSigningKey, publicKeyPem } from '../../src/mint/index.js'
import { albHeader, ISSUER, nowSeconds, signParts, startServer, type TestServer, verifierFor } from '../helpers.js'

const key = generateSigningKey()
const pem = publicKeyPem(key)

function token(): string {
  const exp = nowSeconds() + 600
  return signParts(albHeader(key.kid, exp), { sub: 's', exp, iss: ISSUER }, key.privateKey)
}

async function expectCode(keyEndpoint: string, code: AlbVerifyErrorCode, options = {}): Promise<AlbVerifyError> {
  const err = await verifierFor(keyEndpoint, options)
    .verify(token())
    .then(
      () => assert.fail('must reject'),
      (e: unknown) => e,
    )
  assert.ok(err instanceof AlbVerifyError, String(err))
  assert.equal(err.code, code, err.message)
  return err
}

describe('key fetch faults', () => {
  const servers: TestServer[] = []
  const serve = async (handler: Parameters<typeof startServer>[0]) => {
    const server = await startServer(handler)
    servers.push(server)
    return server
  }
  after(() => Promise.all(servers.map((s) => s.close())))

  test('a server that never answers fails with ERR_KEY_FETCH after the timeout', async () => {
    const server = await serve(() => {})
    const err = await expectCode(server.url, 'ERR_KEY_FETCH', { keyFetchTimeoutMs: 150 })
    assert.ok(err.cause !== undefined)
  })

  test('a server that sends headers and then trickles the body forever fails too', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/x-pem-file' })
      res.write('-----BEGIN PUBLIC KEY-----\n')
    })
    await expectCode(server.url, 'ERR_KEY_FETCH', { keyFetchTimeoutMs: 150 })
  })

  test('a redirect is not followed', async () => {
    const target = await serve((_req, res) => res.end(pem))
    const redirector = await serve((req, res) => {
      res.writeHead(302, { location: `${target.url}${req.url}` })
      res.end()
    })
    for (const status of [301, 302, 307, 308]) {
      const hop = await serve((req, res) => {
        res.writeHead(status, { location: `${target.url}${req.url}` })
        res.end()
      })
      await expectCode(hop.url, 'ERR_KEY_FETCH')
    }
    const err = await expectCode(redirector.url, 'ERR_KEY_FETCH')
    assert.match(err.message, /302/)
    assert.equal(target.requests.length, 0, 'the redirect target must never be contacted')
  })

  test('non-200 answers: 404 means no such key (the token is bad), anything else is a server fault', async () => {
    for (const status of [204, 404, 500, 503]) {
      const server = await serve((_req, res) => {
        res.writeHead(status)
        res.end(status === 204 ? undefined : pem)
      })
      await expectCode(server.url, status === 404 ? 'ERR_KID' : 'ERR_KEY_FETCH')
    }
  })

  test('an oversized answer, declared or streamed without a length', async () => {
    const declared = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': String(1024 * 1024) })
      res.write(pem)
    })
    await expectCode(declared.url, 'ERR_KEY_FETCH')
    const streamed = await serve((_req, res) => {
      res.writeHead(200, { 'transfer-encoding': 'chunked' })
      const chunk = 'A'.repeat(1024)
      let sent = 0
      const pump = () => {
        while (sent < 1024 && res.write(chunk)) sent++
        if (sent < 1024) res.once('drain', pump)
        else res.end()
      }
      pump()
    })
    const err = await expectCode(streamed.url, 'ERR_KEY_FETCH')
    assert.match(err.message, /too large/)
  })

  test('a refused connection', async () => {
    const server = await serve(() => {})
    const url = server.url
    await server.close()
    await expectCode(url, 'ERR_KEY_FETCH')
  })

  test('keys that are not P-256 SPKI PEM: P-384, RSA, Ed25519, a private key, garbage, non-UTF-8', async () => {
    const spki = (publicKey: KeyObject) => publicKey.export({ type: 'spki', format: 'pem' }).toString()
    const bodies: Array<string | Buffer> = [
      spki(generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).publicKey),
      spki(generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey),
      spki(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey),
      spki(generateKeyPairSync('ed25519').publicKey),
      key.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      'hello',
      '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n',
      Buffer.from([0xff, 0xfe, 0x00]),
    ]
    for (const body of bodies) {
      const server = await serve((_req, res) => res.end(body))
      await expectCode(server.url, 'ERR_KEY_INVALID')
    }
  })

  test('a PEM with CRLF line endings and surrounding whitespace is accepted', async () => {
    const server = await serve((_req, res) => res.end(`\n${pem.replaceAll('\n', '\r\n')}  \n`))
    assert.equal((await verifierFor(server.url).verify(token())).sub, 's')
  })
})

describe('key fetch request', () => {
  let server: TestServer
  let seen: { method?: string; url?: string } = {}
  before(async () => {
    server = await startServer((req, res) => {
      seen = { method: req.method ?? '', url: req.url ?? '' }
      res.end(pem)
    })
  })
  after(() => server.close())

  test('is GET {keyEndpoint}/{kid}', async () => {
    await verifierFor(`${server.url}/prefix/keys`).verify(token())
    assert.deepEqual(seen, { method: 'GET', url: `/prefix/keys/${key.kid}` })
  })
})
