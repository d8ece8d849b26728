/**
 * `node --import tsx bench/sessions.bench.ts` (from packages/gateway, after
 * `npm run build`): what a session's size costs an authenticated request.
 * Two `portcullis start --workers 1` processes, one keeping sessions in
 * cookies and one in Redis (`SessionStore: shared`), each logged in by the
 * development IdP as a small user (two groups) and as a large one
 * (BENCH_GROUPS groups, default 320: a cookie of 3–4 shards, as Entra ID and
 * Okta users with many groups get). It sends BENCH_REQUESTS (20,000) requests
 * per case over 50 connections, interleaved over BENCH_ROUNDS (3) rounds, and
 * reports the worker's CPU time per request read from
 * `/proc/PID/task/*\/schedstat` (nanoseconds, every thread of the worker):
 * steadier than requests per second on a shared machine, since the load
 * generator runs in this process. The ratio large ÷ small of CPU per request
 * stands for the inverse ratio of requests per second on a saturated worker.
 *
 * Needs redis-server for the shared cases (skipped without). 127.0.0.1 only;
 * the upstream is a node:http server in its own process.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { createDevIdentityProvider } from '../src/idp/provider.js'
import { DEFAULT_DEV_USERS } from '../src/idp/users.js'
import { logInAtDevIdp } from '../test/fixtures/login.js'

const GROUPS = Number(process.env.BENCH_GROUPS ?? 320)
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 20_000)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const NODE_ARGS = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== '')
const cli = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url))
const work = mkdtempSync(join(tmpdir(), 'portcullis-sessions-'))
const children: ChildProcess[] = []

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  return port
}

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 400; i++) {
    try {
      await (await fetch(`http://127.0.0.1:${port}/`, { redirect: 'manual' })).arrayBuffer()
      return
    } catch {
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  throw new Error(`nothing answered on port ${port}`)
}

function start(command: string, args: string[]): ChildProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'inherit'] })
  children.push(child)
  return child
}

/** The one worker of `portcullis start --workers 1`: the child of the primary. */
function workerPid(primary: number): number {
  return Number(readFileSync(`/proc/${primary}/task/${primary}/children`, 'latin1').trim().split(' ')[0])
}

/** CPU time of every thread of `pid`, in nanoseconds. */
function cpuNs(pid: number): number {
  let ns = 0
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'latin1').split(' ')[0])
    } catch {
      // A thread that ended meanwhile.
    }
  }
  return ns
}

const manyGroups = {
  ...DEFAULT_DEV_USERS[0]!,
  username: 'many',
  password: 'many-password',
  sub: '0d9a4a3c-5f7e-4b1a-9c2d-6e8f0a1b2c3d',
  groups: Array.from({ length: GROUPS }, (_, i) => `grp-${String(i).padStart(4, '0')}-platform-eng`),
}

function config(port: number, adminPort: number, upstream: number, idp: IdpInfo, redisPort?: number): string {
  return `LoadBalancer: { Name: bench, Region: us-east-1 }
Listeners:
  - Port: ${port}
    Protocol: HTTP
    Portcullis: { Address: 127.0.0.1 }
    DefaultActions:
      - Type: authenticate-oidc
        AuthenticateOidcConfig:
          Issuer: ${idp.issuer}
          AuthorizationEndpoint: ${idp.endpoints.authorization}
          TokenEndpoint: ${idp.endpoints.token}
          UserInfoEndpoint: ${idp.endpoints.userinfo}
          ClientId: bench
          ClientSecret: bench-secret
          Scope: openid email profile groups
      - Type: forward
        TargetGroupArn: app
TargetGroups:
  - TargetGroupName: app
    Protocol: HTTP
    Targets: [{ Id: 127.0.0.1, Port: ${upstream} }]
    HealthCheckIntervalSeconds: 30
Portcullis:
  AllowInsecureHttpAuthentication: true
  StateDirectory: ${join(work, `state-${port}`)}
  Admin: { Address: 127.0.0.1, Port: ${adminPort} }
  AccessLog: { Format: json, Path: ${join(work, `access-${port}.log`)} }
${redisPort === undefined ? '' : `  SharedState: { Url: "redis://127.0.0.1:${redisPort}" }\n  SessionStore: shared\n`}`
}

interface IdpInfo {
  readonly issuer: string
  readonly endpoints: { authorization: string; token: string; userinfo: string }
}

interface Case {
  readonly name: string
  readonly port: number
  readonly worker: number
  readonly cookie: string
  readonly nsPerRequest: number[]
  errors: number
}

async function run(c: Case, amount: number, record = true): Promise<void> {
  const before = cpuNs(c.worker)
  const result = await autocannon({
    url: `http://127.0.0.1:${c.port}/`,
    connections: 50,
    amount,
    headers: { cookie: c.cookie },
  })
  const ok = result['2xx']
  if (ok < amount / 2) {
    throw new Error(`${c.name}: ${ok} of ${amount} requests answered 2xx (${JSON.stringify(result.statusCodeStats)})`)
  }
  // A few 500s (Redis's command timeout on an overloaded machine) are counted, not fatal.
  c.errors += amount - ok
  if (record) c.nsPerRequest.push((cpuNs(c.worker) - before) / amount)
}

async function main(): Promise<void> {
  const [upstreamPort, idpPort, cookiePort, cookieAdmin, sharedPort, sharedAdmin, redisPort] = await Promise.all(
    Array.from({ length: 7 }, freePort),
  )
  // The identity headers of a large session are larger than node:http's default 16 KB of headers.
  start(process.execPath, [
    '--max-http-header-size=131072',
    '-e',
    `require('node:http').createServer((q, r) => r.end('ok')).listen(${upstreamPort}, '127.0.0.1')`,
  ])
  const idp = await createDevIdentityProvider({
    port: idpPort!,
    users: [...DEFAULT_DEV_USERS, manyGroups],
    clients: [
      {
        clientId: 'bench',
        clientSecret: 'bench-secret',
        redirectUris: [
          `http://127.0.0.1:${cookiePort}/oauth2/idpresponse`,
          `http://127.0.0.1:${sharedPort}/oauth2/idpresponse`,
        ],
      },
    ],
  })
  const haveRedis = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].some((p) => existsSync(p))
  const gateways: { store: string; port: number; primary: ChildProcess }[] = []
  const gateway = (store: string, port: number, yaml: string) => {
    const file = join(work, `${store}.yaml`)
    writeFileSync(file, yaml)
    const primary = start(process.execPath, [
      ...NODE_ARGS,
      cli,
      'start',
      '--config',
      file,
      '--workers',
      '1',
      '--log-level',
      'warn',
    ])
    gateways.push({ store, port, primary })
  }
  gateway('cookie', cookiePort!, config(cookiePort!, cookieAdmin!, upstreamPort!, idp))
  if (haveRedis) {
    start('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'])
    await new Promise((r) => setTimeout(r, 300))
    gateway('shared', sharedPort!, config(sharedPort!, sharedAdmin!, upstreamPort!, idp, redisPort))
  }
  const cases: Case[] = []
  try {
    for (const g of gateways) {
      await waitForPort(g.port)
      const worker = workerPid(g.primary.pid!)
      for (const user of [DEFAULT_DEV_USERS[0]!, manyGroups]) {
        const cookie = await logInAtDevIdp(`http://127.0.0.1:${g.port}/`, user)
        const shards = cookie.split('; ').length
        const size = user === manyGroups ? `${GROUPS} groups` : 'small'
        cases.push({
          name: `${g.store}, ${size}, ${shards} shard(s), ${cookie.length} B`,
          port: g.port,
          worker,
          cookie,
          nsPerRequest: [],
          errors: 0,
        })
      }
    }
    for (const c of cases) await run(c, Math.min(REQUESTS, 5000), false) // warm-up
    for (let round = 0; round < ROUNDS; round++) for (const c of cases) await run(c, REQUESTS)
  } finally {
    await idp.close()
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!
  const [l1] = loadavg()
  console.log(
    `\nportcullis sessions benchmark: 1 worker, node ${process.version}, ${REQUESTS} requests × ${ROUNDS} rounds per case, load average ${l1!.toFixed(2)}\n`,
  )
  console.log('| case | worker CPU µs/request (median) | rounds | ÷ small of the same store | non-2xx |')
  console.log('| --- | ---: | --- | ---: | ---: |')
  for (let i = 0; i < cases.length; i++) {
    const c = cases[i]!
    const small = cases[i - (i % 2)]!
    console.log(
      `| ${c.name} | ${(median(c.nsPerRequest) / 1000).toFixed(1)} | ${c.nsPerRequest.map((n) => (n / 1000).toFixed(1)).join(' / ')} | ${(median(c.nsPerRequest) / median(small.nsPerRequest)).toFixed(2)} | ${c.errors} |`,
    )
  }
  if (!haveRedis) console.log('\n(shared sessions skipped: redis-server not installed)')
}

try {
  await main()
} finally {
  for (const child of children) child.kill('SIGTERM')
  await Promise.all(children.map((c) => (c.exitCode === null && c.signalCode === null ? once(c, 'exit') : undefined)))
  if (process.env.BENCH_KEEP_TEMP === undefined) rmSync(work, { recursive: true, force: true })
}
