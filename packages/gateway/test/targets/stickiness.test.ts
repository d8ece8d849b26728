import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, test } from 'node:test'
import {
  appendAppCookies,
  StickyCookieWriter,
  stickyCookieOf,
  stickyValue,
} from '../../src/targets/stickiness/cookies.js'

const secret = randomBytes(32)
const arn = 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/app/0123456789abcdef'

describe('sticky values', () => {
  test('are stable for the same secret, purpose, group and target', () => {
    assert.equal(
      stickyValue(secret, 'lb_cookie', arn, '10.0.0.1\u00008080'),
      stickyValue(secret, 'lb_cookie', arn, '10.0.0.1\u00008080'),
    )
  })

  test('differ by target, group, purpose and secret, and reveal nothing of the target', () => {
    // A target id long enough that a random value cannot contain it by chance (a one-letter id did, 1 run in 180).
    const target = '10.0.0.7:8080'
    const base = stickyValue(secret, 'lb_cookie', arn, target)
    assert.notEqual(stickyValue(secret, 'lb_cookie', arn, '10.0.0.8:8080'), base)
    assert.notEqual(stickyValue(secret, 'lb_cookie', `${arn}x`, target), base)
    assert.notEqual(stickyValue(secret, 'app_cookie', arn, target), base)
    assert.notEqual(stickyValue(randomBytes(32), 'lb_cookie', arn, target), base)
    assert.match(base, /^[A-Za-z0-9_-]{24}$/)
    // Neither the id nor its base64url encoding shows through.
    assert.ok(!base.includes(Buffer.from(target).toString('base64url').slice(0, 8)))
  })

  test('refuse a short secret', () => {
    assert.throws(() => stickyValue(Buffer.alloc(8), 'lb_cookie', arn), /at least 16 bytes/)
  })
})

describe('sticky cookie writer', () => {
  test('writes ALB attributes and the CORS twin', () => {
    const writer = new StickyCookieWriter('AWSALB', 'AWSALBCORS', 60)
    const out: string[] = []
    const now = Date.UTC(2026, 0, 1, 12, 0, 0)
    writer.append(out, 'v1', now)
    assert.deepEqual(out, [
      'AWSALB=v1; Expires=Thu, 01 Jan 2026 12:01:00 GMT; Path=/',
      'AWSALBCORS=v1; Expires=Thu, 01 Jan 2026 12:01:00 GMT; Path=/; SameSite=None; Secure',
    ])
  })

  test('refreshes the expiry with the clock', () => {
    const writer = new StickyCookieWriter('AWSALBTG', undefined, 86400)
    const now = Date.UTC(2026, 0, 1, 0, 0, 0)
    assert.equal(writer.expires(now), 'Fri, 02 Jan 2026 00:00:00 GMT')
    assert.equal(writer.expires(now + 999), 'Fri, 02 Jan 2026 00:00:00 GMT')
    assert.equal(writer.expires(now + 5000), 'Fri, 02 Jan 2026 00:00:05 GMT')
  })

  test('rejects durations outside 1..604800 s', () => {
    assert.throws(() => new StickyCookieWriter('AWSALB', undefined, 0), /1\.\.604800/)
    assert.throws(() => new StickyCookieWriter('AWSALB', undefined, 604801), /1\.\.604800/)
    assert.throws(() => new StickyCookieWriter('AWSALB', undefined, 1.5), /1\.\.604800/)
  })

  test('app cookies put the value in shard 0 and clear shards 1..3', () => {
    const writer = new StickyCookieWriter('AWSALBAPP-0', undefined, 10)
    const out: string[] = []
    appendAppCookies(out, writer, 'v', Date.UTC(2026, 0, 1))
    assert.equal(out.length, 4)
    assert.match(out[0]!, /^AWSALBAPP-0=v; Expires=Thu, 01 Jan 2026 00:00:10 GMT; Path=\/$/)
    assert.match(out[3]!, /^AWSALBAPP-3=_remove_; Expires=/)
  })

  test('reads the cookie or, for cross-site requests, its CORS twin', () => {
    assert.equal(stickyCookieOf(new Map([['AWSALB', 'x']]), 'AWSALB', 'AWSALBCORS'), 'x')
    assert.equal(stickyCookieOf(new Map([['AWSALBCORS', 'y']]), 'AWSALB', 'AWSALBCORS'), 'y')
    assert.equal(stickyCookieOf(new Map([['AWSALBCORS', 'y']]), 'AWSALB', undefined), undefined)
  })
})
