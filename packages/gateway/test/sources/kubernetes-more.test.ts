/**
 * More of the Kubernetes source (kept apart from kubernetes.test.ts so each file stays well within the
 * runner's per-file timeout on a loaded machine): kubectl's List shape, several IngressGroups, cognito,
 * and the refusals, each at its file:line:column.
 */
import assert from 'node:assert/strict'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { parseAllDocuments, stringify } from 'yaml'
import { runPortcullis } from '../fixtures/process.js'
import { SECRET_ENV, sourceWorkspaces } from './application.js'

/** Two Ingresses in IngressGroup shop, their Services, the OIDC Secret and a Deployment (left out), one file. */
const MANIFESTS = new URL('../fixtures/sources/kubernetes/shop.yaml', import.meta.url)

const { workspace } = sourceWorkspaces('portcullis-import-k8s-', MANIFESTS, 'shop.yaml')

describe('portcullis import: Kubernetes manifests, other shapes and refusals', () => {
  test('kubectl get -o yaml: a List with two IngressGroups, one chosen with --load-balancer', async () => {
    const objects = parseAllDocuments(await readFile(MANIFESTS, 'utf8')).map((doc) => doc.toJS())
    const other = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { namespace: 'ops', name: 'admin' },
      spec: {
        ingressClassName: 'alb',
        defaultBackend: { service: { name: 'grafana', port: { number: 3000 } } },
      },
    }
    const cwd = await workspace(() => stringify({ apiVersion: 'v1', kind: 'List', items: [...objects, other] }))
    const both = await runPortcullis(['import', 'shop.yaml'], cwd)
    assert.equal(both.code, 2)
    assert.match(
      both.stderr,
      /the manifests make 2 load balancers \(IngressGroups shop, ops\/admin\); choose one with --load-balancer GROUP/,
    )
    const shop = await runPortcullis(['import', 'shop.yaml', '--load-balancer', 'shop', '-o', 'portcullis.yaml'], cwd)
    assert.equal(shop.code, 0, shop.stderr)
    // Located in the List as kubectl prints it: the Deployment is its fifth item.
    assert.match(shop.stderr, /^shop\.yaml:\d+:\d+ warning: Deployment shop\/blue kind: left out/m)
    const written = await readFile(join(cwd, 'portcullis.yaml'), 'utf8')
    assert.match(written, /TargetGroupName: shop-blue-80/)
    assert.doesNotMatch(written, /grafana/)
    const admin = await runPortcullis(['import', 'shop.yaml', '--load-balancer', 'ops/admin'], cwd)
    assert.equal(admin.code, 0, admin.stderr)
    assert.match(admin.stdout, /TargetGroupName: ops-grafana-3000/)
  })

  test('auth-type cognito: auth-idp-cognito becomes authenticate-cognito', async () => {
    const cwd = await workspace((text) =>
      text.replace(
        'auth-type: oidc',
        `auth-type: cognito
    alb.ingress.kubernetes.io/auth-idp-cognito: '{"userPoolARN":"arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_AbCdEf123","userPoolClientID":"shop-web","userPoolDomain":"shop-login"}'`,
      ),
    )
    await writeFile(join(cwd, 'overlay.yaml'), 'Portcullis: { LocalCertificates: true, StateDirectory: ./state }\n')
    const run = await runPortcullis(['import', 'shop.yaml', '--overlay', 'overlay.yaml', '-o', 'portcullis.yaml'], cwd)
    assert.equal(run.code, 0, run.stderr)
    const validate = await runPortcullis(['validate', 'portcullis.yaml'], cwd, { env: SECRET_ENV })
    assert.equal(validate.code, 0, validate.stderr)
    assert.match(
      validate.stdout,
      /→ authenticate-cognito issuer https:\/\/cognito-idp\.eu-west-1\.amazonaws\.com\/eu-west-1_AbCdEf123, client shop-web/,
    )
  })

  describe('refuses, pointing at the annotation', () => {
    test('an annotation value that is not JSON: the annotation line, the column of its value', async () => {
      const cwd = await workspace((text) => text.replace('"secretName":"shop-oidc"}\'', '"secretName":"shop-oidc"\''))
      const run = await runPortcullis(['import', 'shop.yaml'], cwd)
      assert.equal(run.code, 2)
      assert.match(
        run.stderr,
        /^shop\.yaml:76:46 Ingress shop\/shop-app annotations\[alb\.ingress\.kubernetes\.io\/auth-idp-oidc\]: not JSON: /m,
      )
    })

    test('an unknown auth-type', async () => {
      const cwd = await workspace((text) => text.replace('auth-type: oidc', 'auth-type: saml'))
      const run = await runPortcullis(['import', 'shop.yaml'], cwd)
      assert.equal(run.code, 2)
      assert.match(
        run.stderr,
        /^shop\.yaml:75:42 Ingress shop\/shop-app annotations\[alb\.ingress\.kubernetes\.io\/auth-type\]: expected none, oidc or cognito, got saml$/m,
      )
    })

    test('an annotation Portcullis cannot honour, and one the controller does not have', async () => {
      const cwd = await workspace((text) =>
        text.replace(
          '    alb.ingress.kubernetes.io/target-type: ip\n    alb.ingress.kubernetes.io/actions.healthz',
          '    alb.ingress.kubernetes.io/target-type: ip\n    alb.ingress.kubernetes.io/wafv2-acl-arn: arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/shop/1\n    alb.ingress.kubernetes.io/healthcheck-paht: /health\n    alb.ingress.kubernetes.io/actions.healthz',
        ),
      )
      const run = await runPortcullis(['import', 'shop.yaml'], cwd)
      assert.equal(run.code, 2)
      assert.match(
        run.stderr,
        /^shop\.yaml:108:46 Ingress shop\/shop-public annotations\[alb\.ingress\.kubernetes\.io\/wafv2-acl-arn\]: not supported: Portcullis has no web application firewall/m,
      )
      assert.match(
        run.stderr,
        /^shop\.yaml:109:49 Ingress shop\/shop-public annotations\[alb\.ingress\.kubernetes\.io\/healthcheck-paht\]: not an annotation of the AWS Load Balancer Controller's Ingress$/m,
      )
    })

    test('the validator’s own errors land in the manifest: a redirect status ALB does not have', async () => {
      const cwd = await workspace((text) => text.replace('"statusCode":"HTTP_302"', '"statusCode":"HTTP_307"'))
      const run = await runPortcullis(['import', 'shop.yaml'], cwd)
      assert.equal(run.code, 2)
      assert.match(
        run.stderr,
        /^shop\.yaml:110:49 Listeners\[1\]\.Rules\[2\]\.Actions\[0\]\.RedirectConfig\.StatusCode: /m,
      )
    })
  })
})
