#!/usr/bin/env node
// Runs every *.test.ts under packages/*/test and examples/*/test with node's
// built-in runner (through tsx). Node 20 has no glob support in `--test`
// arguments, so the file list is built here.
import { spawnSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))

function walk(dir, out) {
  let entries
  try {
    entries = readdirSync(dir)
  } catch {
    return out
  }
  for (const name of entries) {
    if (name === 'node_modules' || name === 'dist') continue
    const full = join(dir, name)
    if (statSync(full).isDirectory()) walk(full, out)
    else if (name.endsWith('.test.ts')) out.push(relative(root, full))
  }
  return out
}

const filters = process.argv.slice(2)
const files = []
for (const group of ['packages', 'examples']) {
  for (const pkg of readdirSync(join(root, group), { withFileTypes: true })) {
    if (pkg.isDirectory()) walk(join(root, group, pkg.name, 'test'), files)
  }
}
const selected = files.sort().filter((f) => filters.length === 0 || filters.some((p) => f.includes(p)))
if (selected.length === 0) {
  console.error('no test files matched')
  process.exit(1)
}

// Tests start real servers and browsers; two cores want a little
// oversubscription because most of the time is spent waiting on sockets.
const concurrency = Math.max(2, availableParallelism())
// The `@portcullis/source` export condition makes `@portcullis/verify` resolve
// to its .ts source instead of its built dist, so an edit is tested without a build.
const result = spawnSync(
  process.execPath,
  [
    '--conditions=@portcullis/source',
    '--import',
    'tsx',
    '--test',
    `--test-concurrency=${concurrency}`,
    '--test-timeout=120000',
    ...selected,
  ],
  { cwd: root, stdio: 'inherit', env: { ...process.env, NODE_ENV: 'test' } },
)
process.exit(result.status ?? 1)
