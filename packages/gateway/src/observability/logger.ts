import { type LevelWithSilent, type Logger, pino } from 'pino'

/** Log levels accepted by `--log-level`. */
export const LOG_LEVELS: readonly LevelWithSilent[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

/**
 * The process logger: JSON lines on stderr (stdout stays free for the access
 * log and for command output). Secrets never reach it: the auth code logs
 * reasons, never tokens or cookie values, and these paths are redacted as a
 * second line of defence.
 */
export function createLogger(level: LevelWithSilent = 'info'): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      redact: { paths: ['*.clientSecret', '*.cookie', '*.authorization', 'headers.cookie', 'headers.authorization'] },
    },
    pino.destination({ fd: 2, sync: false }),
  )
}
