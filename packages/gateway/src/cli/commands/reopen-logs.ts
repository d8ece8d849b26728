import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ConfigError } from '../../config/errors.js'
import { loadConfig } from '../../config/load.js'
import { PID_FILE, REOPEN_SIGNAL } from '../../server/cluster.js'

/**
 * `portcullis reopen-logs`: asks the gateway running `config` to reopen its
 * access log, as logrotate's `postrotate` needs, without the caller knowing
 * its process id: reads `{stateDirectory}/portcullis.pid` and sends the
 * primary {@link REOPEN_SIGNAL}. Returns once the signal is sent (the
 * gateway logs `access log reopened` when every worker has); exit code 1
 * when no gateway runs there, 2 for an invalid configuration.
 */
export async function reopenLogsCommand(
  args: { config: string },
  io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream },
): Promise<number> {
  let stateDirectory: string
  try {
    stateDirectory = (await loadConfig(args.config)).config.portcullis.stateDirectory
  } catch (error) {
    if (error instanceof ConfigError) {
      io.stderr.write(`${error.format()}\n`)
      return 2
    }
    throw error
  }
  const pidFile = join(stateDirectory, PID_FILE)
  const text = await readFile(pidFile, 'utf8').catch(() => undefined)
  const pid = Number(text?.trim())
  if (text === undefined || !Number.isInteger(pid) || pid <= 0) {
    io.stderr.write(
      `portcullis reopen-logs: no gateway runs with ${args.config} (${pidFile} is missing or unreadable)\n`,
    )
    return 1
  }
  try {
    process.kill(pid, REOPEN_SIGNAL)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    io.stderr.write(
      `portcullis reopen-logs: could not signal process ${pid} from ${pidFile}: ${code === 'ESRCH' ? 'it is not running (a stale pid file)' : (error as Error).message}\n`,
    )
    return 1
  }
  io.stdout.write(`asked portcullis (pid ${pid}) to reopen its access log\n`)
  return 0
}
