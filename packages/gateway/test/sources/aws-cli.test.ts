import assert from 'node:assert/strict'
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { ensureLeafCertificate, ensureLocalCa, type LeafCertificate, type LocalCa } from '../../src/tls/local-ca.js'
import { runPortcullis } from '../fixtures/process.js'
import { importStartAndLogIn, SECRET_ENV } from './application.js'

const FIXTURES = new URL('../fixtures/sources/aws-cli/', import.meta.url)
const CERTIFICATE_ARN = 'arn:aws:acm:eu-west-1:123456789012:certificate/3b7e6b0a-5f6e-4c47-9f2a-1f0e9c2d8a11'
/** The files as `aws elbv2 describe-*` wrote them, in no particular order. */
const SOURCES = [
  'rules-80.yaml',
  'listeners.json',
  'blue=target-health-blue.json',
  'rules-443.json',
  'load-balancers.json',
  'target-groups.json',
  'load-balancer-attributes.yaml',
  'blue=target-group-attributes-blue.json',
]

let dir: string

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-import-aws-'))
})

after(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** A fresh copy of the fixtures, with `edit` applied to each file's text. */
async function fixtures(name: string, edit: (file: string, text: string) => string = (_f, t) => t): Promise<string> {
  const into = join(dir, name)
  await cp(FIXTURES, into, { recursive: true })
  for (const file of SOURCES.map((s) => s.replace(/^.*=/, ''))) {
    const path = join(into, file)
    await writeFile(path, edit(file, await readFile(path, 'utf8')))
  }
  return into
}

describe('portcullis import: the AWS CLI describe-* files', () => {
  test('joins the files by ARN in any order, writes a commented configuration, and names what start still needs', async () => {
    const cwd = await fixtures('plain')
    const run = await runPortcullis(['import', ...SOURCES, '-o', 'portcullis.yaml'], cwd)
    assert.equal(run.code, 0, run.stderr)
    const written = await readFile(join(cwd, 'portcullis.yaml'), 'utf8')
    assert.match(written, /# from describe-listeners \(listeners\.json:3\)/)
    assert.match(written, /# from describe-target-groups \(target-groups\.json:3\)/)
    assert.match(written, /# from describe-load-balancers \(load-balancers\.json:3\)/)
    // The certificate and the client secret AWS keeps are named once, located in the source.
    assert.match(run.stderr, /listeners\.json:\d+:\d+ Listeners\[1\]\.Certificates\[0\]: Portcullis cannot fetch/)
    assert.match(run.stderr, /rules-443\.json:\d+:\d+ .*PORTCULLIS_CLIENT_SECRET_SHOP_WEB/)
    // The written file is the configuration: validate reads it (and asks for the same certificate).
    const validate = await runPortcullis(['validate', 'portcullis.yaml'], cwd, { env: SECRET_ENV })
    assert.equal(validate.code, 2)
    assert.match(validate.stderr, /portcullis\.yaml:\d+:\d+ Listeners\[1\]\.Certificates\[0\]: Portcullis cannot fetch/)
  })

  test('with an overlay (certificate files, targets) the written file validates with the same rules', async () => {
    const cwd = await fixtures('overlay')
    const ca = await ensureLocalCa(join(cwd, 'state'))
    const leaf = await ensureLeafCertificate(join(cwd, 'state'))
    await mkdir(join(cwd, 'local'))
    await writeFile(join(cwd, 'local', 'overlay.yaml'), overlay({ leaf, ca, https: 443, http: 80, admin: 0 }))
    const run = await runPortcullis(
      ['import', ...SOURCES, '--overlay', 'local/overlay.yaml', '-o', 'portcullis.yaml'],
      cwd,
    )
    assert.equal(run.code, 0, run.stderr)
    assert.doesNotMatch(run.stderr, /cannot fetch certificates/)
    const validate = await runPortcullis(['validate', 'portcullis.yaml'], cwd, { env: SECRET_ENV })
    assert.equal(validate.code, 0, validate.stderr)
    assert.match(validate.stdout, /10 {7}path-pattern=\/app\/\* and http-request-method=GET\|HEAD\|POST/)
    assert.match(validate.stdout, /forward blue \(weight 80\), green \(weight 20\), group stickiness 3600s/)
    assert.match(validate.stdout, /redirect 301 HTTPS:\/\/#\{host\}:443\/#\{path\}\?#\{query\}/)
    // The overlay's paths were rewritten for the written file's directory.
    assert.match(await readFile(join(cwd, 'portcullis.yaml'), 'utf8'), /StateDirectory: state\n/)
  })

  describe('refuses, pointing into the source file', () => {
    test('an output that names no ARN, with several candidates', async () => {
      const cwd = await fixtures('ambiguous')
      const run = await runPortcullis(['import', ...SOURCES.map((s) => s.replace('blue=', ''))], cwd)
      assert.equal(run.code, 2)
      assert.match(
        run.stderr,
        /^target-health-blue\.json:2:5 TargetHealthDescriptions: this describe-target-health output does not say which target group it describes \(target group blue, target group green\); give it as NAME=target-health-blue\.json$/m,
      )
      assert.match(
        run.stderr,
        /^target-group-attributes-blue\.json:2:5 Attributes: .*describe-target-group-attributes/m,
      )
      assert.match(run.stderr, /portcullis import: nothing written \(2 errors\)/)
      assert.equal(run.stdout, '')
    })

    test('a rule whose listener no file lists', async () => {
      const cwd = await fixtures('orphan')
      const run = await runPortcullis(['import', 'load-balancers.json', 'rules-443.json'], cwd)
      assert.equal(run.code, 2)
      assert.match(
        run.stderr,
        /^rules-443\.json:4:13 Rules\[0\]\.RuleArn: the rule belongs to listener arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener\/app\/shop-alb\/1a2b3c4d5e6f7a8b\/aaaa111122223333, which no describe-listeners file lists$/m,
      )
    })

    test('an invalid value, located in the describe-rules file it came from', async () => {
      const cwd = await fixtures('invalid', (file, text) =>
        file === 'rules-443.json' ? text.replace('"Priority": "20"', '"Priority": "60000"') : text,
      )
      const run = await runPortcullis(['import', ...SOURCES], cwd)
      assert.equal(run.code, 2)
      assert.match(run.stderr, /^rules-443\.json:68:25 Listeners\[1\]\.Rules\[1\]\.Priority: .*50000/m)
    })

    test('the same listener in two files', async () => {
      const cwd = await fixtures('twice')
      await cp(join(cwd, 'listeners.json'), join(cwd, 'listeners-again.json'))
      const run = await runPortcullis(['import', 'listeners.json', 'listeners-again.json'], cwd)
      assert.equal(run.code, 2)
      assert.match(
        run.stderr,
        /^listeners-again\.json:4:13 Listeners\[0\]\.ListenerArn: the listener .* is also at listeners\.json:3$/m,
      )
    })

    test('a file that is no describe-* output, and a syntax error', async () => {
      const cwd = await fixtures('other')
      await writeFile(join(cwd, 'notes.yaml'), 'Listeners: []\nLoadBalancer: {}\n')
      await writeFile(join(cwd, 'broken.json'), '{\n  "Rules": [,]\n}\n')
      const other = await runPortcullis(['import', 'notes.yaml'], cwd)
      assert.equal(other.code, 2)
      assert.match(
        other.stderr,
        /^notes\.yaml:2:1 LoadBalancer: expected the output of one aws elbv2 describe-\* command/m,
      )
      const broken = await runPortcullis(['import', 'broken.json'], cwd)
      assert.equal(broken.code, 2)
      assert.match(broken.stderr, /^broken\.json:2:13 invalid JSON/m)
    })

    test('an overlay naming a target group the source does not have', async () => {
      const cwd = await fixtures('bad-overlay')
      await writeFile(join(cwd, 'overlay.yaml'), 'TargetGroups:\n  purple: { Targets: [{ Id: 127.0.0.1 }] }\n')
      const run = await runPortcullis(['import', ...SOURCES, '--overlay', 'overlay.yaml'], cwd)
      assert.equal(run.code, 2)
      assert.match(
        run.stderr,
        /^overlay\.yaml:2:3 TargetGroups\.purple: the source has no target group purple \(it has blue, green\)$/m,
      )
    })
  })
})

function overlay(o: { leaf: LeafCertificate; ca: LocalCa; https: number; http: number; admin: number }): string {
  return `# What the describe-* output cannot hold: files, targets, addresses.
Portcullis:
  StateDirectory: ../state
  CaFile: "${o.ca.caCertPath}"
  Admin: { Address: 127.0.0.1, Port: ${o.admin} }
Certificates:
  - { CertificateArn: ${CERTIFICATE_ARN}, CertificateFile: "${o.leaf.certPath}", PrivateKeyFile: "${o.leaf.keyPath}" }
TargetGroups:
  blue: { Targets: [{ Id: 127.0.0.1, Port: 3001 }] }
  green: { Targets: [{ Id: 127.0.0.1, Port: 3002 }] }
Listeners:
  "${o.https}": { Portcullis: { Address: 127.0.0.1 } }
  "${o.http}": { Portcullis: { Address: 127.0.0.1 } }
`
}

describe('portcullis import → start: the describe-* application, through the real gateway', () => {
  test('HTTPS with login, the HTTP redirect, the weighted forward and the fixed response', async () => {
    const cwd = await mkdtemp(join(dir, 'start-'))
    await importStartAndLogIn({
      cwd,
      certificateArn: CERTIFICATE_ARN,
      targetGroups: ['blue', 'green'],
      importArgs: async ({ https, http, idp }) => {
        const source = await fixtures(`start-sources-${https}`, (_file, text) =>
          text
            .replace('https://login.example.com/authorize', idp.endpoints.authorization)
            .replace('https://login.example.com/oauth/token', idp.endpoints.token)
            .replace('https://login.example.com/userinfo', idp.endpoints.userinfo)
            .replace('"https://login.example.com"', `"${idp.issuer}"`)
            .replaceAll('"Port": 443', `"Port": ${https}`)
            .replaceAll('"Port": "443"', `"Port": "${https}"`)
            .replaceAll(/Port: ['"]443['"]/g, `Port: '${https}'`)
            .replaceAll('"Port": 80,', `"Port": ${http},`),
        )
        return SOURCES.map((s) => s.replace(/^(blue=)?/, `$1${source}/`))
      },
    })
  })
})
