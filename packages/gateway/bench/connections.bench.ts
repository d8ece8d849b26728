/**
 * `node --import tsx bench/connections.bench.ts` (from packages/gateway): one
 * Portcullis worker holding many connections. It measures the request rate
 * of other clients (wrk, 5 s) and the worker's resident memory before and
 * while it holds BENCH_IDLE (10,000) idle keep-alive client connections —
 * each has had one request answered — and BENCH_WEBSOCKETS (1,000) open
 * WebSockets tunnelled to a target, and reports memory per 1,000 of each.
 *
 * Needs nginx (the HTTP upstream) and wrk; 127.0.0.1 only. The WebSocket
 * target is a `ws` server in its own process.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect, createServer, type Socket } from 'node:net'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import WebSocket from 'ws'

const IDLE = Number(process.env.BENCH_IDLE ?? 10_000)
const WEBSOCKETS = Number(process.env.BENCH_WEBSOCKETS ?? 1000)
// e.g. "--cpu-prof --cpu-prof-dir=DIR" to profile the gateway while it holds the connections.
const NODE_ARGS = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== '')
const cli = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url))
const work = mkdtempSync(join(tmpdir(), 'portcullis-connections-'))
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
      await (await fetch(`http://127.0.0.1:${port}/`)).arrayBuffer()
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
  const children = readFileSync(`/proc/${primary}/task/${primary}/children`, 'latin1').trim().split(' ')
  return Number(children[0])
}

function rssMiB(pid: number): number {
  const kib = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'latin1'))![1]
  return Number(kib) / 1024
}

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return Number(fields[11]) + Number(fields[12])
}

/** wrk for 5 s: requests/s, and the worker's CPU µs per request (ticks of 10 ms), steadier on a shared machine. */
async function wrkRate(port: number, worker: number): Promise<{ rps: number; cpuUs: number }> {
  const before = cpuTicks(worker)
  const child = spawn('wrk', ['-t1', '-c50', '-d5s', `http://127.0.0.1:${port}/`], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let out = ''
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString()
  })
  await once(child, 'exit')
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? Number.NaN)
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? Number.NaN),
    cpuUs: ((cpuTicks(worker) - before) * 10_000) / requests,
  }
}

/** Opens `count` keep-alive connections, each with one request answered, 200 at a time. */
async function openIdle(port: number, count: number): Promise<Socket[]> {
  const sockets: Socket[] = []
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1')
      socket.once('error', reject)
      socket.write('GET / HTTP/1.1\r\nHost: bench\r\n\r\n')
      socket.once('data', () => {
        sockets.push(socket)
        resolve()
      })
    })
  for (let i = 0; i < count; i += 200) await Promise.all(Array.from({ length: Math.min(200, count - i) }, one))
  return sockets
}

async function openWebSockets(port: number, count: number): Promise<WebSocket[]> {
  const sockets: WebSocket[] = []
  const one = async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`)
    await once(ws, 'open')
    sockets.push(ws)
  }
  for (let i = 0; i < count; i += 100) await Promise.all(Array.from({ length: Math.min(100, count - i) }, one))
  return sockets
}

async function main(): Promise<void> {
  const upstreamPort = await freePort()
  const wsPort = await freePort()
  const httpPort = await freePort()
  const wsListenerPort = await freePort()
  const adminPort = await freePort()
  writeFileSync(
    join(work, 'nginx.conf'),
    `worker_processes 1; daemon off; pid ${work}/nginx.pid; error_log ${work}/nginx-error.log warn;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000; client_body_temp_path ${work}/b; proxy_temp_path ${work}/p;
  fastcgi_temp_path ${work}/f; uwsgi_temp_path ${work}/u; scgi_temp_path ${work}/s;
  server { listen 127.0.0.1:${upstreamPort}; location / { return 200 ok; } } }
`,
  )
  start('nginx', ['-c', join(work, 'nginx.conf'), '-p', work])
  const wsTarget = `const { WebSocketServer } = require('ws'); const s = require('node:http').createServer((q, r) => r.end('ok')); new WebSocketServer({ server: s }); s.listen(${wsPort}, '127.0.0.1')`
  start(process.execPath, ['-e', wsTarget])
  writeFileSync(
    join(work, 'portcullis.yaml'),
    `LoadBalancer: { Name: bench, Region: us-east-1 }
Listeners:
  - { Port: ${httpPort}, Protocol: HTTP, Portcullis: { Address: 127.0.0.1 }, DefaultActions: [{ Type: forward, TargetGroupArn: app }] }
  - { Port: ${wsListenerPort}, Protocol: HTTP, Portcullis: { Address: 127.0.0.1 }, DefaultActions: [{ Type: forward, TargetGroupArn: ws }] }
TargetGroups:
  - { TargetGroupName: app, Protocol: HTTP, Targets: [{ Id: 127.0.0.1, Port: ${upstreamPort} }], HealthCheckIntervalSeconds: 30 }
  - { TargetGroupName: ws, Protocol: HTTP, Targets: [{ Id: 127.0.0.1, Port: ${wsPort} }], HealthCheckIntervalSeconds: 30 }
Portcullis:
  StateDirectory: ${join(work, 'state')}
  Admin: { Address: 127.0.0.1, Port: ${adminPort} }
  AccessLog: { Format: json, Path: ${join(work, 'access.log')} }
`,
  )
  const primary = start(process.execPath, [
    ...NODE_ARGS,
    cli,
    'start',
    '--config',
    join(work, 'portcullis.yaml'),
    '--workers',
    '1',
    '--log-level',
    'warn',
  ])
  await waitForPort(upstreamPort)
  await waitForPort(wsPort)
  await waitForPort(httpPort)
  await waitForPort(wsListenerPort)
  const worker = workerPid(primary.pid!)

  await wrkRate(httpPort, worker) // warm-up
  const rateBefore = await wrkRate(httpPort, worker)
  const rssBefore = rssMiB(worker)
  const idle = await openIdle(httpPort, IDLE)
  const rssIdle = rssMiB(worker)
  const sockets = await openWebSockets(wsListenerPort, WEBSOCKETS)
  const rssBoth = rssMiB(worker)
  const rateDuring = await wrkRate(httpPort, worker)
  const stillOpen = idle.filter((s) => !s.destroyed).length
  const wsOpen = sockets.filter((s) => s.readyState === WebSocket.OPEN).length
  for (const s of idle) s.destroy()
  for (const s of sockets) s.terminate()
  // Measured again once they are gone, so that a change of the machine's load is not taken for their cost.
  await new Promise((r) => setTimeout(r, 1000))
  const rateAfter = await wrkRate(httpPort, worker)

  const [l1, l5] = loadavg()
  console.log(
    `\nportcullis connections benchmark: 1 worker, node ${process.version}, load average ${l1!.toFixed(2)} (1 min), ${l5!.toFixed(2)} (5 min)\n`,
  )
  console.log('| measurement | value |')
  console.log('| --- | ---: |')
  console.log(`| worker RSS before, MiB | ${rssBefore.toFixed(1)} |`)
  console.log(`| + ${IDLE} idle keep-alive connections, MiB | ${rssIdle.toFixed(1)} |`)
  console.log(`| + ${WEBSOCKETS} open WebSockets, MiB | ${rssBoth.toFixed(1)} |`)
  console.log(`| per 1,000 idle keep-alive connections, MiB | ${(((rssIdle - rssBefore) * 1000) / IDLE).toFixed(2)} |`)
  console.log(
    `| per 1,000 WebSockets (client + target socket), MiB | ${(((rssBoth - rssIdle) * 1000) / WEBSOCKETS).toFixed(2)} |`,
  )
  console.log(`| still open at the end: idle / WebSockets | ${stillOpen} / ${wsOpen} |`)
  console.log(
    `| other clients' req/s before / while held / after | ${rateBefore.rps.toFixed(0)} / ${rateDuring.rps.toFixed(0)} / ${rateAfter.rps.toFixed(0)} |`,
  )
  console.log(`| ratio while held / before | ${(rateDuring.rps / rateBefore.rps).toFixed(2)} |`)
  console.log(
    `| worker CPU µs per request before / while held / after | ${rateBefore.cpuUs.toFixed(0)} / ${rateDuring.cpuUs.toFixed(0)} / ${rateAfter.cpuUs.toFixed(0)} |`,
  )
}

try {
  await main()
} finally {
  for (const child of children) child.kill('SIGTERM')
  await Promise.all(children.map((c) => (c.exitCode === null && c.signalCode === null ? once(c, 'exit') : undefined)))
  if (process.env.BENCH_KEEP_TEMP === undefined) rmSync(work, { recursive: true, force: true })
}
