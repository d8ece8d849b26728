import type { ConditionModel } from '../config/model.js'
import type { QueryScratch, RuleRequest } from './conditions.js'
import { type WildcardAnchor, wildcardAnchor } from './wildcard.js'

/**
 * An index of a listener's rules by the literal text their conditions pin,
 * so that matching visits only the rules that can match a request instead of
 * every rule (ALB's default quota is 100 rules per listener, raisable to
 * 1,000 and more).
 *
 * Each rule is filed under one of its conditions, the most selective that can
 * be indexed: a `host-header`, `path-pattern`, `http-header` or `query-string`
 * condition without RegexValues whose every value pins an exact value, a
 * prefix or a suffix ({@link wildcardAnchor}). A request then collects the
 * rules filed under its host, path, headers and query parameters from tries
 * walked once over each (folding ASCII where the condition does), plus the
 * rules that could not be filed. The candidates are a superset of the rules
 * that match: a rule whose conditions all hold satisfies the condition it is
 * filed under, so one of that condition's values matches a request value,
 * which therefore equals, starts or ends with the value's anchor. Matching
 * still runs every condition of every candidate, in priority order, so the
 * result is exactly that of evaluating every rule.
 */

/** A trie over character codes; rule lists are rule positions in ascending (priority) order. */
class TrieNode {
  children: Map<number, TrieNode> | undefined = undefined
  /** Rules with a value equal to the text ending here. */
  exact: number[] | undefined = undefined
  /** Rules with a value starting (forward trie) or ending (reverse trie) with the text ending here. */
  partial: number[] | undefined = undefined

  child(code: number): TrieNode {
    this.children ??= new Map()
    let next = this.children.get(code)
    if (next === undefined) {
      next = new TrieNode()
      this.children.set(code, next)
    }
    return next
  }
}

/** Appends `position` unless it is already the last entry (one rule may file several values in one place). */
function file(list: number[] | undefined, position: number): number[] {
  if (list === undefined) return [position]
  if (list[list.length - 1] !== position) list.push(position)
  return list
}

function foldAscii(code: number): number {
  return code >= 65 && code <= 90 ? code + 32 : code
}

/** The index of one request value (the host, the path, one header, query keys or values). */
class ValueIndex {
  private readonly forward = new TrieNode()
  private readonly reverse = new TrieNode()

  constructor(private readonly fold: boolean) {}

  /** Files the rule at `position` under one of its condition's anchors. */
  add(anchor: WildcardAnchor, position: number): void {
    const { text } = anchor
    if (anchor.kind === 'suffix') {
      let node = this.reverse
      for (let i = text.length - 1; i >= 0; i--) node = node.child(text.charCodeAt(i))
      node.partial = file(node.partial, position)
      return
    }
    let node = this.forward
    for (let i = 0; i < text.length; i++) node = node.child(text.charCodeAt(i))
    if (anchor.kind === 'exact') node.exact = file(node.exact, position)
    else node.partial = file(node.partial, position)
  }

  /** Adds to `out` the rule lists filed under values that `input` equals, starts with or ends with. */
  collect(input: string, out: Candidates): void {
    const fold = this.fold
    let node: TrieNode | undefined = this.forward
    let i = 0
    for (; i < input.length; i++) {
      const code = input.charCodeAt(i)
      node = node.children?.get(fold ? foldAscii(code) : code)
      if (node === undefined) break
      if (node.partial !== undefined) out.add(node.partial)
    }
    if (node !== undefined && node.exact !== undefined) out.add(node.exact)
    node = this.reverse
    for (let j = input.length - 1; j >= 0; j--) {
      const code = input.charCodeAt(j)
      node = node.children?.get(fold ? foldAscii(code) : code)
      if (node === undefined) break
      if (node.partial !== undefined) out.add(node.partial)
    }
  }
}

/**
 * The rule lists one request collected, merged lazily in priority order.
 * Reused from one request to the next (matching is synchronous).
 */
export class Candidates {
  private readonly lists: (readonly number[])[] = []
  private readonly cursors: number[] = []
  private count = 0

  /** Forgets the previous request's lists. */
  reset(): void {
    this.count = 0
  }

  /** Adds a list of rule positions (ascending) that can match this request. */
  add(list: readonly number[]): void {
    this.lists[this.count] = list
    this.cursors[this.count] = 0
    this.count++
  }

  /** The lowest rule position not yet returned, or -1 when every list is exhausted. */
  next(): number {
    const { lists, cursors, count } = this
    let min = -1
    for (let k = 0; k < count; k++) {
      const list = lists[k]!
      const c = cursors[k]!
      if (c < list.length && (min < 0 || list[c]! < min)) min = list[c]!
    }
    if (min >= 0) {
      // Every list holding `min` moves past it, so no rule is returned twice.
      for (let k = 0; k < count; k++) if (lists[k]![cursors[k]!] === min) cursors[k]!++
    }
    return min
  }
}

/** One condition's anchors, and how selective they are (the shortest anchor decides; exact values are best). */
interface Filing {
  readonly index: 'host' | 'path' | 'query-key' | 'query-value' | `header:${string}`
  readonly anchors: readonly WildcardAnchor[]
  readonly score: number
}

function filingOf(
  index: Filing['index'],
  anchors: readonly (WildcardAnchor | undefined)[],
  extra: number,
): Filing | undefined {
  if (anchors.length === 0) return undefined
  let score = Number.POSITIVE_INFINITY
  for (const anchor of anchors) {
    if (anchor === undefined) return undefined
    score = Math.min(score, anchor.kind === 'exact' ? 1_000_000 : anchor.text.length)
  }
  return { index, anchors: anchors as WildcardAnchor[], score: score + extra }
}

/** How a condition could be filed; undefined when it cannot (RegexValues, or a value pinning nothing). */
function filings(condition: ConditionModel): Filing[] {
  switch (condition.field) {
    case 'host-header':
      if (condition.regexValues.length > 0) return []
      return [
        filingOf(
          'host',
          condition.values.map((v) => wildcardAnchor(v, { caseInsensitive: true })),
          0,
        ),
      ].filter((f) => f !== undefined)
    case 'path-pattern':
      if (condition.regexValues.length > 0) return []
      // Every path starts with `/`, which tells nothing apart.
      return [
        filingOf(
          'path',
          condition.values.map((v) => wildcardAnchor(v, { caseInsensitive: false })),
          -1,
        ),
      ].filter((f) => f !== undefined)
    case 'http-header':
      if (condition.regexValues.length > 0) return []
      return [
        filingOf(
          `header:${condition.headerName.toLowerCase()}`,
          condition.values.map((v) => wildcardAnchor(v, { caseInsensitive: true })),
          0,
        ),
      ].filter((f) => f !== undefined)
    case 'query-string': {
      // A pair matches one parameter by its value and, when given, its key:
      // each pair is filed under its value's anchor, or else under its key's.
      const options = { caseInsensitive: true, escapes: true }
      const values = condition.values.map((p) => wildcardAnchor(p.value, options))
      const keys = condition.values.map((p) => (p.key === undefined ? undefined : wildcardAnchor(p.key, options)))
      const byValue = filingOf('query-value', values, 0)
      const byKey = filingOf('query-key', keys, 0)
      return [byValue, byKey].filter((f) => f !== undefined)
    }
    default:
      return []
  }
}

/** The compiled index of a rule set. */
export class RuleIndex {
  private host: ValueIndex | undefined = undefined
  private path: ValueIndex | undefined = undefined
  private queryKey: ValueIndex | undefined = undefined
  private queryValue: ValueIndex | undefined = undefined
  /** Per header name (lower-case): an array, iterated per request without an iterator. */
  private readonly headers: { readonly name: string; readonly index: ValueIndex }[] = []
  /** Rules filed nowhere: candidates for every request. */
  private readonly unfiled: number[] = []
  /** Number of rules filed in a trie; 0 means the index cannot narrow anything. */
  filed = 0

  /**
   * @param rules Each rule's conditions, in priority order (the default rule excluded).
   */
  constructor(rules: readonly (readonly ConditionModel[])[]) {
    rules.forEach((conditions, position) => {
      let best: Filing | undefined
      for (const condition of conditions) {
        for (const f of filings(condition)) if (best === undefined || f.score > best.score) best = f
      }
      if (best === undefined) {
        this.unfiled.push(position)
        return
      }
      const index = this.valueIndex(best.index)
      for (const anchor of best.anchors) index.add(anchor, position)
      this.filed++
    })
  }

  private valueIndex(name: Filing['index']): ValueIndex {
    switch (name) {
      case 'host':
        this.host ??= new ValueIndex(true)
        return this.host
      case 'path':
        this.path ??= new ValueIndex(false)
        return this.path
      case 'query-key':
        this.queryKey ??= new ValueIndex(true)
        return this.queryKey
      case 'query-value':
        this.queryValue ??= new ValueIndex(true)
        return this.queryValue
      default: {
        const header = name.slice('header:'.length)
        let entry = this.headers.find((h) => h.name === header)
        if (entry === undefined) {
          entry = { name: header, index: new ValueIndex(true) }
          this.headers.push(entry)
        }
        return entry.index
      }
    }
  }

  /**
   * Fills `out` with the rule lists that can match `req`: the same values the
   * conditions test (the host without port, the path as received, each
   * instance of a header, each percent-decoded query key and value).
   */
  collect(req: RuleRequest, scratch: QueryScratch, out: Candidates): void {
    out.reset()
    if (this.unfiled.length > 0) out.add(this.unfiled)
    if (this.host !== undefined && req.host !== undefined) this.host.collect(req.host, out)
    if (this.path !== undefined) this.path.collect(req.path, out)
    for (let h = 0; h < this.headers.length; h++) {
      const { name, index } = this.headers[h]!
      const raw = req.rawHeaders
      if (raw !== undefined) {
        for (let i = 0; i + 1 < raw.length; i += 2) {
          if (equalsLowerAscii(raw[i]!, name)) index.collect(raw[i + 1]!, out)
        }
        continue
      }
      const value = req.headers[name]
      if (typeof value === 'string') index.collect(value, out)
      else if (value !== undefined) for (const v of value) index.collect(v, out)
    }
    if ((this.queryKey !== undefined || this.queryValue !== undefined) && req.query.length > 0) {
      scratch.load(req.query)
      for (let i = 0; i < scratch.count; i++) {
        this.queryKey?.collect(scratch.keys[i]!, out)
        this.queryValue?.collect(scratch.values[i]!, out)
      }
    }
  }
}

/** ASCII case-insensitive equality against an already lower-case `lower`. */
function equalsLowerAscii(value: string, lower: string): boolean {
  if (value.length !== lower.length) return false
  for (let i = 0; i < value.length; i++) if (foldAscii(value.charCodeAt(i)) !== lower.charCodeAt(i)) return false
  return true
}
