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
export class RuleCompileError extends Error {
  override readonly name = 'RuleCompileError'
  /**
   * Where in the rule the problem is, e.g. `Conditions[1].Values[0]` or
   * `Transforms[0].Regex`; prefixed with the rule's priority by `compileRules`.
   */
  readonly field: string

  constructor(field: string, message: string) {
    super(message)
    this.field = field
  }
}
