import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { RuleCompileError } from '../../src/values/errors.js'
import { captureGroupCount, compileRuleRegex } from '../../src/values/regex.js'

describe('compileRuleRegex', () => {
  test('searches (unanchored) unless the expression anchors itself', () => {
    assert.equal(compileRuleRegex('api').test('/v1/api/x'), true)
    assert.equal(compileRuleRegex('^api').test('/v1/api/x'), false)
    assert.equal(compileRuleRegex('^/v1/.*$').test('/v1/api/x'), true)
  })

  test('a leading (?i) makes it case-insensitive; otherwise it is case-sensitive', () => {
    assert.equal(compileRuleRegex('(?i)^/API$').test('/api'), true)
    assert.equal(compileRuleRegex('^/API$').test('/api'), false)
  })

  test('accepts the shapes routing expressions use', () => {
    for (const ok of [
      '^/api/v[0-9]+/users/([0-9a-f-]{36})$',
      '^(?:www\\.)?example\\.(com|org)$',
      '^/(en|fr|de)/(.*)$',
      '^/files/(?:[a-z]+/)?[^/]+\\.pdf$',
      '^mywebsite-(.+).com$',
      '[(*+)]+',
      '^/a{2,3}$',
      '(?<lang>[a-z]{2})/',
      '^/(?:x){1}(y*)$',
    ]) {
      assert.doesNotThrow(() => compileRuleRegex(ok), ok)
    }
  })

  const refused: [string, RegExp][] = [
    ['(?=a)b', /lookaheads/],
    ['(?!a)b', /lookaheads/],
    ['(?<=a)b', /lookbehinds/],
    ['(?<!a)b', /lookbehinds/],
    ['(a)\\1', /backreferences/],
    ['(?<n>a)\\k<n>', /backreferences/],
    ['\\p{L}+', /Unicode/],
    ['\\P{L}', /Unicode/],
    ['(?>a)', /atomic/],
    ['a*+', /possessive/],
    ['(?R)', /recursion/],
    ['(a+)+$', /repeated group/],
    ['(a|aa)*$', /repeated group/],
    ['((ab)*c)+', /repeated group/],
    ['(x*){5}', /repeated group/],
    ['(?:a{1,3}){2,}', /repeated group/],
    ['', /empty/],
    ['x'.repeat(1025), /longer than/],
    ['abc\\', /lone backslash/],
    ['a)', /unbalanced/],
    ['(', /invalid regular expression/],
    ['*a', /invalid regular expression/],
  ]
  for (const [pattern, message] of refused) {
    test(`refuses ${pattern.length > 40 ? `${pattern.slice(0, 20)}…` : JSON.stringify(pattern)}`, () => {
      assert.throws(
        () => compileRuleRegex(pattern),
        (e: unknown) => e instanceof RuleCompileError && message.test(e.message),
      )
    })
  }

  test('captureGroupCount', () => {
    assert.equal(captureGroupCount(compileRuleRegex('^a$')), 0)
    assert.equal(captureGroupCount(compileRuleRegex('^(a)(?:b)(c(d))$')), 3)
    assert.equal(captureGroupCount(compileRuleRegex('(?i)(x)|y')), 1)
  })
})
