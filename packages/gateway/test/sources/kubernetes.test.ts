import assert from 'node:assert/strict'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { ensureLeafCertificate } from '../../src/tls/local-ca.js'
import { runPortcullis } from '../fixtures/process.js'
import { importStartAndLogIn, SECRET_ENV, sourceWorkspaces } from './application.js'

/** Two Ingresses in IngressGroup shop, their Services, the OIDC Secret and a Deployment (left out), one file. */
const MANIFESTS = new URL('../fixtures/sources/kubernetes/shop.yaml', import.meta.url)
const CERTIFICATE = 'arn:aws:acm:eu-west-1:123456789012:certificate/5d6b7a0e-1c2f-4e3a-9b8c-7d6e5f4a3b2c'

const { scratch, workspace } = sourceWorkspaces('portcullis-import-k8s-', MANIFESTS, 'shop.yaml')

describe('portcullis import: Kubernetes Ingress for the AWS Load Balancer Controller', () => {
  test('merges the IngressGroup in group.order, never writes the client secret, and validates', async () => {
    const cwd = await workspace()
    const leaf = await ensureLeafCertificate(join(cwd, 'state'))
    await writeFile(
      join(cwd, 'overlay.yaml'),
      `Portcullis: { StateDirectory: ./state }
Certificates: [{ CertificateArn: "${CERTIFICATE}", CertificateFile: "${leaf.certPath}", PrivateKeyFile: "${leaf.keyPath}" }]
TargetGroups: { shop-green-80: { Targets: [{ Id: 127.0.0.1, Port: 3002 }] } }
`,
    )
    const run = await runPortcullis(['import', 'shop.yaml', '--overlay', 'overlay.yaml', '-o', 'portcullis.yaml'], cwd)
    assert.equal(run.code, 0, run.stderr)
    assert.match(run.stderr, /^shop\.yaml:47:7 warning: Deployment shop\/blue kind: left out/m)
    assert.match(run.stderr, /^shop\.yaml:72:44 warning: TargetGroup shop-blue-80: target-type ip: its pod IPs/m)
    const written = await readFile(join(cwd, 'portcullis.yaml'), 'utf8')
    assert.doesNotMatch(written, /bm90LWNvcGllZC1ieS1pbXBvcnQ=|not-copied-by-import/)
    assert.match(written, /# from shop\.yaml: Ingress shop\/shop-app, path \/app, line 89/)
    assert.match(written, /# from shop\.yaml: Service shop\/green port 80, line 32/)
    const validate = await runPortcullis(['validate', 'portcullis.yaml'], cwd, { env: SECRET_ENV })
    assert.equal(validate.code, 0, validate.stderr)
    assert.match(validate.stdout, /Load balancer k8s-shop/)
    assert.match(validate.stdout, /1 +path-pattern=\/app\|\/app\/\* and http-request-method=GET\|HEAD\|POST/)
    assert.match(
      validate.stdout,
      /forward shop-blue-80 \(weight 80\), shop-green-80 \(weight 20\), group stickiness 3600s/,
    )
    // The Ingress shop-app (order 10) comes before shop-public (order 20), its paths in order.
    assert.ok(validate.stdout.indexOf('/healthz') > validate.stdout.indexOf('/app/*'))
    assert.ok(validate.stdout.indexOf('/shop/*') > validate.stdout.indexOf('/healthz'))
  })

  test('imports, starts and logs in through the real gateway', async () => {
    await importStartAndLogIn({
      cwd: await scratch('start-'),
      certificateArn: CERTIFICATE,
      targetGroups: ['shop-blue-80', 'shop-green-80'],
      importArgs: async ({ https, http, idp }) => {
        const cwd = await workspace((text) =>
          text
            .replace('"https://login.example.com/authorize"', `"${idp.endpoints.authorization}"`)
            .replace('"https://login.example.com/oauth/token"', `"${idp.endpoints.token}"`)
            .replace('"https://login.example.com/userinfo"', `"${idp.endpoints.userinfo}"`)
            .replace('"https://login.example.com"', `"${idp.issuer}"`)
            .replaceAll('{"HTTPS": 443}', `{"HTTPS": ${https}}`)
            .replaceAll('{"HTTP": 80}', `{"HTTP": ${http}}`)
            .replace('ssl-redirect: "443"', `ssl-redirect: "${https}"`),
        )
        return [join(cwd, 'shop.yaml')]
      },
    })
  })

  test('audit --import: an HTTP port without ssl-redirect serves the protected paths without login, caught at the manifest', async () => {
    const cwd = await workspace((text) => text.replace('    alb.ingress.kubernetes.io/ssl-redirect: "443"\n', ''))
    const run = await runPortcullis(['audit', '--import', 'shop.yaml', '--fail-on', 'high'], cwd)
    assert.equal(run.code, 1, run.stderr)
    assert.match(
      run.stdout,
      /HIGH {3}auth-bypass-target-group\n {9}shop\.yaml:88:13\n {9}target group shop-blue-80 is behind authentication on HTTPS:443 rule 1/,
    )
    const imported = await runPortcullis(['import', 'shop.yaml'], cwd)
    assert.match(
      imported.stderr,
      /^shop\.yaml:74:42 warning: Ingress shop\/shop-app annotations\[alb\.ingress\.kubernetes\.io\/auth-type\]: the controller authenticates on HTTPS listeners only: on HTTP 80 this path is served without login \(add ssl-redirect\)$/m,
    )
  })
})
