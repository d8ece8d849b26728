#!/usr/bin/env node
// Runs the suites that judge time (tokens, sessions, key rings, certificates,
// cookies, configuration warnings) again with the whole process tree's clock
// years ahead and years back (Debian's faketime; redis-server gets the same
// clock through datefudge, see test/fixtures/redis.ts): the suite must not
// depend on the date it runs on.
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { requirePrerequisites } from './check-prerequisites.mjs'

const root = fileURLToPath(new URL('..', import.meta.url))
const SUITES = [
  'packages/verify/test/',
  'packages/gateway/test/auth/',
  'packages/gateway/test/shared/',
  'packages/gateway/test/tls/',
  'packages/gateway/test/targets/',
  'packages/gateway/test/state/',
  'packages/gateway/test/config/',
  'packages/gateway/test/headers/',
  'packages/gateway/test/ha/clock-skew',
]
const SHIFTS = process.argv.length > 2 ? process.argv.slice(2) : ['+3y', '-3y']

requirePrerequisites(['redis-server', 'faketime', 'datefudge'], 'test-dates')
for (const shift of SHIFTS) {
  console.log(`== the time-sensitive suites with the clock ${shift} (faketime)`)
  const run = spawnSync('faketime', ['-f', shift, process.execPath, 'scripts/run-tests.mjs', ...SUITES], {
    cwd: root,
    stdio: 'inherit',
  })
  if (run.status !== 0) process.exit(run.status ?? 1)
}
