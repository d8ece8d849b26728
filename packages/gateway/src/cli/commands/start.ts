import { availableParallelism } from 'node:os'
import type { Writable } from 'node:stream'
import type { LevelWithSilent } from 'pino'
import { ConfigError } from '../../config/errors.js'
import { GatewayError } from '../../core/errors.js'
import { createLogger, type LogFormat } from '../../observability/logger.js'
import { serve } from '../../server/cluster.js'
import { redirectUriLines } from './redirect-uris.js'

export interface StartOptions {
  readonly config: string
  readonly workers?: number
  readonly watch?: boolean
  readonly logLevel?: LevelWithSilent
  /** Default json (the CLI's default is pretty on a terminal). */
  readonly logFormat?: LogFormat
  readonly shutdownDeadlineSeconds?: number
}

/**
 * `portcullis start`: runs the gateway until SIGTERM/SIGINT. Prints each
 * listener's URL, the signer ARN targets must pin, and the admin URL.
 * Returns the exit code: 0 after a clean stop, 2 for an invalid configuration,
 * 1 when the gateway cannot start (a port in use: the message names it).
 */
export async function startCommand(options: StartOptions, io: { stdout: Writable; stderr: Writable }): Promise<number> {
  const logger = createLogger(options.logLevel ?? 'info', options.logFormat ?? 'json')
  try {
    await serve({
      configPath: options.config,
      workers: options.workers ?? availableParallelism(),
      watch: options.watch ?? false,
      logger,
      shutdownDeadlineMs: (options.shutdownDeadlineSeconds ?? 30) * 1000,
      onReady({ listeners, adminUrl, config }) {
        const lines = ['Portcullis is running.', '']
        for (const l of listeners) lines.push(`  listener  ${l.protocol.padEnd(5)} ${l.url}`)
        lines.push(`  signer    ${config.loadBalancer.arn}`)
        const shared = config.portcullis.sharedState
        if (shared !== undefined) {
          lines.push(
            `  shared    ${shared.displayUrl}  (connected; key prefix ${shared.keyPrefix}, ${config.portcullis.sessionStore} sessions)`,
          )
        }
        if (adminUrl !== undefined) {
          lines.push(`  admin     ${adminUrl}  (/healthz, /metrics, /keys/{kid})`)
          lines.push(
            '',
            `Targets verify x-amzn-oidc-data with keyEndpoint ${adminUrl}keys and signer ${config.loadBalancer.arn}.`,
          )
        }
        const redirects = redirectUriLines(config)
        if (redirects.length > 0) lines.push('', ...redirects)
        lines.push(
          '',
          'SIGHUP reloads the configuration; SIGUSR2 (portcullis reopen-logs) reopens the access log; SIGTERM or Ctrl-C drains and stops.',
          '',
        )
        io.stdout.write(lines.join('\n'))
      },
    })
    return 0
  } catch (error) {
    if (error instanceof ConfigError) {
      io.stderr.write(`${error.format()}\n`)
      return 2
    }
    if (error instanceof GatewayError) {
      io.stderr.write(`portcullis: ${error.message}\n`)
      return 1
    }
    throw error
  } finally {
    // The last lines ('stopped') are still in the asynchronous destination's buffer: written before the
    // command returns, so a pipe that is slow to take them (a loaded machine) cannot lose them at exit.
    await new Promise<void>((resolve) => logger.flush(() => resolve()))
  }
}
