import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { Ajv2020 } from 'ajv/dist/2020.js'
import { parse as parseYaml } from 'yaml'
import { portcullisJsonSchema, portcullisJsonSchemaText } from '../../src/config/json-schema.js'

const committed = fileURLToPath(new URL('../../schema/portcullis.schema.json', import.meta.url))
const examples = fileURLToPath(new URL('../../../../examples/configs/', import.meta.url))

describe('the published JSON Schema', () => {
  test('is up to date with the zod schema (npm run gen:schema regenerates it)', () => {
    assert.equal(
      readFileSync(committed, 'utf8'),
      portcullisJsonSchemaText(),
      'packages/gateway/schema/portcullis.schema.json is stale: regenerate it with npm run gen:schema',
    )
  })

  const validate = new Ajv2020({ strict: false, allErrors: true }).compile(portcullisJsonSchema())

  test('accepts every example configuration', () => {
    const files = readdirSync(examples).filter((f) => f.endsWith('.yaml'))
    assert.ok(files.length >= 3)
    for (const file of files) {
      const ok = validate(parseYaml(readFileSync(`${examples}${file}`, 'utf8')))
      assert.ok(ok, `${file}: ${JSON.stringify(validate.errors)}`)
    }
  })

  test('refuses unknown keys and wrong enum values, as the loader does', () => {
    const base = { Listeners: [{ Port: 80, Protocol: 'HTTP', DefaultActions: [] }] }
    assert.equal(validate(base), true)
    assert.equal(validate({ ...base, Listenerz: [] }), false)
    assert.equal(validate({ Listeners: [{ Port: 80, Protocol: 'FTP' }] }), false)
    assert.equal(validate({ Listeners: [{ Port: '80', Protocol: 'HTTPS', ListenerArn: 'ignored' }] }), true)
  })
})
