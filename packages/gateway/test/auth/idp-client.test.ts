import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { Writable } from 'node:stream'
import { after, test } from 'node:test'
import { pino } from 'pino'
import type { AuthError } from '../../src/auth/errors.js'
import { endpointAllowed, IdpClient } from '../../src/auth/oidc/idp-client.js'
import { createOutbound } from '../../src/auth/outbound.js'
import { ConfigError } from '../../src/config/errors.js'
import { parseConfig } from '../../src/config/load.js'
import type { AuthenticateOidcAction } from '../../src/config/model.js'
import { listen } from '../fixtures/ports.js'
import { silentLogger } from '../fixtures/servers.js'

const outbound = createOutbound({ caFile: undefined })
after(() => outbound.close())

/** An HTTPS listener whose default rule authenticates with an IdP at `origin` (files are never read). */
function configWithIdp(origin: string, optIn: boolean): string {
  return `Listeners:
  - Port: 8080
    Protocol: HTTPS
    Certificates: [{ CertificateFile: c.pem, PrivateKeyFile: k.pem }]
    DefaultActions:
      - Type: authenticate-oidc
        AuthenticateOidcConfig: { Issuer: "${origin}", AuthorizationEndpoint: "${origin}/a", TokenEndpoint: "${origin}/token", UserInfoEndpoint: "${origin}/u", ClientId: c, ClientSecret: s }
      - { Type: fixed-response, FixedResponseConfig: { StatusCode: "200" } }
Portcullis: { AllowInsecureHttpAuthentication: ${optIn} }
`
}

/** What `portcullis validate` says: the loaded action, or undefined when the file is refused. */
function validated(origin: string, optIn: boolean): AuthenticateOidcAction | undefined {
  try {
    const { config } = parseConfig(configWithIdp(origin, optIn), { source: 'portcullis.yaml', baseDir: '/tmp' })
    return config.listeners[0]!.rules[0]!.actions[0] as AuthenticateOidcAction
  } catch (error) {
    if (error instanceof ConfigError) return undefined
    throw error
  }
}

test('an IdP endpoint that validates is one the IdP client accepts at start, and the reverse', () => {
  for (const origin of [
    'http://idp.localhost:9000',
    'http://127.0.0.1:9000',
    'http://127.8.9.10:9000',
    'http://[::1]:9000',
    'http://localhost:9000',
    'http://LOCALHOST.:9000',
    'http://idp.example.com',
    'http://localhost.example.com',
    'http://127.0.0.1.nip.io',
    'https://idp.example.com',
  ]) {
    for (const optIn of [true, false]) {
      const action = validated(origin, optIn)
      const accepted = endpointAllowed(`${origin}/token`, optIn)
      assert.equal(action !== undefined, accepted, `${origin} with the opt-in ${optIn}`)
      if (action === undefined) continue
      assert.doesNotThrow(
        () => new IdpClient(action, outbound, { allowInsecureHttp: optIn, logger: silentLogger }),
        `${origin} with the opt-in ${optIn}`,
      )
    }
  }
})

test('an IdP on a *.localhost name is reached on this machine', async (t) => {
  const server = createServer((_req, res) => res.end('token endpoint'))
  const port = await listen(server, 'localhost')
  t.after(() => new Promise((resolve) => server.close(resolve)))
  const res = await outbound.fetch(`http://idp.localhost:${port}/token`, {}, { timeoutMs: 5000, maxBytes: 1024 })
  assert.equal(res.status, 200)
  assert.equal(await res.text(), 'token endpoint')
})

test("a token endpoint's refusal is logged with its error and error_description, bounded and escaped", async (t) => {
  const description = `client secret does not match\n\u001b[31mforged log line\u2028${'x'.repeat(1000)}`
  const server = createServer((req, res) => {
    req.resume()
    res.writeHead(401, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ error: 'invalid_client', error_description: description }))
  })
  const origin = `http://127.0.0.1:${await listen(server)}`
  t.after(() => new Promise((resolve) => server.close(resolve)))
  const lines: string[] = []
  const logger = pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString())
        done()
      },
    }),
  )
  const action = validated(origin, true)!
  const client = new IdpClient({ ...action, jwksUri: `${origin}/jwks` }, outbound, { allowInsecureHttp: true, logger })
  await assert.rejects(client.refresh('a-refresh-token'), (err: AuthError) => {
    assert.equal(err.reason, 'AuthTokenEpRequestFailed')
    return true
  })
  const entry = lines
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .find((e) => e['msg'] === 'the token endpoint refused the request')
  assert.ok(entry, lines.join(''))
  assert.equal(entry['error'], 'invalid_client')
  assert.equal(entry['status'], 401)
  assert.equal(entry['grant'], 'refresh_token')
  const logged = entry['errorDescription'] as string
  assert.ok(logged.startsWith('client secret does not match\\u000a\\u001b[31mforged log line\\u2028xxx'), logged)
  assert.doesNotMatch(logged, /[\u0000-\u001f\u2028]/)
  assert.ok(logged.length < 300, `bounded: ${logged.length}`)
})
