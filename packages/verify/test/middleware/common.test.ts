import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { after, before, describe, test } from 'node:test'
import { ALB_VERIFY_ERROR_CODES, type AlbVerifier, AlbVerifyError, createAlbVerifier } from '../../src/index.js'
import {
  AlbAuthRejection,
  createAlbAuthenticator,
  DEFAULT_RETRY_AFTER_SECONDS,
  rejectionFor,
} from '../../src/middleware/common.js'
import { createKeyHandler } from '../../src/mint/index.js'
import {
  albHeaders,
  downKeyEndpoint,
  type KeyServer,
  listen,
  mint,
  SUB,
  startKeyServer,
  verifierOptions,
} from './fixtures.js'

describe('rejectionFor', () => {
  test('every verifier code maps to 401, except untrusted peer (403) and key-server failures (503)', () => {
    for (const code of ALB_VERIFY_ERROR_CODES) {
      const rejection = rejectionFor(new AlbVerifyError(code, 'detail arn:aws:secret-signer'))
      const expected =
        code === 'ERR_UNTRUSTED_PROXY' ? 403 : code === 'ERR_KEY_FETCH' || code === 'ERR_KEY_INVALID' ? 503 : 401
      assert.equal(rejection.status, expected, code)
      assert.equal(rejection.code, code)
      const body = JSON.parse(rejection.body) as Record<string, unknown>
      assert.deepEqual(Object.keys(body), ['error', 'message'])
      assert.equal(body['error'], code)
      assert.ok(typeof body['message'] === 'string' && body['message'].length > 0)
      assert.doesNotMatch(rejection.body, /secret-signer/, 'the verifier message never reaches the client')
      assert.equal(rejection.headers['cache-control'], 'no-store')
      assert.equal(rejection.headers['content-type'], 'application/json; charset=utf-8')
      assert.equal(
        rejection.headers['www-authenticate'],
        expected === 401 ? `ALB realm="portcullis", error="${code}"` : undefined,
      )
      assert.equal(rejection.headers['retry-after'], expected === 503 ? String(DEFAULT_RETRY_AFTER_SECONDS) : undefined)
    }
  })

  test('anything that is not an AlbVerifyError is a bare 500 ERR_INTERNAL, without its message or stack', () => {
    for (const error of [new TypeError('boom at secret.ts:1:2'), 'a string', undefined, { code: 'ERR_SIGNER' }]) {
      const rejection = rejectionFor(error)
      assert.equal(rejection.status, 500)
      assert.equal(rejection.code, 'ERR_INTERNAL')
      assert.doesNotMatch(rejection.body, /boom|secret|stack/)
      assert.equal(rejection.headers['www-authenticate'], undefined)
    }
  })

  test('an explicit Retry-After is used on 503 only; rejections are shared, frozen objects', () => {
    assert.equal(rejectionFor(new AlbVerifyError('ERR_KEY_FETCH', 'x'), 9).headers['retry-after'], '9')
    const a = rejectionFor(new AlbVerifyError('ERR_SIGNATURE', 'a'))
    assert.equal(a, rejectionFor(new AlbVerifyError('ERR_SIGNATURE', 'b')))
    assert.ok(Object.isFrozen(a) && Object.isFrozen(a.headers))
    assert.ok(a instanceof AlbAuthRejection)
  })
})

describe('createAlbAuthenticator', () => {
  let keys: KeyServer
  before(async () => {
    keys = await startKeyServer()
  })
  after(() => keys.close())

  test('invalid options throw when the middleware is built, not per request', () => {
    assert.throws(() => createAlbAuthenticator({ ...verifierOptions(keys.url), signer: [] }), TypeError)
    assert.throws(
      () => createAlbAuthenticator({ ...verifierOptions(keys.url), allowAnonymous: 'yes' as unknown as boolean }),
      /allowAnonymous/,
    )
    for (const retryAfterSeconds of [-1, 1.5, Number.NaN]) {
      assert.throws(() => createAlbAuthenticator({ ...verifierOptions(keys.url), retryAfterSeconds }), /retryAfter/)
    }
    assert.throws(() => createAlbAuthenticator(null as never), TypeError)
  })

  test("Retry-After follows the verifier's negative key cache, which a sooner retry would only hit", async () => {
    const keyEndpoint = await downKeyEndpoint()
    const authenticate = createAlbAuthenticator({ ...verifierOptions(keyEndpoint), negativeKeyCacheTtlSeconds: 12 })
    const result = await authenticate(albHeaders(mint(keys.key)), '127.0.0.1')
    assert.ok(result instanceof AlbAuthRejection)
    assert.equal(result.status, 503)
    assert.equal(result.headers['retry-after'], '12')
  })

  test('a supplied verifier is used as is, so middlewares can share its key cache', async () => {
    const paths: string[] = []
    const handler = createKeyHandler([keys.key])
    const counting = await listen(
      createServer((req, res) => {
        paths.push(req.url ?? '')
        handler(req, res)
      }),
    )
    try {
      const verifier = createAlbVerifier(verifierOptions(counting.url))
      const first = createAlbAuthenticator({ verifier })
      const second = createAlbAuthenticator({ verifier, allowAnonymous: true })
      for (const authenticate of [first, second]) {
        const result = await authenticate(albHeaders(mint(keys.key)), '127.0.0.1')
        assert.equal((result as { identity: string }).identity, SUB)
      }
      assert.deepEqual(paths, [`/${keys.key.kid}`])
      assert.equal(await second({}, '127.0.0.1'), undefined)
    } finally {
      await counting.close()
    }
  })

  test('a verifier failing with a foreign error resolves to 500, never rejects', async () => {
    const broken: AlbVerifier = {
      verify: () => Promise.reject(new Error('bug')),
      verifyRequest: () => Promise.reject(new RangeError('bug with a stack')),
      checkPeer: () => {
        throw new Error('bug')
      },
    }
    const authenticate = createAlbAuthenticator({ verifier: broken, allowAnonymous: true })
    for (const headers of [albHeaders('x'), {}]) {
      const result = await authenticate(headers, '127.0.0.1')
      assert.ok(result instanceof AlbAuthRejection)
      assert.equal(result.status, 500)
      assert.equal(result.code, 'ERR_INTERNAL')
    }
  })

  describe('allowAnonymous never lets a request that names an identity through unverified', () => {
    const cases: [string, Record<string, string> | Headers][] = [
      ['an identity header alone', { 'x-amzn-oidc-identity': SUB }],
      ['an access token alone', { 'x-amzn-oidc-accesstoken': 'token' }],
      ['an empty x-amzn-oidc-data', { 'x-amzn-oidc-data': '' }],
      ['a mixed-case name in a plain record', { 'X-Amzn-Oidc-Data': 'garbage' }],
      ['an underscore spelling', { x_amzn_oidc_data: 'garbage', 'x-amzn-oidc_identity': SUB }],
      ['an unknown x-amzn-oidc-* header', { 'x-amzn-oidc-whatever': '1' }],
      ['a fetch Headers with the identity header', new Headers({ 'X-Amzn-Oidc-Identity': SUB })],
    ]
    for (const [name, headers] of cases) {
      test(name, async () => {
        const authenticate = createAlbAuthenticator({ ...verifierOptions(keys.url), allowAnonymous: true })
        const result = await authenticate(headers, '127.0.0.1')
        assert.ok(result instanceof AlbAuthRejection, `${name} must be rejected`)
        assert.equal(result.status, 401)
      })
    }

    test('while headers unrelated to ALB identity stay anonymous, as a plain record or fetch Headers', async () => {
      const authenticate = createAlbAuthenticator({ ...verifierOptions(keys.url), allowAnonymous: true })
      assert.equal(await authenticate({ 'x-amzn-trace-id': 'Root=1-abc', accept: '*/*' }, '127.0.0.1'), undefined)
      assert.equal(await authenticate(new Headers({ 'x-amzn-trace-id': 'Root=1-abc' }), '127.0.0.1'), undefined)
    })
  })
})

test('middleware modules import only types from the frameworks, so none is a runtime dependency', () => {
  const dir = new URL('../../src/middleware/', import.meta.url)
  const frameworks = /^(express|fastify|hono|koa|@hono\/node-server)(\/|$)/
  let seen = 0
  for (const file of readdirSync(dir).filter((name) => name.endsWith('.ts'))) {
    const source = readFileSync(new URL(file, dir), 'utf8')
    for (const match of source.matchAll(/^(import|export)\s+(type\s+)?[^;]*?from\s+'([^']+)'/gm)) {
      const [statement, , typeOnly, specifier] = match
      if (!frameworks.test(specifier ?? '')) continue
      seen++
      assert.ok(typeOnly, `${file}: ${statement} must be "import type"`)
    }
    assert.doesNotMatch(source, /\bimport\(\s*'(express|fastify|hono|koa)/, `${file}: no dynamic framework import`)
  }
  assert.ok(seen >= 5, 'every adapter imports its framework types')
})
