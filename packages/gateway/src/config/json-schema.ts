/**
 * The JSON Schema of `portcullis.yaml` for editor completion and validation,
 * generated from the same zod schema the loader uses so the two never drift.
 * `scripts/gen-schema.ts` writes it to `schema/portcullis.schema.json`.
 */
import { z } from 'zod'
import { PortcullisFileSchema } from './schema.js'

/**
 * Builds the JSON Schema (draft 2020-12) of the configuration file.
 *
 * @example
 * ```ts
 * writeFileSync('portcullis.schema.json', `${JSON.stringify(portcullisJsonSchema(), null, 2)}\n`)
 * ```
 */
export function portcullisJsonSchema(): Record<string, unknown> {
  const generated = z.toJSONSchema(PortcullisFileSchema, { target: 'draft-2020-12', io: 'input' })
  return {
    ...generated,
    title: 'Portcullis configuration',
    description:
      'portcullis.yaml: ELBv2-shaped listeners, rules and target groups (paste from aws elbv2 describe-*), plus Portcullis settings.',
  }
}

/** The schema as the committed file holds it: two-space JSON with a trailing newline. */
export function portcullisJsonSchemaText(): string {
  return `${JSON.stringify(portcullisJsonSchema(), null, 2)}\n`
}
