/**
 * Turns configuration text (YAML or JSON) into plain data while keeping a way
 * back from a field path to its line and column, so every later error can
 * point into the file.
 */
import {
  type Document,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseAllDocuments,
  parseDocument,
} from 'yaml'
import type { ConfigIssue } from './errors.js'

/** A field path as arrays of keys and indices, e.g. `['Listeners', 0, 'Rules', 2]`. */
export type FieldPath = readonly (string | number)[]

/** 1-based position in the file. */
export interface Position {
  readonly line: number
  readonly column: number
  /** The file, when the document was assembled from several (an import's sources). */
  readonly source?: string
}

/** The parsed file: its plain value and a locator for field paths. */
export interface ParsedDocument {
  readonly value: unknown
  /**
   * Position of the node at `path`; of the deepest existing ancestor when the
   * path does not exist (a missing required field points at its parent).
   * With `key`, the position of that key inside the mapping at `path`.
   */
  locate(path: FieldPath, key?: string): Position | undefined
}

/** The outcome of parsing: a document, or syntax issues with positions. */
export type ParseOutcome = { ok: true; document: ParsedDocument } | { ok: false; issues: ConfigIssue[] }

/** Aliases may expand at most this many times (bounds "billion laughs" documents). */
const MAX_ALIAS_COUNT = 1000

/**
 * Formats a path the way users read it: `Listeners[0].Rules[2].Actions[0].Type`.
 *
 * @example
 * ```ts
 * formatPath(['Listeners', 0, 'Rules', 2]) // 'Listeners[0].Rules[2]'
 * ```
 */
export function formatPath(path: FieldPath): string {
  let out = ''
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`
    else out += out ? `.${segment}` : segment
  }
  return out
}

/**
 * Parses YAML (1.2 core schema, unique keys, bounded alias expansion) or
 * strict JSON. JSON is checked with `JSON.parse` semantics and then read
 * through the YAML parser, which is a superset, to keep source positions.
 */
export function parseText(
  text: string,
  format: 'yaml' | 'json',
  options: {
    readonly cloudFormationTags?: boolean
    /**
     * Read a YAML stream of several documents (`---`), as Kubernetes manifests come: with more than one,
     * the value is `{ apiVersion: v1, kind: List, items: [...] }` (the shape `kubectl get -o yaml` prints),
     * item `i` located in the `i`th document.
     */
    readonly stream?: boolean
  } = {},
): ParseOutcome {
  if (format === 'yaml' && options.stream) {
    const lineCounter = new LineCounter()
    const parsed = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: true, version: '1.2' })
    const docs = (Array.isArray(parsed) ? parsed : []).filter((doc) => doc.contents !== null)
    if (docs.length > 1) {
      const items: unknown[] = []
      const locators: ParsedDocument[] = []
      const issues: ConfigIssue[] = []
      for (const doc of docs) {
        const outcome = fromDocument(doc, lineCounter, format, options)
        if (!outcome.ok) issues.push(...outcome.issues)
        else {
          items.push(outcome.document.value)
          locators.push(outcome.document)
        }
      }
      if (issues.length > 0) return { ok: false, issues }
      const locate = (path: FieldPath, key?: string): Position | undefined => {
        const item = path[0] === 'items' && typeof path[1] === 'number' ? locators[path[1]] : undefined
        return item ? item.locate(path.slice(2), key) : locators[0]?.locate([], key)
      }
      return { ok: true, document: { value: { apiVersion: 'v1', kind: 'List', items }, locate } }
    }
  }
  if (format === 'json') {
    const syntax = findJsonSyntaxError(text)
    if (syntax) {
      const position = offsetToPosition(text, syntax.offset)
      return { ok: false, issues: [{ path: '', ...position, message: syntax.message, severity: 'error' }] }
    }
  }
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, version: '1.2' })
  return fromDocument(doc, lineCounter, format, options)
}

/** One parsed YAML document as plain data and its locator. */
function fromDocument(
  doc: Document.Parsed,
  lineCounter: LineCounter,
  format: 'yaml' | 'json',
  options: { readonly cloudFormationTags?: boolean },
): ParseOutcome {
  const issues: ConfigIssue[] = []
  // A tab used as indentation makes the parser misread the structure around it, and each misreading is one
  // more error: the tabs are what to fix, so only they are reported.
  const tabs = doc.errors.filter((error) => error.code === 'TAB_AS_INDENT')
  for (const error of tabs.length > 0 ? tabs : doc.errors) {
    const pos = lineCounter.linePos(error.pos[0])
    const first = error.message.split('\n')[0]
    const message = error.code === 'TAB_AS_INDENT' ? `${first}; indent with spaces` : first
    issues.push({
      path: '',
      line: pos.line,
      column: pos.col,
      message: `${format === 'json' ? 'JSON' : 'YAML'} syntax: ${message}`,
      severity: 'error',
    })
  }
  if (issues.length > 0) return { ok: false, issues }
  if (doc.contents === null) {
    return { ok: false, issues: [{ path: '', line: 1, column: 1, message: 'the file is empty', severity: 'error' }] }
  }
  let value: unknown
  try {
    const unknownTags: { offset: number; tag: string }[] = []
    value = options.cloudFormationTags
      ? withIntrinsics(doc.contents as Node, doc, unknownTags)
      : doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT })
    if (unknownTags.length > 0) {
      const message = (tag: string) => `unknown YAML tag ${tag} (CloudFormation's are !Ref, !GetAtt, !Sub, !Join …)`
      return {
        ok: false,
        issues: unknownTags.map(({ offset, tag }) => ({
          path: '',
          ...toPosition(lineCounter, offset),
          message: message(tag),
          severity: 'error',
        })),
      }
    }
  } catch (err) {
    // The yaml package throws on excessive alias expansion and unresolved anchors.
    return {
      ok: false,
      issues: [{ path: '', line: 1, column: 1, message: `YAML: ${(err as Error).message}`, severity: 'error' }],
    }
  }
  const root = doc.contents as Node
  const locate = (path: FieldPath, key?: string): Position | undefined => {
    let node: unknown = root
    let tagTaken = false
    for (const segment of path) {
      // `!Ref X` is `{ Ref: X }` in the value: the intrinsic's key stays on the tagged node.
      if (!tagTaken && options.cloudFormationTags && intrinsicKey(node) === segment) {
        tagTaken = true
        continue
      }
      const child = childOf(node, segment)
      if (child === undefined) break
      node = child
      tagTaken = false
    }
    if (key !== undefined && isMap(node)) {
      const pair = node.items.find((p) => scalarKey(p.key) === key)
      if (pair && isScalar(pair.key) && pair.key.range) return toPosition(lineCounter, pair.key.range[0])
    }
    const range = (node as Node | null)?.range
    return range ? toPosition(lineCounter, range[0]) : undefined
  }
  return { ok: true, document: { value, locate } }
}

/** CloudFormation's short-form intrinsic tags, and the long form each stands for. */
const INTRINSIC_TAGS: Readonly<Record<string, string>> = Object.fromEntries(
  [
    'Base64',
    'Cidr',
    'FindInMap',
    'GetAtt',
    'GetAZs',
    'ImportValue',
    'Join',
    'Select',
    'Split',
    'Sub',
    'Transform',
    'And',
    'Equals',
    'If',
    'Not',
    'Or',
    'ToJsonString',
    'Length',
  ]
    .map((name) => [`!${name}`, `Fn::${name}`])
    .concat([
      ['!Ref', 'Ref'],
      ['!Condition', 'Condition'],
    ]),
)

function intrinsicKey(node: unknown): string | undefined {
  const tag = (node as Node | null)?.tag
  return tag === undefined ? undefined : INTRINSIC_TAGS[tag]
}

/**
 * The value of a CloudFormation template in YAML, its short-form tags
 * written out as the long form (`!GetAtt A.B` is `{ "Fn::GetAtt": ["A", "B"] }`),
 * as CloudFormation reads them. Any other tag is an error.
 */
function withIntrinsics(root: Node, doc: unknown, unknownTags: { offset: number; tag: string }[]): unknown {
  let aliases = 0
  const convert = (node: unknown): unknown => {
    if (isAlias(node)) {
      if (++aliases > MAX_ALIAS_COUNT) throw new Error('excessive alias count')
      return convert(node.resolve(doc as Parameters<typeof node.resolve>[0]))
    }
    const n = node as Node
    let plain: unknown
    if (isMap(n)) {
      const out: Record<string, unknown> = {}
      for (const pair of n.items) out[String(isScalar(pair.key) ? pair.key.value : pair.key)] = convert(pair.value)
      plain = out
    } else if (isSeq(n)) plain = n.items.map(convert)
    else plain = isScalar(n) ? n.value : null
    if (n?.tag === undefined || !n.tag.startsWith('!')) return plain
    const long = INTRINSIC_TAGS[n.tag]
    if (long === undefined) {
      unknownTags.push({ offset: n.range?.[0] ?? 0, tag: n.tag })
      return plain
    }
    if (long === 'Fn::GetAtt' && typeof plain === 'string') {
      const dot = plain.indexOf('.')
      return { [long]: dot === -1 ? [plain] : [plain.slice(0, dot), plain.slice(dot + 1)] }
    }
    return { [long]: plain }
  }
  return convert(root)
}

function childOf(node: unknown, segment: string | number): unknown {
  if (isMap(node)) {
    const pair = node.items.find((p) => scalarKey(p.key) === String(segment))
    if (!pair) return undefined
    // `Key:` with no value has an empty null scalar (or none at all); point at the key then.
    const value = pair.value as Node | null
    return value?.range && value.range[1] > value.range[0] ? value : pair.key
  }
  if (isSeq(node) && typeof segment === 'number') return node.items[segment] ?? undefined
  return undefined
}

function scalarKey(key: unknown): string | undefined {
  return isScalar(key) ? String(key.value) : undefined
}

function toPosition(lineCounter: LineCounter, offset: number): Position {
  const pos = lineCounter.linePos(offset)
  return { line: pos.line, column: pos.col }
}

function offsetToPosition(text: string, offset: number): Position {
  let line = 1
  let lineStart = 0
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++
      lineStart = i + 1
    }
  }
  return { line, column: offset - lineStart + 1 }
}

/**
 * Finds the first JSON syntax error and its offset. `JSON.parse` reports
 * positions differently across Node versions (and sometimes not at all), so a
 * small scanner gives every user the same line:column.
 */
export function findJsonSyntaxError(text: string): { offset: number; message: string } | undefined {
  try {
    JSON.parse(text)
    return undefined
  } catch {
    // Fall through to locate the error precisely.
  }
  let i = 0
  const fail = (message: string): never => {
    throw { offset: i, message }
  }
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++
  }
  const describe = () => (i >= text.length ? 'end of input' : `'${text[i]}'`)
  const literal = (word: string) => {
    if (text.startsWith(word, i)) i += word.length
    else fail(`invalid JSON: unexpected ${describe()}`)
  }
  const string = () => {
    i++
    while (i < text.length) {
      const c = text.charCodeAt(i)
      if (c === 34) {
        i++
        return
      }
      if (c < 0x20) fail('invalid JSON: control character in string')
      if (c === 92) {
        const e = text[i + 1]
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) fail('invalid JSON: bad \\u escape')
          i += 6
          continue
        }
        if (e === undefined || !'"\\/bfnrt'.includes(e)) fail('invalid JSON: bad escape in string')
        i += 2
        continue
      }
      i++
    }
    fail('invalid JSON: unterminated string')
  }
  const value = (): void => {
    ws()
    const c = text[i]
    if (c === '{') {
      i++
      ws()
      if (text[i] === '}') {
        i++
        return
      }
      for (;;) {
        ws()
        if (text[i] !== '"') fail(`invalid JSON: expected a property name in double quotes, found ${describe()}`)
        string()
        ws()
        if (text[i] !== ':') fail(`invalid JSON: expected ':' after a property name, found ${describe()}`)
        i++
        value()
        ws()
        if (text[i] === ',') {
          i++
          continue
        }
        if (text[i] === '}') {
          i++
          return
        }
        fail(`invalid JSON: expected ',' or '}', found ${describe()}`)
      }
    }
    if (c === '[') {
      i++
      ws()
      if (text[i] === ']') {
        i++
        return
      }
      for (;;) {
        value()
        ws()
        if (text[i] === ',') {
          i++
          continue
        }
        if (text[i] === ']') {
          i++
          return
        }
        fail(`invalid JSON: expected ',' or ']', found ${describe()}`)
      }
    }
    if (c === '"') {
      string()
      return
    }
    const word = c === 't' ? 'true' : c === 'f' ? 'false' : c === 'n' ? 'null' : undefined
    if (word !== undefined) {
      literal(word)
      return
    }
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400))
    if (m && m[0].length > 0) {
      i += m[0].length
      return
    }
    fail(`invalid JSON: unexpected ${describe()}`)
  }
  try {
    value()
    ws()
    if (i < text.length) fail(`invalid JSON: unexpected ${describe()} after the end of the document`)
  } catch (err) {
    if (err instanceof Error) return { offset: 0, message: 'invalid JSON: nested too deeply' }
    return err as { offset: number; message: string }
  }
  // JSON.parse refused what the scanner accepts (should not happen): report at the start.
  return { offset: 0, message: 'invalid JSON' }
}
