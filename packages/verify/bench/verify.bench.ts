// npm run bench:verify — verifies per second, same tokens, same machine:
//   (a) this verifier, warm key cache, distinct tokens (verified-token cache misses)
//   (b) this verifier, one token repeated (verified-token cache hits)
//   (c) aws-jwt-verify's AlbJwtVerifier, warm, the distinct tokens of (a)
//   (d) raw crypto.verify of ES256 over the same bytes: the physical floor
// Each case is warmed up, then the cases run in interleaved slices of ~20 ms
// until each has had its time budget; rates are total operations / total time.
import { verify as cryptoVerify } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { cpus } from 'node:os'
import { AlbJwksCache } from 'aws-jwt-verify/alb-cache'
import { AlbJwtVerifier } from 'aws-jwt-verify/alb-verifier'
import { createAlbVerifier } from '../src/index.js'
import { createKeyHandler, generateSigningKey, signAlbToken } from '../src/mint/index.js'

const SIGNER = 'arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/bench/50dc6c495c0c9188'
const ISSUER = 'https://idp.example.com'
const CLIENT_ID = 'bench-client'
const TOKENS = 4000 // more than the default verified-token cache (1000), so cycling through them always misses
const WARMUP_MS = 500
const MEASURE_MS = 5000 // per case
const SLICE_MS = 20

const key = generateSigningKey()
const server = createServer(createKeyHandler([key]))
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
const keyEndpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

const now = Math.floor(Date.now() / 1000)
const tokens = Array.from({ length: TOKENS }, (_, i) =>
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
const raw = tokens.map((token) => {
  const dot = token.lastIndexOf('.')
  return { data: Buffer.from(token.slice(0, dot)), signature: Buffer.from(token.slice(dot + 1), 'base64url') }
})

const ours = createAlbVerifier({ signer: SIGNER, issuer: ISSUER, clientId: CLIENT_ID, keyEndpoint })
// aws-jwt-verify fetches keys with node:https only; this fetcher reads the same URL over http.
const aws = AlbJwtVerifier.create(
  { albArn: SIGNER, issuer: ISSUER, clientId: CLIENT_ID, jwksUri: keyEndpoint },
  {
    jwksCache: new AlbJwksCache({
      fetcher: { fetch: async (uri: string) => (await fetch(uri)).arrayBuffer() },
    }),
  },
)
// Warm both key caches (one fetch each), and check both accept the tokens.
await ours.verify(tokens[0]!)
await aws.verify(tokens[0]!)
server.closeAllConnections()
server.close()

const repeated = tokens[1]!
const verifyKey = { key: key.publicKey, dsaEncoding: 'ieee-p1363' as const }

type Case = { id: string; label: string; run: (i: number) => unknown }
const cases: Case[] = [
  { id: 'a', label: '@portcullis/verify, distinct tokens (warm keys)', run: (i) => ours.verify(tokens[i % TOKENS]!) },
  { id: 'b', label: '@portcullis/verify, same token (token cache)', run: () => ours.verify(repeated) },
  { id: 'c', label: 'aws-jwt-verify AlbJwtVerifier, distinct tokens', run: (i) => aws.verify(tokens[i % TOKENS]!) },
  {
    id: 'd',
    label: 'raw crypto.verify ES256 (floor)',
    run: (i) => {
      const { data, signature } = raw[i % TOKENS]!
      if (!cryptoVerify('sha256', data, verifyKey, signature)) throw new Error('raw verify failed')
    },
  },
]

/** Runs `count` operations of `run` back to back, returning the elapsed milliseconds. Awaits only real promises. */
async function slice(run: Case['run'], count: number, offset: number): Promise<number> {
  const start = performance.now()
  for (let i = 0; i < count; i++) {
    const result = run(offset + i)
    if (result instanceof Promise) await result
  }
  return performance.now() - start
}

// Calibrate a slice size of about SLICE_MS per case (this also warms up the JIT).
const sliceSize = new Map<string, number>()
for (const c of cases) {
  let ops = 0
  let elapsed = 0
  while (elapsed < WARMUP_MS) {
    elapsed += await slice(c.run, 64, ops)
    ops += 64
  }
  sliceSize.set(c.id, Math.max(64, Math.round((ops / elapsed) * SLICE_MS)))
}
// Round-robin slices: every case sees the same machine load (this 2-core box is
// shared), so the ratios are steadier than the absolute numbers.
const totals = new Map<string, { ops: number; ms: number }>(cases.map((c) => [c.id, { ops: 0, ms: 0 }]))
const deadline = performance.now() + MEASURE_MS * cases.length
while (performance.now() < deadline) {
  for (const c of cases) {
    const total = totals.get(c.id)!
    const count = sliceSize.get(c.id)!
    total.ms += await slice(c.run, count, total.ops)
    total.ops += count
  }
}
const rate = Object.fromEntries(
  cases.map((c) => [c.id, (totals.get(c.id)!.ops / totals.get(c.id)!.ms) * 1000]),
) as Record<string, number>

const cpu = cpus()
console.log(`\nNode ${process.version}, ${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}`)
console.log(
  `${TOKENS} distinct tokens; ${MEASURE_MS / 1000} s per case in interleaved ${SLICE_MS} ms slices, after ${WARMUP_MS} ms warm-up each\n`,
)
const rows = cases.map((c) => [
  `(${c.id}) ${c.label}`,
  Math.round(rate[c.id]!).toLocaleString('en-US'),
  (1e6 / rate[c.id]!).toFixed(2),
])
const widths = [0, 1, 2].map((i) =>
  Math.max(...[['case', 'verifies/s', 'µs/verify'], ...rows].map((r) => r[i]!.length)),
)
const line = (r: string[]) =>
  `${r[0]!.padEnd(widths[0]!)}  ${r[1]!.padStart(widths[1]!)}  ${r[2]!.padStart(widths[2]!)}`
console.log(line(['case', 'verifies/s', 'µs/verify']))
for (const r of rows) console.log(line(r))
console.log('')
const ratio = (x: string, y: string, aim: string) =>
  console.log(`${x}/${y} = ${(rate[x]! / rate[y]!).toFixed(2).padStart(7)}   (aim: ${aim})`)
ratio('a', 'c', '≥ 1')
ratio('b', 'c', '≥ 20')
ratio('a', 'd', '≥ 0.90, i.e. within 10% of the floor')
