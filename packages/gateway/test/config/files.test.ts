import assert from 'node:assert/strict'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { ConfigError } from '../../src/config/errors.js'
import { loadConfig } from '../../src/config/load.js'
import { ensureLeafCertificate, ensureLocalCa } from '../../src/tls/local-ca.js'
import { positionOf } from './fixtures.js'

let dir: string
let cert: string
let key: string
let caCert: string
let caKey: string

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-config-'))
  const leaf = await ensureLeafCertificate(join(dir, 'state'))
  const ca = await ensureLocalCa(join(dir, 'state'))
  cert = leaf.certPath
  key = leaf.keyPath
  caCert = ca.caCertPath
  caKey = ca.caKeyPath
})

after(async () => {
  await rm(dir, { recursive: true, force: true })
})

const https = (certificateFile: string, privateKeyFile: string, extra = '') => `Listeners:
  - Port: 8443
    Protocol: HTTPS
    Certificates: [{ CertificateFile: "${certificateFile}", PrivateKeyFile: "${privateKeyFile}" }]
    DefaultActions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: "200" } }]
${extra}`

async function refused(path: string): Promise<ConfigError> {
  try {
    await loadConfig(path)
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err))
    return err
  }
  assert.fail('expected loadConfig to refuse the file')
}

describe('loadConfig', () => {
  test('loads a YAML file, resolving paths against its own directory', async () => {
    const sub = join(dir, 'conf')
    await mkdir(sub, { recursive: true })
    const file = join(sub, 'portcullis.yaml')
    await writeFile(file, https(cert, key, 'Portcullis: { StateDirectory: ./st }\n'))
    const { config, warnings } = await loadConfig(file)
    assert.deepEqual(warnings, [])
    assert.equal(config.source, file)
    assert.equal(config.portcullis.stateDirectory, join(sub, 'st'))
    assert.equal(config.listeners[0]!.certificates[0]!.certificateFile, cert)
  })

  test('a .json file is read as JSON', async () => {
    const file = join(dir, 'portcullis.json')
    await writeFile(
      file,
      JSON.stringify({
        Listeners: [
          {
            Port: 80,
            Protocol: 'HTTP',
            DefaultActions: [{ Type: 'fixed-response', FixedResponseConfig: { StatusCode: '200' } }],
          },
        ],
      }),
    )
    assert.equal((await loadConfig(file)).config.listeners[0]!.port, 80)
    await writeFile(file, 'Listeners: []\n')
    const error = await refused(file)
    assert.match(error.issues[0]!.message, /invalid JSON/)
  })

  test('returns warnings with the config', async () => {
    const file = join(dir, 'warn.yaml')
    await writeFile(
      file,
      'LoadBalancer: { Attributes: [{ Key: made.up, Value: "1" }] }\nListeners:\n  - { Port: 80, Protocol: HTTP, DefaultActions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: "200" } }] }\n',
    )
    const { warnings } = await loadConfig(file)
    assert.equal(warnings.length, 1)
    assert.equal(warnings[0]!.path, 'LoadBalancer.Attributes[0].Key')
    assert.equal(warnings[0]!.severity, 'warning')
  })

  test('a missing file, or a directory, is a clear ConfigError', async () => {
    const missing = await refused(join(dir, 'nope.yaml'))
    assert.equal(missing.issues.length, 1)
    assert.match(
      missing.format(),
      /^\/.*nope\.yaml: configuration file not found: \/.*nope\.yaml \(`portcullis demo --print-config > portcullis\.yaml` writes one to start from\)$/,
    )
    assert.equal(missing.issues[0]!.line, undefined)
    const directory = await refused(dir)
    assert.match(directory.issues[0]!.message, /is not a file/)
  })

  test('certificate and key files must exist', async () => {
    const file = join(dir, 'missing-cert.yaml')
    const text = https('./no-cert.pem', key)
    await writeFile(file, text)
    const error = await refused(file)
    const issue = error.issues.find((i) => i.path === 'Listeners[0].Certificates[0].CertificateFile')
    assert.ok(issue)
    assert.match(issue.message, /file not found: .*no-cert\.pem/)
    assert.deepEqual({ line: issue.line, column: issue.column }, positionOf(text, '"./no-cert.pem"'))
  })

  test('the private key must match the certificate', async () => {
    const file = join(dir, 'mismatch.yaml')
    const text = https(cert, caKey)
    await writeFile(file, text)
    const error = await refused(file)
    const issue = error.issues.find((i) => i.path === 'Listeners[0].Certificates[0].PrivateKeyFile')
    assert.ok(issue)
    assert.match(issue.message, /does not match the certificate/)
    assert.deepEqual({ line: issue.line, column: issue.column }, positionOf(text, `"${caKey}"`))
  })

  test('certificate and key files must be PEM', async () => {
    const junk = join(dir, 'junk.pem')
    await writeFile(junk, 'not a certificate\n')
    const file = join(dir, 'junk.yaml')
    await writeFile(file, https(junk, junk))
    const error = await refused(file)
    assert.deepEqual(
      error.issues.map((i) => [i.path, i.message.replace(junk, 'FILE')]),
      [
        ['Listeners[0].Certificates[0].CertificateFile', 'FILE is not a PEM certificate'],
        ['Listeners[0].Certificates[0].PrivateKeyFile', 'FILE is not an unencrypted PEM private key'],
      ],
    )
  })

  test('CA files must exist and hold a certificate', async () => {
    const file = join(dir, 'ca.yaml')
    const text = `${https(cert, key)}Portcullis: { CaFile: "${key}" }
TargetGroups:
  - { TargetGroupName: t, Protocol: HTTPS, Targets: [{ Id: 127.0.0.1, Port: 1 }], Portcullis: { CaFile: ./absent.pem } }
`
    await writeFile(file, text)
    const error = await refused(file)
    assert.deepEqual(
      error.issues.map((i) => i.path),
      ['Portcullis.CaFile', 'TargetGroups[0].Portcullis.CaFile'],
    )
    assert.match(error.issues[0]!.message, /contains no PEM certificate/)
    assert.match(error.issues[1]!.message, /file not found/)
    const good = join(dir, 'ca-good.yaml')
    await writeFile(good, text.replace(`CaFile: "${key}"`, `CaFile: "${caCert}"`).replace('./absent.pem', caCert))
    assert.ok(await loadConfig(good))
  })
})
