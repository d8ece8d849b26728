/**
 * Recovery of the files a killed worker left under `.partial/` (the whole
 * process is tested in test/e2e/access-log-delivery.test.ts): what counts as
 * whose file, and what of a cut-off gzip stream is delivered.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { constants, gunzipSync, gzipSync } from 'node:zlib'
import { PARTIAL_DIRECTORY, recoverPartialFiles } from '../../src/observability/alb-delivery.js'

const OPTIONS = { accountId: '123456789012', region: 'eu-west-1', name: 'lb', id: '0123456789abcdef', ip: '10.0.0.1' }
const HOST = hostname().replace(/[^A-Za-z0-9.-]/g, '-')

/** The pid of a process that has exited (so it is certainly not running now). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''])
  await once(child, 'exit')
  return child.pid!
}

/** A gzip stream as a killed writer leaves it: sync-flushed blocks, no trailer. */
function cutOff(text: string): Buffer {
  // Z_SYNC_FLUSH as the final flush ends the data on a block boundary and writes no gzip trailer.
  return gzipSync(text, { level: 1, finishFlush: constants.Z_SYNC_FLUSH })
}

test("recovery delivers a dead writer's whole lines under the interval's name and leaves others' files alone", async () => {
  const directory = await mkdtemp(join(tmpdir(), 'portcullis-recover-'))
  const partial = join(directory, PARTIAL_DIRECTORY)
  await mkdir(partial)
  const dead = await deadPid()
  const files = {
    // Two whole lines and one cut off by the kill.
    cut: `20261207T1145Z_${HOST}_${dead}_aaaaaaaa.log.gz`,
    // Not gzip at all (a disk that failed mid-header): nothing to deliver, removed.
    garbage: `20261207T1145Z_${HOST}_${dead}_bbbbbbbb.log.gz`,
    // Written by this (running) process: not ours to take.
    live: `20261207T1145Z_${HOST}_${process.pid}_cccccccc.log.gz`,
    // Another host's, on a shared volume: its writer may be alive there.
    otherHost: `20261207T1145Z_not-${HOST}_${dead}_dddddddd.log.gz`,
  }
  await writeFile(join(partial, files.cut), cutOff('line 1\nline 2\nline 3 cut o'))
  await writeFile(join(partial, files.garbage), Buffer.from([0x1f, 0x8b, 0x08]))
  await writeFile(join(partial, files.live), cutOff('live\n'))
  await writeFile(join(partial, files.otherHost), cutOff('other\n'))

  const recovered = await recoverPartialFiles({ directory, ...OPTIONS })

  const byLines = recovered.sort((a, b) => a.lines - b.lines)
  assert.deepEqual(
    byLines.map((r) => [r.pid, r.lines]),
    [
      [dead, 0],
      [dead, 2],
    ],
  )
  const path = byLines[1]!.path!
  assert.equal(
    path,
    join(
      directory,
      'AWSLogs/123456789012/elasticloadbalancing/eu-west-1/2026/12/07/123456789012_elasticloadbalancing_eu-west-1_app.lb.0123456789abcdef_20261207T1145Z_10.0.0.1_aaaaaaaa.log.gz',
    ),
  )
  // A complete gzip file (gunzipSync fails on a missing trailer) with the whole lines only.
  assert.equal(gunzipSync(await readFile(path)).toString(), 'line 1\nline 2\n')
  assert.equal(byLines[0]!.path, undefined)
  assert.deepEqual((await readdir(partial)).sort(), [files.live, files.otherHost].sort())
})

test("recovery after a worker's exit takes only that worker's files", async () => {
  const directory = await mkdtemp(join(tmpdir(), 'portcullis-recover-'))
  const partial = join(directory, PARTIAL_DIRECTORY)
  await mkdir(partial)
  const [exited, other] = [await deadPid(), await deadPid()]
  await writeFile(join(partial, `20261207T1150Z_${HOST}_${exited}_aaaaaaaa.log.gz`), cutOff('a\n'))
  await writeFile(join(partial, `20261207T1150Z_${HOST}_${other}_bbbbbbbb.log.gz`), cutOff('b\n'))
  const recovered = await recoverPartialFiles({ directory, ...OPTIONS }, new Set([exited]))
  assert.deepEqual(
    recovered.map((r) => [r.pid, r.lines]),
    [[exited, 1]],
  )
  assert.deepEqual(await readdir(partial), [`20261207T1150Z_${HOST}_${other}_bbbbbbbb.log.gz`])
  // No directory at all is nothing to recover.
  assert.deepEqual(await recoverPartialFiles({ directory: join(directory, 'none'), ...OPTIONS }), [])
})
