import assert from 'node:assert/strict'
import { once } from 'node:events'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { freePort } from '../../fixtures/ports.js'
import { portcullis, waitFor } from '../../fixtures/process.js'
import { echoHandler, send, startUpstream, stateDirectory } from '../../fixtures/servers.js'

async function run(args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = portcullis(args, cwd)
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString()
  })
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString()
  })
  const [code] = (await once(child, 'exit')) as [number | null]
  return { code, stdout, stderr }
}

function config(port: number, adminPort: number, upstreamPort: number, body: string): string {
  return `
LoadBalancer: { Name: cli-alb, Region: us-east-1, AccountId: "123456789012" }
Listeners:
  - Port: ${port}
    Protocol: HTTP
    Portcullis: { Address: 127.0.0.1 }
    DefaultActions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: "200", ContentType: text/plain, MessageBody: ${body} } }]
    Rules:
      - Priority: 1
        Conditions: [{ Field: path-pattern, Values: ["/app/*"] }]
        Actions: [{ Type: forward, TargetGroupArn: app }]
TargetGroups:
  - TargetGroupName: app
    Protocol: HTTP
    Targets: [{ Id: 127.0.0.1, Port: ${upstreamPort} }]
Portcullis:
  Admin: { Address: 127.0.0.1, Port: ${adminPort} }
  AccessLog: { Format: alb, Path: ./access.log }
`
}

describe('portcullis CLI', () => {
  test('validate: a broken file exits 2 with file:line:column and no stack trace', async () => {
    const dir = stateDirectory()
    writeFileSync(
      join(dir, 'bad.yaml'),
      'LoadBalancer: { Name: x, Region: us-east-1 }\nListeners:\n  - Port: 99999\n    Protocol: HTTP\n',
    )
    const { code, stderr } = await run(['validate', '--config', 'bad.yaml'], dir)
    assert.equal(code, 2)
    assert.match(stderr, /bad\.yaml:\d+:\d+/)
    assert.doesNotMatch(stderr, /\n\s+at /)
  })

  test('start: a missing file exits 2 with a clear message', async () => {
    const dir = stateDirectory()
    const { code, stderr } = await run(['start', '--config', 'nope.yaml', '--workers', '1'], dir)
    assert.equal(code, 2)
    assert.match(stderr, /nope\.yaml/)
    assert.doesNotMatch(stderr, /\n\s+at /)
  })

  test('start: a listener port in use exits 1 with one line naming it, without respawning workers', async () => {
    const dir = stateDirectory()
    const busy = await startUpstream(echoHandler)
    try {
      writeFileSync(join(dir, 'p.yaml'), config(busy.port, await freePort(), busy.port, 'x'))
      // At the warn level, so that the health checker's info lines (the target here is up) stay out of it.
      const { code, stderr } = await run(['start', '--config', 'p.yaml', '--workers', '2', '--log-level', 'warn'], dir)
      assert.equal(code, 1)
      assert.equal(
        stderr.trim(),
        `portcullis: cannot listen on 127.0.0.1:${busy.port} for the listener listener/${busy.port}: the port is in use`,
      )
    } finally {
      await busy.close()
    }
  })

  test('start with 2 workers: prints URLs, serves, reloads on SIGHUP, refuses a bad reload, drains on SIGTERM', async () => {
    const dir = stateDirectory()
    const upstream = await startUpstream(echoHandler)
    const port = await freePort()
    const adminPort = await freePort()
    const file = join(dir, 'portcullis.yaml')
    writeFileSync(file, config(port, adminPort, upstream.port, 'first'))
    const child = portcullis(['start', '--config', 'portcullis.yaml', '--workers', '2', '--log-level', 'warn'], dir)
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString()
    })
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString()
    })
    try {
      await waitFor(() => stdout.includes('SIGHUP'), 'the start banner')
      assert.match(stdout, new RegExp(`http://127\\.0\\.0\\.1:${port}/`))
      assert.match(
        stdout,
        /arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer\/app\/cli-alb\/[0-9a-f]{16}/,
      )
      assert.match(stdout, new RegExp(`http://127\\.0\\.0\\.1:${adminPort}/`))

      assert.equal((await send(`http://127.0.0.1:${port}/`)).body, 'first')
      assert.equal(JSON.parse((await send(`http://127.0.0.1:${port}/app/x`)).body).url, '/app/x')

      writeFileSync(file, config(port, adminPort, upstream.port, 'second'))
      child.kill('SIGHUP')
      await waitFor(async () => (await send(`http://127.0.0.1:${port}/`)).body === 'second', 'the reloaded rule')
      // Both workers must have switched: several fresh connections all see it.
      for (let i = 0; i < 6; i++) assert.equal((await send(`http://127.0.0.1:${port}/`)).body, 'second')

      writeFileSync(file, 'Listeners: [ this is not valid')
      child.kill('SIGHUP')
      await waitFor(() => stderr.includes('configuration rejected'), 'the rejection log line')
      assert.equal((await send(`http://127.0.0.1:${port}/`)).body, 'second')

      const metrics = await send(`http://127.0.0.1:${adminPort}/metrics`)
      assert.equal(metrics.status, 200)
      assert.match(metrics.body, /^RequestCount\{/m)
      assert.match(metrics.body, /^HTTPCode_Target_2XX_Count\{target_group="app"\} [1-9]/m)

      child.kill('SIGTERM')
      const [code] = (await once(child, 'exit')) as [number | null]
      assert.equal(code, 0)
      await assert.rejects(send(`http://127.0.0.1:${port}/`), { code: 'ECONNREFUSED' })
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL')
      await upstream.close()
    }
  })

  test('start with 1 worker runs it under a supervising primary: a killed worker is replaced at once, logged and counted', async () => {
    const dir = stateDirectory()
    const upstream = await startUpstream(echoHandler)
    const port = await freePort()
    const adminPort = await freePort()
    writeFileSync(join(dir, 'portcullis.yaml'), config(port, adminPort, upstream.port, 'served'))
    const child = portcullis(['start', '--config', 'portcullis.yaml', '--workers', '1', '--log-level', 'warn'], dir)
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString()
    })
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString()
    })
    try {
      await waitFor(() => stdout.includes('SIGHUP'), 'the start banner')
      const [worker] = childrenOf(child.pid!)
      assert.ok(worker !== undefined, 'one worker process under the primary')
      process.kill(worker, 'SIGKILL')
      await waitFor(() => stderr.includes('worker exited; starting a new one'), 'the restart log line')
      await waitFor(async () => {
        const replacement = childrenOf(child.pid!)
        if (replacement.length !== 1 || replacement[0] === worker) return false
        return (await send(`http://127.0.0.1:${port}/`).catch(() => undefined))?.body === 'served'
      }, 'a replacement worker serving')
      assert.equal(child.exitCode, null, 'the primary keeps running')
      const metrics = await send(`http://127.0.0.1:${adminPort}/metrics`)
      assert.match(metrics.body, /^portcullis_worker_restarts_total 1$/m)
      assert.match(stderr, /"signal":"SIGKILL"/)
    } finally {
      child.kill('SIGTERM')
      if (child.exitCode === null) await once(child, 'exit')
      await upstream.close()
    }
  })

  test('start --watch (one worker): a saved file is applied without a signal', async () => {
    const dir = stateDirectory()
    const upstream = await startUpstream(echoHandler)
    const port = await freePort()
    const adminPort = await freePort()
    const file = join(dir, 'portcullis.yaml')
    writeFileSync(file, config(port, adminPort, upstream.port, 'before'))
    const child = portcullis(
      ['start', '--config', 'portcullis.yaml', '--workers', '1', '--watch', '--log-level', 'warn'],
      dir,
    )
    let stdout = ''
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString()
    })
    try {
      await waitFor(() => stdout.includes('SIGHUP'), 'the start banner')
      assert.equal((await send(`http://127.0.0.1:${port}/`)).body, 'before')
      writeFileSync(file, config(port, adminPort, upstream.port, 'after'))
      await waitFor(async () => (await send(`http://127.0.0.1:${port}/`)).body === 'after', 'the watched change')
      child.kill('SIGTERM')
      const [code] = (await once(child, 'exit')) as [number | null]
      assert.equal(code, 0)
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL')
      await upstream.close()
    }
  })
})

/** Process ids whose parent is `pid` (Linux /proc). */
function childrenOf(pid: number): number[] {
  const children: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      // Field 4 of /proc/PID/stat is the parent pid; the command name (field 2) may hold spaces, hence after ')'.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid === pid) children.push(Number(entry))
    } catch {
      // The process ended while we looked.
    }
  }
  return children
}
