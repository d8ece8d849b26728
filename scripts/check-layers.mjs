#!/usr/bin/env node
// Fails when a module of the gateway imports one from a higher layer.
//
//   node scripts/check-layers.mjs [SRC_DIR]     (default: packages/gateway/src)
//
// Reads every relative import of every .ts file under SRC_DIR — static
// `import … from`, `export … from`, side-effect `import '…'` and dynamic
// `import('…')`, type-only imports included — maps both ends to a layer and
// lists each import that points up (or sideways into another folder of the
// same layer). Exit 1 when there is one, or when a file belongs to no layer.
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

// Lowest first. A module may import its own folder and anything in a lower
// layer; folders that share a layer are independent of each other. An entry
// ending in `.ts` names one file, which takes precedence over its folder.
//
// - values, config/model.ts: pure vocabulary of ALB (regex dialect, CIDR and
//   status-code syntax, the validated configuration model); import nothing.
// - core: the request context and record, the action-handler, callback and
//   authenticate-action interfaces, the load balancer's own responses and
//   the error vocabulary. Imports only the configuration model.
// - headers, state, observability: header handling, the state directory,
//   logging/metrics/access log — leaves over core.
// - tls (local CA, on state), rules (pure matching), targets (pools, health),
//   config (loading and validation): each on the layers above only.
// - proxy (moving bytes to a target), audit (checks over a loaded config) and
//   shared (the connection to the shared Redis of `Portcullis.SharedState`, on
//   tls for the CA trust it shares with the IdP calls; auth and server use it).
// - actions (forward on proxy and targets; redirect; fixed-response) and auth
//   (the authenticate actions and the login callback).
// - listeners: compile a configuration into handlers, run the pipeline.
// - server: the runtime (reload, cluster, admin). It loads auth with a lazy
//   `import()` only so that a gateway without authenticate rules never pulls
//   in the OIDC stack; auth is below server, so that import points down.
// - idp (the development provider), demo, cli: applications of the above.
// - index.ts: the public API, re-exporting from anywhere.
export const LAYERS = [
  ['values', 'config/model.ts'],
  ['core'],
  ['headers', 'state', 'observability'],
  ['tls', 'rules', 'targets', 'config'],
  ['proxy', 'audit', 'shared'],
  ['actions', 'auth'],
  ['listeners'],
  ['server'],
  ['idp'],
  ['demo'],
  ['cli'],
  ['index.ts'],
]

// `import X, { a } from`, `import * as ns from`, `export { a } from`, `export * from`, `import type …`.
const STATIC = String.raw`\b(?:import|export)\s+(?:type\s+)?(?:[\w$]+\s*,?\s*)?(?:\{[^}]*\}\s*|\*\s*(?:as\s+[\w$]+\s*)?)?from\s*['"]([^'"]+)['"]`
const DYNAMIC = String.raw`\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)`
const BARE = String.raw`^\s*import\s*['"]([^'"]+)['"]`
const IMPORT = new RegExp(`${STATIC}|${DYNAMIC}|${BARE}`, 'gm')

/** The layer unit of a path relative to the source root: a listed file, else its top folder. */
function unitOf(path) {
  const posix = path.split(sep).join('/')
  for (const layer of LAYERS) for (const unit of layer) if (unit.endsWith('.ts') && unit === posix) return unit
  return posix.split('/')[0]
}

function rankOf(unit) {
  return LAYERS.findIndex((layer) => layer.includes(unit))
}

function tsFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = join(dir, entry.name)
    if (entry.isDirectory()) return tsFiles(full)
    return entry.name.endsWith('.ts') ? [full] : []
  })
}

/** Every layering problem under `srcDir`, as printable lines; empty when the layering holds. */
export function checkLayers(srcDir) {
  const problems = []
  let imports = 0
  const files = tsFiles(srcDir)
  for (const file of files) {
    const from = relative(srcDir, file)
    const fromUnit = unitOf(from)
    const fromRank = rankOf(fromUnit)
    if (fromRank === -1) {
      problems.push(`${from}: '${fromUnit}' belongs to no layer (add it to LAYERS in scripts/check-layers.mjs)`)
      continue
    }
    const text = readFileSync(file, 'utf8')
    for (const match of text.matchAll(IMPORT)) {
      const specifier = match[1] ?? match[2] ?? match[3]
      if (!specifier.startsWith('.')) continue
      imports++
      const to = relative(srcDir, resolve(dirname(file), specifier.replace(/\.js$/, '.ts')))
      const toUnit = unitOf(to)
      if (toUnit === fromUnit) continue
      const toRank = rankOf(toUnit)
      if (toRank !== -1 && toRank < fromRank) continue
      const line = text.slice(0, match.index).split('\n').length
      const why =
        toRank === -1
          ? `'${toUnit}' belongs to no layer`
          : toRank === fromRank
            ? `'${fromUnit}' and '${toUnit}' share layer ${fromRank} and must stay independent`
            : `'${toUnit}' (layer ${toRank}) is above '${fromUnit}' (layer ${fromRank})`
      problems.push(`${from}:${line} imports ${specifier}: ${why}`)
    }
  }
  return { problems, files: files.length, imports }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = fileURLToPath(new URL('..', import.meta.url))
  const srcDir = resolve(process.argv[2] ?? join(root, 'packages/gateway/src'))
  const { problems, files, imports } = checkLayers(srcDir)
  if (problems.length > 0) {
    console.error(`check-layers: ${problems.length} import(s) against the layering in ${relative(root, srcDir)}:`)
    for (const problem of problems) console.error(`  ${problem}`)
    process.exit(1)
  }
  console.log(`check-layers: ${imports} relative imports in ${files} files of ${relative(root, srcDir)} point down`)
}
