#!/usr/bin/env node
// Checks that the programs the tests start are installed, and says what to
// install when one is not, instead of letting tests fail one by one.
//
//   node scripts/check-prerequisites.mjs     (the first step of `npm test`)
//
// redis-server, haproxy, faketime, datefudge, logrotate and goaccess are run by name, so they are
// looked up on PATH; Chromium is run from PORTCULLIS_CHROMIUM, else
// /usr/bin/chromium (test/e2e/browser.ts). Every one is a Debian package of
// the same name.
import { accessSync, constants, statSync } from 'node:fs'
import { delimiter, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const ON_PATH = ['redis-server', 'haproxy', 'faketime', 'datefudge', 'logrotate', 'goaccess']

function isExecutable(path) {
  try {
    accessSync(path, constants.X_OK)
    return statSync(path).isFile()
  } catch {
    return false
  }
}

/** The programs of `names` (and Chromium, when `chromium` is one) this machine lacks, each with why. */
export function missingPrerequisites(names = [...ON_PATH, 'chromium']) {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter((dir) => dir !== '')
  const missing = []
  for (const name of names) {
    if (name === 'chromium') {
      const chromium = process.env.PORTCULLIS_CHROMIUM
      if (chromium !== undefined && !isExecutable(chromium)) {
        missing.push({ name, why: `PORTCULLIS_CHROMIUM=${chromium} is not an executable file` })
      } else if (chromium === undefined && !isExecutable('/usr/bin/chromium')) {
        missing.push({ name, why: 'not at /usr/bin/chromium (or set PORTCULLIS_CHROMIUM to a Chromium binary)' })
      }
    } else if (!dirs.some((dir) => isExecutable(join(dir, name)))) {
      missing.push({ name, why: 'not on PATH' })
    }
  }
  return missing
}

/** Exits 1, naming what is missing and the apt-get line that installs it, unless every one of `names` is there. */
export function requirePrerequisites(names, by = 'check-prerequisites') {
  const missing = missingPrerequisites(names)
  if (missing.length === 0) return
  const sudo = process.getuid?.() === 0 ? '' : 'sudo '
  console.error(`${by}: the tests need programs this machine lacks:`)
  for (const { name, why } of missing) console.error(`  ${name}: ${why}`)
  console.error(`Install them (Debian):\n  ${sudo}apt-get install ${missing.map((m) => m.name).join(' ')}`)
  process.exit(1)
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  requirePrerequisites()
}
