import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PortcullisVerifyError } from '../../src/errors.js'
import { CidrError, compileCidrMatcher, parseCidr } from '../../src/net/cidr.js'

test('CIDR blocks and bare addresses parse, with their family and whether a prefix was written', () => {
  assert.deepEqual(parseCidr('10.0.0.0/8'), { address: '10.0.0.0', prefix: 8, family: 'ipv4', hasPrefix: true })
  assert.deepEqual(parseCidr('2001:db8::/32'), { address: '2001:db8::', prefix: 32, family: 'ipv6', hasPrefix: true })
  assert.deepEqual(parseCidr('::1'), { address: '::1', prefix: 128, family: 'ipv6', hasPrefix: false })
  assert.deepEqual(parseCidr('0.0.0.0/0'), { address: '0.0.0.0', prefix: 0, family: 'ipv4', hasPrefix: true })
})

test('a bad address or prefix length is a CidrError that says which', () => {
  for (const [bad, reason] of [
    ['example.com/8', 'address'],
    ['', 'address'],
    ['10.0.0.0/8/8', 'prefix'],
    ['10.0.0.0/33', 'prefix'],
    ['::/129', 'prefix'],
    ['10.0.0.0/', 'prefix'],
    ['10.0.0.0/-1', 'prefix'],
    ['10.0.0.0/8x', 'prefix'],
    ['10.0.0.0/0008', 'prefix'],
  ] as const) {
    assert.throws(
      () => parseCidr(bad),
      (e: unknown) =>
        e instanceof CidrError && e instanceof PortcullisVerifyError && e.code === 'ERR_CIDR' && e.reason === reason,
      bad,
    )
  }
})

test('the matcher maps IPv4-mapped peers to IPv4 blocks and ignores zone ids', () => {
  const inside = compileCidrMatcher(['192.0.2.0/24', 'fe80::/10'].map(parseCidr))
  for (const yes of ['192.0.2.9', '::ffff:192.0.2.9', '::FFFF:192.0.2.9', 'fe80::1%eth0']) assert.ok(inside(yes), yes)
  for (const no of ['192.0.3.1', '::ffff:10.0.0.1', '2001:db8::1', 'localhost', '', undefined]) {
    assert.ok(!inside(no), String(no))
  }
})
