/**
 * `npm run bench:gateway`: requests/s and latency, in one run on one machine,
 * for (a) the upstream directly, (b) through Portcullis forwarding, (c) nginx
 * `proxy_pass` to the same upstream with the same number of workers (when
 * nginx is installed) as the physical reference, and (d) an authenticated
 * request through Portcullis carrying a valid session cookie (when the auth
 * runtime is available). Prints a table with the ratios b/a, b/c and d/b.
 *
 * Every server runs in its own process so that the load generator (this
 * process) does not share an event loop with what it measures.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { Pool } from 'undici'
import { createDevIdentityProvider } from '../src/idp/provider.js'
import { logInAtDevIdp } from '../test/fixtures/login.js'

const DURATION_SECONDS = Number(process.env.BENCH_DURATION ?? 8)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50)
const WORKERS = Number(process.env.BENCH_WORKERS ?? 1)
const cli = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url))
const work = mkdtempSync(join(tmpdir(), 'portcullis-bench-'))
const children: ChildProcess[] = []

async function freePort(): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  return port
}

async function waitForPort(port: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/`)
      await res.arrayBuffer()
      return
    } catch {
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  throw new Error(`nothing answered on port ${port}`)
}

function startProcess(command: string, args: string[]): ChildProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'inherit'] })
  children.push(child)
  return child
}

interface Result {
  name: string
  rps: number
  p50: number
  p99: number
  errors: number
}

async function measure(name: string, url: string, headers: Record<string, string> = {}): Promise<Result> {
  // A short warm-up lets JIT, connection pools and caches settle.
  await autocannon({ url, connections: CONNECTIONS, duration: 1, headers })
  const r = await autocannon({ url, connections: CONNECTIONS, duration: DURATION_SECONDS, headers })
  return {
    name,
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    errors: r.errors + r.non2xx + r.timeouts,
  }
}

/** Requests per second of the moderate-load latency comparison of (b) and (d). */
const MODERATE_RATE = 500

/**
 * Latency at a moderate, fixed request rate (not saturation), with
 * microsecond resolution: autocannon reports whole milliseconds, too coarse
 * for an overhead measured in fractions of one.
 */
async function latencyAtModerateLoad(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ p50: number; p99: number }> {
  const { origin, pathname } = new URL(url)
  const pool = new Pool(origin, { connections: 4 })
  const samples: number[] = []
  const total = MODERATE_RATE * 4
  const started = performance.now()
  let next = 0
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++
      if (i >= total) return
      const due = started + (i * 1000) / MODERATE_RATE
      const wait = due - performance.now()
      if (wait > 0) await new Promise((r) => setTimeout(r, wait))
      const t0 = performance.now()
      const res = await pool.request({ path: pathname, method: 'GET', headers })
      await res.body.dump()
      if (i >= MODERATE_RATE) samples.push(performance.now() - t0) // the first second warms up
    }
  }
  await Promise.all(Array.from({ length: 8 }, worker))
  await pool.close()
  samples.sort((a, b) => a - b)
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]!
  return { p50: at(0.5), p99: at(0.99) }
}

function nginxAvailable(): boolean {
  return spawnSync('nginx', ['-v']).status === 0
}

async function main(): Promise<void> {
  const upstreamPort = await freePort()
  const upstreamCode = `require('node:http').createServer((q, s) => { s.writeHead(200, { 'content-type': 'text/plain', 'content-length': 2 }); s.end('ok') }).listen(${upstreamPort}, '127.0.0.1')`
  startProcess(process.execPath, ['-e', upstreamCode])
  await waitForPort(upstreamPort)

  const gatewayPort = await freePort()
  const authPort = await freePort()
  const adminPort = await freePort()
  // (d) logs in at a real OpenID provider; plain HTTP on loopback (the
  // development opt-in) keeps TLS out of the comparison with (b).
  const idp = await createDevIdentityProvider({
    clients: [
      {
        clientId: 'bench',
        clientSecret: 'bench-secret',
        redirectUris: [`http://127.0.0.1:${authPort}/oauth2/idpresponse`],
      },
    ],
  })
  const configPath = join(work, 'portcullis.yaml')
  writeFileSync(
    configPath,
    `LoadBalancer: { Name: bench, Region: us-east-1 }
Listeners:
  - Port: ${gatewayPort}
    Protocol: HTTP
    Portcullis: { Address: 127.0.0.1 }
    DefaultActions: [{ Type: forward, TargetGroupArn: app }]
  - Port: ${authPort}
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
      - Type: forward
        TargetGroupArn: app
TargetGroups:
  - TargetGroupName: app
    Protocol: HTTP
    Targets: [{ Id: 127.0.0.1, Port: ${upstreamPort} }]
    HealthCheckIntervalSeconds: 30
Portcullis:
  AllowInsecureHttpAuthentication: true
  StateDirectory: ${join(work, 'state')}
  Admin: { Address: 127.0.0.1, Port: ${adminPort} }
  AccessLog: { Format: json, Path: ${join(work, 'access.log')} }
`,
  )
  // BENCH_GATEWAY_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the gateway under the same load.
  const nodeArgs = (process.env.BENCH_GATEWAY_NODE_ARGS ?? '').split(' ').filter((a) => a !== '')
  startProcess(process.execPath, [
    ...nodeArgs,
    cli,
    'start',
    '--config',
    configPath,
    '--workers',
    String(WORKERS),
    '--log-level',
    'warn',
  ])
  await waitForPort(gatewayPort)

  const results: Result[] = []
  results.push(await measure('(a) upstream directly', `http://127.0.0.1:${upstreamPort}/`))
  results.push(await measure('(b) through Portcullis (forward)', `http://127.0.0.1:${gatewayPort}/`))

  const cookie = await logInAtDevIdp(`http://127.0.0.1:${authPort}/`)
  results.push(await measure('(d) through Portcullis, with a session', `http://127.0.0.1:${authPort}/`, { cookie }))
  const moderateB = await latencyAtModerateLoad(`http://127.0.0.1:${gatewayPort}/`)
  const moderateD = await latencyAtModerateLoad(`http://127.0.0.1:${authPort}/`, { cookie })
  await idp.close()

  if (nginxAvailable()) {
    const nginxPort = await freePort()
    const nginxConf = join(work, 'nginx.conf')
    writeFileSync(
      nginxConf,
      `worker_processes ${WORKERS};
daemon off;
pid ${join(work, 'nginx.pid')};
error_log ${join(work, 'nginx-error.log')} warn;
events { worker_connections 4096; }
http {
  access_log ${join(work, 'nginx-access.log')};
  client_body_temp_path ${work}/nginx-body;
  proxy_temp_path ${work}/nginx-proxy;
  upstream app { server 127.0.0.1:${upstreamPort}; keepalive 64; }
  server {
    listen 127.0.0.1:${nginxPort};
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; }
  }
}
`,
    )
    startProcess('nginx', ['-c', nginxConf, '-p', work])
    await waitForPort(nginxPort)
    results.push(await measure('(c) nginx proxy_pass', `http://127.0.0.1:${nginxPort}/`))
  }

  const byName = (prefix: string) => results.find((r) => r.name.startsWith(prefix))
  const a = byName('(a)')!
  const b = byName('(b)')!
  const c = byName('(c)')
  const d = byName('(d)')

  console.log(
    `\nportcullis gateway benchmark: ${CONNECTIONS} connections, ${DURATION_SECONDS}s per case, ${WORKERS} worker(s), node ${process.version}\n`,
  )
  console.log('| case | req/s | p50 ms | p99 ms | errors |')
  console.log('| --- | ---: | ---: | ---: | ---: |')
  for (const r of results) console.log(`| ${r.name} | ${Math.round(r.rps)} | ${r.p50} | ${r.p99} | ${r.errors} |`)
  console.log('')
  console.log('| ratio | value | aim |')
  console.log('| --- | ---: | --- |')
  console.log(`| b/a (Portcullis vs direct) | ${(b.rps / a.rps).toFixed(2)} | — |`)
  if (c !== undefined) console.log(`| b/c (Portcullis vs nginx) | ${(b.rps / c.rps).toFixed(2)} | ≥ 0.6 |`)
  else console.log('| b/c (Portcullis vs nginx) | n/a: nginx is not installed | ≥ 0.6 |')
  if (d !== undefined) console.log(`| d/b (authenticated vs forward) | ${(d.rps / b.rps).toFixed(2)} | ≥ 0.8 |`)
  console.log('')
  console.log(`| at ${MODERATE_RATE} req/s | p50 ms | p99 ms |`)
  console.log('| --- | ---: | ---: |')
  console.log(`| (b) forward | ${moderateB.p50.toFixed(3)} | ${moderateB.p99.toFixed(3)} |`)
  console.log(`| (d) with a session | ${moderateD.p50.toFixed(3)} | ${moderateD.p99.toFixed(3)} |`)
  console.log(
    `| d − b (aim: p99 overhead < 1 ms) | ${(moderateD.p50 - moderateB.p50).toFixed(3)} | ${(moderateD.p99 - moderateB.p99).toFixed(3)} |`,
  )
}

try {
  await main()
} finally {
  for (const child of children) child.kill('SIGTERM')
  await Promise.all(children.map((child) => (child.exitCode === null ? once(child, 'exit') : undefined)))
}
