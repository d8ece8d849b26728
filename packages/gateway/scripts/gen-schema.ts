/**
 * Regenerates packages/gateway/schema/portcullis.schema.json from the zod
 * schema. Run: `npm run gen:schema`.
 * test/config/json-schema.test.ts fails when the committed file is stale.
 */
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { portcullisJsonSchemaText } from '../src/config/json-schema.js'

const target = fileURLToPath(new URL('../schema/portcullis.schema.json', import.meta.url))
writeFileSync(target, portcullisJsonSchemaText())
process.stdout.write(`wrote ${target}\n`)
