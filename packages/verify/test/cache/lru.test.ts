import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { LruCache } from '../../src/cache/lru.js'

test('evicts the least recently used entry when full', () => {
  const lru = new LruCache<string, number>(2)
  lru.set('a', 1, Infinity)
  lru.set('b', 2, Infinity)
  assert.equal(lru.get('a', 0), 1) // a is now most recent
  lru.set('c', 3, Infinity)
  assert.equal(lru.get('b', 0), undefined)
  assert.equal(lru.get('a', 0), 1)
  assert.equal(lru.get('c', 0), 3)
  assert.equal(lru.size, 2)
})

test('an entry is gone from its expiry on', () => {
  const lru = new LruCache<string, number>(4)
  lru.set('a', 1, 100)
  assert.equal(lru.get('a', 99), 1)
  assert.equal(lru.get('a', 100), undefined)
  assert.equal(lru.size, 0, 'an expired entry is dropped when touched')
})

test('set replaces, delete and clear remove', () => {
  const lru = new LruCache<string, number>(2)
  lru.set('a', 1, Infinity)
  lru.set('a', 2, Infinity)
  assert.equal(lru.size, 1)
  assert.equal(lru.get('a', 0), 2)
  lru.delete('a')
  assert.equal(lru.get('a', 0), undefined)
  lru.set('b', 1, Infinity)
  lru.clear()
  assert.equal(lru.size, 0)
})

test('the size must be a positive integer', () => {
  for (const bad of [0, -1, 1.5, Number.NaN]) assert.throws(() => new LruCache(bad), RangeError)
})

test('set on a present key replaces its value and expiry and makes it the most recent', () => {
  const lru = new LruCache<string, number>(2)
  lru.set('a', 1, 10)
  lru.set('b', 2, Infinity)
  lru.set('a', 3, Infinity)
  lru.set('c', 4, Infinity)
  assert.equal(lru.get('b', 0), undefined, 'b was the least recent')
  assert.equal(lru.get('a', 100), 3, 'the new expiry applies')
  assert.equal(lru.size, 2)
})

test('behaves as a list-ordered reference model under any sequence of operations', () => {
  type Op =
    | { op: 'get'; key: number; now: number }
    | { op: 'set'; key: number; expiresAt: number }
    | { op: 'delete'; key: number }
    | { op: 'clear' }
  const key = fc.integer({ min: 0, max: 7 })
  const time = fc.integer({ min: 0, max: 20 })
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 4, arbitrary: fc.record({ op: fc.constant('get' as const), key, now: time }) },
    { weight: 4, arbitrary: fc.record({ op: fc.constant('set' as const), key, expiresAt: time }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('delete' as const), key }) },
    { weight: 1, arbitrary: fc.constant({ op: 'clear' as const }) },
  )
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 5 }), fc.array(op, { maxLength: 60 }), (max, ops) => {
      const lru = new LruCache<number, string>(max)
      // Least recent first.
      let model: Array<{ key: number; value: string; expiresAt: number }> = []
      ops.forEach((o, step) => {
        if (o.op === 'get') {
          const at = model.findIndex((e) => e.key === o.key)
          let expected: string | undefined
          if (at >= 0) {
            const [entry] = model.splice(at, 1)
            if (entry!.expiresAt > o.now) {
              model.push(entry!)
              expected = entry!.value
            }
          }
          assert.equal(lru.get(o.key, o.now), expected)
        } else if (o.op === 'set') {
          const value = `v${step}`
          model = model.filter((e) => e.key !== o.key)
          if (model.length >= max) model.shift()
          model.push({ key: o.key, value, expiresAt: o.expiresAt })
          lru.set(o.key, value, o.expiresAt)
        } else if (o.op === 'delete') {
          model = model.filter((e) => e.key !== o.key)
          lru.delete(o.key)
        } else {
          model = []
          lru.clear()
        }
        assert.equal(lru.size, model.length)
      })
      // The order too. Getting every entry least recent first keeps the order;
      // then, once full, each fresh key evicts exactly the next one.
      for (const entry of model) assert.equal(lru.get(entry.key, -1), entry.value)
      let fresh = 100
      for (let free = max - model.length; free > 0; free--) lru.set(fresh++, '', Infinity)
      for (const entry of model) {
        lru.set(fresh++, '', Infinity)
        assert.equal(lru.get(entry.key, -1), undefined)
      }
    }),
    { numRuns: 1000 },
  )
})
