import { type FieldPath, formatPath } from '../document.js'
import type { AttributeFile } from '../schema.js'
import { inRange } from './checks.js'
import type { BaseContext } from './context.js'

/**
 * A resource's `Attributes` (`[{ Key, Value }]`, as `Modify*Attributes`
 * takes them): each key at most once, typed reads that report a bad value
 * at the value and fall back to ALB's default.
 */
export class Attributes {
  readonly #ctx: BaseContext
  readonly #list: readonly AttributeFile[]
  readonly #path: FieldPath
  readonly #values = new Map<string, string>()

  constructor(ctx: BaseContext, list: readonly AttributeFile[] | undefined, path: FieldPath) {
    this.#ctx = ctx
    this.#list = list ?? []
    this.#path = path
    const seen = new Map<string, number>()
    this.#list.forEach((attribute, i) => {
      const first = seen.get(attribute.Key)
      if (first !== undefined) {
        ctx.report.error(
          [...path, i, 'Key'],
          `attribute ${attribute.Key} is already set by ${formatPath([...path, first])}`,
        )
      }
      seen.set(attribute.Key, i)
      this.#values.set(attribute.Key, String(attribute.Value))
    })
  }

  /** Where the value of `key` is in the file (the list itself when the key is absent). */
  pathOf(key: string): FieldPath {
    const i = this.#list.findIndex((a) => a.Key === key)
    return i >= 0 ? [...this.#path, i, 'Value'] : this.#path
  }

  string(key: string): string | undefined {
    return this.#values.get(key)
  }

  bool(key: string, fallback: boolean): boolean {
    const value = this.#values.get(key)
    if (value === undefined) return fallback
    if (value === 'true' || value === 'false') return value === 'true'
    this.#ctx.report.error(this.pathOf(key), `${key} must be "true" or "false", got "${value}"`)
    return fallback
  }

  int(key: string, fallback: number, range: readonly [number, number]): number {
    const value = this.#values.get(key)
    if (value === undefined) return fallback
    const n = /^\d+$/.test(value) ? Number(value) : Number.NaN
    return inRange(this.#ctx, this.pathOf(key), n, range[0], range[1], key) ? n : fallback
  }

  oneOf<T extends string>(key: string, allowed: readonly T[], fallback: T): T {
    const value = this.#values.get(key)
    if (value === undefined) return fallback
    if ((allowed as readonly string[]).includes(value)) return value as T
    this.#ctx.report.error(this.pathOf(key), `${key} must be one of ${allowed.join(', ')}, got "${value}"`)
    return fallback
  }

  /** Every attribute as given, for `validate`'s report. */
  raw(): Record<string, string> {
    return Object.fromEntries(this.#values)
  }
}
