/**
 * The `portcullis` command as a newcomer gets it: through npm's bin link in
 * the repository, and from the two tarballs `npm run pack` makes, installed
 * in an empty directory. These run npm and the built CLI (dist/), which
 * `npm test` builds first.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const run = promisify(execFile)
const root = fileURLToPath(new URL('../../../../', import.meta.url))
const gateway = join(root, 'packages', 'gateway')
const manifest = JSON.parse(readFileSync(join(gateway, 'package.json'), 'utf8')) as {
  version: string
  bin: { portcullis: string }
}
// npm prints warnings on stderr; a fresh HOME would not have the cache that `npm ci` filled, so keep the user's.
const npm = (args: string[], cwd: string) =>
  run('npm', args, { cwd, env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false' } })

describe('the portcullis command', () => {
  test('the bin is a file of the source tree, so npm ci links it before prepare builds dist/', () => {
    const bin = join(gateway, manifest.bin.portcullis)
    assert.ok(!relative(gateway, bin).startsWith('dist'), manifest.bin.portcullis)
    assert.ok(existsSync(bin), `${bin} exists`)
    // What `npm ci` linked: node_modules/.bin/portcullis resolves to that same file.
    assert.equal(realpathSync(join(root, 'node_modules', '.bin', 'portcullis')), realpathSync(bin))
  })

  test('npx portcullis --version in the repository', async () => {
    const { stdout } = await npm(['exec', '--no', '--', 'portcullis', '--version'], root)
    assert.equal(stdout.trim(), manifest.version)
  })

  test('the bin explains a missing build instead of a module-not-found stack', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-bin-'))
    try {
      mkdirSync(join(dir, 'bin'))
      copyFileSync(join(gateway, manifest.bin.portcullis), join(dir, 'bin', 'portcullis.js'))
      const failed = await run(process.execPath, [join(dir, 'bin', 'portcullis.js'), '--version']).then(
        () => assert.fail('expected exit 1'),
        (error: { code: number; stderr: string }) => error,
      )
      assert.equal(failed.code, 1)
      assert.match(failed.stderr, /not built yet .*npm run build/)
      assert.doesNotMatch(failed.stderr, /ERR_MODULE_NOT_FOUND|\n\s+at /)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test('the two tarballs install side by side in an empty directory and run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-pack-'))
    try {
      await npm(['pack', '-w', '@portcullis/verify', '-w', 'portcullis', '--pack-destination', dir], root)
      const tarballs = [`portcullis-verify-${manifest.version}.tgz`, `portcullis-${manifest.version}.tgz`]
      for (const tarball of tarballs) {
        const { stdout } = await run('tar', ['-xzOf', join(dir, tarball), 'package/README.md'])
        assert.doesNotMatch(stdout, /\]\(\.\.\//, `${tarball}: README links outside the package`)
        const { stdout: files } = await run('tar', ['-tzf', join(dir, tarball)])
        assert.match(files, /^package\/LICENSE$/m, `${tarball} carries the licence`)
      }
      const app = join(dir, 'app')
      mkdirSync(app)
      // Offline first: everything but the two tarballs is in the npm cache that `npm ci` filled.
      await npm(['init', '-y'], app)
      await npm(['install', '--prefer-offline', ...tarballs.map((t) => join('..', t))], app)
      const bin = join(app, 'node_modules', '.bin', 'portcullis')
      const version = await run(bin, ['--version'], { cwd: app })
      assert.equal(version.stdout.trim(), manifest.version)
      const printed = await run(bin, ['demo', '--print-config', '--state-dir', join(app, 'state')], { cwd: app })
      assert.match(printed.stdout, /^# The configuration `portcullis demo` runs\./)
      assert.match(printed.stdout, /Type: authenticate-oidc/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
