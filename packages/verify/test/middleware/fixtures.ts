// Shared fixtures for the middleware tests: a real key server on 127.0.0.1,
// real minted tokens, and one behavioural suite every framework adapter must
// pass byte for byte (each framework really listening on 127.0.0.1:0).
import assert from 'node:assert/strict'
import { createServer, type ServerResponse } from 'node:http'
import { after, before, describe, test } from 'node:test'
import type { AlbIdentity } from '../../src/index.js'
import type { AlbAuthOptions } from '../../src/middleware/common.js'
import { type AlbSigningKey, generateSigningKey, signAlbToken } from '../../src/mint/index.js'
import {
  CLIENT_ID,
  ISSUER,
  listen,
  OTHER_SIGNER,
  type Running,
  SIGNER,
  startKeyServer as startKeyServerFor,
} from '../helpers.js'

export { CLIENT_ID, closeServer, ISSUER, listen, OTHER_SIGNER, type Running, SIGNER, urlOf } from '../helpers.js'

export const SUB = 'user-1'
export const EMAIL = 'user-1@example.com'
export const ACCESS_TOKEN = 'opaque-access-token'

/** A real key server publishing `key`, the way ALB's regional key server does. */
export interface KeyServer extends Running {
  readonly key: AlbSigningKey
}

export async function startKeyServer(): Promise<KeyServer> {
  const key = generateSigningKey()
  return { ...(await startKeyServerFor([key])), key }
}

/**
 * A key endpoint nobody listens on: a server is bound, its port noted, and the
 * server closed, so fetches are refused (if the port were reused meanwhile the
 * fetch would get a non-PEM answer, which fails the same way).
 */
export async function downKeyEndpoint(): Promise<string> {
  const running = await listen(createServer())
  await running.close()
  return running.url
}

/** Verifier options for the test ALB against `keyEndpoint`. */
export function verifierOptions(keyEndpoint: string) {
  return { signer: SIGNER, issuer: ISSUER, clientId: CLIENT_ID, keyEndpoint }
}

/** A real ALB token for SUB/EMAIL signed by `key`. */
export function mint(
  key: AlbSigningKey,
  overrides: { signer?: string; claims?: Record<string, unknown> } = {},
): string {
  return signAlbToken({
    claims: overrides.claims ?? { sub: SUB, email: EMAIL },
    key,
    signer: overrides.signer ?? SIGNER,
    issuer: ISSUER,
    clientId: CLIENT_ID,
  })
}

/** The three headers ALB adds to an authenticated request. */
export function albHeaders(token: string, identity = SUB): Record<string, string> {
  return {
    'x-amzn-oidc-data': token,
    'x-amzn-oidc-identity': identity,
    'x-amzn-oidc-accesstoken': ACCESS_TOKEN,
  }
}

/** What every test app answers with 200: what its handler saw of the identity. */
export type Seen = { anonymous: true } | { anonymous: false; sub: unknown; email: unknown; accessToken: unknown }

/** Builds the 200 body from the identity the framework exposed to the handler. */
export function describeIdentity(identity: AlbIdentity | undefined): Seen {
  return identity === undefined
    ? { anonymous: true }
    : {
        anonymous: false,
        sub: identity.identity,
        email: identity.claims.email,
        accessToken: identity.accessToken,
      }
}

/** Sends a node:http response with the JSON of {@link describeIdentity}. */
export function answerIdentity(res: ServerResponse, identity: AlbIdentity | undefined): void {
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(describeIdentity(identity)))
}

/**
 * Starts one framework app on 127.0.0.1:0 guarded by the middleware built from
 * `options`, whose only route answers 200 with {@link describeIdentity}.
 */
export type StartApp = (options: AlbAuthOptions) => Promise<Running>

/** A copy of a token whose payload says something else, signature unchanged. */
export function tamper(token: string): string {
  const [header, payload, signature] = token.split('.') as [string, string, string]
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>
  claims['email'] = 'admin@example.com'
  let forged = Buffer.from(JSON.stringify(claims)).toString('base64url')
  while (forged.length % 4 !== 0) forged += '='
  return `${header}.${forged}.${signature}`
}

/** A signing key that claims the real key's kid but holds another private key: a forger's key. */
export function forgerKeyFor(real: AlbSigningKey): AlbSigningKey {
  const forger = generateSigningKey()
  return { kid: real.kid, privateKey: forger.privateKey, publicKey: forger.publicKey }
}

async function expectRejection(response: Response, status: number, code: string): Promise<Record<string, unknown>> {
  const text = await response.text()
  assert.equal(response.status, status, `expected ${status} ${code}, got ${response.status} ${text}`)
  assert.match(response.headers.get('content-type') ?? '', /^application\/json/)
  assert.equal(response.headers.get('cache-control'), 'no-store')
  const body = JSON.parse(text) as Record<string, unknown>
  assert.deepEqual(Object.keys(body).sort(), ['error', 'message'])
  assert.equal(body['error'], code)
  assert.equal(typeof body['message'], 'string')
  assert.doesNotMatch(text, /\bat .+:\d+:\d+|Error:|node:internal|arn:aws/)
  if (status === 401) {
    assert.equal(response.headers.get('www-authenticate'), `ALB realm="portcullis", error="${code}"`)
  } else {
    assert.equal(response.headers.get('www-authenticate'), null)
  }
  return body
}

async function expectIdentity(response: Response, expected: Seen): Promise<void> {
  const text = await response.text()
  assert.equal(response.status, 200, text)
  assert.deepEqual(JSON.parse(text), expected)
}

const AUTHENTICATED: Seen = { anonymous: false, sub: SUB, email: EMAIL, accessToken: ACCESS_TOKEN }

/**
 * The behaviour every adapter must show, against the real framework `start`
 * launches. Registers a `describe` block with its own key server.
 */
export function middlewareSuite(framework: string, start: StartApp): void {
  describe(`${framework} middleware`, () => {
    let keys: KeyServer
    before(async () => {
      keys = await startKeyServer()
    })
    after(() => keys.close())

    async function app(options: Partial<AlbAuthOptions> = {}): Promise<Running> {
      return start({ ...verifierOptions(keys.url), ...options } as AlbAuthOptions)
    }

    async function withApp(options: Partial<AlbAuthOptions>, run: (url: string) => Promise<void>): Promise<void> {
      const running = await app(options)
      try {
        await run(running.url)
      } finally {
        await running.close()
      }
    }

    test('a valid token reaches the handler with its claims, identity and access token', () =>
      withApp({}, async (url) => {
        await expectIdentity(await fetch(url, { headers: albHeaders(mint(keys.key)) }), AUTHENTICATED)
      }))

    test('a missing x-amzn-oidc-data header is 401 ERR_MISSING_HEADER', () =>
      withApp({}, async (url) => {
        await expectRejection(await fetch(url), 401, 'ERR_MISSING_HEADER')
      }))

    test('a token signed by a forger reusing the real kid is 401 ERR_SIGNATURE', () =>
      withApp({}, async (url) => {
        const forged = mint(forgerKeyFor(keys.key))
        await expectRejection(await fetch(url, { headers: albHeaders(forged) }), 401, 'ERR_SIGNATURE')
      }))

    test('a tampered payload is 401 ERR_SIGNATURE', () =>
      withApp({}, async (url) => {
        const tampered = tamper(mint(keys.key))
        await expectRejection(await fetch(url, { headers: albHeaders(tampered) }), 401, 'ERR_SIGNATURE')
      }))

    test("another load balancer's token is 401 ERR_SIGNER", () =>
      withApp({}, async (url) => {
        const foreign = mint(keys.key, { signer: OTHER_SIGNER })
        await expectRejection(await fetch(url, { headers: albHeaders(foreign) }), 401, 'ERR_SIGNER')
      }))

    test('an x-amzn-oidc-identity that differs from the token sub is 401 ERR_IDENTITY_MISMATCH', () =>
      withApp({}, async (url) => {
        const response = await fetch(url, { headers: albHeaders(mint(keys.key), 'someone-else') })
        await expectRejection(response, 401, 'ERR_IDENTITY_MISMATCH')
      }))

    test('allowAnonymous: no identity header passes with no identity', () =>
      withApp({ allowAnonymous: true }, async (url) => {
        await expectIdentity(await fetch(url), { anonymous: true })
      }))

    test('allowAnonymous: a valid token still yields the identity', () =>
      withApp({ allowAnonymous: true }, async (url) => {
        await expectIdentity(await fetch(url, { headers: albHeaders(mint(keys.key)) }), AUTHENTICATED)
      }))

    test('allowAnonymous: a bad token is 401, never anonymous', () =>
      withApp({ allowAnonymous: true }, async (url) => {
        const forged = mint(forgerKeyFor(keys.key))
        await expectRejection(await fetch(url, { headers: albHeaders(forged) }), 401, 'ERR_SIGNATURE')
        await expectRejection(
          await fetch(url, { headers: { 'x-amzn-oidc-data': 'not-a-token', 'x-amzn-oidc-identity': SUB } }),
          401,
          'ERR_MALFORMED',
        )
      }))

    test('allowAnonymous: an identity header without a token is 401, never anonymous', () =>
      withApp({ allowAnonymous: true }, async (url) => {
        const response = await fetch(url, { headers: { 'x-amzn-oidc-identity': SUB } })
        await expectRejection(response, 401, 'ERR_MISSING_HEADER')
      }))

    test('trustedProxies without the peer (127.0.0.1) is 403 ERR_UNTRUSTED_PROXY, valid token or not', () =>
      withApp({ trustedProxies: ['10.0.0.0/8'] }, async (url) => {
        const response = await fetch(url, { headers: albHeaders(mint(keys.key)) })
        await expectRejection(response, 403, 'ERR_UNTRUSTED_PROXY')
      }))

    test('trustedProxies applies to anonymous requests too', () =>
      withApp({ trustedProxies: ['10.0.0.0/8'], allowAnonymous: true }, async (url) => {
        await expectRejection(await fetch(url), 403, 'ERR_UNTRUSTED_PROXY')
      }))

    test('trustedProxies containing the peer lets a valid token through', () =>
      withApp({ trustedProxies: ['127.0.0.0/8'] }, async (url) => {
        await expectIdentity(await fetch(url, { headers: albHeaders(mint(keys.key)) }), AUTHENTICATED)
      }))

    test('an unreachable key server is 503 ERR_KEY_FETCH with Retry-After', async () => {
      const running = await start({ ...verifierOptions(await downKeyEndpoint()), retryAfterSeconds: 7 })
      try {
        const response = await fetch(running.url, { headers: albHeaders(mint(keys.key)) })
        await expectRejection(response, 503, 'ERR_KEY_FETCH')
        assert.equal(response.headers.get('retry-after'), '7')
      } finally {
        await running.close()
      }
    })
  })
}
