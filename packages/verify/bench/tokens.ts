// The bench's key endpoint and tokens, shared by verify.bench.ts and overhead.bench.ts.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { type AlbSigningKey, createKeyHandler, generateSigningKey, signAlbToken } from '../src/mint/index.js'

export const SIGNER = 'arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/bench/50dc6c495c0c9188'
export const ISSUER = 'https://idp.example.com'
export const CLIENT_ID = 'bench-client'

/**
 * One P-256 key published on a real node:http server on 127.0.0.1, and
 * `count` distinct ALB tokens signed with it (realistic userinfo claims).
 */
export async function benchTokens(
  count: number,
): Promise<{ key: AlbSigningKey; server: Server; keyEndpoint: string; tokens: string[] }> {
  const key = generateSigningKey()
  const server = createServer(createKeyHandler([key]))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const keyEndpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const now = Math.floor(Date.now() / 1000)
  const tokens = Array.from({ length: count }, (_, i) =>
    signAlbToken({
      claims: { sub: `user-${i}`, email: `user-${i}@example.com`, email_verified: 'true', name: `User ${i}` },
      key,
      signer: SIGNER,
      issuer: ISSUER,
      clientId: CLIENT_ID,
      now,
      expiresInSeconds: 3600,
    }),
  )
  return { key, server, keyEndpoint, tokens }
}
