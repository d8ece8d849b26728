/**
 * ALB's delivery of access logs by the real `portcullis start --workers 2`
 * process (`Portcullis.AccessLog.Directory`): gzip files laid out and named as
 * in ALB's S3 bucket, one per interval and worker, closed when the interval
 * ends. The process's clock is the test's (libfaketime): the test moves it
 * past an interval's end instead of waiting five minutes.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { mkdir, mkdtemp, readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises'
import { Agent, request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { gunzipSync } from 'node:zlib'
import { ATHENA_ALB_REGEX } from '../fixtures/alb-log.js'
import { freePort } from '../fixtures/ports.js'
import { type RunningCli, startPortcullis, waitFor } from '../fixtures/process.js'
import { echoHandler, startUpstream } from '../fixtures/servers.js'
import { testClock } from './attributes.js'

const ACCOUNT = '123456789012'
const REGION = 'eu-west-1'
/** ALB's file path (AWS's "Access log files"), for this load balancer and listener address. */
const FILE_PATH = new RegExp(
  `^AWSLogs/${ACCOUNT}/elasticloadbalancing/${REGION}/(\\d{4})/(\\d{2})/(\\d{2})/${ACCOUNT}_elasticloadbalancing_${REGION}_app\\.deliver-alb\\.[0-9a-f]{16}_(\\d{4})(\\d{2})(\\d{2})T(\\d{2})(\\d{2})Z_127\\.0\\.0\\.1_[a-z0-9]{8}\\.log\\.gz$`,
)

interface Delivered {
  readonly path: string
  /** The interval's end, from the name. */
  readonly end: number
  readonly lines: readonly string[]
}

/** Every delivered file under `directory`, decompressed; throws when one is not a whole gzip stream. */
async function delivered(directory: string): Promise<Delivered[]> {
  const names = await readdir(join(directory, 'AWSLogs'), { recursive: true }).catch(() => [] as string[])
  const out: Delivered[] = []
  for (const name of names.filter((n) => n.endsWith('.gz')).sort()) {
    const path = `AWSLogs/${name}`
    const m = FILE_PATH.exec(path)
    assert.ok(m, `${path} is not named as ALB names its files`)
    const [, y, mo, d, ey, emo, ed, eh, emi] = m
    assert.deepEqual([y, mo, d], [ey, emo, ed], `${path}: the date directories are not the end time's`)
    const text = gunzipSync(await readFile(join(directory, path))).toString('utf8')
    assert.ok(text.endsWith('\n'), `${path} ends mid-line`)
    out.push({ path, end: Date.UTC(+ey!, +emo! - 1, +ed!, +eh!, +emi!), lines: text.slice(0, -1).split('\n') })
  }
  return out
}

/**
 * `count` GET requests to `/r/{first}…`, four at a time over fresh
 * connections (so both workers take some); `onAnswer` after each response.
 */
async function requests(port: number, first: number, count: number, onAnswer = () => {}): Promise<void> {
  const agent = new Agent({ keepAlive: false, maxSockets: 4 })
  await Promise.all(
    Array.from(
      { length: count },
      (_, i) =>
        new Promise<void>((resolve, reject) => {
          const req = request({ host: '127.0.0.1', port, path: `/r/${first + i}`, agent }, (res) => {
            res.resume()
            res.on('end', () => {
              onAnswer()
              if (res.statusCode === 200) resolve()
              else reject(new Error(`status ${res.statusCode}`))
            })
          })
          req.on('error', reject)
          req.end()
        }),
    ),
  )
  agent.destroy()
}

/** A gateway configuration delivering ALB's files to `{dir}/alb-logs`, with `settings` added to AccessLog. */
async function writeConfig(dir: string, port: number, upstreamPort: number, settings: string): Promise<string> {
  const configPath = join(dir, 'portcullis.yaml')
  await writeFile(
    configPath,
    `LoadBalancer: { Name: deliver-alb, Region: ${REGION}, AccountId: "${ACCOUNT}" }
Listeners:
  - Port: ${port}
    Protocol: HTTP
    Portcullis: { Address: 127.0.0.1 }
    DefaultActions: [{ Type: forward, TargetGroupArn: app }]
TargetGroups:
  - TargetGroupName: app
    Protocol: HTTP
    Targets: [{ Id: 127.0.0.1, Port: ${upstreamPort} }]
Portcullis:
  Admin: false
  AccessLog: { Format: alb, Directory: ./alb-logs, ${settings} }
`,
  )
  return configPath
}

/** `portcullis start --workers 2` on `configPath`, its clock the test's, resolved once it runs. */
async function startOnClock(configPath: string, dir: string, env: Record<string, string>): Promise<RunningCli> {
  const cli = startPortcullis(['start', '--config', configPath, '--workers', '2', '--log-level', 'warn'], dir, { env })
  await waitFor(
    () => cli.output().includes('Portcullis is running.') || cli.child.exitCode !== null,
    'portcullis start',
    30_000,
  )
  assert.equal(cli.child.exitCode, null, cli.output())
  return cli
}

const idOf = (line: string): number | undefined => {
  const id = / "GET http:\/\/127\.0\.0\.1:\d+\/r\/(\d+) HTTP\/1\.1" /.exec(line)?.[1]
  return id === undefined ? undefined : Number(id)
}

test("ALB's delivery: gzip files named as ALB names them, one per interval and worker, closed at the interval's end; every line is Athena's and GoAccess's, every request once", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-deliver-'))
  const logs = join(dir, 'alb-logs')
  const upstream = await startUpstream(echoHandler)
  const port = await freePort()
  const configPath = await writeConfig(dir, port, upstream.port, 'IntervalMinutes: 5')
  const clock = await testClock(join(dir, 'clock'))
  let cli: RunningCli | undefined
  try {
    cli = await startOnClock(configPath, dir, clock.env)

    await requests(port, 0, 100)
    // Nothing is delivered before the interval ends.
    assert.deepEqual(await delivered(logs), [])
    // The gateway's clock moves to a few seconds before the interval's end (no waiting for the wall clock),
    // then past it with requests in flight: a small step, as a large one would time their connections out.
    const now = Date.now() + clock.offset * 1000
    const end = Math.ceil(now / 300_000) * 300_000
    await clock.advance(Math.max(0, Math.floor((end - now) / 1000) - 3))
    let answered = 0
    await requests(port, 100, 200, () => {
      if (++answered === 50) void clock.advance(6)
    })
    const deliveredIds = async () => new Set((await delivered(logs)).flatMap((f) => f.lines.map(idOf)))
    await waitFor(async () => {
      const ids = await deliveredIds()
      return Array.from({ length: 100 }, (_, id) => id).every((id) => ids.has(id))
    }, 'the first interval delivered')
    const first = await delivered(logs)
    await requests(port, 300, 100)
    cli.child.kill('SIGTERM')
    await once(cli.child, 'exit')

    const files = await delivered(logs)
    assert.deepEqual(await readdir(join(logs, '.partial')), [], 'a partial file was left behind')
    // Files delivered at the interval's end are not touched again.
    for (const file of first) assert.deepEqual(files.find((f) => f.path === file.path)?.lines, file.lines)
    const seen = new Map<number, string>()
    const ends = new Set<number>()
    for (const file of files) {
      ends.add(file.end)
      for (const line of file.lines) {
        assert.match(line, ATHENA_ALB_REGEX, `${file.path}: Athena's regex does not parse the line`)
        const id = idOf(line)
        assert.ok(id !== undefined, line)
        assert.equal(seen.get(id), undefined, `request ${id} is in ${seen.get(id)} and ${file.path}`)
        seen.set(id, file.path)
        // The line's time is in the interval its file is named for.
        const time = Date.parse(line.split(' ')[1]!)
        assert.ok(time < file.end && time >= file.end - 300_000, `${file.path}: ${line.split(' ')[1]} is outside`)
      }
    }
    assert.deepEqual(
      Array.from({ length: 400 }, (_, id) => id).filter((id) => !seen.has(id)),
      [],
      'requests missing from the files',
    )
    // The requests before the clock moved are in the first interval's files, those after it in the next one's.
    const firstEnd = Math.max(...first.filter((f) => f.lines.some((l) => idOf(l)! < 100)).map((f) => f.end))
    const endOf = (id: number) => files.find((f) => f.path === seen.get(id))!.end
    for (let id = 0; id < 100; id++) assert.ok(endOf(id) <= firstEnd, `request ${id}`)
    for (let id = 300; id < 400; id++) assert.equal(endOf(id), firstEnd + 300_000, `request ${id}`)
    // The requests in flight while the interval ended are on both sides of it.
    const straddling = Array.from({ length: 200 }, (_, i) => endOf(100 + i))
    assert.ok(straddling.includes(firstEnd) && straddling.includes(firstEnd + 300_000), 'no request on one side')
    // At most one file per worker and interval.
    for (const end of ends) assert.ok(files.filter((f) => f.end === end).length <= 2)

    // The README's commands, run on these files.
    const readme = await readFile(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8')
    const commands = /```sh\n((?:(?!```)[\s\S])*?\/var\/log\/portcullis\/alb\/AWSLogs[\s\S]*?)```/.exec(readme)?.[1]
    assert.ok(commands, "the README's commands for the delivered files are gone")
    await promisify(execFile)('sh', ['-e', '-c', commands.replaceAll('/var/log/portcullis/alb', logs)], { cwd: dir })
    const all = (await readFile(join(dir, 'all.log'), 'utf8')).trim().split('\n')
    assert.deepEqual(all.map(idOf).sort(), [...seen.keys()].sort())
    assert.match(await readFile(join(dir, 'by-status.txt'), 'utf8'), /^ +1 200 http:\/\/127\.0\.0\.1:\d+\/r\/\d+$/m)
    assert.match(await readFile(join(dir, 'report.html'), 'utf8'), /GoAccess/)

    // A real consumer: GoAccess with its AWS ALB log format counts every request.
    const plain = join(dir, 'all.log')
    await writeFile(plain, `${files.flatMap((f) => f.lines).join('\n')}\n`)
    const { stdout } = await promisify(execFile)('goaccess', [
      plain,
      '--log-format=AWSALB',
      '--no-global-config',
      '--output=json',
    ])
    const report = JSON.parse(stdout) as {
      general: { total_requests: number; valid_requests: number; failed_requests: number }
    }
    assert.equal(report.general.total_requests, 400)
    assert.equal(report.general.valid_requests, 400)
    assert.equal(report.general.failed_requests, 0)
  } finally {
    if (cli !== undefined && cli.child.exitCode === null) {
      cli.child.kill('SIGKILL')
      await once(cli.child, 'exit')
    }
    await upstream.close()
  }
})

test('MaxTotalSizeMB: once a delivery passes the bound, the oldest files are deleted first, with a warning for each one nobody read', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-deliver-'))
  const logs = join(dir, 'alb-logs')
  const upstream = await startUpstream(echoHandler)
  const port = await freePort()
  const configPath = await writeConfig(dir, port, upstream.port, 'MaxTotalSizeMB: 1')
  // Three earlier deliveries of 530,000 bytes each: after the next delivery, removing the oldest
  // leaves 1,060,000 bytes and more, past the 1 MiB bound; removing the second leaves less.
  const day = join(logs, 'AWSLogs', ACCOUNT, 'elasticloadbalancing', REGION, '2026', '01', '01')
  await mkdir(day, { recursive: true })
  const earlier = ['0005', '0010', '0015'].map((hhmm, i) =>
    join(
      day,
      `${ACCOUNT}_elasticloadbalancing_${REGION}_app.deliver-alb.0123456789abcdef_20260101T${hhmm}Z_127.0.0.1_earlier${i}.log.gz`,
    ),
  )
  const written = new Date('2026-01-01T00:20:00Z')
  for (const [i, path] of earlier.entries()) {
    await writeFile(path, randomBytes(530_000))
    // The oldest was read after its delivery (its access time is later); the second never was.
    const read = i === 0
    await utimes(path, new Date(written.getTime() + (read ? 60_000 : -60_000)), written)
  }
  const clock = await testClock(join(dir, 'clock'))
  let cli: RunningCli | undefined
  try {
    cli = await startOnClock(configPath, dir, clock.env)
    await requests(port, 0, 50)
    await clock.advance(300)
    const exists = (path: string) =>
      stat(path).then(
        () => true,
        () => false,
      )
    await waitFor(async () => !(await exists(earlier[1]!)), 'the second-oldest file deleted')
    assert.equal(await exists(earlier[0]!), false, 'the oldest file is kept')
    assert.equal(await exists(earlier[2]!), true, 'a file was deleted although the bound was met')
    const ours = (await readdir(join(logs, 'AWSLogs'), { recursive: true })).filter(
      (n) => /_[a-z0-9]{8}\.log\.gz$/.test(n) && !n.includes('earlier'),
    )
    assert.ok(ours.length >= 1, 'the new delivery is missing')
    await waitFor(() => cli!.stderr().includes('earlier1.log.gz'), 'the warning for the unread file')
    assert.match(
      cli.stderr(),
      /PortcullisWarning: access log: deleted \S+earlier1\.log\.gz \(530000 bytes\), not read since it was delivered, to keep \S+alb-logs within MaxTotalSizeMB/,
    )
    assert.doesNotMatch(cli.stderr(), /earlier0/, 'a file that was read is deleted without a warning')
  } finally {
    if (cli !== undefined && cli.child.exitCode === null) {
      cli.child.kill('SIGKILL')
      await once(cli.child, 'exit')
    }
    await upstream.close()
  }
})

/** The partial files under `.partial/`, with the pid each name carries. */
async function partials(logs: string): Promise<{ name: string; pid: number }[]> {
  const names = await readdir(join(logs, '.partial')).catch(() => [] as string[])
  return names.map((name) => ({ name, pid: Number(/^\d{8}T\d{4}Z_[^_]+_(\d+)_[a-z0-9]+\.log\.gz$/.exec(name)?.[1]) }))
}

/** The ids a partial file's complete lines hold, read as a recovering process would (no gzip trailer yet). */
async function partialIds(logs: string, name: string): Promise<number[]> {
  const text = gunzipSync(await readFile(join(logs, '.partial', name)), { finishFlush: 2 /* Z_SYNC_FLUSH */ })
  return text
    .toString('utf8')
    .split('\n')
    .flatMap((line) => idOf(line) ?? [])
}

test("a killed worker's unfinished file is delivered with every line it wrote: by the primary when the worker dies, and at the next start when the whole process was killed", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-deliver-'))
  const logs = join(dir, 'alb-logs')
  const upstream = await startUpstream(echoHandler)
  const port = await freePort()
  // 60-minute intervals, the real clock: nothing is delivered by an interval's end unless the test
  // crosses an hour, and every assertion below counts each request once across all files anyway.
  const configPath = await writeConfig(dir, port, upstream.port, 'IntervalMinutes: 60')
  const start = async () => {
    const cli = startPortcullis(['start', '--config', configPath, '--workers', '1', '--log-level', 'warn'], dir)
    await waitFor(
      () => cli.output().includes('Portcullis is running.') || cli.child.exitCode !== null,
      'portcullis start',
      30_000,
    )
    assert.equal(cli.child.exitCode, null, cli.output())
    return cli
  }
  /** Waits until the worker's partial file holds the lines of requests `first`…`last`, and says whose it is. */
  const written = async (first: number, last: number) => {
    let file: { name: string; pid: number } | undefined
    await waitFor(async () => {
      for (const f of await partials(logs)) {
        const ids = new Set(await partialIds(logs, f.name).catch(() => []))
        if (ids.has(first) && ids.has(last)) file = f
      }
      return file !== undefined
    }, `requests ${first}…${last} written to a partial file`)
    return file!
  }
  const ids = async () => (await delivered(logs)).flatMap((f) => f.lines.map((l) => idOf(l)!))
  let cli: RunningCli | undefined
  try {
    cli = await start()
    await requests(port, 0, 50)
    const first = await written(0, 49)
    // The worker dies without closing its file; the primary starts another and delivers the file's lines.
    process.kill(first.pid, 'SIGKILL')
    await waitFor(
      () => cli!.output().includes('delivered the lines of a file a stopped worker left unfinished'),
      "the primary's recovery",
    )
    assert.match(cli.output(), new RegExp(`"workerPid":${first.pid},"lines":50,`))
    assert.deepEqual(
      (await ids()).sort((a, b) => a - b),
      Array.from({ length: 50 }, (_, i) => i),
    )
    assert.ok(!(await partials(logs)).some((f) => f.pid === first.pid), 'the partial file was left behind')

    // The replacement serves; then the primary and its worker are killed together (a host that lost power
    // would leave the same): the next start delivers what the worker had written.
    await waitFor(
      () =>
        new Promise<boolean>((resolve) =>
          request({ host: '127.0.0.1', port, path: '/r/50' }, (res) => {
            res.resume()
            resolve(res.statusCode === 200)
          })
            .on('error', () => resolve(false))
            .end(),
        ),
      'the replacement worker',
    )
    await requests(port, 51, 49)
    const second = await written(50, 99)
    cli.child.kill('SIGKILL')
    await once(cli.child, 'exit')
    try {
      process.kill(second.pid, 'SIGKILL')
    } catch {
      // It may already have left with its primary.
    }
    await waitFor(() => {
      try {
        process.kill(second.pid, 0)
        return false
      } catch {
        return true
      }
    }, 'the worker gone')
    assert.ok((await partials(logs)).some((f) => f.pid === second.pid))

    cli = await start()
    assert.match(cli.output(), new RegExp(`"workerPid":${second.pid},"lines":50,`))
    assert.deepEqual(
      (await ids()).sort((a, b) => a - b),
      Array.from({ length: 100 }, (_, i) => i),
    )
    cli.child.kill('SIGTERM')
    await once(cli.child, 'exit')
    assert.deepEqual(await partials(logs), [], 'a partial file was left behind')
  } finally {
    if (cli !== undefined && cli.child.exitCode === null) {
      cli.child.kill('SIGKILL')
      await once(cli.child, 'exit')
    }
    await upstream.close()
  }
})
