/**
 * From the shape-checked file (`schema.ts`) to the model (`model.ts`): applies
 * ELBv2's defaults, resolves names to ARNs and paths to absolute paths, and
 * enforces the API's own constraints with messages that name the field.
 * Every problem is reported (not just the first) so a user fixes a file in
 * one pass; the caller refuses the file when any error was reported.
 *
 * One module per resource, each a function of its part of the file and a
 * read-only context: what a validator needs from other resources (the load
 * balancer's region and account, the development opt-in, the target groups)
 * is in the context before it runs. Values the runtime compiles (regular
 * expressions, rewrites, CIDR blocks, health-check matchers, loopback hosts)
 * are checked with the runtime's own compilers, from `src/values`.
 */
import { isLoopbackHost } from '../../values/loopback.js'
import type { AdminModel, GatewayConfig, ListenerModel } from '../model.js'
import type { PortcullisFile } from '../schema.js'
import type { BaseContext, IssueReporter, NormaliseContext, NormaliseOptions } from './context.js'
import { checkListenerPorts, normaliseListener } from './listener.js'
import { normaliseLoadBalancer } from './load-balancer.js'
import { normalisePortcullis } from './portcullis.js'
import { indexTargetGroups, normaliseTargetGroup } from './target-group.js'
import { normaliseTrustStores } from './trust-store.js'

export type { IssueReporter, NormaliseOptions, NormalisePurpose } from './context.js'

/**
 * The admin listener with its operator credentials: `TokenFile`, else
 * `PORTCULLIS_ADMIN_TOKEN` from the environment; and/or a client certificate
 * from `ClientCertificateTrustStore` (a trust store of the file, by ARN or
 * name; the listener then serves HTTPS). The operator endpoints
 * (`/sessions`: list any user's sessions, end them) exist when a rule logs
 * users in; bound beyond loopback without a credential, anyone who reaches
 * the port could use them, so that is refused, naming the setting.
 */
function adminWithCredential(
  admin: AdminModel | undefined,
  file: PortcullisFile,
  context: NormaliseContext,
  listeners: readonly ListenerModel[],
  options: NormaliseOptions,
  report: IssueReporter,
): AdminModel | undefined {
  if (admin === undefined) return undefined
  const storeName = file.Portcullis?.Admin === false ? undefined : file.Portcullis?.Admin?.ClientCertificateTrustStore
  const storePath = ['Portcullis', 'Admin', 'ClientCertificateTrustStore']
  let clientCertificateTrustStore: AdminModel['clientCertificateTrustStore']
  if (storeName !== undefined) {
    clientCertificateTrustStore = context.trustStores.find((t) => t.arn === storeName || t.name === storeName)
    // A trust store without its files was reported where it is defined.
    if (clientCertificateTrustStore === undefined && !context.trustStoreNames.has(storeName)) {
      report.error(
        storePath,
        `no trust store ${storeName} in TrustStores (paste describe-trust-stores there, or name one by its Name)`,
      )
    }
    if (admin.tls === undefined) {
      report.error(
        storePath,
        'a client certificate is asked for in a TLS handshake: the admin listener needs CertificateFile and PrivateKeyFile to serve HTTPS',
      )
    }
  }
  const operatorToken =
    admin.operatorToken ??
    (options.env.PORTCULLIS_ADMIN_TOKEN ? ({ env: 'PORTCULLIS_ADMIN_TOKEN' } as const) : undefined)
  const operatorEndpoints = listeners.some((l) =>
    l.rules.some((r) => r.actions.some((a) => a.type === 'authenticate-oidc' || a.type === 'authenticate-cognito')),
  )
  if (operatorToken === undefined && storeName === undefined && operatorEndpoints && !isLoopbackHost(admin.address)) {
    // `need`: the environment may hold the token where the file runs (an audit does not read it).
    report.need(
      ['Portcullis', 'Admin', 'Address'],
      `the admin listener binds ${admin.address}, beyond loopback, and its operator endpoints (/sessions: list and end any user's sessions) would need no credential: set Portcullis.Admin.TokenFile (or PORTCULLIS_ADMIN_TOKEN) to a bearer token, or Portcullis.Admin.ClientCertificateTrustStore (with CertificateFile and PrivateKeyFile) to admit operators by client certificate, or bind 127.0.0.1`,
    )
  }
  return { ...admin, operatorToken, clientCertificateTrustStore }
}

/**
 * Normalises a shape-checked file into the model, reporting every violated
 * constraint through `reporter`. The returned model is only meaningful when no
 * error was reported. It reads no file, and the environment only as
 * `options.env`.
 *
 * @example
 * ```ts
 * const errors: string[] = []
 * const model = normalise(file, { baseDir: '/etc/portcullis', source: undefined, env: process.env }, {
 *   error: (path, message) => errors.push(`${formatPath(path)}: ${message}`),
 *   warn: () => {},
 *   need: () => {},
 * })
 * ```
 */
export function normalise(file: PortcullisFile, options: NormaliseOptions, reporter: IssueReporter): GatewayConfig {
  const purpose = options.purpose ?? 'start'
  // What only the running machine supplies is an error when the file is to run.
  const report = purpose === 'start' ? { ...reporter, need: reporter.error } : reporter
  const base: BaseContext = { report, baseDir: options.baseDir }
  // What the other resources depend on comes first and is frozen into the context.
  const portcullis = normalisePortcullis(file, base)
  const loadBalancer = normaliseLoadBalancer(file, base)
  const account = { ...base, region: loadBalancer.region, accountId: loadBalancer.accountId }
  const targetGroupFiles = file.TargetGroups ?? []
  const targetGroups = targetGroupFiles.map((tg, i) =>
    normaliseTargetGroup(tg, ['TargetGroups', i], account, portcullis.instanceAddresses),
  )
  const index = indexTargetGroups(targetGroupFiles, targetGroups, base)
  const trustStoreFiles = file.TrustStores ?? []
  const trustStores = normaliseTrustStores(trustStoreFiles, account)
  const context: NormaliseContext = Object.freeze({
    ...account,
    loadBalancerArn: loadBalancer.arn,
    allowInsecureHttpAuthentication: portcullis.allowInsecureHttpAuthentication,
    localCertificates: portcullis.localCertificates,
    clientSecretsDirectory: portcullis.clientSecretsDirectory,
    env: options.env,
    purpose,
    targetGroupsByName: index.byName,
    targetGroupsByArn: index.byArn,
    trustStores,
    trustStoreNames: new Set(trustStoreFiles.flatMap((t) => [t.Name, ...(t.TrustStoreArn ? [t.TrustStoreArn] : [])])),
  })
  if (file.Listeners.length === 0) report.error(['Listeners'], 'at least one listener is required')
  const listeners = file.Listeners.map((l, i) => normaliseListener(l, i, context))
  checkListenerPorts(file, listeners, portcullis, base)
  const admin = adminWithCredential(portcullis.admin, file, context, listeners, options, report)
  return {
    source: options.source,
    loadBalancer,
    listeners,
    targetGroups,
    trustStores,
    portcullis: { ...portcullis, admin },
  }
}
