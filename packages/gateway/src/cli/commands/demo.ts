import { spawn } from 'node:child_process'
import type { Logger } from 'pino'
import { DEMO_DEFAULT_PORTS, DemoStartError, printDemoConfig, type RunningDemo, startDemo } from '../../demo/demo.js'
import { type CommandIo, describeStartupError, systemErrorOf, waitForStop } from '../../demo/lifecycle.js'
import { createLogger, defaultLogFormat } from '../../observability/logger.js'
import { trustInstructions } from '../../tls/local-ca.js'

/** Options of {@link demoCommand}; every field has a default. */
export interface DemoCommandOptions {
  /** Default `.portcullis`. */
  readonly stateDirectory?: string
  /** HTTPS listener port, default 8443. */
  readonly port?: number
  /** Development OpenID provider port, default 9443. */
  readonly idpPort?: number
  /** Admin listener port, default 9800. */
  readonly adminPort?: number
  /** Open the demo URL in the default browser once it runs. */
  readonly open?: boolean
  /** Print the demo's gateway configuration (YAML) on standard output, nothing else, and exit without starting. */
  readonly printConfig?: boolean
  /** Default: warnings and errors on standard error, readable on a terminal, else JSON lines. */
  readonly logger?: Logger
  /** Stops the demo when aborted (besides Ctrl-C and SIGTERM). */
  readonly signal?: AbortSignal
}

function openInBrowser(url: string): void {
  const [command, args] =
    process.platform === 'darwin'
      ? ['open', [url]]
      : process.platform === 'win32'
        ? ['cmd', ['/c', 'start', '', url]]
        : ['xdg-open', [url]]
  try {
    // Best effort: without a desktop there is nothing to open, and the URL is printed anyway.
    const child = spawn(command, args, { detached: true, stdio: 'ignore' })
    child.on('error', () => {})
    child.unref()
  } catch {
    // The URL is on the terminal; nothing else to do.
  }
}

function banner(demo: RunningDemo): string {
  const users = demo.users.map((user) => `    ${user.username.padEnd(8)} password: ${user.password}`)
  return [
    '',
    'Portcullis demo is running.',
    '',
    `  Open ${demo.url}`,
    '',
    '  Sign in with one of the demo users:',
    ...users,
    '',
    `  ${demo.url}public      served with or without a session (OnUnauthenticatedRequest: allow)`,
    `  ${demo.url}api/whoami  401 without a session (deny); JSON claims with one`,
    '',
    `  Identity provider:  ${demo.idp.issuer}  (development only, in memory)`,
    `  Signing keys:       ${demo.gateway.adminUrl ?? '(admin listener off)'}keys/{kid}`,
    `  Demo target:        ${demo.target.url}  (verifies x-amzn-oidc-data with @portcullis/verify)`,
    '',
    ...trustInstructions(demo.caCertPath, demo.url)
      .trimEnd()
      .split('\n')
      .map((line) => `  ${line}`),
    '',
    'Press Ctrl-C to stop.',
    '',
  ].join('\n')
}

function failureMessage(error: unknown, options: DemoCommandOptions): string {
  if (!(error instanceof DemoStartError)) return describeStartupError(error, 'portcullis demo', '--port')
  const cause = systemErrorOf(error.cause) as { port?: number } | undefined
  const adminPort = options.adminPort ?? DEMO_DEFAULT_PORTS.admin
  switch (error.component) {
    case 'idp':
      return describeStartupError(error.cause, 'portcullis demo: the identity provider', '--idp-port')
    case 'target':
      return describeStartupError(error.cause, 'portcullis demo: the demo target', '--port')
    case 'config':
      return describeStartupError(error.cause, 'portcullis demo: the generated configuration is invalid', '--port')
    case 'gateway':
      return describeStartupError(
        error.cause,
        'portcullis demo: the gateway',
        cause?.port === adminPort ? '--admin-port' : '--port',
      )
  }
}

/**
 * `portcullis demo`: with no configuration file, runs the development OpenID
 * provider, the demo target and the gateway in front of it (HTTPS on a local
 * CA certificate), prints the URL to open, the demo credentials and how to
 * trust the CA, and runs until Ctrl-C or SIGTERM, then closes everything.
 * With `printConfig` it only prints the configuration it would run.
 *
 * @returns the process exit code: 0 after a clean stop (or printing), 1 when the demo could not start.
 * @example
 * ```ts
 * process.exitCode = await demoCommand({ port: 8443 }, process)
 * ```
 */
export async function demoCommand(options: DemoCommandOptions, io: CommandIo): Promise<number> {
  if (options.printConfig) {
    try {
      io.stdout.write(printDemoConfig(options))
      return 0
    } catch (error) {
      io.stderr.write(`portcullis demo: ${error instanceof Error ? error.message : String(error)}\n`)
      return 1
    }
  }
  const logger = options.logger ?? createLogger('warn', defaultLogFormat())
  let demo: RunningDemo
  try {
    demo = await startDemo({
      logger,
      ...(options.stateDirectory === undefined ? {} : { stateDirectory: options.stateDirectory }),
      ...(options.port === undefined ? {} : { port: options.port }),
      ...(options.idpPort === undefined ? {} : { idpPort: options.idpPort }),
      ...(options.adminPort === undefined ? {} : { adminPort: options.adminPort }),
    })
  } catch (error) {
    io.stderr.write(`${failureMessage(error, options)}\n`)
    return 1
  }
  io.stdout.write(banner(demo))
  if (options.open) openInBrowser(demo.url)
  const reason = await waitForStop(options.signal)
  io.stdout.write('Stopping…\n')
  await demo.close()
  io.stdout.write(`Stopped (${reason}).\n`)
  return 0
}
