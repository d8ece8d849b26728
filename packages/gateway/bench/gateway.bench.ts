/**
 * `npm run bench:gateway`: Portcullis against its peers, in one run on one
 * machine, every proxy in its own process tree with its access log on and
 * the same number of workers:
 *
 * - (a) the upstream directly (nginx serving a fixed 2-byte body: a C server,
 *   so the proxies are the bottleneck);
 * - (n) nginx `proxy_pass` (upstream keep-alive, X-Forwarded-For);
 * - (m) the minimal Node proxy of `minimal-proxy.ts`: node:http + undici
 *   `Pool.dispatch`, the limit of Portcullis's own stack;
 * - (b) Portcullis forwarding;
 * - (d) Portcullis with `authenticate-oidc` and a real session from the
 *   development IdP;
 * - (o) Apache httpd (mpm_event) + mod_auth_openidc against the same IdP with
 *   a real session (server-side session cache);
 * - (s) Portcullis as (d) with `SessionStore: shared`: the session in a
 *   redis-server the bench starts (skipped when redis-server is missing);
 * - (g) Portcullis forwarding as (b), its access log delivered as ALB's
 *   5-minute gzip files (`AccessLog.Directory`) instead of appended to one
 *   file: the cost of compression (libuv's thread pool, counted in the
 *   process tree's CPU).
 * - (r1), (r100), (r1000) (`BENCH_CASES` key `r`): Portcullis forwarding
 *   on listeners of 1, 100 and 1,000 rules, a request matching the last;
 *   the rules' conditions cycle through host, path, header and query.
 * - (hm), (hb) (`BENCH_CASES` key `h`): the minimal Node proxy and Portcullis
 *   forwarding, each sent the real-world browser request of
 *   {@link browserHeaders} (60 headers with Host, 8 KB of cookies for other
 *   applications on the same site) instead of wrk's bare GET.
 * - HTTP/2 and gRPC (`BENCH_CASES` key `h2`; load from `h2load`, Debian's
 *   nghttp2-client, over TLS, each case at `-m 1` and `-m 32` streams per
 *   connection on BENCH_H2_CONNECTIONS (4) connections):
 *   (h2m) the minimal node:http2 → undici proxy of `minimal-http2.ts`, the
 *   limit of Portcullis's stack; (h2b) Portcullis's HTTPS listener
 *   forwarding h2 to the HTTP1 target group (HTTP/1.1 to the nginx
 *   upstream); (h2n) nginx `listen … ssl http2` + `proxy_pass`;
 *   (gm) the minimal node:http2 → node:http2 gRPC forwarder; (gb) Portcullis
 *   forwarding gRPC unary calls to a `ProtocolVersion: GRPC` target group;
 *   (gn) nginx `grpc_pass`. The gRPC upstream is the node:http2 echo of
 *   `minimal-http2.ts` (cleartext, prior knowledge), one process, not pinned.
 *   h2load reports no percentiles: these rows give the mean and max time per
 *   request instead of p50/p99.
 *
 * The load generator is `wrk` when installed (a separate C process, one
 * thread), else autocannon in this process — which takes a large share of
 * the CPU and compresses every ratio, so the run says so. The cases are
 * interleaved over several rounds and the medians reported, so that a noisy
 * neighbour hurts every case alike; the steadiest figure is the CPU time the
 * proxy's process tree spent per request, read from /proc.
 *
 * Settings: BENCH_WORKERS (default "1,2"), BENCH_ROUNDS (3), BENCH_DURATION
 * seconds per measurement (5), BENCH_CONNECTIONS (50), BENCH_CASES (e.g.
 * "m,b,d" to run a subset), BENCH_NODE (the node binary for Portcullis and
 * the minimal proxy, e.g. Node 24), BENCH_TASKSET (a CPU list every proxy is
 * pinned to with `taskset -c`), BENCH_NODE_ARGS (given to both Node proxies,
 * e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile them under the same
 * load: one profile per process, named by pid), BENCH_KEEP_TEMP (keep the
 * temporary directory with the generated configurations and the logs).
 *
 * Only 127.0.0.1 and unprivileged ports; nginx and Apache get configurations
 * generated into a temporary directory with their own pid and log files.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { connect, createServer } from 'node:net'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { Pool, request } from 'undici'
import { createDevIdentityProvider } from '../src/idp/provider.js'
import { ensureLeafCertificate } from '../src/tls/local-ca.js'
import { logInAtDevIdp } from '../test/fixtures/login.js'

const WORKER_COUNTS = (process.env.BENCH_WORKERS ?? '1,2').split(',').map(Number)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const DURATION_SECONDS = Number(process.env.BENCH_DURATION ?? 5)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50)
const CASES = new Set((process.env.BENCH_CASES ?? 'a,n,m,b,d,o,s,g,r,h,h2').split(','))
/** Connections h2load opens for the `h2` cases; each carries `-m` concurrent streams. */
const H2_CONNECTIONS = Number(process.env.BENCH_H2_CONNECTIONS ?? 4)
/** The `-m` (concurrent streams per connection) of each `h2` case. */
const H2_STREAMS = [1, 32] as const
/** Rule counts of the rules cases (key `r`). */
const RULE_COUNTS = [1, 100, 1000] as const
const NODE = process.env.BENCH_NODE ?? process.execPath
const TASKSET = process.env.BENCH_TASKSET
const NODE_ARGS = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== '')
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim())
const APACHE_MODULES = '/usr/lib/apache2/modules'

const cli = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url))
const minimalProxy = fileURLToPath(new URL('./minimal-proxy.ts', import.meta.url))
const minimalHttp2 = fileURLToPath(new URL('./minimal-http2.ts', import.meta.url))
const work = mkdtempSync(join(tmpdir(), 'portcullis-bench-'))
const asRoot = process.getuid?.() === 0
// nginx and Apache started as root drop their workers to an unprivileged user, which must reach the temp dir.
if (asRoot) chmodSync(work, 0o755)
const children: ChildProcess[] = []

function installed(command: string, args: string[]): boolean {
  return spawnSync(command, args).status === 0
}
// `wrk --version` exits 1: only a missing binary is an error.
const haveWrk = spawnSync('wrk', ['--version']).error === undefined
const haveNginx = installed('nginx', ['-v'])
const haveH2load = installed('h2load', ['--version'])
const haveRedis = installed('redis-server', ['--version'])
const haveApache = installed('apache2', ['-v']) && existsSync(join(APACHE_MODULES, 'mod_auth_openidc.so'))

/** `count` distinct free ports: all held open until every one is chosen, so none is handed out twice. */
async function freePorts(count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => createServer().listen(0, '127.0.0.1'))
  await Promise.all(servers.map((server) => once(server, 'listening')))
  const ports = servers.map((server) => (server.address() as { port: number }).port)
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))))
  return ports
}

async function waitForPort(port: number, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/`, { redirect: 'manual' })
      await res.arrayBuffer()
      return
    } catch {
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  throw new Error(`nothing answered on port ${port}`)
}

/** Writes `yaml` to `file` in the work directory and runs `portcullis start` on it. */
function startPortcullis(file: string, yaml: string, workers: number): ChildProcess {
  const configPath = join(work, file)
  writeFileSync(configPath, yaml)
  return start(NODE, [
    ...NODE_ARGS,
    cli,
    'start',
    '--config',
    configPath,
    '--workers',
    String(workers),
    '--log-level',
    'warn',
  ])
}

/** Waits until something accepts TCP connections on `port` (for servers that do not speak HTTP). */
async function waitForTcp(port: number, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy()
        resolve(true)
      })
      socket.on('error', () => resolve(false))
    })
    if (open) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`nothing listens on port ${port}`)
}

function start(command: string, args: string[], pinned = true): ChildProcess {
  const [cmd, argv] = pinned && TASKSET !== undefined ? ['taskset', ['-c', TASKSET, command, ...args]] : [command, args]
  const child = spawn(cmd, argv, { stdio: ['ignore', 'ignore', 'inherit'] })
  children.push(child)
  return child
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGTERM')
  await exited
}

/** Ticks of CPU (user + system) of `pid` and every live descendant, from /proc. */
function treeCpuTicks(pid: number): number {
  const parents = new Map<number, number>()
  const ticks = new Map<number, number>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    let stat: string
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'latin1')
    } catch {
      continue // exited meanwhile
    }
    // Fields after the parenthesised command name (which may hold spaces): state ppid … utime(14) stime(15).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    parents.set(Number(entry), Number(fields[1]))
    ticks.set(Number(entry), Number(fields[11]) + Number(fields[12]))
  }
  let total = 0
  for (const [p, t] of ticks) {
    for (let q: number | undefined = p; q !== undefined && q > 1; q = parents.get(q)) {
      if (q === pid) {
        total += t
        break
      }
    }
  }
  return total
}

interface Sample {
  rps: number
  p50: number
  p99: number
  errors: number
  cpuPerRequestUs: number | undefined
}

function parseDuration(text: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(text)
  if (m === null) throw new Error(`wrk latency '${text}'`)
  const v = Number(m[1])
  return m[2] === 'us' ? v / 1000 : m[2] === 'ms' ? v : v * 1000
}

async function wrk(
  url: string,
  seconds: number,
  headers: Record<string, string>,
): Promise<Omit<Sample, 'cpuPerRequestUs'> & { requests: number }> {
  const args = ['-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency']
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}: ${v}`)
  args.push(url)
  const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString()
  })
  await once(child, 'exit')
  const num = (re: RegExp): number => Number(re.exec(out)?.[1] ?? Number.NaN)
  const p = (q: string): number => parseDuration(new RegExp(`^\\s+${q}%\\s+(\\S+)`, 'm').exec(out)?.[1] ?? 'NaNs')
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
  return {
    requests: num(/(\d+) requests in/),
    rps: num(/Requests\/sec:\s+([\d.]+)/),
    p50: p('50'),
    p99: p('99'),
    errors:
      (socketErrors === null ? 0 : socketErrors.slice(1).reduce((s, n) => s + Number(n), 0)) +
      (Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0) || 0),
  }
}

async function loadOnce(url: string, seconds: number, headers: Record<string, string>) {
  if (haveWrk) return wrk(url, seconds, headers)
  const r = await autocannon({ url, connections: CONNECTIONS, duration: seconds, headers })
  return {
    requests: r.requests.total,
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    errors: r.errors + r.non2xx + r.timeouts,
  }
}

/** One h2load run over TLS: `streams` concurrent streams on each of H2_CONNECTIONS connections; POSTs `dataFile` when given. */
async function h2load(
  url: string,
  seconds: number,
  load: H2Load,
): Promise<Omit<Sample, 'cpuPerRequestUs'> & { requests: number }> {
  const args = ['-t1', `-c${H2_CONNECTIONS}`, `-m${load.streams}`, `-D${seconds}`]
  if (load.dataFile !== undefined) args.push('-d', load.dataFile)
  for (const [k, v] of Object.entries(load.headers ?? {})) args.push('-H', `${k}: ${v}`)
  args.push(url)
  const child = spawn('h2load', args, { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString()
  })
  await once(child, 'exit')
  const counts =
    /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(
      out,
    )
  const status = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out)
  // "time for request:  min  max  mean  sd  +/- sd"
  const time = /time for request:\s+(\S+)\s+(\S+)\s+(\S+)/.exec(out)
  if (counts === null || status === null || time === null) throw new Error(`h2load output not understood:\n${out}`)
  return {
    requests: Number(counts[3]),
    rps: Number(/finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(out)?.[1] ?? Number.NaN),
    p50: parseDuration(time[3]!),
    p99: parseDuration(time[2]!),
    errors: Number(counts[5]) + Number(counts[6]) + Number(counts[7]) + Number(status[3]) + Number(status[4]),
  }
}

/** How an `h2` case is loaded by h2load. */
interface H2Load {
  readonly streams: number
  readonly dataFile?: string
  readonly headers?: Record<string, string>
}

interface Case {
  readonly key: string
  readonly name: string
  url: string
  headers: Record<string, string>
  /** Root of the process tree whose CPU is counted (none for the upstream itself). */
  pid: number | undefined
  /** Set for the `h2` cases: loaded by h2load (p50/p99 then hold the mean/max). */
  h2?: H2Load
  samples: Sample[]
}

async function measure(c: Case, seconds: number): Promise<Sample> {
  const before = c.pid === undefined ? 0 : treeCpuTicks(c.pid)
  const r = c.h2 === undefined ? await loadOnce(c.url, seconds, c.headers) : await h2load(c.url, seconds, c.h2)
  const after = c.pid === undefined ? 0 : treeCpuTicks(c.pid)
  return {
    rps: r.rps,
    p50: r.p50,
    p99: r.p99,
    errors: r.errors,
    cpuPerRequestUs: c.pid === undefined ? undefined : (((after - before) / CLK_TCK) * 1e6) / r.requests,
  }
}

/** Requests per second of the fixed-rate latency comparison. */
const MODERATE_RATE = 500

/**
 * Latency at a fixed, moderate request rate (not saturation) with
 * microsecond resolution, from this process over 4 keep-alive connections.
 * `warmupSeconds` 0 measures from the first request: the first second after
 * a start.
 */
async function latencyAtRate(
  url: string,
  headers: Record<string, string>,
  seconds: number,
  warmupSeconds: number,
): Promise<{ p50: number; p99: number; max: number }> {
  const { origin, pathname } = new URL(url)
  const pool = new Pool(origin, { connections: 4 })
  const samples: number[] = []
  const total = MODERATE_RATE * (seconds + warmupSeconds)
  const started = performance.now()
  let next = 0
  const caller = async (): Promise<void> => {
    for (;;) {
      const i = next++
      if (i >= total) return
      const wait = started + (i * 1000) / MODERATE_RATE - performance.now()
      if (wait > 0) await new Promise((r) => setTimeout(r, wait))
      const t0 = performance.now()
      const res = await pool.request({ path: pathname, method: 'GET', headers })
      await res.body.dump()
      if (i >= MODERATE_RATE * warmupSeconds) samples.push(performance.now() - t0)
    }
  }
  await Promise.all(Array.from({ length: 8 }, caller))
  await pool.close()
  samples.sort((x, y) => x - y)
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]!
  return { p50: at(0.5), p99: at(0.99), max: samples[samples.length - 1]! }
}

function nginxConfig(workers: number, body: string, name: string): string {
  return `worker_processes ${workers};
daemon off;
${asRoot ? 'user root;' : ''}
pid ${join(work, `${name}.pid`)};
error_log ${join(work, `${name}-error.log`)} warn;
events { worker_connections 4096; }
http {
  keepalive_requests 1000000;
  client_body_temp_path ${work}/${name}-body;
  proxy_temp_path ${work}/${name}-proxy;
  fastcgi_temp_path ${work}/${name}-fastcgi;
  uwsgi_temp_path ${work}/${name}-uwsgi;
  scgi_temp_path ${work}/${name}-scgi;
${body}
}
`
}

function apacheConfig(port: number, workers: number, upstreamPort: number, idpIssuer: string): string {
  // log_config and unixd are built into Debian's apache2.
  const modules = ['mpm_event', 'authn_core', 'authz_core', 'authz_user', 'auth_openidc', 'proxy', 'proxy_http']
  return `ServerRoot ${work}
ServerName 127.0.0.1
Listen 127.0.0.1:${port}
PidFile ${join(work, 'apache.pid')}
DefaultRuntimeDir ${work}
ErrorLog ${join(work, 'apache-error.log')}
LogLevel warn
${modules.map((m) => `LoadModule ${m}_module ${APACHE_MODULES}/mod_${m}.so`).join('\n')}
${asRoot ? 'User www-data\nGroup www-data' : ''}
StartServers ${workers}
ServerLimit ${workers}
ThreadsPerChild 64
MaxRequestWorkers ${64 * workers}
MinSpareThreads 1
MaxSpareThreads ${64 * workers + 64}
KeepAlive On
MaxKeepAliveRequests 0
LogFormat "%h %l %u %t \\"%r\\" %>s %b %D" timed
BufferedLogs On
CustomLog ${join(work, 'apache-access.log')} timed
OIDCProviderMetadataURL ${idpIssuer}/.well-known/openid-configuration
OIDCClientID bench-apache
OIDCClientSecret bench-secret
OIDCRedirectURI http://127.0.0.1:${port}/oauth2/idpresponse
OIDCCryptoPassphrase ${randomBytes(16).toString('hex')}
OIDCScope "openid email profile"
OIDCSessionType server-cache
OIDCCacheType shm
<Location />
  AuthType openid-connect
  Require valid-user
</Location>
ProxyPass /oauth2/idpresponse !
ProxyPass / http://127.0.0.1:${upstreamPort}/ keepalive=On
`
}

function portcullisConfig(
  gatewayPort: number,
  authPort: number,
  adminPort: number,
  upstreamPort: number,
  idp: {
    issuer: string
    endpoints: { authorization: string; token: string; userinfo: string }
  },
  shared?: { name: string; redisPort: number },
  ruleListeners: readonly { port: number; count: number }[] = [],
): string {
  const files = shared?.name ?? 'cookie'
  const store =
    shared === undefined
      ? ''
      : `  SharedState: { Url: "redis://127.0.0.1:${shared.redisPort}" }\n  SessionStore: shared\n`
  return `LoadBalancer: { Name: bench, Region: us-east-1 }
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
${ruleListeners.map((l) => ruleListener(l.port, l.count)).join('')}TargetGroups:
  - TargetGroupName: app
    Protocol: HTTP
    Targets: [{ Id: 127.0.0.1, Port: ${upstreamPort} }]
    HealthCheckIntervalSeconds: 30
Portcullis:
  AllowInsecureHttpAuthentication: true
  StateDirectory: ${join(work, `state-${files}`)}
  Admin: { Address: 127.0.0.1, Port: ${adminPort} }
  AccessLog: { Format: json, Path: ${join(work, `access-${files}.log`)} }
${store}`
}

/** (g): the forward listener of {@link portcullisConfig}, its access log as ALB's gzip delivery files. */
function deliveryConfig(gatewayPort: number, adminPort: number, upstreamPort: number): string {
  return `LoadBalancer: { Name: bench, Region: us-east-1 }
Listeners:
  - Port: ${gatewayPort}
    Protocol: HTTP
    Portcullis: { Address: 127.0.0.1 }
    DefaultActions: [{ Type: forward, TargetGroupArn: app }]
TargetGroups:
  - TargetGroupName: app
    Protocol: HTTP
    Targets: [{ Id: 127.0.0.1, Port: ${upstreamPort} }]
    HealthCheckIntervalSeconds: 30
Portcullis:
  StateDirectory: ${join(work, 'state-delivery')}
  Admin: { Address: 127.0.0.1, Port: ${adminPort} }
  AccessLog: { Directory: ${join(work, 'alb-logs')}, IntervalMinutes: 5 }
`
}

/**
 * (h2b) and (gb): two HTTPS listeners (h2 by ALPN), one forwarding to the
 * HTTP1 target group of the nginx upstream, one to a `ProtocolVersion: GRPC`
 * group of the gRPC echo (health checks off, as the gRPC bench needs none).
 */
function http2Config(
  ports: { h2: number; grpc: number; admin: number; upstream: number; grpcUpstream: number },
  tls: { certPath: string; keyPath: string },
): string {
  const listener = (port: number, group: string) => `  - Port: ${port}
    Protocol: HTTPS
    Certificates: [{ CertificateFile: "${tls.certPath}", PrivateKeyFile: "${tls.keyPath}" }]
    Portcullis: { Address: 127.0.0.1 }
    DefaultActions: [{ Type: forward, TargetGroupArn: ${group} }]
`
  return `LoadBalancer: { Name: bench, Region: us-east-1 }
Listeners:
${listener(ports.h2, 'app')}${listener(ports.grpc, 'grpc')}TargetGroups:
  - TargetGroupName: app
    Protocol: HTTP
    Targets: [{ Id: 127.0.0.1, Port: ${ports.upstream} }]
    HealthCheckIntervalSeconds: 30
  - TargetGroupName: grpc
    Protocol: HTTP
    ProtocolVersion: GRPC
    HealthCheckEnabled: false
    Targets: [{ Id: 127.0.0.1, Port: ${ports.grpcUpstream} }]
Portcullis:
  StateDirectory: ${join(work, 'state-h2')}
  Admin: { Address: 127.0.0.1, Port: ${ports.admin} }
  AccessLog: { Format: json, Path: ${join(work, 'access-h2.log')} }
`
}

/** (h2n) and (gn): nginx terminating TLS with h2, `proxy_pass` to the upstream and `grpc_pass` to the gRPC echo. */
function nginxHttp2Body(
  ports: { h2: number; grpc: number; upstream: number; grpcUpstream: number },
  tls: { certPath: string; keyPath: string },
): string {
  const server = (port: number, location: string) => `  server {
    listen 127.0.0.1:${port} ssl http2;
    ssl_certificate ${tls.certPath};
    ssl_certificate_key ${tls.keyPath};
    location / { ${location} }
  }`
  return `  access_log ${join(work, 'nginx-h2-access.log')} combined buffer=64k flush=1s;
  upstream app { server 127.0.0.1:${ports.upstream}; keepalive 64; }
  upstream grpcapp { server 127.0.0.1:${ports.grpcUpstream}; keepalive 64; }
${server(ports.h2, 'proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;')}
${server(ports.grpc, 'grpc_pass grpc://grpcapp; grpc_set_header X-Forwarded-For $proxy_add_x_forwarded_for;')}`
}

/** A gRPC request body: one length-prefixed message (uncompressed) of `payload`. */
function grpcFrame(payload: Buffer): Buffer {
  const head = Buffer.alloc(5)
  head.writeUInt32BE(payload.length, 1)
  return Buffer.concat([head, payload])
}

/**
 * A forward listener of `count` rules, whose conditions cycle through host,
 * path, header and query as real listeners' do; only the last rule, a
 * query-string condition `shard=<count>`, matches the request the case sends.
 */
function ruleListener(port: number, count: number): string {
  const rules: string[] = []
  for (let i = 1; i <= count; i++) {
    const condition =
      i === count || i % 4 === 0
        ? `{ Field: query-string, QueryStringConfig: { Values: [{ Key: shard, Value: "${i}" }] } }`
        : i % 4 === 1
          ? `{ Field: host-header, Values: ["svc${i}.example.com", "*.svc${i}.example.net"] }`
          : i % 4 === 2
            ? `{ Field: path-pattern, Values: ["/api/v${i}/*", "/app${i}"] }`
            : `{ Field: http-header, HttpHeaderConfig: { HttpHeaderName: x-tenant, Values: ["tenant-${i}", "t${i}-*"] } }`
    rules.push(
      `      - { Priority: ${i}, Conditions: [${condition}], Actions: [{ Type: forward, TargetGroupArn: app }] }\n`,
    )
  }
  return `  - Port: ${port}
    Protocol: HTTP
    Portcullis: { Address: 127.0.0.1 }
    DefaultActions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: "404" } }]
    Rules:
${rules.join('')}`
}

/**
 * The login flow at Apache, as `logInAtDevIdp` does it at Portcullis but
 * with undici's `request`: mod_auth_openidc answers 401 instead of
 * redirecting to the IdP unless the client looks like a browser navigating
 * (`Accept: text/html`, and no `Sec-Fetch-Mode: cors`, which `fetch` always
 * sends). Returns the `mod_auth_openidc_session` cookie.
 */
async function logInAtApache(start: string): Promise<string> {
  const jars = new Map<string, Map<string, string>>()
  const jar = (url: string) => {
    const host = new URL(url).host
    if (!jars.has(host)) jars.set(host, new Map())
    return jars.get(host)!
  }
  const go = async (url: string, post?: string): Promise<string | undefined> => {
    const cookies = [...jar(url)].map(([k, v]) => `${k}=${v}`).join('; ')
    const res = await request(url, {
      method: post === undefined ? 'GET' : 'POST',
      headers: {
        accept: 'text/html',
        ...(cookies === '' ? {} : { cookie: cookies }),
        ...(post === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' }),
      },
      body: post,
    })
    await res.body.dump()
    const setCookie = res.headers['set-cookie']
    for (const line of setCookie === undefined ? [] : Array.isArray(setCookie) ? setCookie : [setCookie]) {
      const pair = line.split(';')[0]!
      const eq = pair.indexOf('=')
      jar(url).set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim())
    }
    const location = res.headers.location
    return typeof location === 'string' ? new URL(location, url).href : undefined
  }
  let url = start
  for (let hop = 0; hop < 12; hop++) {
    let next = await go(url)
    if (/\/interaction\/[^/]+$/.test(new URL(url).pathname)) {
      next = await go(`${url}/login`, new URLSearchParams({ username: 'alice', password: 'alice-password' }).toString())
    }
    if (next === undefined || next === start) break
    url = next
  }
  const session = jar(start).get('mod_auth_openidc_session')
  if (session === undefined) throw new Error('the login at Apache did not produce a session cookie')
  return `mod_auth_openidc_session=${session}`
}

/**
 * The headers of the (h) cases: what a browser sends to an application
 * behind a load balancer shared with others — client hints, fetch metadata,
 * caching and tracing headers, and 8 KB of cookies set by the other
 * applications and analytics of the same site, which the proxy must pass on
 * untouched. 59 headers here; wrk adds Host, so 60 reach the proxy. The
 * values are fixed (derived from a counter), so every run sends the same bytes.
 */
function browserHeaders(): Record<string, string> {
  const token = (seed: string, length: number): string => {
    let out = ''
    for (let i = 0; out.length < length; i++) out += createHash('sha256').update(`${seed}/${i}`).digest('base64url')
    return out.slice(0, length)
  }
  const cookies: string[] = [
    `_ga=GA1.1.${token('ga', 10)}.1733580000`,
    `_ga_${token('ga4', 10).toUpperCase()}=GS1.1.1733580000.4.1.1733580500.0.0.0`,
    `_gid=GA1.2.${token('gid', 10)}.1733580000`,
    `_fbp=fb.1.1733580000000.${token('fbp', 10)}`,
    `ajs_anonymous_id=${token('ajs', 36)}`,
    `OptanonConsent=isGpcEnabled=0&datestamp=Mon+Dec+07+2026&version=202409.1.0&groups=C0001%3A1%2CC0002%3A1%2CC0003%3A1%2CC0004%3A0&hosts=${token('optanon', 300)}`,
    `intercom-session-${token('ic', 8)}=${token('ics', 120)}`,
    `XSRF-TOKEN=${token('xsrf', 64)}`,
  ]
  for (let i = 0; cookies.join('; ').length < 8192; i++) {
    cookies.push(`app${i}_session=${token(`app${i}`, 400)}`)
  }
  const cookie = cookies
    .join('; ')
    .slice(0, 8192)
    .replace(/;\s*\w*$/, '')
  const headers: Record<string, string> = {
    'sec-ch-ua': '"Chromium";v="131", "Not_A Brand";v="24", "Google Chrome";v="131"',
    'sec-ch-ua-mobile': '?0',
    'sec-ch-ua-platform': '"Linux"',
    'upgrade-insecure-requests': '1',
    'user-agent':
      'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
    accept:
      'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7',
    'sec-fetch-site': 'same-origin',
    'sec-fetch-mode': 'navigate',
    'sec-fetch-user': '?1',
    'sec-fetch-dest': 'document',
    referer: 'https://app.example.com/dashboard/overview?tab=activity',
    'accept-encoding': 'gzip, deflate, br, zstd',
    'accept-language': 'en-GB,en-US;q=0.9,en;q=0.8,de;q=0.7',
    'cache-control': 'max-age=0',
    priority: 'u=0, i',
    dnt: '1',
    'if-none-match': `W/"${token('etag', 27)}"`,
    'if-modified-since': 'Mon, 07 Dec 2026 10:00:00 GMT',
    traceparent: `00-${Buffer.from(token('tp', 16)).toString('hex').slice(0, 32)}-${Buffer.from(token('tps', 8)).toString('hex').slice(0, 16)}-01`,
    tracestate: `rojo=00f067aa0ba902b7,congo=${token('congo', 16)}`,
    baggage: 'userId=alice,serverNode=DF%2028,isProduction=false',
    'x-request-id': token('rid', 32),
    'x-correlation-id': token('cid', 32),
    'x-requested-with': 'XMLHttpRequest',
    'x-csrf-token': token('csrf', 44),
    'x-client-version': '4.18.2',
    'x-client-platform': 'web',
    'x-client-locale': 'en-GB',
    'x-client-timezone': 'Europe/London',
    'x-device-id': token('device', 36),
    'x-session-hint': token('hint', 24),
    'x-feature-flags': 'new-nav,beta-search,dark-mode',
    'x-experiment': 'checkout-v3:b',
    origin: 'https://app.example.com',
    pragma: 'no-cache',
    cookie,
  }
  // Headers that other layers of a real site add (CDN, WAF, front-end proxies): up to 59 in all.
  for (let i = 0; Object.keys(headers).length < 59; i++) {
    headers[`x-edge-meta-${i}`] = token(`edge${i}`, 24)
  }
  return headers
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((x, y) => x - y)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}
const fmt = (x: number | undefined, digits = 0): string =>
  x === undefined || Number.isNaN(x) ? 'n/a' : x.toFixed(digits)

async function runWorkers(workers: number, upstreamPort: number): Promise<void> {
  const [nginxPort, minimalPort, gatewayPort, authPort, adminPort, apachePort, idpPort] = (await freePorts(7)) as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ]
  const rulePorts = CASES.has('r') ? await freePorts(RULE_COUNTS.length) : []
  const ruleListeners = rulePorts.map((port, i) => ({ port, count: RULE_COUNTS[i]! }))
  const [sharedForwardPort, sharedPort, sharedAdminPort, redisPort] = (await freePorts(4)) as [
    number,
    number,
    number,
    number,
  ]
  const [deliveryPort, deliveryAdminPort] = (await freePorts(2)) as [number, number]
  const idp = await createDevIdentityProvider({
    port: idpPort,
    clients: [
      {
        clientId: 'bench',
        clientSecret: 'bench-secret',
        redirectUris: [
          `http://127.0.0.1:${authPort}/oauth2/idpresponse`,
          `http://127.0.0.1:${sharedPort}/oauth2/idpresponse`,
        ],
      },
      {
        clientId: 'bench-apache',
        clientSecret: 'bench-secret',
        redirectUris: [`http://127.0.0.1:${apachePort}/oauth2/idpresponse`],
      },
    ],
  })
  const started: ChildProcess[] = []
  const cases: Case[] = []
  const add = (key: string, name: string, port: number, pid: number | undefined): Case => {
    const c: Case = { key, name, url: `http://127.0.0.1:${port}/`, headers: {}, pid, samples: [] }
    cases.push(c)
    return c
  }
  const notes: string[] = []
  const firstSecond: { name: string; p50: number; p99: number; max: number }[] = []
  try {
    if (CASES.has('a')) add('a', '(a) upstream directly (nginx, fixed body)', upstreamPort, undefined)

    if (CASES.has('n')) {
      if (haveNginx) {
        const conf = join(work, `nginx-proxy-${workers}.conf`)
        writeFileSync(
          conf,
          nginxConfig(
            workers,
            `  access_log ${join(work, 'nginx-access.log')} combined buffer=64k flush=1s;
  upstream app { server 127.0.0.1:${upstreamPort}; keepalive 64; }
  server {
    listen 127.0.0.1:${nginxPort};
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; }
  }`,
            `nginx-proxy-${workers}`,
          ),
        )
        const child = start('nginx', ['-c', conf, '-p', work])
        started.push(child)
        await waitForPort(nginxPort)
        add('n', '(n) nginx proxy_pass', nginxPort, child.pid)
      } else notes.push('(n) nginx skipped: not installed (apt-get install nginx)')
    }

    if (CASES.has('m') || CASES.has('h')) {
      const child = start(NODE, [
        ...NODE_ARGS,
        '--import',
        'tsx',
        minimalProxy,
        String(minimalPort),
        String(upstreamPort),
        String(workers),
        join(work, 'minimal-access.log'),
      ])
      started.push(child)
      await waitForPort(minimalPort)
      firstSecond.push({
        name: '(m) minimal Node proxy',
        ...(await latencyAtRate(`http://127.0.0.1:${minimalPort}/`, {}, 1, 0)),
      })
      if (CASES.has('m')) add('m', '(m) minimal Node proxy (node:http + undici dispatch)', minimalPort, child.pid)
      if (CASES.has('h')) {
        add(
          'hm',
          '(hm) minimal Node proxy, browser request (60 headers, 8 KB cookies)',
          minimalPort,
          child.pid,
        ).headers = browserHeaders()
      }
    }

    if (CASES.has('b') || CASES.has('d') || CASES.has('r') || CASES.has('h')) {
      const child = startPortcullis(
        'portcullis.yaml',
        portcullisConfig(gatewayPort, authPort, adminPort, upstreamPort, idp, undefined, ruleListeners),
        workers,
      )
      started.push(child)
      await waitForPort(gatewayPort)
      await waitForPort(authPort)
      for (const { port, count } of ruleListeners) {
        const c = add(`r${count}`, `(r${count}) Portcullis forward, last of ${count} rule(s)`, port, child.pid)
        c.url = `http://127.0.0.1:${port}/static/app.js?page=2&shard=${count}`
        await waitForPort(port)
      }
      // The first second after the listener opens: nothing has warmed it but waitForPort's one request.
      firstSecond.push({
        name: '(b) Portcullis forward',
        ...(await latencyAtRate(`http://127.0.0.1:${gatewayPort}/`, {}, 1, 0)),
      })
      if (CASES.has('b')) add('b', '(b) Portcullis forward', gatewayPort, child.pid)
      if (CASES.has('h')) {
        add(
          'hb',
          '(hb) Portcullis forward, browser request (60 headers, 8 KB cookies)',
          gatewayPort,
          child.pid,
        ).headers = browserHeaders()
      }
      if (CASES.has('d')) {
        const cookie = await logInAtDevIdp(`http://127.0.0.1:${authPort}/`)
        add('d', '(d) Portcullis authenticated (session)', authPort, child.pid).headers = { cookie }
      }
    }

    if (CASES.has('g')) {
      const child = startPortcullis(
        'portcullis-delivery.yaml',
        deliveryConfig(deliveryPort, deliveryAdminPort, upstreamPort),
        workers,
      )
      started.push(child)
      await waitForPort(deliveryPort)
      add('g', "(g) Portcullis forward, ALB's gzip delivery files", deliveryPort, child.pid)
    }

    if (CASES.has('s')) {
      if (haveRedis) {
        const redis = start('redis-server', [
          '--port',
          String(redisPort),
          '--bind',
          '127.0.0.1',
          '--save',
          '',
          '--appendonly',
          'no',
        ])
        started.push(redis)
        await waitForTcp(redisPort)
        const child = startPortcullis(
          'portcullis-shared.yaml',
          portcullisConfig(sharedForwardPort, sharedPort, sharedAdminPort, upstreamPort, idp, {
            name: 'shared',
            redisPort,
          }),
          workers,
        )
        started.push(child)
        await waitForPort(sharedPort)
        const cookie = await logInAtDevIdp(`http://127.0.0.1:${sharedPort}/`)
        add('s', '(s) Portcullis authenticated (shared session in Redis)', sharedPort, child.pid).headers = { cookie }
      } else notes.push('(s) shared sessions skipped: redis-server not installed (apt-get install redis-server)')
    }

    if (CASES.has('o')) {
      if (haveApache) {
        const conf = join(work, `apache-${workers}.conf`)
        writeFileSync(conf, apacheConfig(apachePort, workers, upstreamPort, idp.issuer))
        const child = start('apache2', ['-f', conf, '-DFOREGROUND'])
        started.push(child)
        await waitForPort(apachePort)
        const cookie = await logInAtApache(`http://127.0.0.1:${apachePort}/`)
        add('o', '(o) Apache mpm_event + mod_auth_openidc (session)', apachePort, child.pid).headers = { cookie }
      } else {
        notes.push(
          '(o) Apache + mod_auth_openidc skipped: not installed (apt-get install apache2 libapache2-mod-auth-openidc)',
        )
      }
    }

    if (CASES.has('h2')) {
      if (haveH2load) {
        const [h2m, grpcm, h2b, grpcb, h2Admin, h2n, grpcn, grpcUpstream] = (await freePorts(8)) as [
          number,
          number,
          number,
          number,
          number,
          number,
          number,
          number,
        ]
        const tls = await ensureLeafCertificate(join(work, `state-h2-tls-${workers}`))
        const dataFile = join(work, 'grpc-request.bin')
        writeFileSync(dataFile, grpcFrame(Buffer.from('portcullis bench')))
        const echo = start(NODE, ['--import', 'tsx', minimalHttp2, 'grpc-echo', String(grpcUpstream)], false)
        started.push(echo)
        await waitForTcp(grpcUpstream)
        const addH2 = (key: string, name: string, port: number, pid: number | undefined, grpc: boolean): void => {
          for (const streams of H2_STREAMS) {
            const c = add(`${key}-${streams}`, `(${key}) ${name}, -m ${streams}`, port, pid)
            c.url = `https://127.0.0.1:${port}${grpc ? '/bench.Echo/Echo' : '/'}`
            c.h2 = grpc
              ? { streams, dataFile, headers: { 'content-type': 'application/grpc', te: 'trailers' } }
              : { streams }
          }
        }
        const minimal = (mode: string, port: number, upstream: number, log: string): ChildProcess =>
          start(NODE, [
            ...NODE_ARGS,
            '--import',
            'tsx',
            minimalHttp2,
            mode,
            String(port),
            String(upstream),
            String(workers),
            join(work, log),
            tls.certPath,
            tls.keyPath,
          ])
        const m = minimal('proxy', h2m, upstreamPort, 'minimal-h2-access.log')
        const gm = minimal('grpc-proxy', grpcm, grpcUpstream, 'minimal-grpc-access.log')
        started.push(m, gm)
        const portcullis = startPortcullis(
          `portcullis-h2-${workers}.yaml`,
          http2Config({ h2: h2b, grpc: grpcb, admin: h2Admin, upstream: upstreamPort, grpcUpstream }, tls),
          workers,
        )
        started.push(portcullis)
        let nginx: ChildProcess | undefined
        if (haveNginx) {
          const conf = join(work, `nginx-h2-${workers}.conf`)
          writeFileSync(
            conf,
            nginxConfig(
              workers,
              nginxHttp2Body({ h2: h2n, grpc: grpcn, upstream: upstreamPort, grpcUpstream }, tls),
              `nginx-h2-${workers}`,
            ),
          )
          nginx = start('nginx', ['-c', conf, '-p', work])
          started.push(nginx)
        }
        for (const port of [h2m, grpcm, h2b, grpcb, ...(nginx === undefined ? [] : [h2n, grpcn])])
          await waitForTcp(port)
        addH2('h2m', 'minimal node:http2 → undici proxy', h2m, m.pid, false)
        addH2('h2b', 'Portcullis h2 → HTTP/1.1 target group', h2b, portcullis.pid, false)
        if (nginx !== undefined) addH2('h2n', 'nginx ssl http2 + proxy_pass', h2n, nginx.pid, false)
        addH2('gm', 'minimal node:http2 gRPC forwarder, unary', grpcm, gm.pid, true)
        addH2('gb', 'Portcullis gRPC unary → GRPC target group', grpcb, portcullis.pid, true)
        if (nginx !== undefined) addH2('gn', 'nginx grpc_pass, unary', grpcn, nginx.pid, true)
      } else notes.push('(h2…) HTTP/2 and gRPC cases skipped: h2load not installed (apt-get install nghttp2-client)')
    }

    // Warm every case (JIT, pools, caches), then interleave the rounds.
    for (const c of cases) await measure(c, 2)
    for (let round = 0; round < ROUNDS; round++) {
      for (const c of cases) c.samples.push(await measure(c, DURATION_SECONDS))
    }
    const moderate: { name: string; p50: number; p99: number; max: number }[] = []
    for (const c of cases) {
      // The fixed-rate probe speaks HTTP/1.1 in clear: not the h2 cases'.
      if (c.key !== 'a' && c.h2 === undefined) {
        moderate.push({ name: c.name, ...(await latencyAtRate(c.url, c.headers, 4, 1)) })
      }
    }

    report(workers, cases, moderate, firstSecond, notes)
  } finally {
    for (const child of started.reverse()) await stop(child)
    await idp.close()
  }
}

function report(
  workers: number,
  cases: Case[],
  moderate: { name: string; p50: number; p99: number; max: number }[],
  firstSecond: { name: string; p50: number; p99: number; max: number }[],
  notes: string[],
): void {
  const [l1, l5] = loadavg()
  console.log(
    `\nportcullis gateway benchmark: ${workers} worker(s), ${haveWrk ? 'wrk -t1' : 'autocannon (wrk not installed: in-process load generator, ratios compressed)'} -c${CONNECTIONS}, ${ROUNDS} rounds × ${DURATION_SECONDS}s interleaved, medians; node ${spawnSync(NODE, ['--version']).stdout.toString().trim()}, ${cpus().length} × ${cpus()[0]?.model ?? '?'}${TASKSET === undefined ? '' : `, proxies pinned to CPUs ${TASKSET}`}; load average ${l1!.toFixed(2)} (1 min), ${l5!.toFixed(2)} (5 min)\n`,
  )
  for (const n of notes) console.log(n)
  console.log('| case | req/s | p50 ms | p99 ms | CPU µs/req | errors |')
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |')
  const med = new Map<string, { rps: number; cpu: number | undefined }>()
  for (const c of cases.filter((x) => x.h2 === undefined)) {
    const rps = median(c.samples.map((s) => s.rps))
    const cpus = c.samples.map((s) => s.cpuPerRequestUs).filter((x): x is number => x !== undefined)
    const cpu = cpus.length === 0 ? undefined : median(cpus)
    med.set(c.key, { rps, cpu })
    console.log(
      `| ${c.name} | ${fmt(rps)} | ${fmt(median(c.samples.map((s) => s.p50)), 2)} | ${fmt(median(c.samples.map((s) => s.p99)), 2)} | ${fmt(cpu)} | ${c.samples.reduce((s, x) => s + x.errors, 0)} |`,
    )
  }
  const ratio = (label: string, x: number | undefined, y: number | undefined, aim: string) =>
    console.log(`| ${label} | ${x === undefined || y === undefined ? 'n/a' : (x / y).toFixed(2)} | ${aim} |`)
  const r = (k: string) => med.get(k)?.rps
  const cpu = (k: string) => med.get(k)?.cpu
  console.log('\n| ratio | value | aim |')
  console.log('| --- | ---: | --- |')
  ratio('b/m req/s (forward vs minimal Node proxy)', r('b'), r('m'), '≥ 0.85')
  ratio('m/b CPU per request (minimal ÷ forward)', cpu('m'), cpu('b'), '≥ 0.85')
  ratio('d/b req/s (authenticated vs forward)', r('d'), r('b'), '≥ 0.9')
  ratio('b/d CPU per request (forward ÷ authenticated)', cpu('b'), cpu('d'), '≥ 0.9')
  ratio('d/o CPU per request (Portcullis ÷ Apache, authenticated)', cpu('d'), cpu('o'), '≤ 0.67')
  ratio('d/o req/s (authenticated, Portcullis vs Apache)', r('d'), r('o'), '—')
  ratio('s/d req/s (shared session vs cookie session)', r('s'), r('d'), '≥ 0.8')
  ratio('d/s CPU per request (cookie ÷ shared session)', cpu('d'), cpu('s'), '≥ 0.8')
  ratio("g/b req/s (ALB's gzip delivery files vs one plain file)", r('g'), r('b'), '≥ 0.95')
  ratio('b/g CPU per request (plain file ÷ gzip delivery files)', cpu('b'), cpu('g'), '—')
  ratio('r100/r1 req/s (last of 100 rules vs of 1 rule)', r('r100'), r('r1'), '≥ 0.97')
  ratio('r1000/r1 req/s (last of 1,000 rules vs of 1 rule)', r('r1000'), r('r1'), '≥ 0.9')
  ratio('r1/r100 CPU per request (1 rule ÷ 100 rules)', cpu('r1'), cpu('r100'), '≥ 0.97')
  ratio('r1/r1000 CPU per request (1 rule ÷ 1,000 rules)', cpu('r1'), cpu('r1000'), '≥ 0.9')
  ratio('hb/hm req/s (browser request: forward vs minimal Node proxy)', r('hb'), r('hm'), '≥ 0.85')
  ratio('hm/hb CPU per request (browser request: minimal ÷ forward)', cpu('hm'), cpu('hb'), '≥ 0.85')
  ratio('b/n req/s (forward vs nginx)', r('b'), r('n'), '—')
  ratio('m/n req/s (minimal Node proxy vs nginx)', r('m'), r('n'), '—')
  ratio('b/a req/s (forward vs direct)', r('b'), r('a'), '—')
  const h2Cases = cases.filter((c) => c.h2 !== undefined)
  if (h2Cases.length > 0) {
    console.log(
      `\n| HTTP/2 and gRPC (h2load -t1 -c${H2_CONNECTIONS}, TLS) | req/s | mean ms | max ms | CPU µs/req | errors |`,
    )
    console.log('| --- | ---: | ---: | ---: | ---: | ---: |')
    for (const c of h2Cases) {
      const rps = median(c.samples.map((s) => s.rps))
      const cpus = c.samples.map((s) => s.cpuPerRequestUs).filter((x): x is number => x !== undefined)
      const cpu = cpus.length === 0 ? undefined : median(cpus)
      med.set(c.key, { rps, cpu })
      console.log(
        `| ${c.name} | ${fmt(rps)} | ${fmt(median(c.samples.map((s) => s.p50)), 2)} | ${fmt(median(c.samples.map((s) => s.p99)), 2)} | ${fmt(cpu)} | ${c.samples.reduce((s, x) => s + x.errors, 0)} |`,
      )
    }
    console.log('\n| ratio | value | aim |')
    console.log('| --- | ---: | --- |')
    for (const m of H2_STREAMS) {
      ratio(`h2b/h2m req/s at -m ${m} (h2 forward vs minimal node:http2 proxy)`, r(`h2b-${m}`), r(`h2m-${m}`), '≥ 0.85')
      ratio(`h2m/h2b CPU per request at -m ${m} (minimal ÷ Portcullis)`, cpu(`h2m-${m}`), cpu(`h2b-${m}`), '≥ 0.85')
      ratio(`gb/gm req/s at -m ${m} (gRPC unary vs minimal forwarder)`, r(`gb-${m}`), r(`gm-${m}`), '≥ 0.85')
      ratio(`gm/gb CPU per request at -m ${m} (minimal ÷ Portcullis)`, cpu(`gm-${m}`), cpu(`gb-${m}`), '≥ 0.85')
      ratio(`h2b/h2n req/s at -m ${m} (vs nginx)`, r(`h2b-${m}`), r(`h2n-${m}`), '—')
      ratio(`gb/gn req/s at -m ${m} (vs nginx grpc_pass)`, r(`gb-${m}`), r(`gn-${m}`), '—')
    }
    // Multiplexing: 32 streams per connection must not serialise behind one another.
    ratio('h2b -m 32 ÷ -m 1 req/s (streams multiplexed)', r('h2b-32'), r('h2b-1'), '> 1')
    ratio('gb -m 32 ÷ -m 1 req/s (streams multiplexed)', r('gb-32'), r('gb-1'), '> 1')
  }
  console.log(`\n| at ${MODERATE_RATE} req/s, 4 s | p50 ms | p99 ms | max ms |`)
  console.log('| --- | ---: | ---: | ---: |')
  for (const m of moderate)
    console.log(`| ${m.name} | ${m.p50.toFixed(3)} | ${m.p99.toFixed(3)} | ${m.max.toFixed(1)} |`)
  const p99 = (k: string) => moderate.find((m) => m.name.startsWith(`(${k})`))?.p99
  const diff = (x: number | undefined, y: number | undefined) =>
    x === undefined || y === undefined ? 'n/a' : (x - y).toFixed(3)
  console.log(`| b − m p99 (aim < 1 ms) | | ${diff(p99('b'), p99('m'))} | |`)
  console.log(`| d − m p99 (aim < 1 ms) | | ${diff(p99('d'), p99('m'))} | |`)
  console.log(`\n| first second after start, ${MODERATE_RATE} req/s | p50 ms | p99 ms | max ms |`)
  console.log('| --- | ---: | ---: | ---: |')
  for (const f of firstSecond)
    console.log(`| ${f.name} | ${f.p50.toFixed(3)} | ${f.p99.toFixed(3)} | ${f.max.toFixed(1)} |`)
}

async function main(): Promise<void> {
  if (!haveWrk) console.log('wrk is not installed: falling back to autocannon in this process (apt-get install wrk)')
  const [upstreamPort] = (await freePorts(1)) as [number]
  if (!haveNginx) throw new Error('the upstream is nginx serving a fixed body: apt-get install nginx')
  const conf = join(work, 'nginx-upstream.conf')
  mkdirSync(join(work, 'state'), { recursive: true })
  writeFileSync(
    conf,
    nginxConfig(
      1,
      // The (h) cases' 8 KB Cookie line is more than nginx's default 8k header buffer.
      `  access_log off;
  large_client_header_buffers 4 32k;
  server { listen 127.0.0.1:${upstreamPort}; location / { return 200 ok; } }`,
      'nginx-upstream',
    ),
  )
  // The upstream is not a proxy: never pinned with them.
  start('nginx', ['-c', conf, '-p', work], false)
  await waitForPort(upstreamPort)
  for (const workers of WORKER_COUNTS) await runWorkers(workers, upstreamPort)
}

try {
  await main()
} finally {
  await Promise.all(children.map(stop))
  // The access logs of a full run take hundreds of megabytes.
  if (process.env.BENCH_KEEP_TEMP === undefined) rmSync(work, { recursive: true, force: true })
  else console.log(`configurations and logs kept in ${work}`)
}
