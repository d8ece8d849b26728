import { type DestinationStream, type LevelWithSilent, type Logger, pino } from 'pino'

/** Log levels accepted by `--log-level`. */
export const LOG_LEVELS: readonly LevelWithSilent[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

/**
 * How log lines are written (`--log-format`): `json`, one JSON object a line
 * for machines, or `pretty`, one readable line for a person at a terminal.
 */
export type LogFormat = 'json' | 'pretty'

/** Values of `--log-format`. */
export const LOG_FORMATS: readonly LogFormat[] = ['pretty', 'json']

/**
 * The format when none is asked for, as pino users expect: readable on a
 * terminal, JSON lines when standard output goes to a file, a pipe or a
 * collector.
 */
export function defaultLogFormat(stdout: { isTTY?: boolean } = process.stdout): LogFormat {
  return stdout.isTTY === true ? 'pretty' : 'json'
}

const LEVEL_NAMES: Readonly<Record<number, string>> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warning',
  50: 'error',
  60: 'fatal',
}
/** Carried by every JSON line; a person at a terminal needs none of them. */
const OMITTED = new Set(['level', 'time', 'pid', 'hostname', 'msg'])

function describeField(value: unknown): string {
  if (typeof value === 'string') return /[\s"=]/.test(value) || value === '' ? JSON.stringify(value) : value
  // pino's error serialiser gives { type, message, stack }: the message says it, the stack is for PORTCULLIS_DEBUG.
  if (value !== null && typeof value === 'object' && 'message' in value && 'stack' in value) {
    const { message, stack } = value as { message: unknown; stack: unknown }
    return process.env['PORTCULLIS_DEBUG'] === '1' ? `${String(message)}\n${String(stack)}` : JSON.stringify(message)
  }
  return JSON.stringify(value)
}

/**
 * One JSON log line as a person reads it: `warning: message (key=value …)`,
 * or for a configuration issue `file:line:column warning: Path: message`.
 * Hand-written rather than pino-pretty: a dozen lines against a dependency
 * with its own dependencies, and the CLI wants its own wording (no time, no
 * pid, the level as the validator words it).
 */
export function prettyLine(json: string): string {
  let record: Record<string, unknown>
  try {
    record = JSON.parse(json) as Record<string, unknown>
  } catch {
    return json
  }
  const level = LEVEL_NAMES[record['level'] as number] ?? String(record['level'])
  const message = String(record['msg'] ?? '')
  const { configFile, line, column, path } = record
  if (typeof configFile === 'string' && typeof line === 'number' && typeof column === 'number') {
    // A configuration issue reads as the validator prints it: `file:line:column warning: Path: message`.
    const subject = typeof path === 'string' && path !== '' ? `${path}: ` : ''
    return `${configFile}:${line}:${column} ${level}: ${subject}${message}\n`
  }
  const fields = Object.entries(record)
    .filter(([key, value]) => !OMITTED.has(key) && value !== undefined)
    .map(([key, value]) => `${key}=${describeField(value)}`)
  return `${level}: ${message}${fields.length === 0 ? '' : `  (${fields.join(' ')})`}\n`
}

/** A pino destination writing {@link prettyLine}s to `out` (synchronously, as pino's own destination for fd 2 would). */
function prettyDestination(out: { write(chunk: string): unknown }): DestinationStream {
  return {
    write(line: string) {
      out.write(prettyLine(line))
    },
  }
}

/**
 * The process logger on standard error (stdout stays free for the access log
 * and for command output), as JSON lines or, with `format: 'pretty'`, as
 * readable lines. Secrets never reach it: the auth code logs reasons, never
 * tokens or cookie values, and these paths are redacted as a second line of
 * defence.
 *
 * @example
 * ```ts
 * const logger = createLogger('info', defaultLogFormat())
 * ```
 */
export function createLogger(level: LevelWithSilent = 'info', format: LogFormat = 'json'): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      redact: { paths: ['*.clientSecret', '*.cookie', '*.authorization', 'headers.cookie', 'headers.authorization'] },
    },
    format === 'pretty' ? prettyDestination(process.stderr) : pino.destination({ fd: 2, sync: false }),
  )
}
