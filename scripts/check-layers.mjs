#!/usr/bin/env node
// Fails when a module of the gateway imports one from a higher layer.
//
//   node scripts/check-layers.mjs [SRC_DIR]     (default: packages/gateway/src)
//
// Reads every relative import of every .ts file under SRC_DIR with
// TypeScript's own scanner — static `import … from`, `export … from`,
// side-effect `import '…'`, dynamic `import('…')` and type-level imports,
// type-only ones included; comments and strings are not imports — maps both
// ends to a layer of packages/gateway/layers.json (the layers, lowest first,
// and what each holds) and lists each import that points up (or sideways into
// another unit of the same layer). Exit 1 when there is one, or when a file
// belongs to no layer.
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

const LAYERS_FILE = 'packages/gateway/layers.json'
const root = fileURLToPath(new URL('..', import.meta.url))

/** The layers' units, lowest layer first, from the layers file; throws on a unit listed twice. */
function readLayers() {
  const { layers } = JSON.parse(readFileSync(join(root, LAYERS_FILE), 'utf8'))
  const units = layers.map((layer) => Object.keys(layer))
  const all = units.flat()
  const twice = all.filter((unit, i) => all.indexOf(unit) !== i)
  if (twice.length > 0) throw new Error(`${LAYERS_FILE}: ${twice.join(', ')} listed more than once`)
  return units
}

const LAYERS = readLayers()

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
      problems.push(`${from}: '${fromUnit}' belongs to no layer (add it to ${LAYERS_FILE})`)
      continue
    }
    const text = readFileSync(file, 'utf8')
    for (const { fileName: specifier, pos } of ts.preProcessFile(text, true, true).importedFiles) {
      if (!specifier.startsWith('.')) continue
      imports++
      const to = relative(srcDir, resolve(dirname(file), specifier.replace(/\.js$/, '.ts')))
      const toUnit = unitOf(to)
      if (toUnit === fromUnit) continue
      const toRank = rankOf(toUnit)
      if (toRank !== -1 && toRank < fromRank) continue
      const line = text.slice(0, pos).split('\n').length
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
  const srcDir = resolve(process.argv[2] ?? join(root, 'packages/gateway/src'))
  const { problems, files, imports } = checkLayers(srcDir)
  if (problems.length > 0) {
    console.error(`check-layers: ${problems.length} import(s) against the layering in ${relative(root, srcDir)}:`)
    for (const problem of problems) console.error(`  ${problem}`)
    process.exit(1)
  }
  console.log(`check-layers: ${imports} relative imports in ${files} files of ${relative(root, srcDir)} point down`)
}
