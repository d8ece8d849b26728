import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'

const script = fileURLToPath(new URL('../../../../scripts/check-layers.mjs', import.meta.url))

function run(srcDir?: string): { status: number | null; output: string } {
  const result = spawnSync(process.execPath, srcDir === undefined ? [script] : [script, srcDir], { encoding: 'utf8' })
  return { status: result.status, output: result.stdout + result.stderr }
}

describe('scripts/check-layers.mjs', () => {
  const root = mkdtempSync(join(tmpdir(), 'portcullis-layers-'))
  after(() => rmSync(root, { recursive: true, force: true }))

  /** Writes a source tree of `files` (path → text) and returns its directory. */
  function tree(name: string, files: Record<string, string>): string {
    const dir = join(root, name)
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true })
      writeFileSync(join(dir, path), text)
    }
    return dir
  }

  test("the gateway's own tree passes", () => {
    const { status, output } = run()
    assert.equal(status, 0, output)
    assert.match(output, /relative imports in \d+ files/)
  })

  test('imports that point down pass', () => {
    const dir = tree('down', {
      'config/model.ts': 'export interface RuleModel {}\n',
      'core/request.ts': "import type { RuleModel } from '../config/model.js'\nexport type R = RuleModel\n",
      'listeners/pipeline.ts': "import type { R } from '../core/request.js'\nimport './compile.js'\n",
      'listeners/compile.ts': 'export {}\n',
      'server/gateway.ts': "export const load = () => import('../auth/index.js')\n",
      'auth/index.ts': 'export {}\n',
    })
    const { status, output } = run(dir)
    assert.equal(status, 0, output)
    assert.match(output, /4 relative imports in 6 files/)
  })

  test('an upward import, static, re-exported or dynamic, fails with each offending import listed', () => {
    const dir = tree('up', {
      'core/request.ts':
        "import type { CompiledGateway } from '../listeners/compile.js'\nexport type C = CompiledGateway\n",
      'listeners/compile.ts': "export interface CompiledGateway {}\nexport * from '../server/gateway.js'\n",
      'proxy/http.ts': "export const late = async () => {\n  await import('../actions/forward.js')\n}\n",
      'actions/forward.ts': 'export {}\n',
      'server/gateway.ts': 'export {}\n',
    })
    const { status, output } = run(dir)
    assert.equal(status, 1, output)
    assert.match(
      output,
      /core\/request\.ts:1 imports \.\.\/listeners\/compile\.js: 'listeners' \(layer \d+\) is above 'core'/,
    )
    assert.match(output, /listeners\/compile\.ts:2 imports \.\.\/server\/gateway\.js/)
    assert.match(output, /proxy\/http\.ts:2 imports \.\.\/actions\/forward\.js/)
    assert.match(output, /3 import\(s\) against the layering/)
  })

  test('the configuration model is a leaf: it may not import the rest of config', () => {
    const dir = tree('model', {
      'config/model.ts': "import type { Schema } from './schema.js'\nexport type M = Schema\n",
      'config/schema.ts': 'export interface Schema {}\n',
    })
    const { status, output } = run(dir)
    assert.equal(status, 1, output)
    assert.match(
      output,
      /config\/model\.ts:1 imports \.\/schema\.js: 'config' \(layer \d+\) is above 'config\/model\.ts'/,
    )
  })

  test('folders sharing a layer may not import each other, and a folder outside every layer fails', () => {
    const dir = tree('sideways', {
      'auth/index.ts': "import type { X } from '../actions/types.js'\nexport type Y = X\n",
      'actions/types.ts': 'export interface X {}\n',
      'plugins/a.ts': 'export {}\n',
    })
    const { status, output } = run(dir)
    assert.equal(status, 1, output)
    assert.match(output, /auth\/index\.ts:1 imports \.\.\/actions\/types\.js: 'auth' and 'actions' share layer/)
    assert.match(output, /plugins\/a\.ts: 'plugins' belongs to no layer \(add it to packages\/gateway\/layers\.json\)/)
  })

  test('idp stands on values only: it may import values, shares a layer with core, and demo may import it', () => {
    const passes = tree('idp-floor', {
      'values/loopback.ts': 'export const isLoopbackHost = () => true\n',
      'idp/provider.ts': "import { isLoopbackHost } from '../values/loopback.js'\nexport const p = isLoopbackHost\n",
      'demo/demo.ts': "import { p } from '../idp/provider.js'\nexport const d = p\n",
    })
    assert.equal(run(passes).status, 0)
    const fails = tree('idp-sideways', {
      'idp/provider.ts': "import type { R } from '../core/request.js'\nexport type P = R\n",
      'core/request.ts': 'export interface R {}\n',
    })
    const { status, output } = run(fails)
    assert.equal(status, 1, output)
    assert.match(output, /idp\/provider\.ts:1 imports \.\.\/core\/request\.js: 'idp' and 'core' share layer/)
  })

  test('subfolders belong to their top folder; imports written in comments or strings are not imports', () => {
    const dir = tree('subfolders', {
      'auth/oidc/login.ts':
        "import { s } from '../session/store.js'\nimport '../../shared/connection.js'\nexport const l = s\n",
      'auth/session/store.ts':
        "// import { x } from '../../server/gateway.js'\nexport const s = \"import('../../cli/main.js')\"\n",
      'shared/connection.ts': 'export {}\n',
    })
    const { status, output } = run(dir)
    assert.equal(status, 0, output)
    assert.match(output, /2 relative imports in 3 files/)
  })
})
