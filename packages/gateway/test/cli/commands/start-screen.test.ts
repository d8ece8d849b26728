/**
 * The first screen of `portcullis start`: one story, told for a person on a
 * terminal (readable lines around the banner, no JSON) and for machines
 * otherwise (JSON lines), chosen by `--log-format` or by whether standard
 * output is a terminal; and log keys that say what they hold.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { freePort } from '../../fixtures/ports.js'
import { FROM_SOURCE, startPortcullis, waitFor } from '../../fixtures/process.js'
import { startUpstream, stateDirectory } from '../../fixtures/servers.js'

const main = fileURLToPath(new URL('../../../src/cli/main.ts', import.meta.url))

/**
 * A directory with a configuration that has a start-up warning (a local
 * certificate) and a healthy target, and the count of health checks the
 * target has answered.
 */
async function gatewayWithHealthyTarget(t: { after(fn: () => unknown): void }) {
  let healthChecks = 0
  const upstream = await startUpstream((req, res) => {
    if (req.url === '/health') healthChecks++
    res.end('ok')
  })
  t.after(() => upstream.close())
  const dir = stateDirectory()
  const port = await freePort()
  writeFileSync(
    join(dir, 'portcullis.yaml'),
    `LoadBalancer: { Name: screen }
Listeners:
  - Port: ${port}
    Protocol: HTTPS
    Portcullis: { Address: 127.0.0.1 }
    DefaultActions: [{ Type: forward, TargetGroupArn: app }]
TargetGroups:
  - TargetGroupName: app
    Protocol: HTTP
    HealthCheckPath: /health
    HealthCheckIntervalSeconds: 5
    Targets: [{ Id: 127.0.0.1, Port: ${upstream.port} }]
Portcullis:
  Admin: false
  LocalCertificates: true
`,
  )
  return { dir, healthChecks: () => healthChecks }
}

describe('the first screen of portcullis start (the real CLI)', () => {
  test('on a terminal: readable lines and the banner, no JSON, no per-worker "target is healthy"', async (t) => {
    const { dir, healthChecks } = await gatewayWithHealthyTarget(t)
    // script(1) gives the CLI a terminal, as a person's shell would; Ctrl-C reaches it through that terminal.
    const command = [process.execPath, ...FROM_SOURCE, main, 'start', '--workers', '2'].map((a) => `'${a}'`).join(' ')
    const child = spawn('script', ['-qec', command, '/dev/null'], { cwd: dir, env: { ...process.env, NO_COLOR: '1' } })
    let screen = ''
    child.stdout.on('data', (chunk: Buffer) => {
      screen += chunk.toString()
    })
    const exited = once(child, 'exit')
    t.after(() => child.exitCode === null && child.kill('SIGKILL'))
    await waitFor(() => screen.includes('SIGHUP reloads') || child.exitCode !== null, 'the banner', 60_000)
    // Both workers have judged the target (a first verdict each) before the gateway stops.
    await waitFor(() => healthChecks() >= 2, 'a health check from each worker', 60_000)
    child.stdin.write('\x03')
    await exited
    const lines = screen.split(/\r?\n/).filter((line) => line.trim() !== '')
    assert.deepEqual(
      lines.filter((line) => line.trimStart().startsWith('{')),
      [],
      screen,
    )
    assert.match(
      screen,
      /^portcullis\.yaml:4:5 warning: Listeners\[0\]: no certificate files: serving a certificate from the local development CA/m,
    )
    assert.equal(screen.split('Portcullis is running.').length, 2, screen)
    assert.doesNotMatch(screen, /target is healthy|rotation picked up/)
    assert.match(screen, /^info: stopped {2}\(configFile=\S+portcullis\.yaml\)$/m)
  })

  test('--log-format json, and without a terminal by default: every log line is JSON, each key saying what it holds', async (t) => {
    for (const args of [['--log-format', 'json'], []]) {
      const { dir } = await gatewayWithHealthyTarget(t)
      const cli = startPortcullis(['start', '--workers', '1', ...args], dir)
      const exited = once(cli.child, 'exit')
      t.after(() => cli.child.exitCode === null && cli.child.kill('SIGKILL'))
      await waitFor(() => cli.stdout().includes('SIGHUP reloads') || cli.child.exitCode !== null, 'the banner', 60_000)
      cli.child.kill('SIGTERM')
      await exited
      const records = cli
        .stderr()
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as Record<string, unknown>)
      const stopped = records.find((r) => r['msg'] === 'stopped')
      assert.equal(stopped?.['configFile'], join(dir, 'portcullis.yaml'))
      assert.equal(stopped?.['generation'], undefined)
      const draining = records.find((r) => String(r['msg']).startsWith('shutting down'))
      assert.equal(draining?.['workerCount'], 1)
    }
  })

  test('--log-format pretty without a terminal, and an unknown format refused', async (t) => {
    const { dir } = await gatewayWithHealthyTarget(t)
    const cli = startPortcullis(['start', '--workers', '1', '--log-format', 'pretty'], dir)
    const exited = once(cli.child, 'exit')
    t.after(() => cli.child.exitCode === null && cli.child.kill('SIGKILL'))
    await waitFor(() => cli.stdout().includes('SIGHUP reloads') || cli.child.exitCode !== null, 'the banner', 60_000)
    cli.child.kill('SIGTERM')
    await exited
    assert.match(cli.stderr(), /^portcullis\.yaml:4:5 warning: Listeners\[0\]: no certificate files/m)
    assert.doesNotMatch(cli.stderr(), /^\{/m)

    const refused = startPortcullis(['start', '--log-format', 'xml'], dir)
    const [code] = (await once(refused.child, 'exit')) as [number]
    assert.equal(code, 1)
    assert.match(
      refused.stderr(),
      /--log-format <format>' argument 'xml' is invalid\. Allowed choices are pretty, json/,
    )
  })
})
