import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { after, before, describe, test } from 'node:test'
import { pino } from 'pino'
import { Agent, fetch } from 'undici'
import { parse } from 'yaml'
import { demoCommand } from '../../src/cli/commands/demo.js'
import { parseConfig } from '../../src/config/load.js'
import { DEMO_LOAD_BALANCER_ARN } from '../../src/demo/demo.js'
import { ensureLocalCa } from '../../src/tls/local-ca.js'

/** A stream that keeps what is written and lets a test wait for a piece of text. */
class Capture extends Writable {
  text = ''
  #waiters: { needle: string; resolve: () => void }[] = []

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString('utf8')
    this.#waiters = this.#waiters.filter((waiter) => {
      if (!this.text.includes(waiter.needle)) return true
      waiter.resolve()
      return false
    })
    done()
  }

  waitFor(needle: string): Promise<void> {
    if (this.text.includes(needle)) return Promise.resolve()
    return new Promise((resolve) => this.#waiters.push({ needle, resolve }))
  }
}

async function occupyPort(): Promise<Server> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return server
}

const silent = pino({ level: 'silent' })

describe('portcullis demo', () => {
  let state: string
  let agent: Agent
  before(async () => {
    state = await mkdtemp(join(tmpdir(), 'portcullis-demo-'))
    agent = new Agent({ connect: { ca: (await ensureLocalCa(state)).caCertPem } })
  })
  after(async () => {
    await agent.close()
    await rm(state, { recursive: true, force: true })
  })

  test('starts, prints the URL, the credentials and how to trust the CA, serves, and stops cleanly', async () => {
    const stdout = new Capture()
    const stderr = new Capture()
    const stop = new AbortController()
    const exit = demoCommand(
      {
        stateDirectory: state,
        port: 0,
        idpPort: 0,
        adminPort: 0,
        logger: silent,
        signal: stop.signal,
        printConfig: true,
      },
      { stdout, stderr },
    )
    await Promise.race([stdout.waitFor('Press Ctrl-C to stop.'), exit.then(() => assert.fail(stderr.text))])
    const url = /Open (https:\/\/localhost:\d+\/)/.exec(stdout.text)?.[1]
    assert.ok(url, stdout.text)
    assert.match(stdout.text, /alice\s+password: alice-password/)
    assert.match(stdout.text, /bob\s+password: bob-password/)
    assert.match(stdout.text, new RegExp(`NODE_EXTRA_CA_CERTS=${join(state, 'tls', 'ca.pem').replaceAll('/', '\\/')}`))

    // --print-config printed the YAML the gateway runs, and it is a valid configuration.
    const yamlText = stdout.text.slice(
      stdout.text.indexOf('# The configuration'),
      stdout.text.indexOf('\nPortcullis demo is running.'),
    )
    const { config } = parseConfig(yamlText, { baseDir: state })
    assert.equal(config.loadBalancer.arn, DEMO_LOAD_BALANCER_ARN)
    const rules = config.listeners[0]!.rules
    assert.deepEqual(
      rules.map((rule) =>
        rule.actions.map((action) =>
          'onUnauthenticatedRequest' in action ? action.onUnauthenticatedRequest : action.type,
        ),
      ),
      [
        ['deny', 'forward'],
        ['allow', 'forward'],
        ['authenticate', 'forward'],
      ],
    )
    assert.equal((parse(yamlText) as { Listeners: { Protocol: string }[] }).Listeners[0]!.Protocol, 'HTTPS')

    const page = await fetch(`${url}public`, { dispatcher: agent })
    assert.equal(page.status, 200)
    assert.match(await page.text(), /anonymous/)
    const api = await fetch(`${url}api/whoami`, { dispatcher: agent })
    assert.equal(api.status, 401)
    await api.body?.cancel()
    const login = await fetch(`${url}somewhere?x=1`, { dispatcher: agent, redirect: 'manual' })
    assert.equal(login.status, 302)
    assert.match(login.headers.get('location')!, /^https:\/\/127\.0\.0\.1:\d+\/auth\?/)
    await login.body?.cancel()

    stop.abort()
    assert.equal(await exit, 0)
    assert.match(stdout.text, /Stopped \(aborted\)\./)
    assert.equal(stderr.text, '')
    await assert.rejects(fetch(`${url}public`, { dispatcher: agent }))
  })

  test('explains a port in use in one line, naming the option to change, and starts nothing', async () => {
    for (const [option, key] of [
      ['--idp-port', 'idpPort'],
      ['--port', 'port'],
      ['--admin-port', 'adminPort'],
    ] as const) {
      const blocker = await occupyPort()
      const busy = (blocker.address() as { port: number }).port
      try {
        const stdout = new Capture()
        const stderr = new Capture()
        const code = await demoCommand(
          { stateDirectory: state, port: 0, idpPort: 0, adminPort: 0, [key]: busy, logger: silent },
          { stdout, stderr },
        )
        assert.equal(code, 1, option)
        assert.match(stderr.text, /already in use/, option)
        assert.ok(stderr.text.includes(option), `${option}: ${stderr.text}`)
        assert.equal(stderr.text.trim().split('\n').length, 1, 'one line, no stack trace')
        assert.doesNotMatch(stderr.text, /\n\s+at /)
        assert.equal(stdout.text, '')
      } finally {
        blocker.close()
      }
    }
  })
})
