/**
 * The command samples of the READMEs are what the commands do:
 *
 * - every transcript (a fence whose first line is `$ portcullis …`) is run
 *   through the real CLI and its output compared line for line with the one
 *   shown (a line `…` stands for one or more lines the README leaves out);
 * - every option of every command's `--help` appears in a README's usage
 *   line for that command (a fenced line `portcullis COMMAND …`), and every
 *   option a usage line shows is one the command has.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { FROM_SOURCE, type RunningCli, runPortcullis, startPortcullis, waitFor } from '../fixtures/process.js'
import { stateDirectory } from '../fixtures/servers.js'

const root = fileURLToPath(new URL('../../../../', import.meta.url))
const main = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url))
const READMES = ['README.md', 'packages/gateway/README.md', 'packages/verify/README.md']

interface Fence {
  readonly document: string
  /** 1-based line of the fence's first content line. */
  readonly line: number
  readonly lines: readonly string[]
}

function fences(document: string): Fence[] {
  const text = readFileSync(join(root, document), 'utf8')
  const out: Fence[] = []
  for (const m of text.matchAll(/^( *)```[a-z]*\n([\s\S]*?)^\1```/gm)) {
    const lines = m[2]!.replace(/\n$/, '').split('\n')
    out.push({ document, line: text.slice(0, m.index).split('\n').length + 1, lines })
  }
  return out
}

const all = READMES.flatMap(fences)

interface Transcript {
  readonly where: string
  readonly command: string
  readonly expected: readonly string[]
}

/** Fences that show a session: `$ portcullis …` (continued by trailing backslashes), then what it printed. */
function transcripts(): Transcript[] {
  const out: Transcript[] = []
  for (const fence of all) {
    if (!fence.lines[0]!.startsWith('$ portcullis ')) continue
    let end = 0
    while (fence.lines[end]!.endsWith('\\')) end++
    const command = fence.lines
      .slice(0, end + 1)
      .map((l) => l.replace(/\\$/, '').trim())
      .join(' ')
      .slice(2)
    out.push({ where: `${fence.document}:${fence.line}`, command, expected: fence.lines.slice(end + 1) })
  }
  return out
}

/** Whether `actual` is `expected`, a `…` line standing for one or more lines. */
function matches(expected: readonly string[], actual: readonly string[]): boolean {
  if (expected.length === 0) return actual.length === 0
  const [head, ...rest] = expected
  if (head!.trim() === '…') {
    for (let skip = 1; skip <= actual.length; skip++) if (matches(rest, actual.slice(skip))) return true
    return false
  }
  return actual.length > 0 && actual[0] === head && matches(rest, actual.slice(1))
}

/** Runs a shell command line in which `portcullis` is the CLI from source (so that globs expand as in a shell). */
async function shell(command: string, cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const cli = [process.execPath, ...FROM_SOURCE, main].map((a) => `'${a}'`).join(' ')
  const child = spawn('sh', ['-c', `portcullis() { ${cli} "$@"; }\n${command}`], {
    cwd,
    env: { ...process.env, NO_COLOR: '1' },
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
  const [code] = (await once(child, 'exit')) as [number | null]
  return { code, stdout, stderr }
}

describe('README transcripts are what the commands print', () => {
  // The probe transcript needs a target: the demo's, as the README says.
  let demo: RunningCli | undefined
  let demoDir = ''
  const substitutions = new Map<string, string>()
  before(async () => {
    demoDir = stateDirectory()
    demo = startPortcullis(
      ['demo', '--port', '0', '--idp-port', '0', '--admin-port', '0', '--state-dir', '.portcullis'],
      demoDir,
    )
    await waitFor(() => demo!.stdout().includes('Press Ctrl-C') || demo!.child.exitCode !== null, 'the demo', 60_000)
    assert.equal(demo.child.exitCode, null, demo.output())
    const banner = demo.stdout()
    substitutions.set('http://127.0.0.1:44181', /Demo target: +(\S+)/.exec(banner)![1]!)
    substitutions.set('https://localhost:9443', /Identity provider: +(\S+)/.exec(banner)![1]!)
  })
  after(async () => {
    if (demo !== undefined && demo.child.exitCode === null) {
      demo.child.kill('SIGTERM')
      await once(demo.child, 'exit')
    }
  })

  const found = transcripts()
  test('the READMEs have transcripts of audit and probe', () => {
    assert.deepEqual(found.map((t) => t.command.split(' ')[1]).sort(), ['audit', 'probe'])
  })
  for (const transcript of found) {
    test(`${transcript.where}: $ ${transcript.command.slice(0, 60)}`, async () => {
      const substitute = (text: string) => {
        let out = text
        for (const [shown, actual] of substitutions) out = out.replaceAll(shown, actual)
        return out
      }
      const probe = transcript.command.startsWith('portcullis probe ')
      const { code, stdout, stderr } = await shell(substitute(transcript.command), probe ? demoDir : root)
      assert.equal(code, 0, stderr)
      const actual = stdout.replace(/\n$/, '').split('\n')
      const expected = transcript.expected.map(substitute)
      assert.ok(
        matches(expected, actual),
        `${transcript.where}: the README shows\n${expected.join('\n')}\n\nthe command printed\n${actual.join('\n')}`,
      )
    })
  }
})

/** The long options `--help` lists for `command` (without --help). */
async function helpOptions(command: string): Promise<string[]> {
  const { code, stdout } = await runPortcullis([command, '--help'], root)
  assert.equal(code, 0)
  const options = stdout.slice(stdout.indexOf('\nOptions:\n'))
  return [...options.matchAll(/^ {2}(?:-\w, )?(--[a-z][a-z-]*)/gm)].map((m) => m[1]!).filter((o) => o !== '--help')
}

/** The options the READMEs' usage lines show for `command`: fenced lines `[$ ]portcullis COMMAND …` and their continuations. */
function documentedOptions(command: string): Map<string, string> {
  const options = new Map<string, string>()
  for (const fence of all) {
    fence.lines.forEach((line, i) => {
      if (!new RegExp(`^(?:\\$ )?(?:npx )?portcullis ${command}\\b`).test(line)) return
      const usage = [line]
      // A usage line continues on lines indented under it (or after a trailing backslash).
      for (let j = i + 1; j < fence.lines.length && /^\s+[-[]/.test(fence.lines[j]!); j++) usage.push(fence.lines[j]!)
      for (const part of usage) {
        const code = part.replace(/\s#\s.*$/, '')
        for (const m of code.matchAll(/(?<![\w-])(--[a-z][a-z-]*)/g)) {
          options.set(m[1]!, `${fence.document}:${fence.line + i}`)
        }
      }
    })
  }
  return options
}

describe('--help and the READMEs agree option for option', () => {
  test('every command, every option', async () => {
    const { stdout } = await runPortcullis(['--help'], root)
    const commands = [...stdout.slice(stdout.indexOf('\nCommands:\n')).matchAll(/^ {2}([a-z]+) /gm)]
      .map((m) => m[1]!)
      .filter((c) => c !== 'help')
    assert.deepEqual(commands, ['start', 'validate', 'import', 'demo', 'idp', 'keys', 'audit', 'probe'])
    const problems: string[] = []
    for (const command of commands) {
      const help = await helpOptions(command)
      const documented = documentedOptions(command)
      for (const option of help) {
        if (!documented.has(option))
          problems.push(`portcullis ${command} ${option} is in --help and in no README usage line`)
      }
      for (const [option, where] of documented) {
        if (!help.includes(option)) problems.push(`${where}: portcullis ${command} has no option ${option}`)
      }
    }
    assert.deepEqual(problems, [])
  })

  test('keys: both actions are documented', async () => {
    const { stdout } = await runPortcullis(['keys', '--help'], root)
    assert.match(stdout, /action +rotate \| list/)
    for (const action of ['rotate', 'list']) {
      assert.ok(
        all.some((f) => f.lines.some((l) => new RegExp(`^(?:\\$ )?portcullis keys (?:\\S+\\|)?${action}\\b`).test(l))),
        `no README usage line shows portcullis keys ${action}`,
      )
    }
  })
})
