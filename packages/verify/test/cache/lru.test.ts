import assert from 'node:assert/strict'
import { test } from 'node:test'
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
