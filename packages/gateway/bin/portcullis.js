#!/usr/bin/env node
// The `portcullis` command. This file is committed (dist/ is not) so that npm
// can link the bin during `npm ci` in the repository, before `prepare` builds.
import { existsSync } from 'node:fs'

const main = new URL('../dist/cli/main.js', import.meta.url)
if (!existsSync(main)) {
  process.stderr.write(
    'portcullis: the CLI is not built yet (dist/cli/main.js is missing); run `npm run build` at the repository root\n',
  )
  process.exit(1)
}
await import(main.href)
