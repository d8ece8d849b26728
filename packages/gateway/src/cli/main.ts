#!/usr/bin/env node
import { readFileSync } from 'node:fs'
import { Command, InvalidArgumentError, Option } from 'commander'
// Commands are imported when run, so that `validate` or `start` never load the
// development IdP's dependencies.
import type { LevelWithSilent } from 'pino'
import { createLogger, LOG_LEVELS } from '../observability/logger.js'
import { isGatewayWorker, runGatewayWorker } from '../server/cluster.js'

const io = { stdout: process.stdout, stderr: process.stderr }
const version = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version

function positiveInt(value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive whole number')
  return n
}

function port(value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number 0..65535')
  return n
}

const configOption = () =>
  new Option('-c, --config <file>', 'configuration file (YAML or JSON)').default('portcullis.yaml')
const logLevelOption = () =>
  new Option('--log-level <level>', 'log level').choices(LOG_LEVELS as string[]).default('info')

const program = new Command()
  .name('portcullis')
  .description(
    "A load balancer that speaks AWS ALB's contract: listeners, rules, target groups and its login flow, anywhere.",
  )
  .version(version)
  .showHelpAfterError()

program
  .command('start')
  .description('run the gateway from a configuration file')
  .addOption(configOption())
  .option('-w, --workers <n>', 'worker processes (default: number of CPUs)', positiveInt)
  .option('--watch', 'reload when the configuration file changes (SIGHUP always reloads)', false)
  .option('--shutdown-deadline <seconds>', 'how long SIGTERM waits for in-flight requests', positiveInt, 30)
  .addOption(logLevelOption())
  .action(
    async (opts: {
      config: string
      workers?: number
      watch: boolean
      shutdownDeadline: number
      logLevel: LevelWithSilent
    }) => {
      if (isGatewayWorker()) {
        await runGatewayWorker(opts.config, createLogger(opts.logLevel))
        return
      }
      const { startCommand } = await import('./commands/start.js')
      process.exitCode = await startCommand(
        {
          config: opts.config,
          watch: opts.watch,
          logLevel: opts.logLevel,
          shutdownDeadlineSeconds: opts.shutdownDeadline,
          ...(opts.workers === undefined ? {} : { workers: opts.workers }),
        },
        io,
      )
    },
  )

program
  .command('validate')
  .description('check a configuration file and print a summary of listeners, rules and target groups')
  .addOption(configOption())
  .action(async (opts: { config: string }) => {
    const { validateCommand } = await import('./commands/validate.js')
    process.exitCode = await validateCommand({ config: opts.config }, io)
  })

program
  .command('demo')
  .description('run the whole thing locally: an OpenID provider, the gateway with a login rule, and a demo target')
  .option('--port <port>', 'HTTPS listener port', port, 8443)
  .option('--idp-port <port>', 'development OpenID provider port', port, 9443)
  .option('--admin-port <port>', 'admin listener port (/keys, /metrics, /healthz)', port, 9800)
  .option('--state-dir <dir>', 'where keys and the local CA live', '.portcullis')
  .option('--print-config', 'print the gateway configuration the demo runs (YAML)', false)
  .option('--open', 'open the demo in the default browser', false)
  .action(
    async (opts: {
      port: number
      idpPort: number
      adminPort: number
      stateDir: string
      printConfig: boolean
      open: boolean
    }) => {
      const { demoCommand } = await import('./commands/demo.js')
      process.exitCode = await demoCommand(
        {
          port: opts.port,
          idpPort: opts.idpPort,
          adminPort: opts.adminPort,
          stateDirectory: opts.stateDir,
          printConfig: opts.printConfig,
          open: opts.open,
        },
        io,
      )
    },
  )

program
  .command('idp')
  .description('run the development OpenID provider on its own')
  .option('--port <port>', 'port', port, 9443)
  .option('--host <address>', 'address to bind', '127.0.0.1')
  .option('--state-dir <dir>', 'where the local CA lives', '.portcullis')
  .option('--client-id <id>', 'OAuth client id', 'portcullis-demo')
  .option('--client-secret <secret>', 'OAuth client secret', 'portcullis-demo-secret')
  .option('--redirect-uri <uri...>', 'allowed redirect URIs', ['https://localhost:8443/oauth2/idpresponse'])
  .action(
    async (opts: {
      port: number
      host: string
      stateDir: string
      clientId: string
      clientSecret: string
      redirectUri: string[]
    }) => {
      const { idpCommand } = await import('./commands/idp.js')
      process.exitCode = await idpCommand(
        {
          port: opts.port,
          host: opts.host,
          stateDirectory: opts.stateDir,
          clientId: opts.clientId,
          clientSecret: opts.clientSecret,
          redirectUri: opts.redirectUri,
        },
        io,
      )
    },
  )

program
  .command('keys')
  .description('manage the identity-token signing keys in the state directory')
  .argument('<action>', 'rotate | list')
  .option('--state-dir <dir>', 'state directory', '.portcullis')
  .action(async (action: string, opts: { stateDir: string }) => {
    if (action !== 'rotate' && action !== 'list') {
      io.stderr.write(`portcullis keys: unknown action '${action}' (expected rotate or list)\n`)
      process.exitCode = 2
      return
    }
    const { keysCommand } = await import('./commands/keys.js')
    process.exitCode = await keysCommand({ action, stateDirectory: opts.stateDir }, io)
  })

program.parseAsync(process.argv).catch((error: unknown) => {
  // Anything reaching here is unexpected; the user gets one line, the stack
  // only when asked for with PORTCULLIS_DEBUG=1.
  const message = error instanceof Error ? error.message : String(error)
  process.stderr.write(`portcullis: ${message}\n`)
  if (process.env.PORTCULLIS_DEBUG === '1' && error instanceof Error) process.stderr.write(`${error.stack}\n`)
  process.exitCode = 1
})
