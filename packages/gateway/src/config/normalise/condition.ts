import { CidrError, parseCidr } from '@portcullis/verify/net'
import { type FieldPath, formatPath } from '../document.js'
import type { ConditionModel } from '../model.js'
import type { ConditionFile } from '../schema.js'
import { checkLength, checkRegex, HTTP_TOKEN } from './checks.js'
import type { BaseContext } from './context.js'
import { RuleConditionLimits } from './limits.js'

/** A rule's `Conditions`: each validated, some fields at most once per rule, within ALB's limits. */
export function normaliseConditions(
  list: readonly ConditionFile[],
  path: FieldPath,
  ctx: BaseContext,
): ConditionModel[] {
  const out: ConditionModel[] = []
  const once = new Map<string, number>()
  const limits = new RuleConditionLimits(ctx)
  list.forEach((condition, k) => {
    const cpath = [...path, k]
    const model = normaliseCondition(condition, cpath, ctx)
    if (!model) return
    if (['host-header', 'path-pattern', 'http-request-method', 'source-ip'].includes(model.field)) {
      const first = once.get(model.field)
      if (first !== undefined) {
        ctx.report.error(
          [...cpath, 'Field'],
          `a rule has at most one ${model.field} condition; ${formatPath([...path, first])} is one already`,
        )
      }
      once.set(model.field, k)
    }
    limits.add(model, cpath)
    out.push(model)
  })
  return out
}

function normaliseCondition(c: ConditionFile, path: FieldPath, ctx: BaseContext): ConditionModel | undefined {
  const configKeys = {
    'host-header': 'HostHeaderConfig',
    'path-pattern': 'PathPatternConfig',
    'http-header': 'HttpHeaderConfig',
    'http-request-method': 'HttpRequestMethodConfig',
    'query-string': 'QueryStringConfig',
    'source-ip': 'SourceIpConfig',
  } as const
  const own = configKeys[c.Field]
  for (const [field, key] of Object.entries(configKeys)) {
    if (key !== own && c[key] !== undefined) {
      ctx.report.error([...path, key], `${key} belongs to Field ${field}, but this condition's Field is ${c.Field}`)
    }
  }
  const legacyOnly = c.Field === 'host-header' || c.Field === 'path-pattern'
  if (!legacyOnly && c.Values !== undefined) {
    ctx.report.error([...path, 'Values'], `a ${c.Field} condition gives its values in ${own}`)
  }
  const regexCapable = legacyOnly || c.Field === 'http-header'
  if (!regexCapable && c.RegexValues !== undefined) {
    ctx.report.error([...path, 'RegexValues'], `RegexValues applies to host-header, path-pattern and http-header only`)
  }
  const noValues = () => ctx.report.error(path, `the ${c.Field} condition has no values`, 'Field')
  switch (c.Field) {
    case 'host-header':
    case 'path-pattern': {
      const cfg = c.Field === 'host-header' ? c.HostHeaderConfig : c.PathPatternConfig
      const values = merged(ctx, c.Values, cfg?.Values, path, own, 'Values')
      const regexValues = merged(ctx, c.RegexValues, cfg?.RegexValues, path, own, 'RegexValues')
      if (values.length + regexValues.length === 0) noValues()
      const valuesPath = cfg?.Values !== undefined ? [...path, own, 'Values'] : [...path, 'Values']
      values.forEach((v, n) => {
        if (c.Field === 'host-header') checkHostValue(ctx, v, [...valuesPath, n])
        else checkPathValue(ctx, v, [...valuesPath, n])
      })
      const regexPath = cfg?.RegexValues !== undefined ? [...path, own, 'RegexValues'] : [...path, 'RegexValues']
      regexValues.forEach((r, n) => {
        checkRegex(ctx, r, [...regexPath, n], 128)
      })
      return { field: c.Field, values, regexValues }
    }
    case 'http-header': {
      const cfg = c.HttpHeaderConfig
      if (!cfg) {
        ctx.report.error(path, 'an http-header condition needs HttpHeaderConfig: { HttpHeaderName, Values }', 'Field')
        return undefined
      }
      const name = cfg.HttpHeaderName
      const npath = [...path, own, 'HttpHeaderName']
      if (name.toLowerCase() === 'host') {
        ctx.report.error(npath, 'use a host-header condition to match the Host header')
      } else if (/[*?]/.test(name)) {
        ctx.report.error(npath, 'a header name cannot contain wildcards')
      } else if (!HTTP_TOKEN.test(name) || name.length > 40) {
        ctx.report.error(npath, `"${name}" is not a valid header name (at most 40 token characters)`)
      }
      const values = [...(cfg.Values ?? [])]
      const regexValues = merged(ctx, c.RegexValues, cfg.RegexValues, path, own, 'RegexValues')
      if (values.length + regexValues.length === 0) noValues()
      values.forEach((v, n) => {
        checkLength(ctx, v, [...path, own, 'Values', n], 128)
      })
      const regexPath = cfg.RegexValues !== undefined ? [...path, own, 'RegexValues'] : [...path, 'RegexValues']
      regexValues.forEach((r, n) => {
        checkRegex(ctx, r, [...regexPath, n], 128)
      })
      return { field: 'http-header', headerName: name, values, regexValues }
    }
    case 'http-request-method': {
      const values = [...(c.HttpRequestMethodConfig?.Values ?? [])]
      if (values.length === 0) noValues()
      values.forEach((v, n) => {
        if (!/^[A-Z_-]{1,40}$/.test(v)) {
          ctx.report.error(
            [...path, own, 'Values', n],
            `a method is 1..40 characters A-Z, "-" and "_" (matched case-sensitively), got "${v}"`,
          )
        }
      })
      return { field: 'http-request-method', values }
    }
    case 'query-string': {
      const pairs = c.QueryStringConfig?.Values ?? []
      if (pairs.length === 0) noValues()
      pairs.forEach((pair, n) => {
        const ppath = [...path, own, 'Values', n]
        if (pair.Key !== undefined) checkLength(ctx, pair.Key, [...ppath, 'Key'], 128)
        checkLength(ctx, pair.Value, [...ppath, 'Value'], 128)
        if (pair.Value === '') ctx.report.error([...ppath, 'Value'], 'must not be empty')
      })
      return { field: 'query-string', values: pairs.map((p) => ({ key: p.Key, value: p.Value })) }
    }
    case 'source-ip': {
      const values = [...(c.SourceIpConfig?.Values ?? [])]
      if (values.length === 0) noValues()
      values.forEach((v, n) => {
        if (!isCidr(v)) {
          ctx.report.error(
            [...path, own, 'Values', n],
            `expected a CIDR block such as 192.0.2.0/24 or 2001:db8::/32, got "${v}"`,
          )
        }
      })
      return { field: 'source-ip', values }
    }
  }
}

/** Values from the legacy top-level form and the `…Config` form; both occur in describe-rules output. */
function merged(
  ctx: BaseContext,
  top: readonly string[] | undefined,
  inner: readonly string[] | undefined,
  path: FieldPath,
  innerKey: string,
  name: string,
): string[] {
  if (top !== undefined && inner !== undefined && !sameList(top, inner)) {
    ctx.report.error([...path, name], `differs from ${innerKey}.${name}; give the values once`)
  }
  return [...(inner ?? top ?? [])]
}

function checkHostValue(ctx: BaseContext, value: string, path: FieldPath): void {
  if (!checkLength(ctx, value, path, 128)) return
  if (!/^[A-Za-z0-9.*?-]+$/.test(value)) {
    ctx.report.error(
      path,
      `a host-header value has letters, digits, "-", ".", "*" and "?" only (no port), got "${value}"`,
    )
  } else if (!/\.[A-Za-z*?]+$/.test(value)) {
    ctx.report.warn(
      path,
      `ALB requires a "." followed by letters at the end of a host-header value; "${value}" works in Portcullis only`,
    )
  }
}

function checkPathValue(ctx: BaseContext, value: string, path: FieldPath): void {
  if (!checkLength(ctx, value, path, 128)) return
  if (!/^[A-Za-z0-9_\-.$/~"'@:+&*?]+$/.test(value)) {
    ctx.report.error(
      path,
      `a path-pattern value has letters, digits and _ - . $ / ~ " ' @ : + & * ? only, got "${value}"`,
    )
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i])
}

/** ALB's source-ip values are CIDR blocks with a prefix length, parsed as the rule engine parses them. */
function isCidr(value: string): boolean {
  try {
    return parseCidr(value).hasPrefix
  } catch (error) {
    if (error instanceof CidrError) return false
    throw error
  }
}
