/**
 * The admin API for operators only, through the real `portcullis start`
 * process: `/sessions` (which reveals and ends users' sessions) needs the
 * operator's bearer token or, over HTTPS, a client certificate from the
 * admin trust store (curl --cert) when one is configured; `/healthz`,
 * `/metrics` and `/keys` stay readable, and `start` refuses an admin listener
 * beyond loopback whose operator endpoints would need no credential.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { promisify } from 'node:util'
import { ensureLeafCertificate, ensureLocalCa } from '../../src/tls/local-ca.js'
import { authenticateOidcYaml, startTestProvider, type TestProvider } from '../auth/fixtures/provider.js'
import { type ClientCertificate, makeTestPki, type TestPki } from '../fixtures/pki.js'
import { freePort } from '../fixtures/ports.js'
import { type RunningCli, runPortcullis, startGatewayCli } from '../fixtures/process.js'

const TOKEN = 'operator-token-0123456789abcdef'

describe('the admin API for operators only, through portcullis start', { timeout: 120_000 }, () => {
  let dir: string
  let idp: TestProvider
  const running: RunningCli[] = []
  let n = 0

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-admin-'))
    idp = await startTestProvider({ redirectUris: ['http://127.0.0.1:1/oauth2/idpresponse'] })
    await writeFile(join(dir, 'token'), `${TOKEN}\n`)
    await writeFile(join(dir, 'short-token'), 'short\n')
  })

  after(async () => {
    for (const cli of running) {
      if (cli.child.exitCode === null) {
        cli.child.kill('SIGTERM')
        await once(cli.child, 'exit')
      }
    }
    await idp?.close()
    await rm(dir, { recursive: true, force: true })
  })

  /** A file with one authenticating listener, the admin listener as `admin` says, and `more` at the end. */
  async function config(admin: string, more = ''): Promise<{ file: string; adminPort: number }> {
    const adminPort = await freePort()
    const file = join(dir, `case-${++n}.yaml`)
    await writeFile(
      file,
      `Listeners:
  - Port: 0
    Protocol: HTTP
    Portcullis: { Address: 127.0.0.1 }
    DefaultActions:
${authenticateOidcYaml(idp, 6)}
      - { Type: fixed-response, Order: 2, FixedResponseConfig: { StatusCode: "200" } }
Portcullis:
  StateDirectory: ./state-${n}
  AllowInsecureHttpAuthentication: true
  Admin: { ${admin.replace('PORT', String(adminPort))} }
${more}`,
    )
    return { file, adminPort }
  }

  test('start refuses an admin listener beyond loopback with no operator credential, naming the setting', async () => {
    const { file } = await config('Address: 0.0.0.0, Port: PORT')
    const { code, stderr } = await runPortcullis(['start', '--config', file, '--workers', '1'], dir, {
      env: { PORTCULLIS_ADMIN_TOKEN: '' },
    })
    assert.notEqual(code, 0)
    assert.match(
      stderr,
      /case-\d+\.yaml:\d+:\d+ Portcullis\.Admin\.Address: the admin listener binds 0\.0\.0\.0, beyond loopback, .*set Portcullis\.Admin\.TokenFile \(or PORTCULLIS_ADMIN_TOKEN\) to a bearer token, or Portcullis\.Admin\.ClientCertificateTrustStore/,
    )
    assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace')
  })

  test('start refuses a token shorter than 16 characters', async () => {
    const { file } = await config('Address: 0.0.0.0, Port: PORT, TokenFile: ./short-token')
    const { code, stderr } = await runPortcullis(['start', '--config', file, '--workers', '1'], dir)
    assert.notEqual(code, 0)
    assert.match(stderr, /must be at least 16 characters/)
  })

  for (const [how, admin, env] of [
    ['Portcullis.Admin.TokenFile', 'Address: 0.0.0.0, Port: PORT, TokenFile: ./token', {}],
    ['PORTCULLIS_ADMIN_TOKEN', 'Address: 0.0.0.0, Port: PORT', { PORTCULLIS_ADMIN_TOKEN: TOKEN }],
  ] as const) {
    test(`with ${how}: /sessions needs the bearer token; /healthz, /metrics and /keys do not`, async () => {
      const { file, adminPort } = await config(admin)
      const cli = await startGatewayCli(file, dir, { env })
      running.push(cli)
      const base = `http://127.0.0.1:${adminPort}`
      for (const [method, path] of [
        ['GET', '/sessions?sub=alice'],
        ['POST', '/sessions/revoke?sub=alice'],
      ] as const) {
        const none = await fetch(`${base}${path}`, { method })
        assert.equal(none.status, 401, `${method} ${path} without a token`)
        assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="portcullis-admin"')
        const wrong = await fetch(`${base}${path}`, { method, headers: { authorization: `Bearer ${TOKEN}x` } })
        assert.equal(wrong.status, 401, `${method} ${path} with a wrong token`)
        const basic = await fetch(`${base}${path}`, { method, headers: { authorization: `Basic ${TOKEN}` } })
        assert.equal(basic.status, 401)
        // With the token the request reaches the endpoint (409: these sessions live in cookies, not Redis).
        const right = await fetch(`${base}${path}`, { method, headers: { authorization: `Bearer ${TOKEN}` } })
        assert.notEqual(right.status, 401, `${method} ${path} with the token`)
        assert.equal(right.status, 409)
      }
      assert.equal((await fetch(`${base}/healthz`)).status, 200)
      assert.match(await (await fetch(`${base}/metrics`)).text(), /RequestCount/)
      // An unknown key id: the endpoint answers, not the guard.
      assert.equal((await fetch(`${base}/keys/unknown-kid`)).status, 404)
    })
  }

  describe('a client certificate from Portcullis.Admin.ClientCertificateTrustStore', () => {
    let pki: TestPki
    let caFile: string
    let tls: string
    const trustStores = () => `TrustStores:
  - Name: operators
    TrustStoreArn: arn:aws:elasticloadbalancing:us-east-1:123456789012:truststore/operators/0123456789abcdef
    Portcullis: { CaCertificatesBundleFile: "${pki.rootFile}", RevocationFiles: ["${pki.crlFile}"] }
`

    before(async () => {
      pki = await makeTestPki(join(dir, 'pki'))
      caFile = (await ensureLocalCa(join(dir, 'admin-tls'))).caCertPath
      const leaf = await ensureLeafCertificate(join(dir, 'admin-tls'))
      tls = `CertificateFile: "${leaf.certPath}", PrivateKeyFile: "${leaf.keyPath}"`
    })

    /** curl over HTTPS to the admin listener, presenting `client` (or none): the status. */
    async function curl(port: number, method: string, path: string, client?: ClientCertificate): Promise<string> {
      const args = ['-sS', '--cacert', caFile, '-o', '/dev/null', '-w', '%{http_code}', '-X', method]
      if (client !== undefined) args.push('--cert', client.presentedFile, '--key', client.keyFile)
      const { stdout } = await promisify(execFile)('curl', [...args, `https://localhost:${port}${path}`])
      return stdout
    }

    test('beyond loopback with no token: /sessions admits only a certificate the trust store vouches for; the rest stays open', async () => {
      const { file, adminPort } = await config(
        `Address: 0.0.0.0, Port: PORT, ${tls}, ClientCertificateTrustStore: operators`,
        trustStores(),
      )
      const cli = await startGatewayCli(file, dir, { env: { PORTCULLIS_ADMIN_TOKEN: '' } })
      running.push(cli)
      assert.match(cli.output(), new RegExp(`admin +https://0\\.0\\.0\\.0:${adminPort}/`), 'the admin URL is https')
      for (const [method, path] of [
        ['GET', '/sessions?sub=alice'],
        ['POST', '/sessions/revoke?sub=alice'],
      ] as const) {
        // No certificate, another CA's, an expired one, a revoked one: 403 (a TLS credential has no HTTP challenge).
        assert.equal(await curl(adminPort, method, path), '403', `${method} ${path} without a certificate`)
        for (const client of ['wrongCa', 'expired', 'revoked', 'wrongPurpose'] as const) {
          assert.equal(await curl(adminPort, method, path, pki.clients[client]), '403', `${method} ${path} ${client}`)
        }
        // The operator's certificate reaches the endpoint (409: these sessions live in cookies, not Redis).
        assert.equal(await curl(adminPort, method, path, pki.clients.valid), '409', `${method} ${path} valid`)
      }
      assert.equal(await curl(adminPort, 'GET', '/healthz'), '200')
      assert.equal(await curl(adminPort, 'GET', '/metrics'), '200')
      assert.equal(await curl(adminPort, 'GET', '/keys/unknown-kid'), '404')
    })

    test('with a token as well, either credential admits; neither is 401 with the Bearer challenge', async () => {
      const { file, adminPort } = await config(
        `Address: 0.0.0.0, Port: PORT, TokenFile: ./token, ${tls}, ClientCertificateTrustStore: operators`,
        trustStores(),
      )
      const cli = await startGatewayCli(file, dir)
      running.push(cli)
      assert.equal(await curl(adminPort, 'GET', '/sessions?sub=alice', pki.clients.valid), '409')
      assert.equal(await curl(adminPort, 'GET', '/sessions?sub=alice', pki.clients.wrongCa), '401')
      const { stdout } = await promisify(execFile)('curl', [
        '-sS',
        '--cacert',
        caFile,
        '-o',
        '/dev/null',
        '-w',
        '%{http_code} %header{www-authenticate}',
        '-H',
        `Authorization: Bearer ${TOKEN}`,
        `https://localhost:${adminPort}/sessions?sub=alice`,
      ])
      assert.equal(stdout, '409 ')
      const none = await promisify(execFile)('curl', [
        '-sS',
        '--cacert',
        caFile,
        '-o',
        '/dev/null',
        '-w',
        '%{http_code} %header{www-authenticate}',
        `https://localhost:${adminPort}/sessions?sub=alice`,
      ])
      assert.equal(none.stdout, '401 Bearer realm="portcullis-admin"')
    })

    for (const [name, admin, more, message] of [
      [
        'a trust store not in TrustStores',
        () => `Address: 0.0.0.0, Port: PORT, ${tls}, ClientCertificateTrustStore: nobody`,
        trustStores,
        /Portcullis\.Admin\.ClientCertificateTrustStore: no trust store nobody in TrustStores/,
      ],
      [
        'a trust store without the certificate to serve HTTPS',
        () => 'Address: 0.0.0.0, Port: PORT, ClientCertificateTrustStore: operators',
        trustStores,
        /Portcullis\.Admin\.ClientCertificateTrustStore: a client certificate is asked for in a TLS handshake: the admin listener needs CertificateFile and PrivateKeyFile/,
      ],
      [
        'a certificate file that does not exist',
        () => 'Address: 127.0.0.1, Port: PORT, CertificateFile: ./missing.pem, PrivateKeyFile: ./missing.key',
        () => '',
        /Portcullis\.Admin\.CertificateFile: file not found: .*missing\.pem/,
      ],
      [
        'a certificate without its key',
        () => `Address: 127.0.0.1, Port: PORT, CertificateFile: "${join(dir, 'admin-tls', 'x.pem')}"`,
        () => '',
        /Portcullis\.Admin\.CertificateFile: the admin listener serves HTTPS with both CertificateFile and PrivateKeyFile/,
      ],
    ] as const) {
      test(`start refuses ${name}, at its line`, async () => {
        const { file } = await config(admin(), more())
        const { code, stderr } = await runPortcullis(['start', '--config', file, '--workers', '1'], dir, {
          env: { PORTCULLIS_ADMIN_TOKEN: '' },
        })
        assert.notEqual(code, 0)
        assert.match(stderr, new RegExp(`case-\\d+\\.yaml:\\d+:\\d+ ${message.source}`))
        assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace')
      })
    }
  })
})
