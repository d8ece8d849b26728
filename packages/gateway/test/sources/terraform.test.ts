import assert from 'node:assert/strict'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { ensureLeafCertificate } from '../../src/tls/local-ca.js'
import { runPortcullis } from '../fixtures/process.js'
import { importStartAndLogIn, SECRET_ENV, sourceWorkspaces } from './application.js'

/** `terraform show -json plan.tfplan | jq .` for a first apply: no ARN is known yet, the joins are references. */
const PLAN = new URL('../fixtures/sources/terraform/plan.json', import.meta.url)
const CERTIFICATE = 'arn:aws:acm:eu-west-1:000000000000:certificate/aws_acm_certificate.shop'

const { scratch, workspace } = sourceWorkspaces('portcullis-import-tf-', PLAN, 'plan.json')

describe('portcullis import: terraform show -json (a plan)', () => {
  test('joins through the configuration references, never writes the client secret, and validates', async () => {
    const cwd = await workspace()
    const leaf = await ensureLeafCertificate(join(cwd, 'state'))
    await writeFile(
      join(cwd, 'overlay.yaml'),
      `Portcullis: { StateDirectory: ./state }
Certificates: [{ CertificateArn: "${CERTIFICATE}", CertificateFile: "${leaf.certPath}", PrivateKeyFile: "${leaf.keyPath}" }]
TargetGroups: { green: { Targets: [{ Id: 127.0.0.1, Port: 3002 }] } }
`,
    )
    const run = await runPortcullis(['import', 'plan.json', '--overlay', 'overlay.yaml', '-o', 'portcullis.yaml'], cwd)
    assert.equal(run.code, 0, run.stderr)
    assert.match(
      run.stderr,
      /^plan\.json:\d+:\d+ warning: .*aws_acm_certificate\.shop is known only after apply: it stands as/m,
    )
    const written = await readFile(join(cwd, 'portcullis.yaml'), 'utf8')
    assert.doesNotMatch(written, /from-terraform-tfvars/)
    assert.match(written, /# from plan\.json: aws_lb_listener_rule\.app, line 126/)
    const validate = await runPortcullis(['validate', 'portcullis.yaml'], cwd, { env: SECRET_ENV })
    assert.equal(validate.code, 0, validate.stderr)
    assert.match(validate.stdout, /Load balancer shop-alb \(eu-west-1\)/)
    assert.match(validate.stdout, /10 {7}path-pattern=\/app\/\* and http-request-method=GET\|HEAD\|POST/)
    assert.match(validate.stdout, /forward blue \(weight 80\), green \(weight 20\), group stickiness 3600s/)
    assert.match(validate.stdout, /targets {5}10\.0\.1\.10:8080/)
  })

  test('imports, starts and logs in through the real gateway', async () => {
    await importStartAndLogIn({
      cwd: await scratch('start-'),
      certificateArn: CERTIFICATE,
      targetGroups: ['blue', 'green'],
      importArgs: async ({ https, http, idp }) => {
        const cwd = await workspace((text) =>
          text
            .replace('"https://login.example.com/authorize"', `"${idp.endpoints.authorization}"`)
            .replace('"https://login.example.com/oauth/token"', `"${idp.endpoints.token}"`)
            .replace('"https://login.example.com/userinfo"', `"${idp.endpoints.userinfo}"`)
            .replace('"https://login.example.com"', `"${idp.issuer}"`)
            .replaceAll('"port": 443,', `"port": ${https},`)
            .replaceAll('"port": "443"', `"port": "${https}"`)
            .replaceAll('"port": 80,', `"port": ${http},`),
        )
        return [join(cwd, 'plan.json')]
      },
    })
  })

  describe('refuses, pointing into the JSON', () => {
    test('a rule whose listener is not in the plan', async () => {
      const cwd = await workspace((text) => {
        const plan = JSON.parse(text)
        plan.configuration.root_module.resources[2].expressions.listener_arn = {
          references: ['module.edge.listener_arn'],
        }
        return `${JSON.stringify(plan, null, 2)}\n`
      })
      const run = await runPortcullis(['import', 'plan.json'], cwd)
      assert.equal(run.code, 2)
      assert.match(
        run.stderr,
        /^plan\.json:127:11 planned_values\.root_module\.resources\[4\]\.address: aws_lb_listener_rule\.app: its listener_arn is module\.edge\.listener_arn, not a listener of this plan$/m,
      )
    })

    test('an invalid value, located in the plan as terraform prints it (one line) and through jq', async () => {
      const cwd = await workspace((text) => text.replace('"priority": 20,', '"priority": 0,'))
      const pretty = await runPortcullis(['import', 'plan.json'], cwd)
      assert.equal(pretty.code, 2)
      assert.match(
        pretty.stderr,
        /^plan\.json:274:25 Listeners\[1\]\.Rules\[1\]\.Priority: a rule priority must be 1\.\.50000, got 0$/m,
      )
      const text = await readFile(join(cwd, 'plan.json'), 'utf8')
      await writeFile(join(cwd, 'plan.json'), JSON.stringify(JSON.parse(text)))
      const oneLine = await runPortcullis(['import', 'plan.json'], cwd)
      assert.equal(oneLine.code, 2)
      assert.match(
        oneLine.stderr,
        /^plan\.json:1:\d+ Listeners\[1\]\.Rules\[1\]\.Priority: a rule priority must be 1\.\.50000, got 0$/m,
      )
    })
  })
})
