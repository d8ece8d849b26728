import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'

const script = fileURLToPath(new URL('../../../../scripts/check-prerequisites.mjs', import.meta.url))
const manifest = fileURLToPath(new URL('../../../../package.json', import.meta.url))

function run(env: Record<string, string>): { status: number | null; output: string } {
  const { PORTCULLIS_CHROMIUM: _, ...inherited } = process.env
  const result = spawnSync(process.execPath, [script], { encoding: 'utf8', env: { ...inherited, ...env } })
  return { status: result.status, output: result.stdout + result.stderr }
}

describe('scripts/check-prerequisites.mjs', () => {
  const root = mkdtempSync(join(tmpdir(), 'portcullis-prerequisites-'))
  after(() => rmSync(root, { recursive: true, force: true }))

  /** A directory named `name` holding an executable file for each of `programs`. */
  function bin(name: string, programs: string[]): string {
    const dir = join(root, name)
    mkdirSync(dir)
    for (const program of programs) {
      writeFileSync(join(dir, program), '#!/bin/sh\n')
      chmodSync(join(dir, program), 0o755)
    }
    return dir
  }

  test('is the first step of npm test', () => {
    const { scripts } = JSON.parse(readFileSync(manifest, 'utf8')) as { scripts: Record<string, string> }
    assert.match(scripts['test']!, /^node scripts\/check-prerequisites\.mjs && /)
  })

  test('passes silently when every program is there', () => {
    const all = bin('all', ['redis-server', 'haproxy', 'faketime', 'datefudge', 'logrotate', 'goaccess', 'chromium'])
    const { status, output } = run({ PATH: all, PORTCULLIS_CHROMIUM: join(all, 'chromium') })
    assert.equal(status, 0, output)
    assert.equal(output, '')
  })

  test('names each missing program and the apt-get line that installs them', () => {
    const none = bin('none', [])
    const { status, output } = run({ PATH: none, PORTCULLIS_CHROMIUM: join(none, 'chromium') })
    assert.equal(status, 1, output)
    for (const name of ['redis-server', 'haproxy', 'faketime', 'datefudge', 'logrotate', 'goaccess']) {
      assert.match(output, new RegExp(`^  ${name}: not on PATH$`, 'm'))
    }
    assert.match(output, /^ {2}chromium: PORTCULLIS_CHROMIUM=\S+\/chromium is not an executable file$/m)
    assert.match(
      output,
      /^ {2}(sudo )?apt-get install redis-server haproxy faketime datefudge logrotate goaccess chromium$/m,
    )
  })

  test('only what is missing is named', () => {
    const some = bin('some', ['redis-server', 'faketime', 'datefudge', 'logrotate', 'goaccess', 'chromium'])
    const { status, output } = run({ PATH: some, PORTCULLIS_CHROMIUM: join(some, 'chromium') })
    assert.equal(status, 1, output)
    assert.match(output, /^ {2}(sudo )?apt-get install haproxy$/m)
    assert.doesNotMatch(output, /redis-server|faketime|datefudge|chromium/)
  })
})
