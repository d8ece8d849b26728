/**
 * The field check of a configuration file, before its shape is checked:
 * every key of every block, and every attribute key, is looked up in the
 * classification table (`classification.ts`).
 *
 * An unknown key is either a typo in a hand-written file or a field AWS
 * added to its `describe-*` output after this version of Portcullis. They
 * are told apart this way: a key close to a known one (a small edit
 * distance, case aside) is a typo, an error with "did you mean"; so is any
 * unknown key in a block a person wrote. A key of AWS's form (PascalCase)
 * with no near match, in a resource that carries fields only AWS writes
 * (its ARN, `DNSName`, `VpcId`, `TargetHealth` …), was pasted: it is
 * ignored with a warning that names it, so that a paste never fails on a
 * field AWS added later. A near miss in a pasted block is still an error:
 * it is far likelier a hand edit than a new AWS field, and deleting it is
 * the fix either way. Unknown attribute keys follow the same rule (an
 * attribute list is open-ended on AWS's side too).
 */

import { editDistance } from '../values/edit-distance.js'
import { BLOCKS, type BlockName, brokenRule, type FieldClass, valueText } from './classification.js'
import type { FieldPath } from './document.js'

/** What kind of problem a field is: the loader makes errors of `typo` and `refused`, warnings of the rest. */
export type FieldIssueKind = 'typo' | 'refused' | 'not-implemented' | 'unknown'

/** One problem, at `path` (at its `key` when given). */
export interface FieldIssue {
  readonly kind: FieldIssueKind
  readonly path: FieldPath
  readonly key?: string
  readonly message: string
}

/** A field or attribute Portcullis accepts and does not act on: AWS-only, or not implemented and harmless as given. */
export interface IgnoredField {
  /** The block, as `validate` names it (`LoadBalancer`, `load balancer attributes` …). */
  readonly block: string
  readonly key: string
  readonly treatment: 'aws-only' | 'not-implemented'
  readonly note: string | undefined
}

/** The outcome of {@link checkFields}. */
export interface FieldCheck {
  readonly issues: readonly FieldIssue[]
  /** Each ignored field once, in file order. */
  readonly ignored: readonly IgnoredField[]
  /** The file without its unknown fields (reported above), for the shape check. */
  readonly value: unknown
}

/**
 * Checks every key of a parsed file against the classification table.
 *
 * @example
 * ```ts
 * const { issues, ignored, value } = checkFields(parseYaml(text))
 * ```
 */
export function checkFields(root: unknown): FieldCheck {
  const issues: FieldIssue[] = []
  const ignored = new Map<string, IgnoredField>()
  const ignore = (block: string, key: string, field: FieldClass) => {
    if (field.treatment !== 'aws-only' && field.treatment !== 'not-implemented') return
    if (field.block !== undefined) return
    const id = `${block}\u0000${key}`
    if (!ignored.has(id)) ignored.set(id, { block, key, treatment: field.treatment, note: field.note })
  }

  /** Reports a value that breaks a rule of its field; true when it does not (it may be listed as ignored). */
  const judge = (field: FieldClass, value: unknown, key: string, path: FieldPath): boolean => {
    const rule = brokenRule(field, value)
    if (rule === undefined) return true
    issues.push({
      kind: rule.action === 'refuse' ? 'refused' : 'not-implemented',
      path,
      message: `${key} ${display(value)}: ${rule.reason}; ${rule.fix}`,
    })
    return false
  }

  const walk = (value: unknown, name: BlockName, path: FieldPath, pasted: boolean): unknown => {
    if (Array.isArray(value)) return value.map((item, i) => walk(item, name, [...path, i], pasted))
    if (value === null || typeof value !== 'object') return value
    const block = BLOCKS[name]
    const object = value as Record<string, unknown>
    const own = block.resource ? Object.keys(object).some((k) => isOutput(block.fields[k])) : pasted
    const kept: Record<string, unknown> = {}
    for (const [key, child] of Object.entries(object)) {
      const field = block.fields[key]
      if (field === undefined) {
        issues.push(unknownField(key, Object.keys(block.fields), block.label, path, own))
        continue
      }
      if (judge(field, child, key, [...path, key])) ignore(block.label, key, field)
      if (field.block === undefined) kept[key] = child
      else if (BLOCKS[field.block].kind === 'attributes') kept[key] = attributes(child, field.block, [...path, key])
      else kept[key] = walk(child, field.block, [...path, key], own && field.treatment !== 'extension')
    }
    return kept
  }

  const attributes = (list: unknown, name: BlockName, path: FieldPath): unknown => {
    if (!Array.isArray(list)) return list
    const block = BLOCKS[name]
    const what = block.label.replace(/s$/, '')
    return list.map((item, i) => {
      const entry = walk(item, 'Attribute', [...path, i], false)
      const key = (entry as { Key?: unknown } | null)?.Key
      if (typeof key !== 'string') return entry
      const field = block.fields[key]
      if (field === undefined) {
        issues.push(unknownAttribute(key, Object.keys(block.fields), what, [...path, i, 'Key']))
      } else if (judge(field, (entry as { Value?: unknown }).Value, key, [...path, i, 'Value'])) {
        ignore(block.label, key, field)
      }
      return entry
    })
  }

  const value = walk(root, 'PortcullisFile', [], false)
  return { issues, ignored: [...ignored.values()], value }
}

/** Only AWS writes it: an AWS-only field, or one marked as output. */
function isOutput(field: FieldClass | undefined): boolean {
  return field !== undefined && (field.treatment === 'aws-only' || field.output === true)
}

/** A name in AWS's form, as its outputs spell every field. */
const AWS_FIELD_NAME = /^[A-Z][A-Za-z0-9]*$/

function unknownField(
  key: string,
  known: readonly string[],
  label: string,
  path: FieldPath,
  pasted: boolean,
): FieldIssue {
  const suggestion = closest(key, known, Math.max(2, Math.floor(key.length / 3)))
  if (suggestion === undefined && pasted && AWS_FIELD_NAME.test(key)) {
    return {
      kind: 'unknown',
      path,
      key,
      message: `unknown to Portcullis (a field AWS added to ${label} after this version?) and ignored: check that nothing relies on it`,
    }
  }
  return {
    kind: 'typo',
    path,
    key,
    message: `unknown field${suggestion ? `; did you mean ${suggestion}?` : ` (expected one of ${known.join(', ')})`}`,
  }
}

function unknownAttribute(key: string, known: readonly string[], what: string, path: FieldPath): FieldIssue {
  // Attribute keys are long and share most of their text: only a couple of edits make a typo.
  const suggestion = closest(key, known, 2)
  if (suggestion !== undefined) {
    return { kind: 'typo', path, message: `unknown ${what} ${key}; did you mean ${suggestion}?` }
  }
  return {
    kind: 'unknown',
    path,
    message: `unknown ${what} ${key} (one AWS added after this version?); ignored, it has no effect here`,
  }
}

/** A value in a message: as written, quoted when empty or spaced, shortened when long. */
function display(value: unknown): string {
  const text = valueText(value)
  const short = text.length > 60 ? `${text.slice(0, 60)}…` : text
  return short === '' || /\s/.test(short) ? JSON.stringify(short) : short
}

/**
 * The known name closest to `key` (case-insensitive) within `maxDistance`
 * edits, if any: the "did you mean" of unknown keys and of enum values.
 *
 * @example
 * ```ts
 * closest('foward', ['forward', 'redirect'], 2) // 'forward'
 * ```
 */
export function closest(key: string, known: readonly string[], maxDistance: number): string | undefined {
  let best: string | undefined
  let bestDistance = maxDistance + 1
  for (const candidate of known) {
    // The distance is at least the difference in length: no need to measure what cannot win.
    if (Math.abs(key.length - candidate.length) >= bestDistance) continue
    const d = editDistance(key.toLowerCase(), candidate.toLowerCase())
    if (d < bestDistance) {
      best = candidate
      bestDistance = d
    }
  }
  return best
}
