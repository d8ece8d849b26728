/**
 * One connection to the shared state per process: a reload may change
 * anything but `Portcullis.SharedState`, which takes a restart.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { GatewayError } from '../../src/core/errors.js'
import { startGateway } from '../../src/server/gateway.js'
import { authenticateOidcYaml, startTestProvider, type TestProvider } from '../auth/fixtures/provider.js'
import { startRedis, type TestRedis } from '../fixtures/redis.js'
import { configFromYaml, send, silentLogger, stateDirectory } from '../fixtures/servers.js'

let redis: TestRedis
let idp: TestProvider
before(async () => {
  redis = await startRedis()
  idp = await startTestProvider({ redirectUris: ['http://127.0.0.1/oauth2/idpresponse'] })
})
after(async () => {
  await idp.close()
  await redis.stop()
})

const yaml = (prefix: string, body: string) => `Listeners:
  - Port: 0
    Protocol: HTTP
    Portcullis: { Address: 127.0.0.1 }
    DefaultActions:
${authenticateOidcYaml(idp, 6)}
      - { Type: fixed-response, Order: 2, FixedResponseConfig: { StatusCode: "200", MessageBody: "${body}" } }
Portcullis:
  AllowInsecureHttpAuthentication: true
  SharedState: { Url: "${redis.url}", KeyPrefix: "${prefix}" }
  SessionStore: shared
`

test('a reload that changes SharedState is refused and the previous configuration keeps serving', async () => {
  const dir = stateDirectory()
  const gateway = await startGateway(configFromYaml(yaml('a:', 'first'), dir), {
    logger: silentLogger,
    accessLog: false,
    admin: false,
  })
  try {
    await gateway.reload(configFromYaml(yaml('a:', 'second'), dir))
    assert.equal(gateway.generation, 2, 'the same shared state: the reload applies')
    await assert.rejects(gateway.reload(configFromYaml(yaml('b:', 'third'), dir)), (err: unknown) => {
      assert.ok(err instanceof GatewayError)
      assert.equal(err.code, 'ERR_SHARED_STATE')
      assert.match(err.message, /Portcullis\.SharedState changed .*restart the gateway/)
      return true
    })
    assert.equal(gateway.generation, 2, 'still the previous configuration')
    const url = gateway.listeners[0]!.url
    assert.equal((await send(url)).status, 302, 'still serving: the login redirect')
  } finally {
    await gateway.close()
  }
})
