/**
 * Regenerates packages/gateway/schema/portcullis.schema.json from the zod
 * schema, and docs/alb-fields.md from the classification table. Run:
 * `npm run gen:schema`. test/config/json-schema.test.ts and
 * test/config/classification.test.ts fail when a committed file is stale.
 */
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { fieldsReferenceMarkdown } from '../src/config/fields-reference.js'
import { portcullisJsonSchemaText } from '../src/config/json-schema.js'

for (const [file, text] of [
  ['../schema/portcullis.schema.json', portcullisJsonSchemaText()],
  ['../../../docs/alb-fields.md', fieldsReferenceMarkdown()],
] as const) {
  const target = fileURLToPath(new URL(file, import.meta.url))
  writeFileSync(target, text)
  process.stdout.write(`wrote ${target}\n`)
}
