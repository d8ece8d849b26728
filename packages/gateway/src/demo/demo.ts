/**
 * `portcullis demo` without the CLI: the development OpenID provider, the demo
 * target and a gateway in front of it, all in this process, configured from
 * a YAML document built here (so that what the demo runs is also a readable
 * example of a real configuration; `portcullis demo --print-config` shows it).
 */
import { createServer } from 'node:net'
import { resolve } from 'node:path'
import type { Logger } from 'pino'
import { parseConfig } from '../config/load.js'
import type { GatewayConfig } from '../config/model.js'
import { createDevIdentityProvider, type DevIdentityProvider, devProviderEndpoints } from '../idp/provider.js'
import type { DevUser } from '../idp/users.js'
import { type RunningGateway, startGateway } from '../server/gateway.js'
import { ensureLeafCertificate, ensureLocalCa } from '../tls/local-ca.js'
import { PortcullisError } from '../values/errors.js'
import { type DemoTarget, SIGNED_OUT_PATH, startDemoTarget } from './target-app.js'

/** The OAuth client the demo registers with its provider. Local-only, so the secret need not be secret. */
export const DEMO_CLIENT_ID = 'portcullis-demo'
export const DEMO_CLIENT_SECRET = 'portcullis-demo-secret'
/** The demo load balancer's ARN: the `signer` of its identity tokens, which the demo target pins. */
export const DEMO_LOAD_BALANCER_ARN =
  'arn:aws:elasticloadbalancing:us-east-1:000000000000:loadbalancer/app/portcullis-demo/0000000000000001'
export const DEMO_DEFAULT_PORTS = Object.freeze({ listener: 8443, idp: 9443, admin: 9800 })
/**
 * The one host name of the demo: the browser reaches the gateway and the
 * provider by it, so one certificate (and one browser warning) covers both.
 */
export const DEMO_HOST = 'localhost'
/** The target port {@link printDemoConfig} writes: the demo's own target runs on a free port, your application on this one. */
export const PRINTED_TARGET_PORT = 3000

/** Options of {@link startDemo}. */
export interface DemoOptions {
  /** Keys, session secrets and the local CA; default `.portcullis` in the working directory. */
  readonly stateDirectory?: string
  /** HTTPS listener port, default 8443; 0 picks a free one. */
  readonly port?: number
  /** Development OpenID provider port, default 9443; 0 picks a free one. It serves `https://localhost:PORT`. */
  readonly idpPort?: number
  /** Admin listener port (`/keys`, `/metrics`, `/healthz`), default 9800; 0 picks a free one. */
  readonly adminPort?: number
  /** The gateway's logger (and the provider's, for unexpected errors). */
  readonly logger: Logger
  /** Write the gateway's access log to standard output. Default false (the terminal is for the banner). */
  readonly accessLog?: boolean
  /** Access-token lifetime at the provider, default 600 s; short values show the gateway refreshing. */
  readonly accessTokenTtlSeconds?: number
  /** `SessionTimeout` of every rule, default 604800 (ALB's default). */
  readonly sessionTimeoutSeconds?: number
  /** Whether the provider issues refresh tokens. Default true. */
  readonly refreshTokens?: boolean
}

/** Everything {@link demoConfigYaml} fills into the configuration. */
export interface DemoConfigParameters {
  readonly port: number
  readonly adminPort: number
  /**
   * The demo's own files (its state directory, the listener's certificate from
   * the local CA, that CA for the provider). Absent, the configuration names
   * no path: the state directory is `.portcullis` beside the file and
   * `LocalCertificates: true` issues the certificate there and trusts its CA.
   */
  readonly files?: {
    readonly stateDirectory: string
    readonly certificateFile: string
    readonly privateKeyFile: string
    readonly caFile: string
  }
  readonly idp: Pick<DevIdentityProvider, 'issuer' | 'endpoints'>
  readonly targetPort: number
  readonly sessionTimeoutSeconds: number
  /** A comment above the target, e.g. that the printed port is for the reader's own application. */
  readonly targetComment?: string
}

/** A running demo. */
export interface RunningDemo {
  /** Where to point a browser: `https://localhost:PORT/`. */
  readonly url: string
  readonly config: GatewayConfig
  /** The configuration the gateway runs, as YAML. */
  readonly configYaml: string
  readonly caCertPath: string
  readonly caCertPem: string
  readonly users: readonly DevUser[]
  readonly idp: DevIdentityProvider
  readonly target: DemoTarget
  readonly gateway: RunningGateway
  /** Stops the gateway, the target and the provider. */
  close(): Promise<void>
}

/** JSON strings are valid YAML scalars, and quoting every value keeps paths with `:` or `#` intact. */
const q = (value: string) => JSON.stringify(value)

/**
 * The demo's gateway configuration: one HTTPS listener with three rules in
 * front of the demo target (`/api/*` → `deny`, `/public*` → `allow`,
 * everything else → `authenticate`), the admin listener serving `/keys`, and
 * the local CA trusted for the provider.
 *
 * @example
 * ```ts
 * const { config } = parseConfig(demoConfigYaml(parameters), { source: 'portcullis demo' })
 * ```
 */
export function demoConfigYaml(p: DemoConfigParameters): string {
  const authenticate = (
    order: number,
    onUnauthenticated: 'authenticate' | 'allow' | 'deny',
  ) => `          - Type: authenticate-oidc
            Order: ${order}
            AuthenticateOidcConfig:
              Issuer: ${q(p.idp.issuer)}
              AuthorizationEndpoint: ${q(p.idp.endpoints.authorization)}
              TokenEndpoint: ${q(p.idp.endpoints.token)}
              UserInfoEndpoint: ${q(p.idp.endpoints.userinfo)}
              ClientId: ${q(DEMO_CLIENT_ID)}
              ClientSecret: ${q(DEMO_CLIENT_SECRET)}
              Scope: openid email profile groups
              SessionCookieName: AWSELBAuthSessionCookie
              SessionTimeout: ${p.sessionTimeoutSeconds}
              OnUnauthenticatedRequest: ${onUnauthenticated}
          - Type: forward
            Order: ${order + 1}
            TargetGroupArn: demo-target`
  return `# The configuration \`portcullis demo\` runs. Save it as portcullis.yaml and
# run \`portcullis start\` to use it with your own provider and application.
LoadBalancer:
  Name: portcullis-demo
  # The signer of every x-amzn-oidc-data token; targets pin it.
  Arn: ${q(DEMO_LOAD_BALANCER_ARN)}

Listeners:
  - Port: ${p.port}
    Protocol: HTTPS
${
  p.files === undefined
    ? '    # No Certificates: Portcullis.LocalCertificates issues one from the local development CA.'
    : `    Certificates:
      # Issued by the local development CA (see the trust instructions).
      - CertificateFile: ${q(p.files.certificateFile)}
        PrivateKeyFile: ${q(p.files.privateKeyFile)}`
}
    Portcullis:
      # Loopback only: the demo users' passwords are printed on the terminal.
      Address: 127.0.0.1
    Rules:
      # XHR/API paths: no session gives 401, never a login redirect.
      - Priority: 10
        Conditions:
          - Field: path-pattern
            PathPatternConfig:
              Values: ["/api/*"]
        Actions:
${authenticate(1, 'deny')}
      # Public pages: served with or without a session (identity headers only with one).
      - Priority: 20
        Conditions:
          - Field: path-pattern
            PathPatternConfig:
              Values: ["/public", "/public/*"]
        Actions:
${authenticate(1, 'allow')}
    # Everything else: sign in first.
    DefaultActions:
${authenticate(1, 'authenticate').replace(/^ {4}/gm, '')}

TargetGroups:
  - TargetGroupName: demo-target
    Protocol: HTTP
    Targets:${p.targetComment === undefined ? '' : `\n      # ${p.targetComment}`}
      - Id: 127.0.0.1
        Port: ${p.targetPort}
    HealthCheckPath: /public

Portcullis:
${
  p.files === undefined
    ? `  # Keys, session secrets and the local CA live in .portcullis beside this file.
  # Local development only: the listener's certificate comes from the local CA
  # (created on first start), and the gateway trusts that CA for the development
  # provider (portcullis idp), whose certificate it also issued.
  LocalCertificates: true`
    : `  StateDirectory: ${q(p.files.stateDirectory)}
  # The development provider's certificate comes from the local CA.
  CaFile: ${q(p.files.caFile)}`
}
  Admin:
    Address: 127.0.0.1
    Port: ${p.adminPort}
`
}

/** Options of {@link printDemoConfig}: those of {@link DemoOptions} that appear in the configuration. */
export type PrintDemoConfigOptions = Pick<DemoOptions, 'port' | 'idpPort' | 'adminPort'>

/**
 * The configuration `portcullis demo` runs, without running anything: no
 * port is bound and nothing is written. It names no path, so it works
 * wherever it is saved: the state directory is `.portcullis` beside the file
 * and `LocalCertificates: true` stands for the demo's certificate files (the
 * first `portcullis start` creates the local CA there). The target is
 * `127.0.0.1:3000`, where your application would listen, because the demo's
 * own target takes a free port when it starts.
 *
 * @throws {TypeError} when `idpPort` is 0: the provider's issuer must name its port.
 * @example
 * ```ts
 * process.stdout.write(printDemoConfig({ port: 8443 }))
 * ```
 */
export function printDemoConfig(options: PrintDemoConfigOptions): string {
  const idpPort = options.idpPort ?? DEMO_DEFAULT_PORTS.idp
  if (idpPort === 0) throw new TypeError('give the provider a port (--idp-port): its issuer URL names it')
  const issuer = `https://${DEMO_HOST}:${idpPort}`
  return demoConfigYaml({
    port: options.port ?? DEMO_DEFAULT_PORTS.listener,
    adminPort: options.adminPort ?? DEMO_DEFAULT_PORTS.admin,
    idp: { issuer, endpoints: devProviderEndpoints(issuer) },
    targetPort: PRINTED_TARGET_PORT,
    targetComment: 'Your application. (The demo runs its own target on a free port.)',
    sessionTimeoutSeconds: 604_800,
  })
}

/** A port that was free a moment ago (for the pieces that must know each other's ports before starting). */
async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((done, fail) => {
    server.once('error', fail)
    server.listen(0, '127.0.0.1', done)
  })
  const { port } = server.address() as { port: number }
  await new Promise<void>((done) => server.close(() => done()))
  return port
}

/** The part of a demo that failed to start, so that the CLI can name the option to change. */
export class DemoStartError extends PortcullisError {
  override readonly name = 'DemoStartError'
  declare readonly code: 'ERR_DEMO_START'

  constructor(
    readonly component: 'idp' | 'target' | 'gateway' | 'config',
    override readonly cause: unknown,
  ) {
    super('ERR_DEMO_START', cause instanceof Error ? cause.message : String(cause), { cause })
  }
}

/**
 * Starts the whole demo in this process: the development OpenID provider
 * (HTTPS, local CA), the demo target (127.0.0.1, ephemeral port) and the
 * gateway with the configuration of {@link demoConfigYaml}.
 *
 * @throws {DemoStartError} naming the part that could not start (everything started is closed again).
 * @example
 * ```ts
 * const demo = await startDemo({ logger: createLogger('warn') })
 * console.log(`open ${demo.url}`)
 * await demo.close()
 * ```
 */
export async function startDemo(options: DemoOptions): Promise<RunningDemo> {
  const stateDirectory = resolve(options.stateDirectory ?? '.portcullis')
  const port = options.port === 0 ? await freePort() : (options.port ?? DEMO_DEFAULT_PORTS.listener)
  const adminPort = options.adminPort === 0 ? await freePort() : (options.adminPort ?? DEMO_DEFAULT_PORTS.admin)
  // The provider's issuer names its port, so it is chosen before the provider starts.
  const idpPort = options.idpPort === 0 ? await freePort() : (options.idpPort ?? DEMO_DEFAULT_PORTS.idp)
  const origin = `https://${DEMO_HOST}:${port}`
  const url = `${origin}/`
  const postLogoutRedirectUri = `${origin}${SIGNED_OUT_PATH}`

  const ca = await ensureLocalCa(stateDirectory)
  const leaf = await ensureLeafCertificate(stateDirectory)
  const closers: (() => Promise<void>)[] = []
  const closeAll = async () => {
    for (const close of closers.reverse()) await close()
  }
  const step = async <T>(component: DemoStartError['component'], start: () => Promise<T>): Promise<T> => {
    try {
      return await start()
    } catch (error) {
      await closeAll()
      throw new DemoStartError(component, error)
    }
  }

  const idp = await step('idp', () =>
    createDevIdentityProvider({
      port: idpPort,
      issuer: `https://${DEMO_HOST}:${idpPort}`,
      tls: leaf,
      clients: [
        {
          clientId: DEMO_CLIENT_ID,
          clientSecret: DEMO_CLIENT_SECRET,
          redirectUris: [`${origin}/oauth2/idpresponse`],
          postLogoutRedirectUris: [postLogoutRedirectUri],
        },
      ],
      logger: options.logger,
      ...(options.accessTokenTtlSeconds === undefined ? {} : { accessTokenTtlSeconds: options.accessTokenTtlSeconds }),
      ...(options.refreshTokens === undefined ? {} : { refreshTokens: options.refreshTokens }),
    }),
  )
  closers.push(() => idp.close())

  const target = await step('target', () =>
    startDemoTarget({
      signer: DEMO_LOAD_BALANCER_ARN,
      issuer: idp.issuer,
      clientId: DEMO_CLIENT_ID,
      keyEndpoint: `http://127.0.0.1:${adminPort}/keys`,
      endSessionEndpoint: idp.endpoints.endSession,
      postLogoutRedirectUri,
    }),
  )
  closers.push(() => target.close())

  const configYaml = demoConfigYaml({
    port,
    adminPort,
    files: { stateDirectory, certificateFile: leaf.certPath, privateKeyFile: leaf.keyPath, caFile: ca.caCertPath },
    idp,
    targetPort: target.port,
    sessionTimeoutSeconds: options.sessionTimeoutSeconds ?? 604_800,
  })
  const { config } = await step('config', async () =>
    parseConfig(configYaml, { source: 'portcullis-demo.yaml', baseDir: stateDirectory }),
  )

  const gateway = await step('gateway', () =>
    startGateway(config, { logger: options.logger, accessLog: options.accessLog ?? false }),
  )
  closers.push(() => gateway.close({ deadlineMs: 2000 }))

  return {
    url,
    config,
    configYaml,
    caCertPath: ca.caCertPath,
    caCertPem: ca.caCertPem,
    users: idp.users,
    idp,
    target,
    gateway,
    close: closeAll,
  }
}
