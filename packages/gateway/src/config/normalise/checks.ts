import { isIP } from 'node:net'
import { isAbsolute, resolve } from 'node:path'
import { RuleCompileError } from '../../values/errors.js'
import { compileRuleRegex } from '../../values/regex.js'
import type { FieldPath } from '../document.js'
import type { BaseContext } from './context.js'

/** A load balancer or target group name (ELBv2's rule). */
export const RESOURCE_NAME = /^(?!-)[A-Za-z0-9-]{1,32}(?<!-)$/
/** A cookie name (an RFC 6265 token). */
export const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
/** An HTTP header name: an RFC 9110 token without `*`, which conditions would read as a wildcard. */
export const HTTP_TOKEN = /^[!#$%&'+\-.^_`|~0-9A-Za-z]+$/

/** What a target `Id` may be: an IP address (IPv6 optionally in brackets) or a host name. */
export const TARGET_ADDRESS = /^[A-Za-z0-9.:[\]_-]+$/

/** A number as written: YAML and describe-* output give some numbers as strings. */
export function toInt(value: number | string): number {
  return typeof value === 'number' ? value : Number.parseInt(value, 10)
}

/** A path from the file, absolute (relative ones start at the file's directory). */
export function resolvePath(ctx: BaseContext, path: string): string {
  return isAbsolute(path) ? path : resolve(ctx.baseDir, path)
}

/** Reports and returns false when `value` is not an integer in `min..max`. */
export function inRange(
  ctx: BaseContext,
  path: FieldPath,
  value: number,
  min: number,
  max: number,
  what: string,
): boolean {
  if (Number.isInteger(value) && value >= min && value <= max) return true
  ctx.report.error(path, `${what} must be ${min}..${max}, got ${value}`)
  return false
}

/** Reports and returns false when `value` is longer than `max` characters. */
export function checkLength(ctx: BaseContext, value: string, path: FieldPath, max: number): boolean {
  if (value.length <= max) return true
  ctx.report.error(path, `at most ${max} characters, got ${value.length}`)
  return false
}

/** A listening address: an IPv4 or IPv6 address, or `localhost`. */
export function checkAddress(ctx: BaseContext, path: FieldPath, address: string): void {
  if (isIP(address) === 0 && address !== 'localhost') {
    ctx.report.error(path, `expected an IPv4 or IPv6 address (or localhost), got "${address}"`)
  }
}

/** Compiles with the rule engine's own compiler, so that load refuses exactly what it could not run. */
export function checkRegex(ctx: BaseContext, value: string, path: FieldPath, max: number): boolean {
  if (!checkLength(ctx, value, path, max)) return false
  try {
    compileRuleRegex(value)
    return true
  } catch (err) {
    if (!(err instanceof RuleCompileError)) throw err
    ctx.report.error(
      path,
      `not a valid regular expression: ${err.message.replace(/^invalid regular expression: /, '')}`,
    )
    return false
  }
}
