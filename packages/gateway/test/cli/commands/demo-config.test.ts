import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { runPortcullis } from '../../fixtures/process.js'
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
    assert.match(stderr, /missing\.yaml/)
    assert.doesNotMatch(stderr, /portcullis\.yaml/)
  })
})
