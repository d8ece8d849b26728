import assert from 'node:assert/strict'
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { Agent } from 'undici'
import { logInAtDevIdp } from '../../fixtures/login.js'
import { freePort } from '../../fixtures/ports.js'
import { runPortcullis, startGatewayCli, startPortcullis, waitFor } from '../../fixtures/process.js'
import { stateDirectory } from '../../fixtures/servers.js'

describe('portcullis demo --print-config and validate FILE (the real CLI)', () => {
  test('`demo --print-config > my.yaml` gives a file that `validate my.yaml` accepts', async () => {
    const dir = stateDirectory()
    const printed = await runPortcullis(['demo', '--print-config'], dir)
    assert.equal(printed.code, 0, printed.stderr)
    assert.ok(printed.stdout.startsWith('# The configuration `portcullis demo` runs.'), printed.stdout.slice(0, 80))
    writeFileSync(join(dir, 'my.yaml'), printed.stdout)

    const positional = await runPortcullis(['validate', 'my.yaml'], dir)
    assert.equal(positional.code, 0, positional.stderr)
    assert.match(positional.stdout, /^my\.yaml: valid/)
    const option = await runPortcullis(['validate', '--config', 'my.yaml'], dir)
    assert.equal(option.code, 0, option.stderr)
    assert.equal(option.stdout, positional.stdout)
  })

  test('`demo --print-config` writes nothing and prints a configuration that validates and runs from elsewhere', async (t) => {
    const [port, idpPort, adminPort] = [await freePort(), await freePort(), await freePort()]
    const printDir = stateDirectory()
    const printed = await runPortcullis(
      ['demo', '--print-config', '--port', `${port}`, '--idp-port', `${idpPort}`, '--admin-port', `${adminPort}`],
      printDir,
    )
    assert.equal(printed.code, 0, printed.stderr)
    assert.deepEqual(readdirSync(printDir, { recursive: true }), [], 'print-config created files')
    // No path of this machine: no absolute path, no state directory, no certificate file.
    assert.doesNotMatch(printed.stdout, /: "\/|CertificateFile|CaFile|StateDirectory/)
    assert.match(printed.stdout, /^ {2}LocalCertificates: true$/m)

    // Saved somewhere else and used from a third directory.
    const saved = join(stateDirectory(), 'conf', 'portcullis.yaml')
    mkdirSync(join(saved, '..'))
    writeFileSync(saved, printed.stdout)
    const elsewhere = stateDirectory()
    const validated = await runPortcullis(['validate', saved], elsewhere)
    assert.equal(validated.code, 0, validated.stderr)

    // The development provider beside it, on the local CA of the state directory beside the file.
    const stateDir = join(saved, '..', '.portcullis')
    const idp = startPortcullis(
      [
        'idp',
        ...['--port', `${idpPort}`, '--state-dir', stateDir],
        ...['--redirect-uri', `https://localhost:${port}/oauth2/idpresponse`],
      ],
      elsewhere,
    )
    t.after(() => idp.child.kill())
    await waitFor(() => idp.stdout().includes('Press Ctrl-C') || idp.child.exitCode !== null, 'portcullis idp')
    assert.equal(idp.child.exitCode, null, idp.output())
    const gateway = await startGatewayCli(saved, elsewhere)
    t.after(() => gateway.child.kill())
    assert.deepEqual(readdirSync(elsewhere), [], 'the gateway wrote into its working directory')

    // The listener's certificate chains to that CA, and the gateway trusts it for the token exchange: a login works.
    const dispatcher = new Agent({ connect: { ca: readFileSync(join(stateDir, 'tls', 'ca.pem'), 'utf8') } })
    t.after(() => dispatcher.close())
    const transport = { dispatcher } as unknown as RequestInit
    const session = await logInAtDevIdp(`https://localhost:${port}/`, undefined, undefined, transport).catch(
      (error: Error) => assert.fail(`${error.message}\n${gateway.output()}`),
    )
    assert.match(session, /^AWSELBAuthSessionCookie-0=/)
  })

  test('validate FILE and --config naming two different files is refused', async () => {
    const dir = stateDirectory()
    const { code, stderr } = await runPortcullis(['validate', 'a.yaml', '--config', 'b.yaml'], dir)
    assert.equal(code, 2)
    assert.match(stderr, /give the file once/)
  })

  test('validate FILE reports the positional file, not the default portcullis.yaml', async () => {
    const dir = stateDirectory()
    const { code, stderr } = await runPortcullis(['validate', 'missing.yaml'], dir)
    assert.equal(code, 2)
    assert.match(stderr, /^missing\.yaml: configuration file not found: \S+\/missing\.yaml /)
    assert.doesNotMatch(stderr, /not found: \S*portcullis\.yaml/)
  })
})
