import assert from 'node:assert/strict'
import { test } from 'node:test'
import { SlowStart } from '../../src/targets/slow-start.js'

test('a ramp is linear over the duration, on the clock it is given, and ends by itself', () => {
  let now = 1_000
  const ramp = new SlowStart<object>(30_000, () => now)
  const target = {}
  const other = {}
  assert.equal(ramp.weight(target), 1, 'not ramping: full share')
  ramp.enter(target)
  assert.equal(ramp.weight(target), 0)
  assert.equal(ramp.since(target), 1_000)
  now += 7_500
  assert.equal(ramp.weight(target), 0.25)
  now += 7_500
  assert.equal(ramp.weight(target), 0.5)
  assert.ok(ramp.ramping(target))
  assert.ok(!ramp.ramping(other))
  now += 15_000
  assert.equal(ramp.weight(target), 1)
  assert.equal(ramp.since(target), undefined, 'left slow start')
  assert.ok(!ramp.ramping(target))
})

test('leaving ends a ramp; entering at a given time carries one over', () => {
  let now = 0
  const ramp = new SlowStart<object>(60_000, () => now)
  const target = {}
  ramp.enter(target)
  now = 30_000
  ramp.leave(target)
  assert.equal(ramp.weight(target), 1)
  ramp.enter(target, 0)
  assert.equal(ramp.weight(target), 0.5)
})
