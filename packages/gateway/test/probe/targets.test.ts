// The probe against the gateway's demo target (which must pass) and against a
// target written the way a hurried developer writes one with jose (which must
// fail on exactly the pins it forgot).
import assert from 'node:assert/strict'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { after, before, describe, test } from 'node:test'
import { createKeyHandler, generateSigningKey } from '@portcullis/verify/mint'
import { probeAlbTarget } from '@portcullis/verify/probe'
import { decodeProtectedHeader, importSPKI, jwtVerify } from 'jose'
import { type DemoTarget, startDemoTarget } from '../../src/demo/target-app.js'
import { listen } from '../fixtures/ports.js'

const SIGNER = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/probe-test/0123456789abcdef'
const ISSUER = 'https://idp.example.com'
const CLIENT_ID = 'probe-test-client'
const key = generateSigningKey()
const keyServer = createServer(createKeyHandler([key]))
let keyEndpoint: string

before(async () => {
  keyEndpoint = `http://127.0.0.1:${await listen(keyServer)}`
})
after(() => {
  keyServer.closeAllConnections()
  keyServer.close()
})

const trust = () => ({ signingKey: key, signer: SIGNER, issuer: ISSUER, clientId: CLIENT_ID })

describe('the demo target', () => {
  let target: DemoTarget
  before(async () => {
    target = await startDemoTarget({
      signer: SIGNER,
      issuer: ISSUER,
      clientId: CLIENT_ID,
      keyEndpoint,
      endSessionEndpoint: 'https://idp.example.com/session/end',
      postLogoutRedirectUri: 'https://localhost:8443/public',
    })
  })
  after(() => target.close())

  test('passes on /api/whoami (401 anonymous, 200 verified)', async () => {
    const report = await probeAlbTarget({ target: `${target.url}/api/whoami`, ...trust() })
    assert.equal(report.outcome, 'pass', report.reason)
    assert.equal(report.results.filter((r) => r.verdict === 'refused').length, 14)
  })

  test('on its home page (200 either way) the probe cannot judge without --authenticated-match, and passes with it', async () => {
    const blind = await probeAlbTarget({ target: `${target.url}/`, ...trust() })
    assert.equal(blind.outcome, 'inconclusive')
    const report = await probeAlbTarget({ target: `${target.url}/`, ...trust(), authenticatedMatch: 'Signed in as' })
    assert.equal(report.outcome, 'pass', report.reason)
  })
})

/**
 * What a hurried developer writes with jose: read the kid, fetch its key from
 * the key endpoint, verify, done. jose checks the signature, the algorithm
 * against the key, and exp; nothing pins signer, client or issuer, and the
 * identity header is never compared.
 */
function hurriedJoseTarget(endpoint: string) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      const token = req.headers['x-amzn-oidc-data'] as string
      const { kid } = decodeProtectedHeader(token)
      const pem = await (await fetch(`${endpoint}/${kid}`)).text()
      const { payload } = await jwtVerify(token, await importSPKI(pem, 'ES256'))
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ user: payload.sub }))
    } catch {
      res.writeHead(401).end()
    }
  }
}

test('a jose target that verifies the signature but pins nothing: signer, client, issuer and identity accepted', async () => {
  const report = await probeAlbTarget({ target: hurriedJoseTarget(keyEndpoint), ...trust() })
  assert.equal(report.outcome, 'fail')
  assert.deepEqual(
    report.results.filter((r) => r.verdict === 'accepted' && r.role === 'forgery').map((r) => r.id),
    ['foreign-signer', 'wrong-client', 'wrong-issuer', 'identity-mismatch'],
  )
  // The ALBeast row: validly signed by the key server's key, for another load balancer.
  const albeast = report.results.find((r) => r.id === 'foreign-signer')
  assert.equal(albeast?.status, 200)
})
