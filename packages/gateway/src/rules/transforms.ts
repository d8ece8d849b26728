import type { TransformModel } from '../config/model.js'
import { RuleCompileError } from '../values/errors.js'
import { type CompiledRewrite, compileRewrite } from '../values/rewrite.js'
import { RuleTransformError } from './errors.js'

/**
 * Rule `Transforms` (`host-header-rewrite`, `url-rewrite`): a regular
 * expression and a replacement with `$1`-style group references, compiled once
 * and applied after the rule matched, before its actions run. As on ALB:
 * without a match nothing changes; a match whose result is not a valid host or
 * URL fails the request with 500 ({@link RuleTransformError}).
 *
 * Semantics (decisions where AWS documents nothing):
 * - The first match is replaced (the expression is searched, not anchored);
 *   AWS's examples anchor with `^…$` to rewrite the whole value.
 * - `host-header-rewrite` works on the host without port, lower-cased; the
 *   result is lower-cased and must be a DNS name or a bracketed IPv6 literal.
 * - `url-rewrite` works on the path plus `?query` when there is one (AWS's
 *   example turns `/dp/ABC` into `/product.php?id=ABC`); the result is split
 *   at its first `?`. Percent-escapes are kept as they are, never decoded.
 * - Replacement syntax: `$0`..`$9` and `${n}` (group n, empty when it did not
 *   participate), `$$` for a literal `$`; any other `$` is literal.
 */

/** A rule's compiled transforms (ALB allows at most one of each type). */
export interface CompiledTransforms {
  readonly hostHeader: CompiledRewrite | undefined
  readonly url: CompiledRewrite | undefined
}

/** The request's routing values after transforms. */
export interface TransformedRequest {
  readonly host: string | undefined
  readonly path: string
  readonly query: string
}

/** Replaces the first match of the rewrite's expression in `input`; undefined when it does not match. */
export function applyRewrite(rewrite: CompiledRewrite, input: string): string | undefined {
  const m = rewrite.regex.exec(input)
  if (m === null) return undefined
  let out = input.slice(0, m.index)
  const parts = rewrite.parts
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!
    out += typeof part === 'string' ? part : (m[part] ?? '')
  }
  return out + input.slice(m.index + m[0].length)
}

/**
 * Compiles a rule's transforms.
 *
 * @param field Location prefix for errors, e.g. `Rules[2].Transforms`.
 * @throws {RuleCompileError} for an invalid expression, a missing group, or two transforms of one type.
 */
export function compileTransforms(transforms: readonly TransformModel[], field = 'Transforms'): CompiledTransforms {
  let hostHeader: CompiledRewrite | undefined
  let url: CompiledRewrite | undefined
  transforms.forEach((t, i) => {
    const at = `${field}[${i}]`
    const rewrite = compileRewrite(t.regex, t.replace, at)
    if (t.type === 'host-header-rewrite') {
      if (hostHeader !== undefined) throw new RuleCompileError(at, 'a rule has at most one host-header-rewrite')
      hostHeader = rewrite
    } else {
      if (url !== undefined) throw new RuleCompileError(at, 'a rule has at most one url-rewrite')
      url = rewrite
    }
  })
  return { hostHeader, url }
}

/** A DNS name (letters, digits, `-`, `_`, dots) or a bracketed IPv6 literal. */
const VALID_HOST = /^(?:[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?|\[[0-9a-f:.]+\])$/

/** True when every character is visible ASCII other than `#` (what a request target may carry). */
function isValidTarget(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    if (c <= 0x20 || c >= 0x7f || c === 0x23 /* # */) return false
  }
  return true
}

/**
 * Applies compiled transforms to a matched request's host, path and query.
 *
 * @throws {RuleTransformError} when an expression matched but the result is not a valid host or URL (ALB: 500).
 */
export function applyTransforms(
  transforms: CompiledTransforms,
  host: string | undefined,
  path: string,
  query: string,
): TransformedRequest {
  let outHost = host
  if (transforms.hostHeader !== undefined && host !== undefined) {
    const rewritten = applyRewrite(transforms.hostHeader, host)
    if (rewritten !== undefined) {
      outHost = rewritten.toLowerCase()
      if (!VALID_HOST.test(outHost)) throw new RuleTransformError('host-header-rewrite produced an invalid host')
    }
  }
  let outPath = path
  let outQuery = query
  if (transforms.url !== undefined) {
    const rewritten = applyRewrite(transforms.url, query.length > 0 ? `${path}?${query}` : path)
    if (rewritten !== undefined) {
      if (!rewritten.startsWith('/') || !isValidTarget(rewritten)) {
        throw new RuleTransformError('url-rewrite produced an invalid URL')
      }
      const q = rewritten.indexOf('?')
      outPath = q < 0 ? rewritten : rewritten.slice(0, q)
      outQuery = q < 0 ? '' : rewritten.slice(q + 1)
    }
  }
  return { host: outHost, path: outPath, query: outQuery }
}
