/**
 * The whole-application check every source's fixture goes through: import it
 * with an overlay (certificate files, targets, addresses), `portcullis start`
 * the written file (access log and metrics on), log in at the development
 * IdP through it, and send what users send: the login-protected weighted
 * forward, the HTTP listener's redirect, a fixed response, the default 404.
 * Every fixture describes the same application: HTTPS with `/app/*` behind
 * authenticate-oidc (client `shop-web`) forwarding to target groups `blue`
 * and `green`, `/healthz` answering `ok`, HTTP redirecting to HTTPS.
 */
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before } from 'node:test'
import { Agent as UndiciAgent } from 'undici'
import { createDevIdentityProvider, type DevIdentityProvider } from '../../src/idp/provider.js'
import { ensureLeafCertificate, ensureLocalCa } from '../../src/tls/local-ca.js'
import { logInAtDevIdp } from '../fixtures/login.js'
import { freePort } from '../fixtures/ports.js'
import { runPortcullis, startGatewayCli, waitFor } from '../fixtures/process.js'
import { echoHandler, startUpstream } from '../fixtures/servers.js'

/** The client secret AWS keeps (Secrets Manager, or ALB itself): the environment gives it to Portcullis. */
export const SECRET_ENV = { PORTCULLIS_CLIENT_SECRET_SHOP_WEB: 'shop-web-secret' }

/** What a fixture needs to know of the running test. */
export interface Run {
  readonly https: number
  readonly http: number
  readonly idp: DevIdentityProvider
}

/**
 * Imports (`importArgs` gives the sources and their options), starts and
 * logs in. `certificateArn` and the target group names go into the overlay.
 */
export async function importStartAndLogIn(options: {
  readonly cwd: string
  readonly importArgs: (run: Run) => Promise<string[]>
  readonly certificateArn: string
  readonly targetGroups: readonly [string, string]
}): Promise<void> {
  const { cwd } = options
  const ca = await ensureLocalCa(join(cwd, 'state'))
  const leaf = await ensureLeafCertificate(join(cwd, 'state'))
  const [https, http, admin] = [await freePort(), await freePort(), await freePort()]
  const idp = await createDevIdentityProvider({
    tls: leaf,
    clients: [
      {
        clientId: 'shop-web',
        clientSecret: SECRET_ENV.PORTCULLIS_CLIENT_SECRET_SHOP_WEB,
        redirectUris: [`https://localhost:${https}/oauth2/idpresponse`],
      },
    ],
  })
  const upstreams = [await startUpstream(echoHandler), await startUpstream(echoHandler)]
  const dispatcher = new UndiciAgent({ connect: { ca: ca.caCertPem } })
  try {
    const log = join(cwd, 'access.log')
    const [blue, green] = options.targetGroups
    await writeFile(
      join(cwd, 'overlay.yaml'),
      `Portcullis:
  StateDirectory: ./state
  CaFile: "${ca.caCertPath}"
  Admin: { Address: 127.0.0.1, Port: ${admin} }
  AccessLog: { Format: json, Path: "${log}" }
Certificates:
  - { CertificateArn: "${options.certificateArn}", CertificateFile: "${leaf.certPath}", PrivateKeyFile: "${leaf.keyPath}" }
TargetGroups:
  ${blue}: { Targets: [{ Id: 127.0.0.1, Port: ${upstreams[0]!.port} }] }
  ${green}: { Targets: [{ Id: 127.0.0.1, Port: ${upstreams[1]!.port} }] }
Listeners:
  "${https}": { Portcullis: { Address: 127.0.0.1 } }
  "${http}": { Portcullis: { Address: 127.0.0.1 } }
`,
    )
    const args = await options.importArgs({ https, http, idp })
    const imported = await runPortcullis(['import', ...args, '--overlay', 'overlay.yaml', '-o', 'portcullis.yaml'], cwd)
    assert.equal(imported.code, 0, imported.stderr)
    const gateway = await startGatewayCli('portcullis.yaml', cwd, { env: SECRET_ENV })
    try {
      const transport = { dispatcher } as unknown as RequestInit
      const session = await logInAtDevIdp(`https://localhost:${https}/app/start`, undefined, undefined, transport)
      const app = await fetch(`https://localhost:${https}/app/orders`, { ...transport, headers: { cookie: session } })
      assert.equal(app.status, 200)
      const echo = (await app.json()) as { url: string; headers: Record<string, string> }
      assert.equal(echo.url, '/app/orders')
      assert.ok(echo.headers['x-amzn-oidc-data'], 'the target gets the identity token')
      const redirect = await fetch(`http://127.0.0.1:${http}/app/x?y=1`, { redirect: 'manual' })
      assert.equal(redirect.status, 301)
      assert.equal(redirect.headers.get('location'), `https://127.0.0.1:${https}/app/x?y=1`)
      const health = await fetch(`https://localhost:${https}/healthz`, transport)
      assert.equal(health.status, 200)
      const missing = await fetch(`https://localhost:${https}/nowhere`, transport)
      assert.equal(missing.status, 404)
      await waitFor(async () => (await readFile(log, 'utf8').catch(() => '')).includes('/nowhere'), 'the access log')
      const metrics = await fetch(`http://127.0.0.1:${admin}/metrics`)
      assert.match(await metrics.text(), /portcullis_/)
    } finally {
      gateway.child.kill('SIGTERM')
      await new Promise((resolve) => gateway.child.once('exit', resolve))
    }
  } finally {
    await dispatcher.close()
    for (const upstream of upstreams) await upstream.close()
    await idp.close()
  }
}

/**
 * A scratch directory for one test file's source fixture (made before its
 * tests, removed after them): `scratch(prefix)` a fresh directory in it, and
 * `workspace(edit)` one holding the fixture at `source`, edited, as `name`.
 */
export function sourceWorkspaces(prefix: string, source: URL, name: string) {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix))
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })
  const scratch = (what: string): Promise<string> => mkdtemp(join(dir, what))
  return {
    scratch,
    async workspace(edit: (text: string) => string = (t) => t): Promise<string> {
      const cwd = await scratch('w-')
      await writeFile(join(cwd, name), edit(await readFile(source, 'utf8')))
      return cwd
    },
  }
}
