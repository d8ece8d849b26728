/**
 * The gateway's error base and every code it carries. It lives in the lowest
 * layer so that every module, this folder's compilers included, can throw a
 * subclass of it.
 */

/**
 * Stable codes of {@link PortcullisError}: logs, metrics and callers match
 * on them, so a code is never renamed or reused. Each belongs to one class.
 *
 * | code | class | meaning |
 * | --- | --- | --- |
 * | `ERR_LISTEN` | `GatewayError` | a listener (or the admin listener) could not bind its address and port; `cause` is the system error |
 * | `ERR_CLOSED` | `GatewayError` | the gateway is shutting down: it takes no new configuration |
 * | `ERR_WORKER_EXIT` | `GatewayError` | a worker of `portcullis start` exited before it was ready |
 * | `ERR_SHARED_STATE` | `GatewayError` | the shared Redis (`Portcullis.SharedState`) could not be reached at start |
 * | `ERR_ADMIN_TOKEN` | `GatewayError` | the admin listener's operator token is unreadable or too short |
 * | `ERR_ADMIN_TLS` | `GatewayError` | the admin listener's certificate, key or client-certificate trust store cannot be read or used |
 * | `ERR_CONFIG` | `ConfigError` | a configuration cannot be used; `issues` says where and why |
 * | `ERR_RULE_COMPILE` | `RuleCompileError` | a condition or transform cannot be compiled; `field` names it (the loader reports it as a `ConfigError`) |
 * | `ERR_RULE_TRANSFORM` | `RuleTransformError` | a transform rewrote a request into an invalid host or URL (answered 500) |
 * | `ERR_AWS_AUDIT` | `AwsAuditError` | `auditAwsAccount` cannot read the account at all |
 * | `ERR_DEMO_START` | `DemoStartError` | a part of `portcullis demo` could not start; `component` names it |
 * | `ERR_CLIENT_CLOSED` | `ClientClosedError` | the client went away; aborts the request to the target |
 * | `ERR_AUTH` | `AuthError` | an authentication step refused or failed; `status` and `reason` are the answer and the access log's `error_reason` |
 * | `ERR_OUTBOUND` | `OutboundError` | a call to an identity provider or JWKS endpoint failed before an answer; `kind` says how |
 * | `ERR_JWKS_UNAVAILABLE` | `JwksUnavailable` | a JWKS could not be obtained at all |
 * | `ERR_LOGOUT_REFUSED` | `LogoutRefused` | a back-channel logout request was refused; `reason` is the access log's `error_reason` |
 * | `ERR_SHARED_STATE_UNAVAILABLE` | `SharedStateUnavailable` | a command on the shared Redis failed or timed out |
 */
export type PortcullisErrorCode =
  | 'ERR_LISTEN'
  | 'ERR_CLOSED'
  | 'ERR_WORKER_EXIT'
  | 'ERR_SHARED_STATE'
  | 'ERR_ADMIN_TOKEN'
  | 'ERR_ADMIN_TLS'
  | 'ERR_CONFIG'
  | 'ERR_RULE_COMPILE'
  | 'ERR_RULE_TRANSFORM'
  | 'ERR_AWS_AUDIT'
  | 'ERR_DEMO_START'
  | 'ERR_CLIENT_CLOSED'
  | 'ERR_AUTH'
  | 'ERR_OUTBOUND'
  | 'ERR_JWKS_UNAVAILABLE'
  | 'ERR_LOGOUT_REFUSED'
  | 'ERR_SHARED_STATE_UNAVAILABLE'

/**
 * The base of every error `portcullis` throws, as jose's `JOSEError` is of
 * jose's: one `instanceof` for all of them, a stable {@link PortcullisErrorCode}
 * to branch on, and the underlying error, when there is one, as `cause`. Each
 * subclass narrows `code` to its own and keeps its details (`issues`,
 * `field`, `status`…). Invalid arguments to a function are programming
 * errors and throw `TypeError`, as Node's own APIs do.
 *
 * @example
 * ```ts
 * try {
 *   const { config } = await loadConfig('portcullis.yaml')
 *   await startGateway(config, { logger: createLogger('info') })
 * } catch (err) {
 *   if (!(err instanceof PortcullisError)) throw err
 *   console.error(`${err.code}: ${err.message}`) // e.g. ERR_LISTEN: cannot listen on 0.0.0.0:443 …
 * }
 * ```
 */
export abstract class PortcullisError extends Error {
  /** Stable machine-readable reason; see {@link PortcullisErrorCode}. */
  readonly code: PortcullisErrorCode

  constructor(code: PortcullisErrorCode, message: string, options?: ErrorOptions) {
    super(message, options)
    this.code = code
  }
}

/**
 * Thrown while compiling a listener's rules when a condition or transform
 * cannot be turned into a matcher (bad CIDR, unsupported regular expression…).
 * The configuration loader reports it with the rule's location; it never
 * reaches a client.
 *
 * @example
 * ```ts
 * try { compileRules(listener.rules) } catch (e) {
 *   if (e instanceof RuleCompileError) console.error(`${e.field}: ${e.message}`)
 * }
 * ```
 */
export class RuleCompileError extends PortcullisError {
  override readonly name = 'RuleCompileError'
  declare readonly code: 'ERR_RULE_COMPILE'
  /**
   * Where in the rule the problem is, e.g. `Conditions[1].Values[0]` or
   * `Transforms[0].Regex`; prefixed with the rule's priority by `compileRules`.
   */
  readonly field: string

  constructor(field: string, message: string) {
    super('ERR_RULE_COMPILE', message)
    this.field = field
  }
}
