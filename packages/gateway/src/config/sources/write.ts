/**
 * The configuration an import writes: `portcullis.yaml` a user keeps and
 * edits, with a comment above each resource naming where it came from.
 */
import { Document, isNode } from 'yaml'
import type { Imported } from './model.js'

/**
 * YAML text of the imported configuration, headed by the command's sources.
 *
 * @example
 * ```ts
 * writeImported(imported, ['template.yaml']) // '# Imported by `portcullis import` from template.yaml …'
 * ```
 */
export function writeImported(imported: Imported, sources: readonly string[]): string {
  const doc = new Document(imported.value)
  doc.commentBefore = [
    ` Imported by \`portcullis import\` from ${sources.join(', ')}.`,
    ' Re-import after the source changes; keep Portcullis-only settings in an --overlay file.',
  ].join('\n')
  for (const { path, text } of imported.comments) {
    const node = doc.getIn(path, true)
    if (isNode(node)) node.commentBefore = ` ${text}`
  }
  return doc.toString({ lineWidth: 0 })
}
