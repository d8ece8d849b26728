#!/usr/bin/env node
import { readFileSync } from 'node:fs'
import { Command, InvalidArgumentError, Option } from 'commander'
// Commands are imported when run, so that `validate` or `start` never load the
// development IdP's dependencies.
import type { LevelWithSilent } from 'pino'
import { createLogger, defaultLogFormat, LOG_FORMATS, LOG_LEVELS, type LogFormat } from '../observability/logger.js'
import { isGatewayWorker, runGatewayWorker } from '../server/cluster.js'
import { runtimeNotice } from './runtime.js'

const io = { stdout: process.stdout, stderr: process.stderr }

// One line of ours on an end-of-life Node, for a person at a terminal (workers are the primary's business).
const notice = runtimeNotice()
if (notice !== undefined && process.stderr.isTTY && !isGatewayWorker()) io.stderr.write(notice)
// The AWS SDK would say the same in its words on `audit --aws`: ours was said.
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true'
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
const logFormatOption = () =>
  new Option(
    '--log-format <format>',
    'log lines readable or as JSON (default: pretty on a terminal, else json)',
  ).choices(LOG_FORMATS as string[])

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
  .addOption(logFormatOption())
  .action(
    async (opts: {
      config: string
      workers?: number
      watch: boolean
      shutdownDeadline: number
      logLevel: LevelWithSilent
      logFormat?: LogFormat
    }) => {
      // Workers share the primary's standard streams, so they decide the same way.
      const logFormat = opts.logFormat ?? defaultLogFormat()
      if (isGatewayWorker()) {
        await runGatewayWorker(opts.config, createLogger(opts.logLevel, logFormat))
        return
      }
      const { startCommand } = await import('./commands/start.js')
      process.exitCode = await startCommand(
        {
          config: opts.config,
          watch: opts.watch,
          logLevel: opts.logLevel,
          logFormat,
          shutdownDeadlineSeconds: opts.shutdownDeadline,
          ...(opts.workers === undefined ? {} : { workers: opts.workers }),
        },
        io,
      )
    },
  )

program
  .command('reopen-logs')
  .description('have the running gateway reopen its access log (logrotate postrotate): sends SIGUSR2 to its primary')
  .addOption(configOption())
  .action(async (opts: { config: string }) => {
    const { reopenLogsCommand } = await import('./commands/reopen-logs.js')
    process.exitCode = await reopenLogsCommand({ config: opts.config }, io)
  })

program
  .command('validate')
  .description('check a configuration file and print a summary of listeners, rules and target groups')
  .argument('[file]', 'configuration file (the same as --config)')
  .addOption(configOption())
  .action(async (file: string | undefined, opts: { config: string }, command: Command) => {
    const fromOption = command.getOptionValueSource('config') === 'cli'
    if (file !== undefined && fromOption && file !== opts.config) {
      io.stderr.write(
        `portcullis validate: give the file once, either as FILE or --config (got ${file} and ${opts.config})\n`,
      )
      process.exitCode = 2
      return
    }
    const { validateCommand } = await import('./commands/validate.js')
    process.exitCode = await validateCommand({ config: file ?? opts.config }, io)
  })

program
  .command('import')
  .description(
    'read the load balancer where it is defined (aws elbv2 describe-* output files, a CloudFormation or CDK template, terraform show -json, Kubernetes Ingress manifests for the AWS Load Balancer Controller) and write the configuration start runs',
  )
  .argument(
    '<sources...>',
    'source files (JSON or YAML); RESOURCE=FILE for a describe-* output that names no ARN (target-health, attributes, certificates)',
  )
  .option('-o, --output <file>', 'write the configuration here (default: standard output)')
  .option('--overlay <file>', 'Portcullis settings, certificate files and targets the source cannot hold')
  .option('--load-balancer <name>', 'the load balancer (name, ARN or logical id) when the sources describe several')
  .option(
    '--parameter <name=value>',
    "a CloudFormation template's parameter (repeatable); also AWS::Region, AWS::AccountId",
    (pair: string, previous: string[]) => [...previous, pair],
    [] as string[],
  )
  .option(
    '--import-value <name=value>',
    "what a template's Fn::ImportValue of that export returns (repeatable)",
    (pair: string, previous: string[]) => [...previous, pair],
    [] as string[],
  )
  .action(
    async (
      sources: string[],
      opts: { output?: string; overlay?: string; loadBalancer?: string; parameter: string[]; importValue: string[] },
    ) => {
      const { importCommand } = await import('./commands/import.js')
      process.exitCode = await importCommand(
        {
          sources,
          parameters: opts.parameter,
          importValues: opts.importValue,
          ...(opts.output === undefined ? {} : { output: opts.output }),
          ...(opts.overlay === undefined ? {} : { overlay: opts.overlay }),
          ...(opts.loadBalancer === undefined ? {} : { loadBalancer: opts.loadBalancer }),
        },
        io,
      )
    },
  )

program
  .command('demo')
  .description('run the whole thing locally: an OpenID provider, the gateway with a login rule, and a demo target')
  .option('--port <port>', 'HTTPS listener port', port, 8443)
  .option('--idp-port <port>', 'development OpenID provider port', port, 9443)
  .option('--admin-port <port>', 'admin listener port (/keys, /metrics, /healthz)', port, 9800)
  .option('--state-dir <dir>', 'where keys and the local CA live', '.portcullis')
  .option(
    '--print-config',
    'print the gateway configuration the demo runs (YAML) and exit, binding no port and writing no file',
    false,
  )
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
  .option(
    '--redirect-uri <uri>',
    'also allow this redirect URI (repeatable; https://localhost:8443/oauth2/idpresponse is always allowed)',
    (uri: string, previous: string[]) => [...previous, uri],
    [] as string[],
  )
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
  .description('manage the identity-token signing keys and session keys (state directory, or the shared state)')
  .argument('<action>', 'rotate | list')
  .option('--state-dir <dir>', 'state directory', '.portcullis')
  .option(
    '--config <file>',
    'a configuration: its Portcullis.SharedState (Redis) if it has one, else its state directory',
  )
  .action(async (action: string, opts: { stateDir: string; config?: string }) => {
    if (action !== 'rotate' && action !== 'list') {
      io.stderr.write(`portcullis keys: unknown action '${action}' (expected rotate or list)\n`)
      process.exitCode = 2
      return
    }
    const { keysCommand } = await import('./commands/keys.js')
    process.exitCode = await keysCommand({ action, stateDirectory: opts.stateDir, config: opts.config }, io)
  })

program
  .command('audit')
  .description("check configuration files and/or a live AWS account against ALB's security best practices")
  .argument('[files...]', 'configuration files (YAML or JSON) to audit')
  .option('--aws', 'audit the application load balancers of the AWS account (read-only calls)', false)
  .option('--region <region>', 'AWS region (default: the SDK’s, e.g. AWS_REGION)')
  .option('--endpoint-url <url>', 'ELBv2 and EC2 endpoint, e.g. LocalStack')
  .option(
    '--import',
    'the FILES are sources as portcullis import reads them (describe-* files, a CloudFormation template, terraform show -json, Kubernetes manifests)',
    false,
  )
  .option(
    '--parameter <name=value>',
    "with --import: a template's parameter (repeatable)",
    (pair: string, previous: string[]) => [...previous, pair],
    [] as string[],
  )
  .option(
    '--import-value <name=value>',
    "with --import: what a template's Fn::ImportValue returns (repeatable)",
    (pair: string, previous: string[]) => [...previous, pair],
    [] as string[],
  )
  .option('--json', 'print the findings as JSON', false)
  .addOption(new Option('--format <format>', 'output format').choices(['text', 'json', 'sarif']).default('text'))
  .addOption(
    new Option('--fail-on <severity>', 'exit 1 when a finding this bad or worse exists').choices([
      'high',
      'medium',
      'low',
    ]),
  )
  .action(
    async (
      files: string[],
      opts: {
        aws: boolean
        region?: string
        endpointUrl?: string
        json: boolean
        format: 'text' | 'json' | 'sarif'
        failOn?: 'high' | 'medium' | 'low'
        import: boolean
        parameter: string[]
        importValue: string[]
      },
    ) => {
      if (!opts.import && opts.parameter.length + opts.importValue.length > 0) {
        io.stderr.write('portcullis audit: --parameter and --import-value apply with --import only\n')
        process.exitCode = 2
        return
      }
      const { auditCommand } = await import('./commands/audit.js')
      process.exitCode = await auditCommand(
        {
          files,
          ...(opts.import ? { import: { parameters: opts.parameter, importValues: opts.importValue } } : {}),
          aws: opts.aws,
          ...(opts.region === undefined ? {} : { region: opts.region }),
          ...(opts.endpointUrl === undefined ? {} : { endpointUrl: opts.endpointUrl }),
          format: opts.json ? 'json' : opts.format,
          ...(opts.failOn === undefined ? {} : { failOn: opts.failOn }),
          version,
        },
        io,
      )
    },
  )

program
  .command('probe')
  .description('send forged ALB identities straight to a target and report which it accepts')
  .argument('<url>', 'the target URL; only this URL is requested')
  .option('--state-dir <dir>', "sign valid tokens with this gateway state directory's active key")
  .option('--signing-key <file>', 'sign valid tokens with this P-256 private key (PEM, named {kid}.pem)')
  .option('--kid <uuid>', 'key id of --signing-key when its file name is not {kid}.pem')
  .option('--signer <arn>', 'the load balancer ARN the target pins')
  .option('--issuer <url>', 'the issuer the target pins')
  .option('--client-id <id>', 'the client id the target pins')
  .option('--authenticated-match <regex>', 'a body matching this marks an authenticated answer')
  .addOption(
    new Option('--cases <family>', 'forge x-amzn-oidc-* (oidc), X-Amzn-Mtls-* (mtls), or both (all)')
      .choices(['oidc', 'mtls', 'all'])
      .default('oidc'),
  )
  .option('--client-certificate <file>', 'for the mtls cases: PEM of a client certificate the target admits (no key)')
  .option('--json', 'print the report as JSON', false)
  .addOption(new Option('--format <format>', 'output format').choices(['text', 'json', 'sarif']).default('text'))
  .option('--timeout-ms <n>', 'bound on each request', positiveInt, 5000)
  .option('--max-requests <n>', 'bound on the number of requests (default: one per case selected)', positiveInt)
  // A usage error is "could not judge" (2), never 1, which means a forgery was accepted.
  .exitOverride((error) => process.exit(error.exitCode === 0 ? 0 : 2))
  .action(
    async (
      url: string,
      opts: {
        stateDir?: string
        signingKey?: string
        kid?: string
        signer?: string
        issuer?: string
        clientId?: string
        authenticatedMatch?: string
        cases: 'oidc' | 'mtls' | 'all'
        clientCertificate?: string
        json: boolean
        format: 'text' | 'json' | 'sarif'
        timeoutMs: number
        maxRequests?: number
      },
    ) => {
      const { probeCommand } = await import('./commands/probe.js')
      const { json, format, ...rest } = opts
      process.exitCode = await probeCommand({ url, ...rest, format: json ? 'json' : format, version }, io)
    },
  )

program.parseAsync(process.argv).catch((error: unknown) => {
  // Anything reaching here is unexpected; the user gets one line, the stack
  // only when asked for with PORTCULLIS_DEBUG=1.
  const message = error instanceof Error ? error.message : String(error)
  process.stderr.write(`portcullis: ${message}\n`)
  if (process.env.PORTCULLIS_DEBUG === '1' && error instanceof Error) process.stderr.write(`${error.stack}\n`)
  process.exitCode = 1
})
