/**
 * The `@portcullis/verify` quickstart: everything an application behind an
 * AWS Application Load Balancer needs, running locally with no AWS account.
 *
 * 1. A key server plays ALB's regional public-key endpoint (`GET /{kid}` → PEM).
 * 2. An Express app is protected by `albAuth()` from `@portcullis/verify/express`.
 * 3. Three requests are sent the way ALB would forward them: with a valid
 *    token, with a token forged by another load balancer, and with none.
 *
 * Run it with `npm start -w @portcullis/example-verify-quickstart`.
 *
 * @packageDocumentation
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { pathToFileURL } from 'node:url'
import { albAuth } from '@portcullis/verify/express'
import { createKeyHandler, generateSigningKey, signAlbToken } from '@portcullis/verify/mint'
import express from 'express'

/** Your load balancer: the only signer whose tokens the app accepts. */
const OUR_ALB = 'arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/my-alb/50dc6c495c0c9188'
/** Anyone else's load balancer in the same region: its tokens are validly signed too, by its own key. */
const OTHER_ALB = 'arn:aws:elasticloadbalancing:us-east-1:999999999999:loadbalancer/app/evil-alb/0123456789abcdef'
const ISSUER = 'https://idp.example.com'
const CLIENT_ID = 'my-client-id'

/** What one request to the protected app produced. */
export interface Outcome {
  /** What was sent. */
  readonly request: 'valid token' | 'forged token (another load balancer)' | 'no token'
  /** HTTP status the app answered. */
  readonly status: number
  /** The JSON body the app answered. */
  readonly body: Record<string, unknown>
}

/**
 * Starts the key server and the protected app on 127.0.0.1, sends the three
 * requests, stops both servers, and returns what happened. `print` receives
 * a readable report, line by line.
 *
 * @example
 * ```ts
 * const outcomes = await runQuickstart(console.log)
 * outcomes.map((o) => o.status) // [200, 401, 401]
 * ```
 */
export async function runQuickstart(print: (line: string) => void = () => {}): Promise<Outcome[]> {
  // 1. The key server. In production this is ALB's, derived from the signer ARN.
  const key = generateSigningKey()
  const keyServer = await listen(createServer(createKeyHandler([key])))
  const keyEndpoint = urlOf(keyServer)

  // 2. The protected application: three lines of configuration.
  const app = express()
  app.use(albAuth({ signer: OUR_ALB, issuer: ISSUER, clientId: CLIENT_ID, keyEndpoint }))
  app.get('/hello', (req, res) => {
    res.json({ hello: req.alb?.claims['email'], sub: req.alb?.identity })
  })
  const appServer = await listen(createServer(app))
  const appUrl = `${urlOf(appServer)}/hello`

  try {
    print('@portcullis/verify quickstart')
    print(`  key server (stands in for ALB's public keys) ${keyEndpoint}`)
    print(`  Express app protected by albAuth()           ${appUrl}`)
    print('')

    // 3. What ALB forwards after a login: the identity token and two headers.
    const claims = { sub: 'alice', email: 'alice@example.com' }
    const valid = signAlbToken({ claims, key, signer: OUR_ALB, issuer: ISSUER, clientId: CLIENT_ID })
    // The "ALBeast" attack: another account's ALB signs any claims it likes
    // with a key that its region's key server really publishes. Only pinning
    // the signer ARN tells the two apart.
    const forged = signAlbToken({
      claims: { sub: 'alice', email: 'alice@example.com' },
      key: generateSigningKey(),
      signer: OTHER_ALB,
      issuer: ISSUER,
      clientId: CLIENT_ID,
    })

    const outcomes: Outcome[] = []
    for (const [request, token] of [
      ['valid token', valid],
      ['forged token (another load balancer)', forged],
      ['no token', undefined],
    ] as const) {
      const headers: Record<string, string> =
        token === undefined ? {} : { 'x-amzn-oidc-data': token, 'x-amzn-oidc-identity': claims.sub }
      const response = await fetch(appUrl, { headers })
      const outcome: Outcome = {
        request,
        status: response.status,
        body: (await response.json()) as Record<string, unknown>,
      }
      outcomes.push(outcome)
      print(describe(outcome))
    }
    print('')
    print('Only the valid token reached the handler. Next: packages/verify/docs/middleware.md')
    return outcomes
  } finally {
    await Promise.all([close(appServer), close(keyServer)])
  }
}

function describe({ request, status, body }: Outcome): string {
  const verdict = status === 200 ? 'accepted' : 'rejected'
  const detail =
    status === 200 ? `handler saw ${JSON.stringify(body)}` : `${String(body['error'])}: ${String(body['message'])}`
  return `  ${request.padEnd(38)} → ${status} ${verdict}  ${detail}`
}

function listen(server: Server): Promise<Server> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve(server))
  })
}

function urlOf(server: Server): string {
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

function close(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((error) => (error ? reject(error) : resolve()))
    server.closeAllConnections()
  })
}

// Run when started as a program (`npm start`), not when imported by the test.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await runQuickstart(console.log)
}
