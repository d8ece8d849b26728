// node --import tsx packages/verify/bench/overhead.bench.ts — the verifier's own
// CPU time per verify, with crypto.verify replaced by `() => true` so that the
// ~65 µs of ECDSA (and its noise) is out of the measurement:
//   (a) distinct tokens, the same string objects every round (as verify.bench.ts);
//   (a') distinct tokens, each call a fresh string, as an HTTP parser gives them;
//   (b) one token repeated (verified-token cache hits), same string object;
//   (b') one token repeated, each call a fresh string;
//   (f) making the fresh string alone, to subtract from (a') and (b').
// Fresh strings matter because V8 hashes a string in full on its first Map
// lookup and keeps the hash on the string: a bench that reuses its strings
// never pays for that, a server always does.
// Interleaved ~5 ms slices, median slice, after a warm-up. About 15 s.
import crypto from 'node:crypto'
import { syncBuiltinESMExports } from 'node:module'
import { createAlbVerifier } from '../src/index.js'
import { benchTokens, CLIENT_ID, ISSUER, SIGNER } from './tokens.js'

const TOKENS = 4000 // more than the verified-token cache holds, as in verify.bench.ts
const SLICE = 1000 // verifies per slice
const ROUNDS = 300

const { server, keyEndpoint, tokens } = await benchTokens(TOKENS)
const ours = createAlbVerifier({ signer: SIGNER, issuer: ISSUER, clientId: CLIENT_ID, keyEndpoint })
await ours.verify(tokens[0]!)
server.closeAllConnections()
server.close()

// The named import inside the verifier is a live binding of node:crypto's exports.
;(crypto as { verify: unknown }).verify = () => true
syncBuiltinESMExports()

const repeated = tokens[1]!
const fresh = (token: string) => Buffer.from(token, 'latin1').toString('latin1')
type Case = { id: string; label: string; run: (i: number) => unknown }
const cases: Case[] = [
  { id: 'a', label: 'distinct tokens, same string objects', run: (i) => ours.verify(tokens[i % TOKENS]!) },
  { id: "a'", label: 'distinct tokens, fresh strings', run: (i) => ours.verify(fresh(tokens[i % TOKENS]!)) },
  { id: 'b', label: 'one token repeated, same string object', run: () => ours.verify(repeated) },
  { id: "b'", label: 'one token repeated, fresh strings', run: () => ours.verify(fresh(repeated)) },
  { id: 'f', label: 'making the fresh string alone', run: (i) => fresh(tokens[i % TOKENS]!) },
]

const samples = new Map<string, number[]>(cases.map((c) => [c.id, []]))
const offsets = new Map<string, number>(cases.map((c) => [c.id, 0]))
for (let round = 0; round < ROUNDS; round++) {
  for (const c of round % 2 === 0 ? cases : [...cases].reverse()) {
    const offset = offsets.get(c.id)!
    const cpu = process.cpuUsage()
    for (let i = 0; i < SLICE; i++) {
      const result = c.run(offset + i)
      if (result instanceof Promise) await result
    }
    const used = process.cpuUsage(cpu)
    offsets.set(c.id, offset + SLICE)
    if (round >= 20) samples.get(c.id)!.push((used.user + used.system) / SLICE)
  }
}
const median = (values: number[]) => [...values].sort((x, y) => x - y)[values.length >> 1]!

console.log(`\nNode ${process.version}; crypto.verify stubbed; CPU µs per call, median of ${ROUNDS - 20} slices\n`)
for (const c of cases)
  console.log(`(${c.id})`.padEnd(5), median(samples.get(c.id)!).toFixed(2).padStart(6), ' ', c.label)
