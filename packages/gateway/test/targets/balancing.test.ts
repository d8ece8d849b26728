import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  createBalancer,
  LeastOutstandingRequestsBalancer,
  RoundRobinBalancer,
  WeightedChoice,
  WeightedRandomBalancer,
} from '../../src/targets/balancing.js'
import { seeded } from '../fixtures/seeded-random.js'

interface T {
  name: string
  outstanding: number
}
const targets = (...names: string[]): T[] => names.map((name) => ({ name, outstanding: 0 }))

/** Pearson's chi-square statistic of observed counts against expected proportions. */
function chiSquare(observed: number[], expected: number[]): number {
  const n = observed.reduce((a, b) => a + b, 0)
  return observed.reduce((sum, o, i) => sum + (o - n * expected[i]!) ** 2 / (n * expected[i]!), 0)
}

describe('round robin', () => {
  test('cycles in list order and adapts when the list shrinks', () => {
    const rr = new RoundRobinBalancer()
    const list = targets('a', 'b', 'c')
    assert.deepEqual(
      [1, 2, 3, 4, 5].map(() => rr.pick(list)!.name),
      ['a', 'b', 'c', 'a', 'b'],
    )
    const shorter = list.slice(0, 1)
    assert.equal(rr.pick(shorter)!.name, 'a')
    assert.equal(rr.pick([]), undefined)
  })

  test('with weights (slow start): a candidate of weight w is taken on w of its turns, the others keep their order', () => {
    const list = targets('a', 'b', 'c')
    const counts = (weight: number, picks: number) => {
      const rr = new RoundRobinBalancer((t) => ((t as T).name === 'c' ? weight : 1))
      const seen = { a: 0, b: 0, c: 0 } as Record<string, number>
      for (let i = 0; i < picks; i++) seen[rr.pick(list)!.name]!++
      return seen
    }
    // Per round a and b once each, c `weight` times: c's share is weight / (2 + weight).
    assert.deepEqual(counts(0, 300), { a: 150, b: 150, c: 0 })
    assert.deepEqual(counts(0.25, 225), { a: 100, b: 100, c: 25 })
    assert.deepEqual(counts(0.5, 250), { a: 100, b: 100, c: 50 })
    assert.deepEqual(counts(1, 300), { a: 100, b: 100, c: 100 })
    const rr = new RoundRobinBalancer((t) => ((t as T).name === 'b' ? 0 : 1))
    assert.deepEqual(
      [1, 2, 3, 4].map(() => rr.pick(list)!.name),
      ['a', 'c', 'a', 'c'],
    )
  })

  test('with weights: when every candidate ramps from nothing, requests still go round', () => {
    const rr = new RoundRobinBalancer(() => 0)
    const list = targets('a', 'b')
    assert.deepEqual(
      [1, 2, 3, 4].map(() => rr.pick(list)!.name),
      ['a', 'b', 'a', 'b'],
    )
  })
})

describe('least outstanding requests', () => {
  test('picks the target with the fewest in-flight requests', () => {
    const lor = new LeastOutstandingRequestsBalancer()
    const list = targets('a', 'b', 'c')
    list[0]!.outstanding = 3
    list[1]!.outstanding = 1
    list[2]!.outstanding = 2
    for (let i = 0; i < 5; i++) assert.equal(lor.pick(list)!.name, 'b')
  })

  test('breaks ties round robin', () => {
    const lor = new LeastOutstandingRequestsBalancer()
    const list = targets('a', 'b', 'c')
    assert.deepEqual(
      [1, 2, 3, 4].map(() => lor.pick(list)!.name),
      ['a', 'b', 'c', 'a'],
    )
    list[1]!.outstanding = 5
    // a and c tie at 0; b is never chosen.
    const picks = [1, 2, 3, 4].map(() => lor.pick(list)!.name)
    assert.ok(!picks.includes('b'))
    assert.ok(picks.includes('a') && picks.includes('c'))
    assert.equal(lor.pick([]), undefined)
  })
})

describe('weighted random', () => {
  test('is uniform over targets (equal weights)', () => {
    const wr = new WeightedRandomBalancer(seeded(42))
    const list = targets('a', 'b', 'c', 'd')
    const counts = [0, 0, 0, 0]
    const n = 40_000
    for (let i = 0; i < n; i++) counts[list.indexOf(wr.pick(list)!)]!++
    // 3 degrees of freedom: p = 0.001 at 16.27.
    assert.ok(chiSquare(counts, [0.25, 0.25, 0.25, 0.25]) < 16.27, `counts ${counts}`)
    assert.equal(wr.pick([]), undefined)
  })

  test('createBalancer maps every algorithm', () => {
    assert.ok(createBalancer('round_robin') instanceof RoundRobinBalancer)
    assert.ok(createBalancer('least_outstanding_requests') instanceof LeastOutstandingRequestsBalancer)
    assert.ok(createBalancer('weighted_random') instanceof WeightedRandomBalancer)
  })
})

describe('weighted choice (ForwardConfig)', () => {
  test('draws each entry with probability weight / total', () => {
    const choice = new WeightedChoice(
      [
        { item: 'blue', weight: 70 },
        { item: 'green', weight: 20 },
        { item: 'canary', weight: 10 },
      ],
      seeded(7),
    )
    const counts = { blue: 0, green: 0, canary: 0 }
    const n = 50_000
    for (let i = 0; i < n; i++) counts[choice.pick() as keyof typeof counts]++
    // 2 degrees of freedom: p = 0.001 at 13.82.
    assert.ok(chiSquare([counts.blue, counts.green, counts.canary], [0.7, 0.2, 0.1]) < 13.82, JSON.stringify(counts))
  })

  test('maps the unit interval exactly onto cumulative weights', () => {
    let x = 0
    const choice = new WeightedChoice(
      [
        { item: 'a', weight: 1 },
        { item: 'b', weight: 3 },
      ],
      () => x,
    )
    const at = (v: number): string => {
      x = v
      return choice.pick()
    }
    assert.equal(at(0), 'a')
    assert.equal(at(0.2499), 'a')
    assert.equal(at(0.25), 'b')
    assert.equal(at(0.9999), 'b')
  })

  test('never draws a weight-0 entry', () => {
    const rand = seeded(1)
    const choice = new WeightedChoice(
      [
        { item: 'zero-first', weight: 0 },
        { item: 'a', weight: 1 },
        { item: 'zero-mid', weight: 0 },
        { item: 'b', weight: 1 },
        { item: 'zero-last', weight: 0 },
      ],
      rand,
    )
    const drawn = new Set<string>()
    for (let i = 0; i < 10_000; i++) drawn.add(choice.pick())
    assert.deepEqual([...drawn].sort(), ['a', 'b'])
  })

  test('all weights 0 → every entry equally likely', () => {
    const choice = new WeightedChoice(
      [
        { item: 'a', weight: 0 },
        { item: 'b', weight: 0 },
      ],
      seeded(3),
    )
    let a = 0
    const n = 20_000
    for (let i = 0; i < n; i++) if (choice.pick() === 'a') a++
    assert.ok(chiSquare([a, n - a], [0.5, 0.5]) < 10.83)
  })

  test('rejects an empty list', () => {
    assert.throws(() => new WeightedChoice([]), /at least one entry/)
  })
})
