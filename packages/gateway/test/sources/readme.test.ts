/**
 * The gateway README's *Importing your ALB* samples: its overlay is applied
 * by the real command to the AWS CLI fixture, and each error line it shows is
 * printed, word for word, by the command on the fixtures.
 */
import assert from 'node:assert/strict'
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { runPortcullis } from '../fixtures/process.js'

const README = new URL('../../README.md', import.meta.url)
const FIXTURES = new URL('../fixtures/sources/', import.meta.url)
const AWS_CLI = [
  'load-balancers.json',
  'listeners.json',
  'rules-443.json',
  'rules-80.yaml',
  'target-groups.json',
  'blue=aws-cli/target-health-blue.json',
].map((f) => (f.includes('/') ? f : `aws-cli/${f}`))

let dir: string
let section: string

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-import-readme-'))
  await cp(FIXTURES, dir, { recursive: true })
  const text = await readFile(README, 'utf8')
  const start = text.indexOf('**Importing your ALB from where it is defined.**')
  section = text.slice(start, text.indexOf('**What Portcullis does with each pasted field.**'))
})

after(async () => {
  await rm(dir, { recursive: true, force: true })
})

test('the README overlay applies to the describe-* files: its certificate files and targets are in the written file', async () => {
  const overlay = /```yaml\n([\s\S]*?)```/.exec(section)?.[1]
  assert.ok(overlay, 'the section has a YAML overlay sample')
  await writeFile(join(dir, 'local.yaml'), overlay)
  const run = await runPortcullis(['import', ...AWS_CLI, '--overlay', 'local.yaml', '-o', 'portcullis.yaml'], dir)
  assert.equal(run.code, 0, run.stderr)
  const written = await readFile(join(dir, 'portcullis.yaml'), 'utf8')
  assert.match(written, /CertificateFile: tls\/cert\.pem/)
  assert.match(written, /- Id: 127\.0\.0\.1\n\s+Port: 3000/)
})

test('each error line the README shows is what import prints for the fixtures', async () => {
  const lines = /```\n([\s\S]*?)```/.exec(section.slice(section.indexOf('`import` names once')))?.[1]
  assert.ok(lines, 'the section has an output sample')
  const [certificate, importValue] = lines.trim().split('\n')
  const describe = await runPortcullis(['import', ...AWS_CLI], dir)
  assert.ok(describe.stderr.includes(certificate!), describe.stderr)
  const template = (await readFile(join(dir, 'cloudformation/shop.yaml'), 'utf8')).replace(
    'Issuer: !Ref OidcIssuer',
    'Issuer: !ImportValue IdentityStack-Issuer',
  )
  await writeFile(join(dir, 'shop.yaml'), template)
  const cfn = await runPortcullis(['import', 'shop.yaml'], dir)
  assert.ok(cfn.stderr.includes(importValue!), cfn.stderr)
})

test('the README Kubernetes lines are what import prints for the manifests', async () => {
  const lines = /```\n([\s\S]*?)```/.exec(section.slice(section.indexOf('Kubernetes manifests become')))?.[1]
  assert.ok(lines, 'the section has a Kubernetes output sample')
  const [warning, error] = lines.trim().split('\n')
  const manifests = await readFile(join(dir, 'kubernetes/shop.yaml'), 'utf8')
  await writeFile(join(dir, 'shop.yaml'), manifests)
  const run = await runPortcullis(['import', 'shop.yaml'], dir)
  assert.equal(run.code, 0, run.stderr)
  assert.ok(run.stderr.includes(warning!), run.stderr)
  await writeFile(join(dir, 'shop.yaml'), manifests.replace('auth-type: oidc', 'auth-type: saml'))
  const refused = await runPortcullis(['import', 'shop.yaml'], dir)
  assert.equal(refused.code, 2)
  assert.ok(refused.stderr.includes(error!), refused.stderr)
})
