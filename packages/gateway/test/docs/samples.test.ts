/**
 * The TypeScript samples in the READMEs and guides: each must parse, and
 * each name it imports from this project's packages must be exported there.
 * A renamed or removed export (or a typo in a sample) fails here, not in a
 * reader's editor.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

const root = fileURLToPath(new URL('../../../../', import.meta.url))
const DOCUMENTS = [
  'README.md',
  'packages/gateway/README.md',
  'packages/verify/README.md',
  'packages/verify/docs/middleware.md',
]
const OURS = /^(portcullis|@portcullis\/verify)(\/|$)/

function samples(path: string): { line: number; code: string }[] {
  const text = readFileSync(`${root}${path}`, 'utf8')
  const out: { line: number; code: string }[] = []
  const fence = /^( *)```ts\n([\s\S]*?)^\1```/gm
  for (const m of text.matchAll(fence)) {
    const indent = m[1]!.length
    const code = m[2]!
      .split('\n')
      .map((l) => l.slice(indent))
      .join('\n')
    out.push({ line: text.slice(0, m.index).split('\n').length, code })
  }
  return out
}

for (const path of DOCUMENTS) {
  test(`${path}: every TypeScript sample parses and imports only what the packages export`, async () => {
    const found = samples(path)
    assert.ok(found.length > 0 || path === 'README.md', `${path} has no TypeScript samples any more`)
    for (const { line, code } of found) {
      const where = `${path}:${line}`
      const source = ts.createSourceFile('sample.ts', code, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS)
      const syntax = (source as unknown as { parseDiagnostics: ts.Diagnostic[] }).parseDiagnostics
      assert.deepEqual(
        syntax.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')),
        [],
        `${where}: the sample does not parse`,
      )
      for (const statement of source.statements) {
        if (!ts.isImportDeclaration(statement) || !ts.isStringLiteral(statement.moduleSpecifier)) continue
        const specifier = statement.moduleSpecifier.text
        const clause = statement.importClause
        if (!OURS.test(specifier) || clause === undefined || clause.isTypeOnly) continue
        const bindings = clause.namedBindings
        if (bindings === undefined || !ts.isNamedImports(bindings)) continue
        const exported = await import(specifier)
        for (const element of bindings.elements) {
          if (element.isTypeOnly) continue
          const name = (element.propertyName ?? element.name).text
          assert.ok(name in exported, `${where}: '${specifier}' exports no '${name}'`)
        }
      }
    }
  })
}
