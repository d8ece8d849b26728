/**
 * Every target-group attribute Portcullis acts on, changed and observed
 * through the real `portcullis start` process (access log and metrics on),
 * with two real targets. The last test fails for an attribute in
 * `ACTED_TARGET_GROUP_ATTRIBUTES` that no test here changes (issue 24).
 *
 * Time is the gateway's own clock, owned by the test (`testClock`): a
 * deregistration delay or a slow start's ramp passes by writing a line to a
 * file.
 */
import assert from 'node:assert/strict'
import type { ChildProcessWithoutNullStreams } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe } from 'node:test'
import { ACTED_TARGET_GROUP_ATTRIBUTES } from '../../src/config/normalise/target-group.js'
import { freePort, listen } from '../fixtures/ports.js'
import { startGatewayCli, waitFor } from '../fixtures/process.js'
import { send } from '../fixtures/servers.js'
import { attributeCoverage, testClock } from './attributes.js'

const { behaviour, assertCovered } = attributeCoverage(ACTED_TARGET_GROUP_ATTRIBUTES, 'ACTED_TARGET_GROUP_ATTRIBUTES')

/** Requests the targets hold (their path contains `hold`), in arrival order, until the test answers them. */
class Holds {
  readonly #ready: { target: string; res: ServerResponse }[] = []
  readonly #waiting: ((held: { target: string; res: ServerResponse }) => void)[] = []

  add(target: string, res: ServerResponse): void {
    const waiter = this.#waiting.shift()
    if (waiter !== undefined) waiter({ target, res })
    else this.#ready.push({ target, res })
  }

  /** The next held request (the event of its arrival at a target). */
  next(): Promise<{ target: string; res: ServerResponse }> {
    const ready = this.#ready.shift()
    return ready !== undefined ? Promise.resolve(ready) : new Promise((resolve) => this.#waiting.push(resolve))
  }
}

const holds = new Holds()

/** A target that names itself in every answer (`x-target`) and hands requests to hold to {@link holds}. */
async function startTarget(name: string): Promise<{ name: string; port: number; server: Server }> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? ''
    if (url.includes('hold')) return holds.add(name, res)
    const headers: Record<string, string> = { 'content-type': 'text/plain', 'x-target': name }
    // The application's own session cookie, for app_cookie stickiness.
    if (url.includes('login')) headers['set-cookie'] = url.includes('other') ? 'OTHER=1; Path=/' : 'SESSION=s1; Path=/'
    res.writeHead(200, headers)
    res.end(name)
  })
  return { name, port: await listen(server), server }
}

/** A request that may be held: its answer, or the error that ended it. */
function pending(url: string): Promise<{ status: number; body: string } | { error: string }> {
  return send(url).then(
    (r) => ({ status: r.status, body: r.body }),
    (err: Error) => ({ error: err.message }),
  )
}

describe("target groups' attributes, through portcullis start", { timeout: 120_000 }, () => {
  let dir: string
  let a: Awaited<ReturnType<typeof startTarget>>
  let b: Awaited<ReturnType<typeof startTarget>>
  let child: ChildProcessWithoutNullStreams
  let clock: Awaited<ReturnType<typeof testClock>>
  let port: number
  let admin: number
  let file: string
  let log: string

  const target = (t: { port: number }) => `{ Id: 127.0.0.1, Port: ${t.port} }`
  const group = (name: string, targets: string, attributes: Record<string, string> = {}) => {
    const list = Object.entries(attributes)
      .map(([Key, Value]) => `{ Key: ${Key}, Value: "${Value}" }`)
      .join(', ')
    return `  - { TargetGroupName: ${name}, Protocol: HTTP, HealthCheckEnabled: false, Targets: [${targets}], Attributes: [${list}] }\n`
  }
  const route = (priority: number, path: string, tg: string) =>
    `      - { Priority: ${priority}, Conditions: [{ Field: path-pattern, Values: ["${path}"] }], Actions: [{ Type: forward, TargetGroupArn: ${tg} }] }\n`

  /**
   * The configuration; `generation` names it at /generation, `deregistered` drops target A from `dereg`,
   * `slowB` registers target B in `slow` beside A.
   */
  function yaml(generation: string, deregistered: boolean, slowB = false): string {
    return `LoadBalancer: { Name: tg-attrs }
Listeners:
  - Port: ${port}
    Protocol: HTTP
    Portcullis: { Address: 127.0.0.1 }
    DefaultActions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: "404" } }]
    Rules:
      - { Priority: 1, Conditions: [{ Field: path-pattern, Values: ["/generation"] }], Actions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: "200", MessageBody: "${generation}" } }] }
${route(10, '/rr/*', 'rr')}${route(20, '/lor/*', 'lor')}${route(30, '/lb/*', 'sticky-lb')}${route(40, '/app/*', 'sticky-app')}${route(50, '/off/*', 'sticky-off')}${route(60, '/dereg/*', 'dereg')}${route(70, '/slow/*', 'slow')}TargetGroups:
${group('rr', `${target(a)}, ${target(b)}`, { 'load_balancing.algorithm.type': 'round_robin', 'deregistration_delay.timeout_seconds': '30' })}${group('lor', `${target(a)}, ${target(b)}`, { 'load_balancing.algorithm.type': 'least_outstanding_requests' })}${group('sticky-lb', `${target(a)}, ${target(b)}`, { 'stickiness.enabled': 'true', 'stickiness.type': 'lb_cookie', 'stickiness.lb_cookie.duration_seconds': '120' })}${group('sticky-app', `${target(a)}, ${target(b)}`, { 'stickiness.enabled': 'true', 'stickiness.type': 'app_cookie', 'stickiness.app_cookie.cookie_name': 'SESSION', 'stickiness.app_cookie.duration_seconds': '90' })}${group('sticky-off', `${target(a)}, ${target(b)}`, { 'stickiness.enabled': 'false', 'stickiness.type': 'lb_cookie' })}${group('dereg', deregistered ? target(b) : target(a), { 'deregistration_delay.timeout_seconds': '30' })}${group('slow', slowB ? `${target(a)}, ${target(b)}` : target(a), { 'slow_start.duration_seconds': '30' })}Portcullis:
  StateDirectory: ./state
  Admin: { Address: 127.0.0.1, Port: ${admin} }
  AccessLog: { Format: json, Path: "${log}" }
`
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-tg-attributes-'))
    a = await startTarget('a')
    b = await startTarget('b')
    port = await freePort()
    admin = await freePort()
    log = join(dir, 'access.log')
    file = join(dir, 'portcullis.yaml')
    await writeFile(file, yaml('first', false))
    clock = await testClock(join(dir, 'clock'))
    ;({ child } = await startGatewayCli(file, dir, { env: clock.env }))
  })

  after(async () => {
    if (child?.exitCode === null) {
      child.kill('SIGTERM')
      await once(child, 'exit')
    }
    for (const t of [a, b]) {
      t?.server.closeAllConnections()
      t?.server.close()
    }
    await rm(dir, { recursive: true, force: true })
  })

  const url = (path: string) => `http://127.0.0.1:${port}${path}`
  /** Which target answered `path` (a fresh connection each time). */
  const servedBy = async (path: string, headers: Record<string, string> = {}) =>
    (await send(url(path), { headers })).headers['x-target']

  behaviour(
    ['load_balancing.algorithm.type'],
    'load_balancing.algorithm.type: round_robin takes turns, least_outstanding_requests avoids a busy target',
    async () => {
      const turns = []
      for (let i = 0; i < 6; i++) turns.push(await servedBy('/rr/x'))
      for (let i = 1; i < turns.length; i++) assert.notEqual(turns[i], turns[i - 1], `round robin: ${turns}`)

      for (const [path, avoidsBusy] of [
        ['/lor', true],
        ['/rr', false],
      ] as const) {
        const busy = pending(url(`${path}/hold`))
        const held = await holds.next()
        const next = []
        for (let i = 0; i < 4; i++) next.push(await servedBy(`${path}/x`))
        if (avoidsBusy) assert.ok(!next.includes(held.target), `${path} sent to the busy target: ${next}`)
        else assert.ok(next.includes(held.target), `${path} kept taking turns: ${next}`)
        held.res.end('held')
        assert.deepEqual(await busy, { status: 200, body: 'held' })
      }
    },
  )

  /** The `Expires` of cookie `name` in `setCookie`, in seconds from the gateway's now. */
  function expiresIn(setCookie: string[] | undefined, name: string): number {
    const line = (setCookie ?? []).find((c) => c.startsWith(`${name}=`))
    assert.ok(line !== undefined, `no ${name} cookie in ${JSON.stringify(setCookie)}`)
    const expires = /Expires=([^;]+)/.exec(line)?.[1]
    assert.ok(expires !== undefined, line)
    return (Date.parse(expires) - Date.now()) / 1000 - clock.offset
  }

  behaviour(
    ['stickiness.enabled', 'stickiness.type', 'stickiness.lb_cookie.duration_seconds'],
    'lb_cookie stickiness: AWSALB for its duration pins a client to one target; with stickiness off there is no cookie',
    async () => {
      const first = await send(url('/lb/x'))
      const left = expiresIn(first.headers['set-cookie'], 'AWSALB')
      assert.ok(left > 110 && left <= 121, `AWSALB lives ${left} s`)
      const value = /AWSALB=([^;]+)/.exec(first.headers['set-cookie']!.join('\n'))![1]!
      const pinned = first.headers['x-target']
      for (let i = 0; i < 6; i++) assert.equal(await servedBy('/lb/x', { cookie: `AWSALB=${value}` }), pinned)

      const off = await send(url('/off/x'))
      assert.ok(!(off.headers['set-cookie'] ?? []).some((c) => c.startsWith('AWSALB')), 'no cookie when disabled')
      const turns = [await servedBy('/off/x', { cookie: `AWSALB=${value}` }), await servedBy('/off/x')]
      assert.notEqual(turns[0], turns[1], 'a stale AWSALB pins nothing when stickiness is off')
    },
  )

  behaviour(
    ['stickiness.type', 'stickiness.app_cookie.cookie_name', 'stickiness.app_cookie.duration_seconds'],
    "app_cookie stickiness: the application's own cookie (by its name) earns AWSALBAPP for the duration, which pins the client",
    async () => {
      const login = await send(url('/app/login'))
      const left = expiresIn(login.headers['set-cookie'], 'AWSALBAPP-0')
      assert.ok(left > 80 && left <= 91, `AWSALBAPP-0 lives ${left} s`)
      const value = /AWSALBAPP-0=([^;]+)/.exec(login.headers['set-cookie']!.join('\n'))![1]!
      const pinned = login.headers['x-target']
      for (let i = 0; i < 6; i++) {
        assert.equal(await servedBy('/app/x', { cookie: `SESSION=s1; AWSALBAPP-0=${value}` }), pinned)
      }
      const other = await send(url('/app/login-other'))
      assert.ok(
        !(other.headers['set-cookie'] ?? []).some((c) => c.startsWith('AWSALBAPP-0=') && !c.includes('_remove_')),
        `a cookie of another name earns nothing: ${other.headers['set-cookie']}`,
      )
    },
  )

  behaviour(
    ['deregistration_delay.timeout_seconds'],
    "deregistration_delay: a removed target's requests finish within the delay and are cut past it; a kept target's are not",
    async () => {
      // Two requests held at A through `dereg`, one at some target through `rr`.
      const first = pending(url('/dereg/hold-1'))
      const firstAtA = await holds.next()
      const second = pending(url('/dereg/hold-2'))
      const secondAtA = await holds.next()
      assert.deepEqual([firstAtA.target, secondAtA.target], ['a', 'a'])
      const kept = pending(url('/rr/hold-kept'))
      const keptAt = await holds.next()

      await writeFile(file, yaml('second', true))
      child.kill('SIGHUP')
      await waitFor(async () => (await send(url('/generation'))).body === 'second', 'the reload')
      for (let i = 0; i < 4; i++) assert.equal(await servedBy('/dereg/x'), 'b', 'A no longer gets requests')

      firstAtA.res.end('finished within the delay')
      assert.deepEqual(await first, { status: 200, body: 'finished within the delay' })

      await clock.advance(31)
      // The delay's timer fires when the gateway's event loop next wakes: a request wakes it.
      await send(url('/generation'))
      const cut = await second
      assert.ok('error' in cut || cut.status === 502, `cut past the delay: ${JSON.stringify(cut)}`)

      keptAt.res.end('kept')
      assert.deepEqual(await kept, { status: 200, body: 'kept' })
    },
  )

  behaviour(
    ['slow_start.duration_seconds'],
    'slow_start: a target registered by a reload gets a share growing linearly from none to a full one over the 30 s',
    async () => {
      /** How many of `n` requests through `slow` each target answered. */
      const shares = async (n: number) => {
        const counts: Record<string, number> = { a: 0, b: 0 }
        for (let i = 0; i < n; i++) counts[(await servedBy('/slow/x')) as string]!++
        return counts
      }
      assert.deepEqual(await shares(4), { a: 4, b: 0 }, 'one target before the reload')
      await writeFile(file, yaml('third', true, true))
      child.kill('SIGHUP')
      await waitFor(async () => (await send(url('/generation'))).body === 'third', 'the reload')
      // B was just registered (health checks off: routable at once) and ramps from nothing: A takes every request.
      assert.deepEqual(await shares(20), { a: 20, b: 0 }, 'at the start of the ramp')
      // Half way, B's weight is 1/2: one request in three.
      await clock.advance(15)
      const half = await shares(30)
      assert.ok(half.b! >= 9 && half.b! <= 11 && half.a! + half.b! === 30, `half way: ${JSON.stringify(half)}`)
      // Past the duration B is out of slow start: plain round robin.
      await clock.advance(16)
      assert.deepEqual(await shares(20), { a: 10, b: 10 }, 'after the ramp')
    },
  )

  behaviour([], 'every request above is in the access log and the metrics', async () => {
    const read = async () => (await readFile(log, 'utf8').catch(() => '')).trim().split('\n').filter(Boolean)
    await waitFor(async () => (await read()).some((l) => l.includes('/dereg/x')), 'the access log', 10_000)
    for (const line of await read()) JSON.parse(line)
    const metrics = await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text()
    assert.match(metrics, /HTTPCode_Target_2XX_Count\{target_group="sticky-app"\} [1-9]/)
  })

  assertCovered()
})
