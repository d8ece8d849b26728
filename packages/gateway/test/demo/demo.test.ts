import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { pino } from 'pino'
import { Agent, fetch } from 'undici'
import { parse } from 'yaml'
import { demoCommand } from '../../src/cli/commands/demo.js'
import { parseConfig } from '../../src/config/load.js'
import { DEMO_LOAD_BALANCER_ARN } from '../../src/demo/demo.js'
import { ensureLocalCa } from '../../src/tls/local-ca.js'
import { Capture } from '../fixtures/capture.js'
import { listen } from '../fixtures/ports.js'

/** A stream that keeps what is written and lets a test wait for a piece of text. */
async function occupyPort(): Promise<Server> {
  const server = createServer()
  await listen(server)
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
      },
      { stdout, stderr },
    )
    await Promise.race([stdout.waitFor('Press Ctrl-C to stop.'), exit.then(() => assert.fail(stderr.text))])
    const url = /Open (https:\/\/localhost:\d+\/)/.exec(stdout.text)?.[1]
    assert.ok(url, stdout.text)
    assert.match(stdout.text, /alice\s+password: alice-password/)
    assert.match(stdout.text, /bob\s+password: bob-password/)
    assert.match(stdout.text, new RegExp(`NODE_EXTRA_CA_CERTS=${join(state, 'tls', 'ca.pem').replaceAll('/', '\\/')}`))

    const page = await fetch(`${url}public`, { dispatcher: agent })
    assert.equal(page.status, 200)
    assert.match(await page.text(), /anonymous/)
    const api = await fetch(`${url}api/whoami`, { dispatcher: agent })
    assert.equal(api.status, 401)
    await api.body?.cancel()
    const login = await fetch(`${url}somewhere?x=1`, { dispatcher: agent, redirect: 'manual' })
    assert.equal(login.status, 302)
    // One host name for the gateway and the provider: one certificate warning in a browser, not two.
    assert.match(login.headers.get('location')!, /^https:\/\/localhost:\d+\/auth\?/)
    assert.match(
      decodeURIComponent(login.headers.get('location')!),
      new RegExp(`redirect_uri=${url.replaceAll('/', '\\/')}oauth2\\/idpresponse`),
    )
    await login.body?.cancel()

    stop.abort()
    assert.equal(await exit, 0)
    assert.match(stdout.text, /Stopped \(aborted\)\./)
    assert.equal(stderr.text, '')
    await assert.rejects(
      fetch(`${url}public`, { dispatcher: agent }),
      (err: Error) => err.message === 'fetch failed' && (err.cause as NodeJS.ErrnoException).code === 'ECONNREFUSED',
    )
  })

  test('--print-config prints only the YAML it would run, starts nothing, and the YAML is valid', async () => {
    const blockers = [await occupyPort(), await occupyPort(), await occupyPort()]
    const [port, idpPort, adminPort] = blockers.map((blocker) => (blocker.address() as { port: number }).port)
    try {
      const stdout = new Capture()
      const stderr = new Capture()
      // Every port is taken: printing must not try to bind any.
      const code = await demoCommand(
        { stateDirectory: state, port, idpPort, adminPort, printConfig: true, logger: silent },
        { stdout, stderr },
      )
      assert.equal(code, 0, stderr.text)
      assert.equal(stderr.text, '')
      assert.ok(stdout.text.startsWith('# The configuration'), stdout.text.slice(0, 80))
      const { config } = parseConfig(stdout.text, { baseDir: state })
      assert.equal(config.loadBalancer.arn, DEMO_LOAD_BALANCER_ARN)
      assert.deepEqual(
        config.listeners[0]!.rules.map((rule) =>
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
      const file = parse(stdout.text) as { Listeners: { Protocol: string }[] }
      assert.equal(file.Listeners[0]!.Protocol, 'HTTPS')
      const oidc = config.listeners[0]!.rules[0]!.actions[0]!
      assert.ok(oidc.type === 'authenticate-oidc')
      assert.equal(oidc.issuer, `https://localhost:${idpPort}`)
    } finally {
      for (const blocker of blockers) await new Promise<void>((resolve) => blocker.close(() => resolve()))
    }
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
