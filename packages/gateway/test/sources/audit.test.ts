import assert from 'node:assert/strict'
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { runPortcullis } from '../fixtures/process.js'

const FIXTURES = new URL('../fixtures/sources/', import.meta.url)

let dir: string

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-audit-sources-'))
  await cp(FIXTURES, dir, { recursive: true })
  // A pull request that makes the HTTP listener forward to the protected target group.
  const template = (await readFile(join(dir, 'cloudformation/shop.yaml'), 'utf8')).replace(
    /- Type: redirect\n {10}RedirectConfig:\n(?: {12}.*\n){6}/,
    '- Type: forward\n          TargetGroupArn: !Ref BlueTargetGroup\n',
  )
  await writeFile(join(dir, 'forwarding.yaml'), template)
})

after(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('portcullis audit --import: the sources, each finding located in them', () => {
  test('a template whose HTTP listener forwards to a protected target group: the bypass, at the template line', async () => {
    const run = await runPortcullis(['audit', '--import', 'forwarding.yaml', '--fail-on', 'high'], dir)
    assert.equal(run.code, 1, run.stderr)
    assert.match(run.stdout, /HIGH {3}auth-bypass-target-group\n {9}forwarding\.yaml:72:9\n/)
    assert.match(run.stdout, /MEDIUM listener-http-no-redirect \[Security Hub ELB\.1\]\n {9}forwarding\.yaml:70:7\n/)
    const sarif = await runPortcullis(['audit', '--import', 'forwarding.yaml', '--format', 'sarif'], dir)
    assert.equal(sarif.code, 0, sarif.stderr)
    const report = JSON.parse(sarif.stdout) as {
      runs: {
        results: {
          ruleId: string
          locations: { physicalLocation: { artifactLocation: { uri: string }; region: { startLine: number } } }[]
        }[]
      }[]
    }
    const bypass = report.runs[0]!.results.find((r) => r.ruleId === 'auth-bypass-target-group')
    assert.equal(bypass?.locations[0]?.physicalLocation.artifactLocation.uri, 'forwarding.yaml')
    assert.equal(bypass?.locations[0]?.physicalLocation.region.startLine, 72)
  })

  test('the describe-* files and the Terraform plan audit clean of high findings, located in their files', async () => {
    const files = ['load-balancers.json', 'listeners.json', 'rules-443.json', 'rules-80.yaml', 'target-groups.json']
    const cli = await runPortcullis(
      ['audit', '--import', ...files.map((f) => `aws-cli/${f}`), '--fail-on', 'high'],
      dir,
    )
    assert.equal(cli.code, 0, cli.stdout + cli.stderr)
    assert.match(cli.stderr, /aws-cli\/listeners\.json:29:17 Listeners\[1\]\.Certificates\[0\]/)
    const plan = await runPortcullis(['audit', '--import', 'terraform/plan.json', '--fail-on', 'high'], dir)
    assert.equal(plan.code, 0, plan.stdout + plan.stderr)
  })

  test('refuses an invalid source, located in it, and --parameter without --import', async () => {
    const broken = await runPortcullis(
      ['audit', '--import', 'cloudformation/shop.yaml', '--parameter', 'Environment=dev'],
      dir,
    )
    assert.equal(broken.code, 2)
    assert.match(broken.stderr, /^cloudformation\/shop\.yaml:9:5 .*not one of its AllowedValues/m)
    assert.match(broken.stderr, /not a valid configuration; nothing audited/)
    const usage = await runPortcullis(['audit', 'portcullis.yaml', '--parameter', 'A=b'], dir)
    assert.equal(usage.code, 2)
    assert.match(usage.stderr, /--parameter and --import-value apply with --import only/)
  })
})
