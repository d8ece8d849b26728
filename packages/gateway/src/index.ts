/**
 * `portcullis` as a library: load an ALB-shaped configuration and run the
 * gateway in your own process (tests, custom launchers), or use its
 * development OpenID provider and local CA in your own test suites.
 *
 * The command line (`portcullis start | validate | demo | idp | keys`) is
 * built on exactly these exports. The development OpenID provider lives in
 * its own entry point, `portcullis/idp`, so that importing the gateway never
 * loads it.
 *
 * @example
 * ```ts
 * import { loadConfig, startGateway, createLogger } from 'portcullis'
 *
 * const { config, warnings } = await loadConfig('portcullis.yaml')
 * const gateway = await startGateway(config, { logger: createLogger('info') })
 * console.log(gateway.listeners.map((l) => l.url), gateway.adminUrl)
 * await gateway.close()
 * ```
 *
 * @packageDocumentation
 */

export { rotateSigningKey } from './auth/index.js'
export { ConfigError, type ConfigIssue, formatIssue } from './config/errors.js'
export { portcullisJsonSchema } from './config/json-schema.js'
export { type LoadedConfig, loadConfig, type ParseConfigOptions, parseConfig } from './config/load.js'
export type * from './config/model.js'
export { channels as diagnosticsChannels } from './observability/diagnostics.js'
export { createLogger } from './observability/logger.js'
export { GatewayMetrics } from './observability/metrics.js'
export { type RunningGateway, type RunningListener, type StartGatewayOptions, startGateway } from './server/gateway.js'
export { ensureLeafCertificate, ensureLocalCa, type LeafCertificate, type LocalCa } from './tls/local-ca.js'
