import { resolve } from 'node:path'
import { stringify } from 'yaml'
import { type CommandIo, describeStartupError, waitForStop } from '../../demo/lifecycle.js'
import { createDevIdentityProvider, type DevIdentityProvider } from '../../idp/provider.js'
import { tlsFiles } from '../../state/index.js'
import { DEFAULT_LEAF_NAMES, ensureLeafCertificate, trustInstructions } from '../../tls/local-ca.js'

/** Options of {@link idpCommand}; the CLI fills in its defaults. */
export interface IdpCommandOptions {
  readonly port: number
  readonly host: string
  /** Where the local CA (and the provider's certificate) live. */
  readonly stateDirectory: string
  readonly clientId: string
  readonly clientSecret: string
  /** Redirect URIs to allow besides {@link DEFAULT_IDP_REDIRECT_URIS}. */
  readonly redirectUri: readonly string[]
  /** Stops the provider when aborted (besides Ctrl-C and SIGTERM). */
  readonly signal?: AbortSignal
}

/** Redirect URIs `portcullis idp` always allows: a gateway on this machine's port 8443, as the demo runs it. */
export const DEFAULT_IDP_REDIRECT_URIS: readonly string[] = Object.freeze(['https://localhost:8443/oauth2/idpresponse'])

// Wildcard and loopback binds are reached as `localhost`, the name the demo and the gateway use, so that
// a browser sees one host (and one certificate warning) for the provider and the gateway.
const LOCALHOST_BINDS = new Set(['0.0.0.0', '::', '', '127.0.0.1', '::1'])

/** The `authenticate-oidc` action (and CA setting) that points a gateway at `idp`, as YAML. */
export function authenticateOidcSnippet(
  idp: DevIdentityProvider,
  clientId: string,
  clientSecret: string,
  caFile: string,
): string {
  const action = {
    Type: 'authenticate-oidc',
    Order: 1,
    AuthenticateOidcConfig: {
      Issuer: idp.issuer,
      AuthorizationEndpoint: idp.endpoints.authorization,
      TokenEndpoint: idp.endpoints.token,
      UserInfoEndpoint: idp.endpoints.userinfo,
      ClientId: clientId,
      ClientSecret: clientSecret,
      Scope: 'openid email profile groups',
    },
  }
  return [
    "# In a rule's Actions (before its forward):",
    stringify([action]).trimEnd(),
    "# At the top level, so that the gateway trusts this provider's certificate:",
    stringify({ Portcullis: { CaFile: caFile } }).trimEnd(),
  ].join('\n')
}

/**
 * `portcullis idp`: runs the development OpenID provider on its own, over
 * HTTPS with a certificate from the local CA, for teams that want a local
 * IdP behind their own gateway configuration. Prints the issuer, the
 * endpoints, a matching `authenticate-oidc` snippet, the demo users and how
 * to trust the CA; runs until Ctrl-C or SIGTERM.
 *
 * @returns the process exit code (0 after a clean stop, 1 when it could not start).
 * @example
 * ```ts
 * process.exitCode = await idpCommand(
 *   { port: 9443, host: '127.0.0.1', stateDirectory: '.portcullis', clientId: 'app', clientSecret: 's3cret',
 *     redirectUri: ['https://app.localhost:8443/oauth2/idpresponse'] },
 *   process,
 * )
 * ```
 */
export async function idpCommand(options: IdpCommandOptions, io: CommandIo): Promise<number> {
  const stateDirectory = resolve(options.stateDirectory)
  const publicHost = LOCALHOST_BINDS.has(options.host) ? 'localhost' : options.host
  const redirectUris = [...new Set([...DEFAULT_IDP_REDIRECT_URIS, ...options.redirectUri])]
  let idp: DevIdentityProvider
  let caFile: string
  const badUri = options.redirectUri.find((uri) => !URL.canParse(uri))
  if (badUri !== undefined) {
    io.stderr.write(`portcullis idp: --redirect-uri ${JSON.stringify(badUri)} is not an absolute URL\n`)
    return 2
  }
  try {
    const names = DEFAULT_LEAF_NAMES.includes(publicHost) ? DEFAULT_LEAF_NAMES : [...DEFAULT_LEAF_NAMES, publicHost]
    const leaf = await ensureLeafCertificate(stateDirectory, names)
    caFile = tlsFiles(stateDirectory).caCert
    idp = await createDevIdentityProvider({
      host: options.host,
      port: options.port,
      ...(publicHost === options.host ? {} : { issuer: `https://${publicHost}:${options.port}` }),
      clients: [{ clientId: options.clientId, clientSecret: options.clientSecret, redirectUris }],
      tls: leaf,
    })
  } catch (error) {
    io.stderr.write(`${describeStartupError(error, 'portcullis idp', '--port')}\n`)
    return 1
  }

  const users = idp.users.map((user) => `  ${user.username} / ${user.password}   (${user.name}, ${user.email})`)
  io.stdout.write(
    [
      'Portcullis development OpenID provider (in memory: keys, sessions and tokens are new on every start)',
      '',
      `  Issuer:         ${idp.issuer}`,
      `  Discovery:      ${idp.endpoints.discovery}`,
      `  Authorization:  ${idp.endpoints.authorization}`,
      `  Token:          ${idp.endpoints.token}`,
      `  UserInfo:       ${idp.endpoints.userinfo}`,
      `  JWKS:           ${idp.endpoints.jwks}`,
      `  Logout:         ${idp.endpoints.endSession}`,
      '',
      `Client ${options.clientId} (secret ${options.clientSecret}) may redirect to:`,
      ...redirectUris.map((uri) => `  ${uri}`),
      '  (--redirect-uri URI adds one; repeat it for several)',
      '',
      'Users:',
      ...users,
      '',
      authenticateOidcSnippet(idp, options.clientId, options.clientSecret, caFile),
      '',
      trustInstructions(caFile, idp.endpoints.discovery).trimEnd(),
      '',
      'Press Ctrl-C to stop.',
      '',
    ].join('\n'),
  )
  const reason = await waitForStop(options.signal)
  await idp.close()
  io.stdout.write(`Stopped (${reason}).\n`)
  return 0
}
