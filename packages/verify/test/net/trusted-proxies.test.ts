import assert from 'node:assert/strict'
import { test } from 'node:test'
import { compileTrustedProxies } from '../../src/net/trusted-proxies.js'

test('IPv4 and IPv6 CIDRs and single addresses', () => {
  const trusted = compileTrustedProxies(['10.0.0.0/8', '192.168.1.7', 'fd00::/8', '::1'])
  for (const ok of ['10.1.2.3', '10.255.255.255', '192.168.1.7', 'fd12::1', '::1']) assert.ok(trusted(ok), ok)
  for (const no of ['11.0.0.1', '192.168.1.8', 'fe80::1', '::2', '127.0.0.1']) assert.ok(!trusted(no), no)
})

test('IPv4-mapped IPv6 peers match IPv4 ranges', () => {
  const trusted = compileTrustedProxies(['10.0.0.0/8'])
  assert.ok(trusted('::ffff:10.1.2.3'))
  assert.ok(trusted('::FFFF:10.1.2.3'))
  assert.ok(!trusted('::ffff:11.1.2.3'))
})

test('zone ids are ignored; missing or junk addresses are untrusted', () => {
  const trusted = compileTrustedProxies(['fe80::/10'])
  assert.ok(trusted('fe80::1%eth0'))
  for (const no of [undefined, '', 'localhost', '10.0.0.1:80', '::ffff:junk']) assert.ok(!trusted(no), String(no))
})

test('invalid lists are TypeErrors', () => {
  for (const bad of [
    [],
    ['10.0.0.0/33'],
    ['::/129'],
    ['10.0.0.0/'],
    ['10.0.0.0/8x'],
    ['10.0.0.0/-1'],
    ['10.0.0.0/0008'],
    ['host.example'],
    [42],
  ]) {
    assert.throws(() => compileTrustedProxies(bad as string[]), TypeError, JSON.stringify(bad))
  }
})
