import assert from 'node:assert/strict'
import { test } from 'node:test'
import { newTraceRoot, traceIdFor } from '../../src/headers/trace-id.js'

const ROOT = /^1-[0-9a-f]{8}-[0-9a-f]{24}$/

test('a new root carries the epoch seconds in hex and 96 random bits', () => {
  const root = newTraceRoot(0x5759e988 * 1000)
  assert.match(root, ROOT)
  assert.equal(root.slice(2, 10), '5759e988')
  assert.notEqual(newTraceRoot(), newTraceRoot())
})

test('without a client value the load balancer makes a Root', () => {
  assert.match(traceIdFor(undefined), /^Root=1-[0-9a-f]{8}-[0-9a-f]{24}$/)
})

test("a client's well-formed Root is kept and Self is added; its own Self is replaced", () => {
  const client = 'Root=1-5759e988-bd862e3fe1be46a994272793;Self=1-00000000-000000000000000000000000;Sampled=1'
  const value = traceIdFor(client)
  const fields = value.split(';')
  assert.match(fields[0]!, /^Self=1-[0-9a-f]{8}-[0-9a-f]{24}$/)
  assert.notEqual(fields[0], 'Self=1-00000000-000000000000000000000000')
  assert.equal(fields[1], 'Root=1-5759e988-bd862e3fe1be46a994272793')
  assert.equal(fields[2], 'Sampled=1')
  assert.equal(fields.length, 3)
})

test('a malformed or oversized client value is replaced, not forwarded', () => {
  for (const bad of [
    'Root=evil\r\nX: y',
    'Root=1-zzzzzzzz-bd862e3fe1be46a994272793',
    'garbage',
    `Root=1-5759e988-bd862e3fe1be46a994272793;${'a=b;'.repeat(100)}`,
  ]) {
    const value = traceIdFor(bad)
    assert.match(value, /^Root=1-[0-9a-f]{8}-[0-9a-f]{24}$/, bad)
  }
})
