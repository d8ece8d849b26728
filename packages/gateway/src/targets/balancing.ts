import type { LoadBalancingAlgorithm } from '../config/model.js'

/** What a balancer needs to know about a target: its in-flight request count. */
export interface Balanced {
  /** Requests sent to the target whose response has not completed yet. */
  readonly outstanding: number
}

/**
 * Picks one target out of the routable set of a target group. Implementations
 * keep only a cursor; the candidate list is owned by the target group and may
 * change between calls (health transitions), so a balancer never caches it.
 */
export interface Balancer {
  /** One of `candidates`, or undefined when the list is empty. */
  pick<T extends Balanced>(candidates: readonly T[]): T | undefined
}

/** A source of uniformly distributed numbers in [0, 1), `Math.random` by default. */
export type RandomSource = () => number

/** A target's share of requests now, in [0, 1]: below 1 while it ramps up in slow start. */
export type WeightOf = (target: Balanced) => number

/**
 * Round robin: each call takes the next candidate in list order.
 *
 * With `weightOf` (slow start), a candidate of weight `w < 1` is taken on a
 * fraction `w` of its turns, deterministically: each turn adds `w` to its
 * credit, and it is taken when the credit reaches 1. Per round every other
 * candidate is taken once and it `w` times, so its requests grow linearly
 * with its weight. When no candidate in a whole round earns a turn (all are
 * ramping, none far enough yet), the next in turn is taken, so a request is
 * never refused for want of a full-weight target.
 *
 * @example
 * const rr = new RoundRobinBalancer()
 * rr.pick([a, b]) // a, then b, then a …
 */
export class RoundRobinBalancer implements Balancer {
  #next = 0
  readonly #weightOf: WeightOf | undefined
  readonly #credit = new WeakMap<Balanced, number>()

  constructor(weightOf?: WeightOf) {
    this.#weightOf = weightOf
  }

  pick<T extends Balanced>(candidates: readonly T[]): T | undefined {
    const n = candidates.length
    if (n === 0) return undefined
    if (this.#next >= n) this.#next = 0
    const weightOf = this.#weightOf
    if (weightOf === undefined) return candidates[this.#next++]
    const first = this.#next
    for (let k = 0; k < n; k++) {
      const c = candidates[this.#next]!
      this.#next = this.#next + 1 >= n ? 0 : this.#next + 1
      const w = weightOf(c)
      if (w >= 1) {
        this.#credit.delete(c)
        return c
      }
      const credit = (this.#credit.get(c) ?? 0) + w
      if (credit >= 1) {
        this.#credit.set(c, credit - 1)
        return c
      }
      this.#credit.set(c, credit)
    }
    this.#next = first + 1 >= n ? 0 : first + 1
    return candidates[first]
  }
}

/**
 * Least outstanding requests: the candidate with the fewest in-flight
 * requests; ties are broken round robin (the scan starts at a rotating
 * cursor and keeps the first minimum it meets), as ALB does.
 */
export class LeastOutstandingRequestsBalancer implements Balancer {
  #start = 0

  pick<T extends Balanced>(candidates: readonly T[]): T | undefined {
    const n = candidates.length
    if (n === 0) return undefined
    if (this.#start >= n) this.#start = 0
    const start = this.#start++
    let best = candidates[start]!
    for (let k = 1; k < n && best.outstanding > 0; k++) {
      const c = candidates[(start + k) % n]!
      if (c.outstanding < best.outstanding) best = c
    }
    return best
  }
}

/**
 * `weighted_random`. ALB's variant weighs targets by their observed anomalies
 * (with `load_balancing.algorithm.anomaly_mitigation`); Portcullis does not
 * model anomaly detection, so every target weighs the same and this is a
 * uniform random choice.
 */
export class WeightedRandomBalancer implements Balancer {
  readonly #random: RandomSource

  constructor(random: RandomSource = Math.random) {
    this.#random = random
  }

  pick<T extends Balanced>(candidates: readonly T[]): T | undefined {
    const n = candidates.length
    if (n === 0) return undefined
    return candidates[Math.floor(this.#random() * n)]
  }
}

/**
 * The balancer for a target group's `load_balancing.algorithm.type`;
 * `weightOf` (slow start) applies to round robin, the only algorithm ALB
 * allows slow start with.
 *
 * @example
 * const balancer = createBalancer('least_outstanding_requests')
 */
export function createBalancer(
  algorithm: LoadBalancingAlgorithm,
  random?: RandomSource,
  weightOf?: WeightOf,
): Balancer {
  switch (algorithm) {
    case 'round_robin':
      return new RoundRobinBalancer(weightOf)
    case 'least_outstanding_requests':
      return new LeastOutstandingRequestsBalancer()
    case 'weighted_random':
      return new WeightedRandomBalancer(random)
  }
}

/**
 * A weighted choice among a fixed list (target groups of a weighted
 * `ForwardConfig`). Weights are 0..999; an entry with weight 0 is never
 * chosen unless every weight is 0, in which case entries are chosen with
 * equal probability rather than failing every request.
 *
 * @example
 * const choice = new WeightedChoice([{ item: 'blue', weight: 9 }, { item: 'green', weight: 1 }])
 * choice.pick() // 'blue' about 90% of the time
 */
export class WeightedChoice<T> {
  readonly #items: readonly T[]
  /** Cumulative weights; `#cumulative[i]` is the sum of weights 0..i. */
  readonly #cumulative: Float64Array
  readonly #total: number
  readonly #random: RandomSource

  constructor(entries: readonly { readonly item: T; readonly weight: number }[], random: RandomSource = Math.random) {
    if (entries.length === 0) throw new Error('a weighted choice needs at least one entry')
    const total = entries.reduce((sum, e) => sum + e.weight, 0)
    const equal = total === 0
    this.#items = entries.map((e) => e.item)
    this.#cumulative = new Float64Array(entries.length)
    let sum = 0
    for (let i = 0; i < entries.length; i++) {
      sum += equal ? 1 : entries[i]!.weight
      this.#cumulative[i] = sum
    }
    this.#total = sum
    this.#random = random
  }

  /** One item, each with probability weight / total. */
  pick(): T {
    const x = this.#random() * this.#total
    const c = this.#cumulative
    let i = 0
    // Lists are at most five long (ALB's quota), so a linear scan beats a binary search.
    while (i < c.length - 1 && x >= c[i]!) i++
    return this.#items[i]!
  }
}
