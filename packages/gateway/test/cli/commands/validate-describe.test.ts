import assert from 'node:assert/strict'
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { runPortcullis } from '../../fixtures/process.js'

const FIXTURE = fileURLToPath(new URL('../../fixtures/aws-describe/my-load-balancer.yaml', import.meta.url))
const VARIABLE = 'PORTCULLIS_CLIENT_SECRET_MY_LOAD_BALANCER_APP'

describe('portcullis validate on every describe-* output of one load balancer, pasted together', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-describe-'))
  after(() => rmSync(dir, { recursive: true, force: true }))
  const saved = process.env[VARIABLE]
  after(() => {
    if (saved !== undefined) process.env[VARIABLE] = saved
  })
  delete process.env[VARIABLE]

  test('asks only for what AWS keeps or Portcullis cannot look up, each with the field to add', async () => {
    const file = join(dir, 'alb.yaml')
    copyFileSync(FIXTURE, file)
    const { code, stdout, stderr } = await runPortcullis(['validate', file], dir)
    assert.equal(code, 2)
    const lines = (stdout + stderr).split('\n').filter((l) => l.startsWith(file))
    const issues = lines.map((l) => l.replace(/^\S+ /, ''))
    assert.deepEqual(issues, [
      'Listeners[0].SslPolicy: ELBSecurityPolicy-2015-05: this policy allows TLS 1.0 and 1.1, which OpenSSL 3 negotiates only at security level 0, and that level would lift its other checks (short keys, SHA-1 signatures) for every client of the listener; the nearest policy this Node.js honours is ELBSecurityPolicy-TLS-1-2-Ext-2018-06, or keep this listener on AWS',
      'Listeners[0].Certificates[0]: Portcullis cannot fetch certificates from ACM by CertificateArn; add CertificateFile and PrivateKeyFile (PEM files), or for local use Portcullis.LocalCertificates: true',
      `Listeners[0].Rules[0].Actions[0].AuthenticateOidcConfig.UseExistingClientSecret: UseExistingClientSecret: true takes the secret of client "my-load-balancer-app" from the environment variable ${VARIABLE} (or a file named my-load-balancer-app in Portcullis.ClientSecretsDirectory); neither has it`,
      'TargetGroups[0].TargetHealthDescriptions[0].Target.Id: i-ceddcd4d is an EC2 instance id; Portcullis connects to addresses and cannot look instances up: add Portcullis.InstanceAddresses: { i-ceddcd4d: ADDRESS } (its private IP address or host name)',
      'TargetGroups[0].TargetHealthDescriptions[1].Target.Id: i-0f76fade is an EC2 instance id; Portcullis connects to addresses and cannot look instances up: add Portcullis.InstanceAddresses: { i-0f76fade: ADDRESS } (its private IP address or host name)',
      'invalid (5 errors)',
    ])
  })

  test('with those added, a policy Portcullis runs (and the secret in a mounted directory), it is valid', async () => {
    const file = join(dir, 'alb-completed.yaml')
    writeFileSync(join(dir, 'my-load-balancer-app'), 'from-the-volume\n')
    writeFileSync(
      file,
      `${readFileSync(FIXTURE, 'utf8').replace('ELBSecurityPolicy-2015-05', 'ELBSecurityPolicy-TLS-1-2-Ext-2018-06')}Portcullis:
  LocalCertificates: true
  ClientSecretsDirectory: .
  InstanceAddresses: { i-ceddcd4d: 10.0.0.5, i-0f76fade: 10.0.0.6 }
`,
    )
    const { code, stdout, stderr } = await runPortcullis(['validate', file], dir)
    assert.equal(code, 0, stdout + stderr)
    // The local certificate is the one warning, naming the rule's host and the loopback names.
    assert.match(stdout + stderr, /local development CA for app\.example\.com, localhost, 127\.0\.0\.1, ::1/)
    assert.match(stdout, /10\.0\.0\.5|valid/)
  })
})
