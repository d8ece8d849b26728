import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import fc from 'fast-check'
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml'
import { ConfigError } from '../../src/config/errors.js'
import { parseConfig } from '../../src/config/load.js'

/** Parses, and fails the property on anything thrown that is not a ConfigError with located, non-empty issues. */
function onlyConfigErrors(text: string, format: 'yaml' | 'json'): void {
  try {
    parseConfig(text, { source: 'fuzz.yaml', format, baseDir: '/tmp' })
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    assert.ok(err.issues.length > 0)
    for (const issue of err.issues) assert.ok(issue.message.length > 0)
    assert.doesNotMatch(err.format(), /\n\s+at /)
  }
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

function paths(value: Json, prefix: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(prefix)
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) paths(v, [...prefix, i], out)
  } else if (value !== null && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) paths(v, [...prefix, k], out)
  return out
}

function setAt(root: Json, path: readonly (string | number)[], value: Json): Json {
  if (path.length === 0) return value
  const copy = structuredClone(root) as Record<string | number, Json>
  let node = copy
  for (const segment of path.slice(0, -1)) node = node[segment] as Record<string | number, Json>
  node[path[path.length - 1]!] = value
  return copy as Json
}

const example = parseYaml(
  readFileSync(fileURLToPath(new URL('../../../../examples/configs/describe-rules.yaml', import.meta.url)), 'utf8'),
) as Json
const examplePaths = paths(example)

const interesting = fc.constantFrom<Json>(
  '',
  'default',
  '#{host}',
  '-1',
  '0',
  '99999999999999999999',
  '*',
  '(',
  'HTTP',
  'HTTPS',
  'forward',
  'http://127.0.0.1/',
  '10.0.0.0/99',
  [],
  {},
  null,
  true,
  1.5,
  -0,
  Number.MAX_SAFE_INTEGER,
)

describe('fuzzing the loader', () => {
  test('arbitrary text never throws anything but ConfigError', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (text) => {
        onlyConfigErrors(text, 'yaml')
        onlyConfigErrors(text, 'json')
      }),
      { numRuns: 150 },
    )
  })

  test('arbitrary YAML documents never throw anything but ConfigError', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => {
        onlyConfigErrors(stringifyYaml(value), 'yaml')
        onlyConfigErrors(JSON.stringify(value) ?? 'null', 'json')
      }),
      { numRuns: 100 },
    )
  })

  test('a valid file with random fields replaced never throws anything but ConfigError', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.nat(examplePaths.length - 1),
            fc.oneof(interesting, fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>),
          ),
          {
            minLength: 1,
            maxLength: 3,
          },
        ),
        (edits) => {
          let doc = example
          for (const [index, value] of edits) {
            const path = examplePaths[index]!
            try {
              doc = setAt(doc, path, value)
            } catch {
              // An earlier edit removed this path's parent; skip the edit.
            }
          }
          onlyConfigErrors(stringifyYaml(doc), 'yaml')
        },
      ),
      { numRuns: 150 },
    )
  })

  test('deeply nested input is refused cleanly', () => {
    onlyConfigErrors(`${'['.repeat(50_000)}${']'.repeat(50_000)}`, 'json')
    onlyConfigErrors(`${'['.repeat(5_000)}${']'.repeat(5_000)}`, 'yaml')
  })
})
