/**
 * The tests run `@portcullis/verify` from its source, not from its built
 * dist: scripts/run-tests.mjs and the CLI fixture give Node the
 * `@portcullis/source` export condition, so an edit to packages/verify/src is
 * tested without a build. An application, without the condition, gets dist.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, realpathSync } from 'node:fs'
import { test } from 'node:test'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { FROM_SOURCE } from './fixtures/process.js'

const manifest = new URL('../../verify/package.json', import.meta.url)
const exportsMap = (JSON.parse(readFileSync(manifest, 'utf8')) as { exports: Record<string, unknown> }).exports
const entries = Object.entries(exportsMap).flatMap(([subpath, target]) =>
  typeof target === 'object' && target !== null
    ? [{ specifier: `@portcullis/verify${subpath.slice(1)}`, target: target as Record<string, string> }]
    : [],
)
const href = (relative: string) => pathToFileURL(realpathSync(fileURLToPath(new URL(relative, manifest)))).href

test('every code entry point of @portcullis/verify names the source file its dist file is built from', () => {
  assert.ok(entries.length >= 9)
  for (const { specifier, target } of entries) {
    const source = target['@portcullis/source']
    assert.equal(source, target['default']?.replace(/^\.\/dist\//, './src/').replace(/\.js$/, '.ts'), specifier)
    assert.ok(existsSync(new URL(source!, manifest)), `${specifier}: ${source} exists`)
    assert.equal(Object.keys(target)[0], '@portcullis/source', `${specifier}: the condition comes before default`)
  }
})

test('the test process resolves @portcullis/verify to its .ts source', () => {
  for (const { specifier, target } of entries) {
    assert.equal(import.meta.resolve(specifier), href(target['@portcullis/source']!), specifier)
  }
  assert.match(import.meta.resolve('@portcullis/verify'), /\/packages\/verify\/src\/index\.ts$/)
})

test('the CLI processes the tests spawn resolve it to source; a process without the condition to dist', () => {
  const resolveIn = (nodeArgs: readonly string[]) => {
    const child = spawnSync(
      process.execPath,
      [...nodeArgs, '--input-type=module', '-e', "console.log(import.meta.resolve('@portcullis/verify'))"],
      { cwd: fileURLToPath(new URL('..', import.meta.url)), encoding: 'utf8' },
    )
    assert.equal(child.status, 0, child.stderr)
    return child.stdout.trim()
  }
  assert.equal(resolveIn(FROM_SOURCE), href('./src/index.ts'))
  assert.equal(resolveIn([]), href('./dist/index.js'))
})
