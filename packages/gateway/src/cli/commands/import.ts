/**
 * `portcullis import SOURCE… [-o FILE]`: reads the load balancer where it is
 * defined (the AWS CLI's `describe-*` files, a CloudFormation or CDK
 * template, `terraform show -json`, Kubernetes Ingress manifests), validates it as `start` would — every error located in the
 * source — and writes the configuration `validate` and `start` run.
 */
import { existsSync } from 'node:fs'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { dirname, isAbsolute, relative, resolve } from 'node:path'
import type { Writable } from 'node:stream'
import { ConfigError, formatIssue } from '../../config/errors.js'
import { MAX_CONFIG_BYTES, validateDocument } from '../../config/load.js'
import { importSources, type SourceText, writeImported } from '../../config/sources/index.js'

/** Options of {@link importCommand}, as the command line gives them. */
export interface ImportCommandOptions {
  /** `FILE` or `RESOURCE=FILE` (the resource a `describe-*` output without an ARN describes). */
  readonly sources: readonly string[]
  /** Where to write the configuration; standard output when absent. */
  readonly output?: string
  readonly overlay?: string
  readonly loadBalancer?: string
  /** `Name=Value` pairs: a template's parameters. */
  readonly parameters?: readonly string[]
  /** `Name=Value` pairs: what `Fn::ImportValue` returns. */
  readonly importValues?: readonly string[]
}

/** Exit code when a source is invalid (as for `validate`). */
export const EXIT_INVALID_SOURCE = 2

/**
 * Imports, validates and writes. Errors go to `stderr` as
 * `source-file:line:column path: message`, never a stack trace.
 *
 * @returns 0 when written, 2 when a source is unreadable or invalid.
 * @example
 * ```ts
 * process.exitCode = await importCommand(
 *   { sources: ['lb.json', 'listeners.json', 'rules.json', 'target-groups.json'], output: 'portcullis.yaml' },
 *   { stdout: process.stdout, stderr: process.stderr },
 * )
 * ```
 */
export async function importCommand(
  options: ImportCommandOptions,
  io: { stdout: Writable; stderr: Writable },
): Promise<number> {
  const outDir = options.output === undefined ? process.cwd() : dirname(resolve(options.output))
  try {
    const sources = await Promise.all(options.sources.map((arg) => readSource(arg)))
    const overlay = options.overlay === undefined ? undefined : await readSource(options.overlay, false)
    const imported = importSources(sources, {
      parameters: pairs('--parameter', options.parameters),
      importValues: pairs('--import-value', options.importValues),
      ...(options.loadBalancer === undefined ? {} : { loadBalancer: options.loadBalancer }),
      ...(overlay === undefined || options.overlay === undefined
        ? {}
        : { overlay: { source: overlay, rebase: rebaseFrom(dirname(resolve(options.overlay)), outDir) } }),
    })
    const loaded = validateDocument(imported.origins.document(imported.value), {
      baseDir: outDir,
      purpose: 'audit',
    })
    for (const note of [...imported.notes, ...loaded.warnings]) io.stderr.write(`${formatIssue(note, undefined)}\n`)
    if (loaded.startNeeds.length > 0) {
      io.stderr.write(
        `portcullis start will still need (give them in an --overlay file, the environment or the written file):\n${loaded.startNeeds.map((issue) => `  ${formatIssue(issue, undefined)}`).join('\n')}\n`,
      )
    }
    const text = writeImported(imported, options.sources)
    if (options.output === undefined) io.stdout.write(text)
    else {
      await writeFile(options.output, text)
      io.stderr.write(`wrote ${options.output}; run: portcullis validate ${options.output}\n`)
    }
    return 0
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    const errors = error.issues.filter((i) => i.severity === 'error').length
    io.stderr.write(
      `${error.format()}\nportcullis import: nothing written (${errors} error${errors === 1 ? '' : 's'})\n`,
    )
    return EXIT_INVALID_SOURCE
  }
}

/** `Name=Value` arguments as a record; a pair without `=` is a usage error. */
export function pairs(option: string, list: readonly string[] = []): Record<string, string> {
  const out: Record<string, string> = {}
  for (const pair of list) {
    const split = pair.indexOf('=')
    if (split <= 0) {
      throw new ConfigError(
        [{ path: '', message: `${option} ${pair}: expected NAME=VALUE`, severity: 'error' }],
        undefined,
      )
    }
    out[pair.slice(0, split)] = pair.slice(split + 1)
  }
  return out
}

/** Reads `FILE` or `RESOURCE=FILE` (when `FILE` itself does not exist under the whole argument's name). */
export async function readSource(arg: string, withResource = true): Promise<SourceText> {
  const split = arg.indexOf('=')
  const [resource, name] =
    withResource && split > 0 && !existsSync(arg) ? [arg.slice(0, split), arg.slice(split + 1)] : [undefined, arg]
  const fail = (message: string): never => {
    throw new ConfigError([{ path: '', message, severity: 'error' }], name)
  }
  try {
    const info = await stat(name)
    if (!info.isFile()) fail(`${name} is not a file`)
    if (info.size > MAX_CONFIG_BYTES) fail(`the file is larger than ${MAX_CONFIG_BYTES} bytes`)
    return { name, text: await readFile(name, 'utf8'), ...(resource === undefined ? {} : { resource }) }
  } catch (error) {
    if (error instanceof ConfigError) throw error
    const code = (error as NodeJS.ErrnoException).code
    return fail(
      code === 'ENOENT' ? `file not found: ${resolve(name)}` : `cannot read ${name}: ${(error as Error).message}`,
    )
  }
}

/** A path written relative to the overlay's directory, made relative to the written file's. */
function rebaseFrom(overlayDir: string, outDir: string): (path: string) => string {
  return (path) => (isAbsolute(path) ? path : relative(outDir, resolve(overlayDir, path)) || '.')
}
