import assert from 'node:assert/strict'
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { ensureLeafCertificate } from '../../src/tls/local-ca.js'
import { runPortcullis } from '../fixtures/process.js'
import { importStartAndLogIn, SECRET_ENV } from './application.js'

const FIXTURES = new URL('../fixtures/sources/cloudformation/', import.meta.url)
const CDK_CERTIFICATE = 'arn:aws:acm:eu-west-1:123456789012:certificate/6a1e0c8e-2f0b-4c55-9d3f-5b7f3c2e1a90'

let dir: string

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-import-cfn-'))
})

after(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** A fresh directory with the fixtures, and `files` written into it. */
async function workspace(files: Record<string, string> = {}): Promise<string> {
  const cwd = await mkdtemp(join(dir, 'w-'))
  await cp(FIXTURES, cwd, { recursive: true })
  for (const [name, text] of Object.entries(files)) await writeFile(join(cwd, name), text)
  return cwd
}

/** An overlay for `validate`: certificate files and one target per group. */
async function overlay(cwd: string, certificateArn: string, groups: string[]): Promise<void> {
  const leaf = await ensureLeafCertificate(join(cwd, 'state'))
  await writeFile(
    join(cwd, 'overlay.yaml'),
    `Portcullis: { StateDirectory: ./state }
Certificates:
  - { CertificateArn: "${certificateArn}", CertificateFile: "${leaf.certPath}", PrivateKeyFile: "${leaf.keyPath}" }
TargetGroups:
${groups.map((g, i) => `  ${g}: { Targets: [{ Id: 127.0.0.1, Port: ${3001 + i} }] }`).join('\n')}
`,
  )
}

describe('portcullis import: a CloudFormation template (YAML, short-form intrinsics)', () => {
  test('resolves parameters, mappings, conditions and intrinsics; names what only AWS knows, in the template', async () => {
    const cwd = await workspace()
    const run = await runPortcullis(['import', 'shop.yaml', '--parameter', 'Environment=production'], cwd)
    assert.equal(run.code, 0, run.stderr)
    assert.match(
      run.stdout,
      /# from shop\.yaml: Resources\.AppRule \(AWS::ElasticLoadBalancingV2::ListenerRule\), line 96/,
    )
    assert.match(run.stdout, /LoadBalancerName: shop-production/)
    assert.match(run.stdout, /Key: routing\.http\.drop_invalid_header_fields\.enabled\n\s+Value: "true"/)
    // The certificate, the instance target and the Secrets Manager client secret: named once, with what supplies them.
    assert.match(
      run.stderr,
      /^shop\.yaml:88:32 warning: .*Ref Certificate \(AWS::CertificateManager::Certificate\) is known only once deployed: it stands as arn:aws:acm:us-east-1:000000000000:certificate\/Certificate; give its files in the overlay/m,
    )
    assert.match(
      run.stderr,
      /^shop\.yaml:174:20 warning: .*Ref GreenInstance \(AWS::EC2::Instance\).*TargetGroups: \{ green:/m,
    )
    assert.match(run.stderr, /^ {2}shop\.yaml:116:32 .*UseExistingClientSecret.*PORTCULLIS_CLIENT_SECRET_SHOP_WEB/m)
  })

  test('with an overlay the written file validates: the production weights, the stickiness, the redirect', async () => {
    const cwd = await workspace()
    await overlay(cwd, 'arn:aws:acm:eu-west-1:123456789012:certificate/Certificate', ['blue', 'green'])
    const args = ['import', 'shop.yaml', '--overlay', 'overlay.yaml', '-o', 'portcullis.yaml']
    const regional = ['--parameter', 'AWS::Region=eu-west-1', '--parameter', 'AWS::AccountId=123456789012']
    const run = await runPortcullis([...args, ...regional, '--parameter', 'Environment=production'], cwd)
    assert.equal(run.code, 0, run.stderr)
    const validate = await runPortcullis(['validate', 'portcullis.yaml'], cwd, { env: SECRET_ENV })
    assert.equal(validate.code, 0, validate.stderr)
    assert.match(validate.stdout, /Load balancer shop-production \(eu-west-1\)/)
    assert.match(validate.stdout, /forward blue \(weight 80\), green \(weight 20\), group stickiness 3600s/)
    assert.match(validate.stdout, /redirect 301 HTTPS:\/\/#\{host\}:443\/#\{path\}\?#\{query\}/)
    // The staging default picks the other mapping.
    const staging = await runPortcullis([...args, ...regional], cwd)
    assert.equal(staging.code, 0, staging.stderr)
    const again = await runPortcullis(['validate', 'portcullis.yaml'], cwd, { env: SECRET_ENV })
    assert.match(again.stdout, /forward blue \(weight 50\), green \(weight 50\)/)
  })

  test('imports, starts and logs in through the real gateway', async () => {
    const cwd = await workspace()
    await importStartAndLogIn({
      cwd,
      certificateArn: 'arn:aws:acm:us-east-1:000000000000:certificate/Certificate',
      targetGroups: ['blue', 'green'],
      importArgs: async ({ https, http, idp }) => [
        'shop.yaml',
        ...['HttpsPort', String(https), 'HttpPort', String(http), 'OidcIssuer', idp.issuer]
          .concat(['OidcAuthorizationEndpoint', idp.endpoints.authorization])
          .concat(['OidcTokenEndpoint', idp.endpoints.token, 'OidcUserInfoEndpoint', idp.endpoints.userinfo])
          .flatMap((v, i, all) => (i % 2 === 0 ? ['--parameter', `${v}=${all[i + 1]}`] : [])),
      ],
    })
  })

  describe('refuses, pointing into the template', () => {
    test('an unknown YAML tag', async () => {
      const cwd = await workspace({ 'bad.yaml': 'Resources:\n  LB:\n    Type: !Foo bar\n' })
      const run = await runPortcullis(['import', 'bad.yaml'], cwd)
      assert.equal(run.code, 2)
      assert.match(run.stderr, /^bad\.yaml:3:16 unknown YAML tag !Foo/m)
    })

    test('a parameter without a default that nobody gave', async () => {
      const cwd = await workspace()
      const text = (await readFile(join(cwd, 'shop.yaml'), 'utf8')).replace(
        'OidcClientId:\n    Type: String\n    Default: shop-web',
        'OidcClientId:\n    Type: String',
      )
      await writeFile(join(cwd, 'shop.yaml'), text)
      const run = await runPortcullis(['import', 'shop.yaml'], cwd)
      assert.equal(run.code, 2)
      assert.match(
        run.stderr,
        /^shop\.yaml:114:28 Resources\.AppRule\.Properties\.Actions\[0\]\.AuthenticateOidcConfig\.ClientId\.Ref: parameter OidcClientId has no Default; give it with --parameter OidcClientId=VALUE$/m,
      )
      const given = await runPortcullis(['import', 'shop.yaml', '--parameter', 'OidcClientId=shop-web'], cwd)
      assert.equal(given.code, 0, given.stderr)
    })

    test('a parameter outside its AllowedValues, and one the template does not declare', async () => {
      const cwd = await workspace()
      const run = await runPortcullis(
        ['import', 'shop.yaml', '--parameter', 'Environment=dev', '--parameter', 'Colour=blue'],
        cwd,
      )
      assert.equal(run.code, 2)
      assert.match(
        run.stderr,
        /^shop\.yaml:9:5 Parameters\.Environment\.AllowedValues: --parameter Environment=dev: not one of its AllowedValues \(staging, production\)$/m,
      )
      assert.match(run.stderr, /^shop\.yaml:5:1 Parameters: --parameter Colour: the template has no parameter Colour$/m)
    })

    test('an Fn::ImportValue where Portcullis needs the value, until --import-value gives it', async () => {
      const cwd = await workspace()
      const text = (await readFile(join(cwd, 'shop.yaml'), 'utf8'))
        .replace('Default: https://login.example.com\n', 'Default: https://login.example.com\n')
        .replace('Issuer: !Ref OidcIssuer', 'Issuer: !ImportValue IdentityStack-Issuer')
      await writeFile(join(cwd, 'shop.yaml'), text)
      const run = await runPortcullis(['import', 'shop.yaml'], cwd)
      assert.equal(run.code, 2)
      assert.match(
        run.stderr,
        /^shop\.yaml:111:34 Resources\.AppRule\.Properties\.Actions\[0\]\.AuthenticateOidcConfig\.Issuer: Fn::ImportValue IdentityStack-Issuer is another stack's export; give it with --import-value IdentityStack-Issuer=VALUE$/m,
      )
      const given = await runPortcullis(
        ['import', 'shop.yaml', '--import-value', 'IdentityStack-Issuer=https://login.example.com'],
        cwd,
      )
      assert.equal(given.code, 0, given.stderr)
    })

    test('an invalid value, located at the resource property', async () => {
      const cwd = await workspace()
      const text = (await readFile(join(cwd, 'shop.yaml'), 'utf8')).replace('Priority: 20', 'Priority: 0')
      await writeFile(join(cwd, 'shop.yaml'), text)
      const run = await runPortcullis(['import', 'shop.yaml'], cwd)
      assert.equal(run.code, 2)
      assert.match(
        run.stderr,
        /^shop\.yaml:135:17 Listeners\[1\]\.Rules\[1\]\.Priority: a rule priority must be 1\.\.50000, got 0$/m,
      )
    })
  })
})

describe('portcullis import: what cdk synth writes (JSON)', () => {
  test('the CDK stack imports and validates; its Fn::ImportValue for the VPC is never needed', async () => {
    const cwd = await workspace()
    await overlay(cwd, CDK_CERTIFICATE, ['ShopServiceTargetGroup8E4F1D2C'])
    const run = await runPortcullis(
      [
        'import',
        'ShopStack.template.json',
        '--parameter',
        'AWS::Region=eu-west-1',
        '--overlay',
        'overlay.yaml',
        '-o',
        'portcullis.yaml',
      ],
      cwd,
    )
    assert.equal(run.code, 0, run.stderr)
    const written = await readFile(join(cwd, 'portcullis.yaml'), 'utf8')
    assert.match(
      written,
      /# from ShopStack\.template\.json: Resources\.ShopLBHttpsListenerC2D6A4F9 \(AWS::ElasticLoadBalancingV2::Listener\), line 79/,
    )
    const validate = await runPortcullis(['validate', 'portcullis.yaml'], cwd, { env: SECRET_ENV })
    assert.equal(validate.code, 0, validate.stderr)
    assert.match(validate.stdout, /5 {8}path-pattern=\/healthz and http-request-method=GET/)
    assert.match(validate.stdout, /authenticate-oidc issuer https:\/\/login\.example\.com, client shop-web/)
    assert.match(validate.stdout, /forward ShopServiceTargetGroup8E4F1D2C/)
  })

  test('a CDK listener pointing at another stack refuses, located in the JSON', async () => {
    const cwd = await workspace()
    const text = (await readFile(join(cwd, 'ShopStack.template.json'), 'utf8')).replace(
      '"Port": 443,',
      '"Port": { "Fn::ImportValue": "Shared:HttpsPort" },',
    )
    await writeFile(join(cwd, 'ShopStack.template.json'), text)
    const run = await runPortcullis(['import', 'ShopStack.template.json'], cwd)
    assert.equal(run.code, 2)
    assert.match(
      run.stderr,
      /^ShopStack\.template\.json:\d+:\d+ Resources\.ShopLBHttpsListenerC2D6A4F9\.Properties\.Port: Fn::ImportValue Shared:HttpsPort is another stack's export/m,
    )
  })
})
