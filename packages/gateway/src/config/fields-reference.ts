/**
 * The classification table as the reference page `docs/alb-fields.md`,
 * written by `npm run gen:schema` with the JSON Schema; a test fails when the
 * committed page is stale, so the docs cannot drift from the code.
 */
import { BLOCKS, type BlockName, fieldText, type Treatment } from './classification.js'

const TREATMENT: Record<Treatment, string> = {
  implemented: 'implemented',
  extension: 'Portcullis',
  'aws-only': 'AWS-only, ignored',
  'not-implemented': 'not implemented',
}

/** Where each block is in the file (its first path from the top), e.g. `Listeners[].Rules[].Actions[]`. */
function blockPaths(): Map<BlockName, string> {
  const paths = new Map<BlockName, string>([['PortcullisFile', '']])
  const queue: BlockName[] = ['PortcullisFile']
  for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
    const block = BLOCKS[name]
    for (const [key, field] of Object.entries(block.fields)) {
      if (field.block === undefined || paths.has(field.block)) continue
      const parent = paths.get(name)!
      // ELBv2 names its lists in the plural.
      const list = key.endsWith('s') && key !== 'Portcullis' ? '[]' : ''
      paths.set(field.block, `${parent === '' ? '' : `${parent}.`}${key}${list}`)
      queue.push(field.block)
    }
  }
  return paths
}

/**
 * The reference page: one table per block of ALB's shapes (blocks of
 * Portcullis's own keys are in the gateway README), each field with what
 * Portcullis does with it.
 *
 * @example
 * ```ts
 * writeFileSync('docs/alb-fields.md', fieldsReferenceMarkdown())
 * ```
 */
export function fieldsReferenceMarkdown(): string {
  const lines = [
    '# ALB fields and attributes in Portcullis',
    '',
    '<!-- Generated from packages/gateway/src/config/classification.ts by `npm run gen:schema`; do not edit. -->',
    '',
    "Every field of ALB's `aws elbv2 describe-*` outputs and every attribute of the ELBv2 settings reference, and",
    'what Portcullis does with it. `portcullis validate`, `start`, `audit` and the JSON Schema read the same table.',
    '',
    '- **implemented**: Portcullis acts on it.',
    '- **AWS-only, ignored**: meaningful only on AWS; accepted, and listed once by `portcullis validate`.',
    '- **not implemented**: Portcullis does not do it. The values that change nothing (those AWS prints by default)',
    '  are accepted and listed like AWS-only fields; any other value is refused with the reason and what to do, or,',
    '  where refusing would block a harmless paste, warned about at `validate`, at every `start`, and by `audit`',
    '  (finding `setting-not-acted-on`).',
    "- **Portcullis**: a key of Portcullis, not in ALB's output (see the gateway README).",
    '',
    'A key the table does not know is a typo when it is close to a known key (an error with "did you mean"), or',
    'in a block a person wrote. In a resource pasted from a `describe-*` output (one that carries fields only AWS',
    "writes, such as its ARN or `VpcId`), an unknown key of AWS's form (PascalCase, no near match) is taken for a",
    'field AWS added after this version: ignored, with a warning that names it. Unknown attribute keys follow the',
    'same rule (within two edits of a known key: a typo).',
  ]
  const paths = blockPaths()
  for (const [name, block] of Object.entries(BLOCKS) as [BlockName, (typeof BLOCKS)[BlockName]][]) {
    const fields = Object.entries(block.fields)
    // The top level and the `{ Key, Value }` pair are self-evident; Portcullis's own blocks are in the README.
    if (name === 'PortcullisFile' || name === 'Attribute' || fields.every(([, f]) => f.treatment === 'extension'))
      continue
    const where = paths.get(name)
    lines.push('', `## ${block.label}${where ? ` (\`${where}\`)` : ''}`, '')
    lines.push(`| ${block.kind === 'attributes' ? 'attribute' : 'field'} | treatment | what Portcullis does |`)
    lines.push('| --- | --- | --- |')
    for (const [key, field] of fields) {
      const text = fieldText(field).replaceAll('|', '\\|')
      lines.push(`| \`${key}\` | ${TREATMENT[field.treatment]} | ${text} |`)
    }
  }
  return `${lines.join('\n')}\n`
}
