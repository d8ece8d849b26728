import assert from 'node:assert/strict'
import { createServer, request } from 'node:http'
import { after, before, describe, test } from 'node:test'
import { createKeyHandler, generateSigningKey, publicKeyPem } from '../../src/mint/index.js'
import { listen, startKeyServer, type TestServer } from '../helpers.js'

const key = generateSigningKey()

describe('createKeyHandler on a real server', () => {
  let server: TestServer
  before(async () => {
    server = await startKeyServer([key])
  })
  after(() => server.close())

  test('GET /{kid} answers the PEM, cacheable', async () => {
    const res = await fetch(`${server.url}/${key.kid}`)
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('content-type'), 'application/x-pem-file')
    assert.match(res.headers.get('cache-control') ?? '', /max-age=86400/)
    assert.equal(await res.text(), publicKeyPem(key))
  })

  test('the kid matches case-insensitively and the query string is ignored', async () => {
    const res = await fetch(`${server.url}/${key.kid.toUpperCase()}?x=1`)
    assert.equal(res.status, 200)
    assert.equal(await res.text(), publicKeyPem(key))
  })

  test('HEAD answers headers only', async () => {
    const res = await fetch(`${server.url}/${key.kid}`, { method: 'HEAD' })
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('content-length'), String(Buffer.byteLength(publicKeyPem(key))))
    assert.equal(await res.text(), '')
  })

  // node:http sends the path as written; fetch would normalise the dot segments away first.
  const rawStatus = (base: string, path: string) =>
    new Promise<number>((resolve, reject) => {
      const req = request(`${base}/`, { path: path || '/', agent: false }, (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
      })
      req.on('error', reject)
      req.end()
    })

  test('unknown kids, non-UUID paths and traversal are 404', async () => {
    for (const path of [
      '/00000000-0000-0000-0000-000000000000',
      '/',
      '',
      `/${key.kid}/`,
      `/x/${key.kid}`,
      `/${key.kid}x`,
      '/../etc/passwd',
      `/%2e%2e/${key.kid}`,
    ]) {
      assert.equal(await rawStatus(server.url, path), 404, path)
    }
  })

  test('other methods are 405 with Allow', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS']) {
      const res = await fetch(`${server.url}/${key.kid}`, { method })
      assert.equal(res.status, 405, method)
      assert.equal(res.headers.get('allow'), 'GET, HEAD')
      await res.arrayBuffer()
    }
  })
})

test('a key list function is read per request, so rotated keys appear', async () => {
  let keys = [key]
  const server = await startKeyServer(() => keys)
  try {
    const next = generateSigningKey()
    assert.equal((await fetch(`${server.url}/${next.kid}`)).status, 404)
    keys = [key, next]
    assert.equal(await (await fetch(`${server.url}/${next.kid}`)).text(), publicKeyPem(next))
  } finally {
    await server.close()
  }
})

test('mounted under a prefix by stripping it from req.url', async () => {
  const handler = createKeyHandler([key])
  const server = createServer((req, res) => {
    if (req.url?.startsWith('/keys/')) {
      req.url = req.url.slice('/keys'.length)
      handler(req, res)
    } else {
      res.writeHead(404).end()
    }
  })
  const { url: base, close } = await listen(server)
  try {
    assert.equal(await (await fetch(`${base}/keys/${key.kid}`)).text(), publicKeyPem(key))
    const miss = await fetch(`${base}/${key.kid}`)
    assert.equal(miss.status, 404)
    await miss.arrayBuffer()
  } finally {
    await close()
  }
})
