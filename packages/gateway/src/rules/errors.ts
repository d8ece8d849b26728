import { PortcullisError } from '../values/errors.js'

/**
 * Thrown by `CompiledRuleSet.match` when a rule matched, its transform's
 * regular expression matched too, but the rewritten host or URL is not valid.
 * ALB answers such a request with **500**; so must the listener.
 */
export class RuleTransformError extends PortcullisError {
  override readonly name = 'RuleTransformError'
  declare readonly code: 'ERR_RULE_TRANSFORM'

  constructor(message: string) {
    super('ERR_RULE_TRANSFORM', message)
  }
}
