import assert from 'node:assert/strict'
import { lookup } from 'node:dns/promises'
import { test } from 'node:test'
import { promisify } from 'node:util'
import { insecureEndpointProblem, isLoopbackHost, lookupLocalhostAsLoopback } from '../../src/values/loopback.js'

test('loopback is 127.0.0.0/8, ::1 in any spelling, localhost and *.localhost', () => {
  for (const host of [
    '127.0.0.1',
    '127.8.9.10',
    '::1',
    '[::1]',
    '0:0:0:0:0:0:0:1',
    '::ffff:127.0.0.1',
    '[::ffff:7f00:1]',
    'localhost',
    'LOCALHOST',
    'localhost.',
    'idp.localhost',
    'a.b.localhost',
  ]) {
    assert.ok(isLoopbackHost(host), host)
  }
  for (const host of [
    '128.0.0.1',
    '::2',
    '0.0.0.0',
    '::',
    '::ffff:10.0.0.1',
    'localhost.example.com',
    'mylocalhost',
    '127.0.0.1.nip.io',
    'example.com',
    '',
  ]) {
    assert.ok(!isLoopbackHost(host), host)
  }
})

test('an IdP URL is https, or http on a loopback host under the opt-in', () => {
  const problem = (url: string, optIn: boolean) => insecureEndpointProblem(new URL(url), optIn)
  assert.equal(problem('https://idp.example.com/t', false), undefined)
  assert.equal(problem('http://idp.example.com/t', true), 'not-https')
  assert.equal(problem('ftp://127.0.0.1/t', true), 'not-https')
  assert.equal(problem('http://idp.localhost:9000/t', false), 'needs-opt-in')
  assert.equal(problem('http://idp.localhost:9000/t', true), undefined)
  assert.equal(problem('http://[::1]:9000/t', true), undefined)
})

test('*.localhost names resolve as localhost does, never through DNS', async () => {
  const resolve = promisify(lookupLocalhostAsLoopback) as (
    host: string,
    options: { all: true },
  ) => Promise<{ address: string }[]>
  const expected = (await lookup('localhost', { all: true })).map((a) => a.address).sort()
  const got = (await resolve('idp.LOCALHOST.', { all: true })).map((a) => a.address).sort()
  assert.deepEqual(got, expected)
  for (const address of got) assert.ok(isLoopbackHost(address), address)
})
