/**
 * Keeping the access log of the real `portcullis start --workers 2` process
 * under steady traffic: logrotate (Debian's, driven with the README's
 * sample) moves the file and runs `portcullis reopen-logs` in `postrotate`;
 * both files then hold whole lines, and together every request exactly once.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { Agent, request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { freePort } from '../fixtures/ports.js'
import { FROM_SOURCE, type RunningCli, startPortcullis, waitFor } from '../fixtures/process.js'
import { echoHandler, startUpstream } from '../fixtures/servers.js'

const README = fileURLToPath(new URL('../../README.md', import.meta.url))
const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url))

/** ALB's line: the request id is the path `/r/{id}`. */
const REQUEST_ID = / "GET http:\/\/127\.0\.0\.1:\d+\/r\/(\d+) HTTP\/1\.1" /

/** The README's logrotate sample (the ```conf block for the access log). */
async function logrotateSample(): Promise<string> {
  const text = await readFile(README, 'utf8')
  const sample = /```conf\n(\/var\/log\/portcullis\/access\.log \{\n[\s\S]*?\n\})\n```/.exec(text)?.[1]
  assert.ok(sample, 'the README has no logrotate sample for /var/log/portcullis/access.log')
  return sample
}

const quote = (arg: string): string => `'${arg.replaceAll("'", `'\\''`)}'`

/**
 * Requests `/r/0`, `/r/1`, … with four in flight on kept-alive connections
 * until stopped.
 */
function steadyTraffic(port: number) {
  const agent = new Agent({ keepAlive: true, maxSockets: 4 })
  let next = 0
  let running = true
  const done: number[] = []
  const failures: string[] = []
  const one = (id: number): Promise<void> =>
    new Promise((resolve) => {
      const req = request({ host: '127.0.0.1', port, path: `/r/${id}`, agent }, (res) => {
        res.resume()
        res.on('end', () => {
          if (res.statusCode !== 200) failures.push(`/r/${id}: ${res.statusCode}`)
          done.push(id)
          resolve()
        })
      })
      req.on('error', (error) => {
        failures.push(`/r/${id}: ${error.message}`)
        resolve()
      })
      req.end()
    })
  const loops = Array.from({ length: 4 }, async () => {
    while (running) await one(next++)
  })
  return {
    get completed() {
      return done.length
    },
    /** The ids answered so far. */
    answered: () => [...done],
    /** The first id not yet sent. */
    mark: () => next,
    failures,
    async stop(): Promise<number> {
      running = false
      await Promise.all(loops)
      agent.destroy()
      return next
    },
  }
}

test('logrotate moves the access log under traffic, postrotate runs portcullis reopen-logs: both files hold whole lines and every request exactly once', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-rotate-'))
  const upstream = await startUpstream(echoHandler)
  const port = await freePort()
  const logPath = join(dir, 'log', 'access.log')
  const configPath = join(dir, 'portcullis.yaml')
  await writeFile(
    configPath,
    `LoadBalancer: { Name: rotate-alb, Region: eu-west-1, AccountId: "123456789012" }
Listeners:
  - Port: ${port}
    Protocol: HTTP
    Portcullis: { Address: 127.0.0.1 }
    DefaultActions: [{ Type: forward, TargetGroupArn: app }]
TargetGroups:
  - TargetGroupName: app
    Protocol: HTTP
    Targets: [{ Id: 127.0.0.1, Port: ${upstream.port} }]
Portcullis:
  Admin: false
  AccessLog: { Format: alb, Path: ${logPath} }
`,
  )
  const reopen = [process.execPath, ...FROM_SOURCE, MAIN, 'reopen-logs', '--config', configPath].map(quote).join(' ')
  const rotateConfig = join(dir, 'logrotate.conf')
  await writeFile(
    rotateConfig,
    (await logrotateSample())
      .replace('/var/log/portcullis/access.log', logPath)
      .replace('portcullis reopen-logs --config /etc/portcullis/portcullis.yaml', reopen),
  )
  let cli: RunningCli | undefined
  try {
    cli = startPortcullis(['start', '--config', configPath, '--workers', '2', '--log-level', 'info'], dir)
    const started = cli
    // 60 s, as the start-screen test: three processes compiling the source through tsx on a loaded machine.
    await waitFor(
      () => started.output().includes('Portcullis is running.') || started.child.exitCode !== null,
      'portcullis start',
      60_000,
    ).catch((error: Error) => {
      throw new Error(`${error.message}\n${started.output()}`)
    })
    assert.equal(cli.child.exitCode, null, cli.output())
    assert.match(cli.stdout(), /SIGUSR2 \(portcullis reopen-logs\) reopens the access log/)

    const traffic = steadyTraffic(port)
    await waitFor(() => traffic.completed >= 200, '200 requests before the rotation')
    // The README's sample says notifempty: logrotate leaves an empty file alone and runs no postrotate.
    // Answered requests are not yet in the file (a worker writes its batch when full or on its
    // one-second timer), so wait until some are.
    await waitFor(async () => (await stat(logPath)).size > 0, 'the first access log lines in the file')
    const answeredBefore = traffic.answered()
    const rotated = await promisify(execFile)('logrotate', ['--force', '--state', join(dir, 'state'), rotateConfig])
    assert.equal(rotated.stderr, '', 'logrotate reported a problem')
    // The event: the primary says every worker reopened (not a pause). What it printed, and the
    // files, say why when it does not come.
    await waitFor(() => started.stderr().includes('"msg":"access log reopened"'), 'access log reopened').catch(
      async (error: Error) => {
        const files = await readdir(join(dir, 'log'))
        const sizes = await Promise.all(files.map(async (f) => `${f}: ${(await stat(join(dir, 'log', f))).size} B`))
        throw new Error(`${error.message}\nlog files: ${sizes.join(', ')}\n${started.output()}`)
      },
    )
    const afterReopen = traffic.mark()
    await waitFor(() => traffic.completed >= afterReopen + 200, '200 requests after the reopen')
    const sent = await traffic.stop()
    assert.deepEqual(traffic.failures, [])
    // Shutting down writes every pending line.
    cli.child.kill('SIGTERM')
    await once(cli.child, 'exit')

    const oldFile = await readFile(`${logPath}.1`, 'utf8')
    const newFile = await readFile(logPath, 'utf8')
    const seen = new Map<number, string>()
    for (const [name, text] of [
      ['access.log.1', oldFile],
      ['access.log', newFile],
    ] as const) {
      assert.ok(text.endsWith('\n'), `${name} ends mid-line`)
      for (const line of text.slice(0, -1).split('\n')) {
        const id = REQUEST_ID.exec(line)?.[1]
        assert.ok(
          id !== undefined && /^http \S+ app\/rotate-alb\/[0-9a-f]{16} .* TID_[0-9a-f]{32}$/.test(line),
          `${name}: not a whole line: ${line}`,
        )
        assert.equal(
          seen.get(Number(id)),
          undefined,
          `request ${id} is logged twice (${seen.get(Number(id))} and ${name})`,
        )
        seen.set(Number(id), name)
      }
    }
    const missing = Array.from({ length: sent }, (_, id) => id).filter((id) => !seen.has(id))
    assert.deepEqual(missing, [], 'requests missing from both files')
    assert.equal(seen.size, sent)
    // Lines of requests finished before logrotate ran were flushed to the old file; requests sent after
    // the reopen are in the new one.
    for (const id of answeredBefore) assert.equal(seen.get(id), 'access.log.1', `request ${id}`)
    for (let id = afterReopen; id < sent; id++) assert.equal(seen.get(id), 'access.log', `request ${id}`)
  } finally {
    if (cli !== undefined && cli.child.exitCode === null) {
      cli.child.kill('SIGKILL')
      await once(cli.child, 'exit')
    }
    await upstream.close()
  }
})

test('portcullis reopen-logs says why when no gateway runs with the configuration', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-rotate-'))
  const configPath = join(dir, 'portcullis.yaml')
  await writeFile(
    configPath,
    'Listeners: [{ Port: 8080, Protocol: HTTP, DefaultActions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: "200" } }] }]\n',
  )
  const { runPortcullis } = await import('../fixtures/process.js')
  const missing = await runPortcullis(['reopen-logs', '--config', configPath], dir)
  assert.equal(missing.code, 1)
  assert.match(missing.stderr, /no gateway runs with .*portcullis\.yaml \(.*\.portcullis\/portcullis\.pid is missing/)
  // A pid file left by a gateway that is gone.
  const { mkdir } = await import('node:fs/promises')
  await mkdir(join(dir, '.portcullis'), { recursive: true })
  await writeFile(join(dir, '.portcullis', 'portcullis.pid'), '2147483646\n')
  const stale = await runPortcullis(['reopen-logs', '--config', configPath], dir)
  assert.equal(stale.code, 1)
  assert.match(stale.stderr, /could not signal process 2147483646 .*: it is not running \(a stale pid file\)/)
})
