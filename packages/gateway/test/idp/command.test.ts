import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { Agent, fetch } from 'undici'
import { parse } from 'yaml'
import { idpCommand } from '../../src/cli/commands/idp.js'
import { ensureLocalCa } from '../../src/tls/local-ca.js'
import { Capture } from '../fixtures/capture.js'
import { freePort, listen } from '../fixtures/ports.js'

describe('portcullis idp', () => {
  let state: string
  before(async () => {
    state = await mkdtemp(join(tmpdir(), 'portcullis-idp-cmd-'))
  })
  after(() => rm(state, { recursive: true, force: true }))

  test('serves HTTPS on the local CA and prints the endpoints, a matching action, the users', async () => {
    const port = await freePort()
    const stdout = new Capture()
    const stderr = new Capture()
    const stop = new AbortController()
    const options = {
      port,
      host: '127.0.0.1',
      stateDirectory: state,
      clientId: 'my-app',
      clientSecret: 'my-secret',
      redirectUri: ['https://localhost:8443/oauth2/idpresponse'],
      signal: stop.signal,
    }
    const exit = idpCommand(options, { stdout, stderr })
    await Promise.race([stdout.waitFor('Press Ctrl-C to stop.'), exit.then(() => assert.fail(stderr.text))])
    // Bound to 127.0.0.1, reached as localhost: the name the gateway and the demo use.
    const issuer = `https://localhost:${port}`
    assert.match(stdout.text, new RegExp(`Issuer: +${issuer}`))
    assert.match(stdout.text, /alice \/ alice-password/)
    assert.match(stdout.text, /bob \/ bob-password/)
    assert.match(stdout.text, /NODE_EXTRA_CA_CERTS=/)

    // The printed snippet is YAML a gateway configuration can take as is.
    const start = stdout.text.indexOf("# In a rule's Actions")
    const end = stdout.text.indexOf('The local development CA')
    const snippet = stdout.text.slice(start, end)
    const [action] = parse(snippet.slice(0, snippet.indexOf('# At the top level'))) as {
      AuthenticateOidcConfig: Record<string, string>
    }[]
    assert.deepEqual(action!.AuthenticateOidcConfig, {
      Issuer: issuer,
      AuthorizationEndpoint: `${issuer}/auth`,
      TokenEndpoint: `${issuer}/token`,
      UserInfoEndpoint: `${issuer}/me`,
      ClientId: 'my-app',
      ClientSecret: 'my-secret',
      Scope: 'openid email profile groups',
    })
    const topLevel = parse(snippet.slice(snippet.indexOf('# At the top level'))) as { Portcullis: { CaFile: string } }
    assert.equal(topLevel.Portcullis.CaFile, join(state, 'tls', 'ca.pem'))

    const agent = new Agent({ connect: { ca: (await ensureLocalCa(state)).caCertPem } })
    try {
      const discovery = await fetch(`${issuer}/.well-known/openid-configuration`, { dispatcher: agent })
      assert.equal(((await discovery.json()) as { issuer: string }).issuer, issuer)
    } finally {
      await agent.close()
    }
    stop.abort()
    assert.equal(await exit, 0)
    assert.equal(stderr.text, '')
  })

  test('refuses a bad redirect URI and explains a port in use, in one line each', async () => {
    const base = {
      host: '127.0.0.1',
      stateDirectory: state,
      clientId: 'my-app',
      clientSecret: 'my-secret',
    }
    const badUri = new Capture()
    assert.equal(
      await idpCommand({ ...base, port: 0, redirectUri: ['not a url'] }, { stdout: new Capture(), stderr: badUri }),
      2,
    )
    assert.match(badUri.text, /--redirect-uri "not a url" is not an absolute URL/)

    const blocker = createServer()
    await listen(blocker)
    try {
      const busy = new Capture()
      const code = await idpCommand(
        { ...base, port: (blocker.address() as { port: number }).port, redirectUri: ['https://localhost:8443/cb'] },
        { stdout: new Capture(), stderr: busy },
      )
      assert.equal(code, 1)
      assert.match(busy.text, /already in use.*--port/)
      assert.equal(busy.text.trim().split('\n').length, 1)
    } finally {
      blocker.close()
    }
  })

  test('--redirect-uri adds to the default; an unregistered one gets a page showing it and how to allow it', async () => {
    const port = await freePort()
    const stdout = new Capture()
    const stderr = new Capture()
    const stop = new AbortController()
    const extra = 'https://app.localhost:9000/oauth2/idpresponse'
    const exit = idpCommand(
      {
        port,
        host: '127.0.0.1',
        stateDirectory: state,
        clientId: 'my-app',
        clientSecret: 'my-secret',
        redirectUri: [extra],
        signal: stop.signal,
      },
      { stdout, stderr },
    )
    await Promise.race([stdout.waitFor('Press Ctrl-C to stop.'), exit.then(() => assert.fail(stderr.text))])
    assert.match(
      stdout.text,
      /may redirect to:\n {2}https:\/\/localhost:8443\/oauth2\/idpresponse\n {2}https:\/\/app\.localhost/,
    )
    const agent = new Agent({ connect: { ca: (await ensureLocalCa(state)).caCertPem } })
    const authorize = (redirectUri: string) =>
      fetch(
        `https://localhost:${port}/auth?${new URLSearchParams({ client_id: 'my-app', response_type: 'code', scope: 'openid', redirect_uri: redirectUri })}`,
        { dispatcher: agent, redirect: 'manual' },
      )
    try {
      for (const allowed of ['https://localhost:8443/oauth2/idpresponse', extra]) {
        const response = await authorize(allowed)
        await response.body?.cancel()
        assert.equal(response.status, 303, allowed)
        assert.match(response.headers.get('location') ?? '', /\/interaction\//)
      }
      const foreign = 'https://other.example/oauth2/idpresponse?x=<b>'
      const refused = await authorize(foreign)
      assert.equal(refused.status, 400)
      const html = await refused.text()
      assert.ok(html.includes('https://other.example/oauth2/idpresponse?x=&lt;b&gt;'), html)
      assert.ok(!html.includes('<b>'), 'the received URI is escaped')
      assert.match(html, /portcullis idp --redirect-uri &#39;https:\/\/other\.example/)
    } finally {
      await agent.close()
      stop.abort()
    }
    assert.equal(await exit, 0)
  })
})
