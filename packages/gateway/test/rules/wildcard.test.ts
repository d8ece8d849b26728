import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import { compileWildcard } from '../../src/rules/wildcard.js'

/**
 * Reference semantics, written the obvious way: dynamic programming over
 * (pattern position, input position). Slow but clearly correct.
 */
function reference(pattern: string, input: string, caseInsensitive: boolean, escapes: boolean): boolean {
  type Token = { kind: 'star' } | { kind: 'any' } | { kind: 'char'; c: string }
  const tokens: Token[] = []
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!
    if (escapes && c === '\\' && i + 1 < pattern.length && '*?\\'.includes(pattern[i + 1]!)) {
      tokens.push({ kind: 'char', c: pattern[++i]! })
    } else if (c === '*') tokens.push({ kind: 'star' })
    else if (c === '?') tokens.push({ kind: 'any' })
    else tokens.push({ kind: 'char', c })
  }
  const fold = (s: string) => (caseInsensitive ? s.replace(/[A-Z]/g, (x) => x.toLowerCase()) : s)
  // dp[j] = tokens[0..i) match input[0..j)
  let dp = new Array<boolean>(input.length + 1).fill(false)
  dp[0] = true
  for (const token of tokens) {
    const next = new Array<boolean>(input.length + 1).fill(false)
    for (let j = 0; j <= input.length; j++) {
      if (token.kind === 'star') next[j] = dp[j]! || (j > 0 && next[j - 1]!)
      else if (j > 0 && dp[j - 1]) {
        next[j] = token.kind === 'any' || fold(token.c) === fold(input[j - 1]!)
      }
    }
    dp = next
  }
  return dp[input.length]!
}

describe('compileWildcard: ALB examples', () => {
  const hosts: [string, string, boolean][] = [
    ['*.example.com', 'www.example.com', true],
    ['*.example.com', 'a.b.example.com', true],
    ['*.example.com', 'example.com', false],
    ['*.example.com', 'WWW.EXAMPLE.COM', true],
    ['example.com', 'Example.Com', true],
    ['example.com', 'www.example.com', false],
    ['?.example.com', 'a.example.com', true],
    ['?.example.com', 'ab.example.com', false],
    ['www.example.*', 'www.example.org', true],
    ['*', '', true],
    ['*', 'anything', true],
  ]
  for (const [pattern, input, expected] of hosts) {
    test(`host ${pattern} vs ${input} -> ${expected}`, () => {
      assert.equal(compileWildcard(pattern, { caseInsensitive: true }).test(input), expected)
    })
  }

  const paths: [string, string, boolean][] = [
    ['/img/*', '/img/a.png', true],
    ['/img/*', '/img/', true],
    ['/img/*', '/img', false],
    ['/img/*', '/IMG/a.png', false],
    ['/api/v?/users', '/api/v1/users', true],
    ['/api/v?/users', '/api/v10/users', false],
    ['*.jpg', '/a/b/c.jpg', true],
    ['/a*b*c', '/abc', true],
    ['/a*b*c', '/axxbyyc', true],
    ['/a*b*c', '/axxcyyb', false],
    ['/a*b*c', '/abcabc', true],
    ['/a**b', '/ab', true],
    ['/x/*/y', '/x//y', true],
    ['/x/*/y', '/x/y', false],
  ]
  for (const [pattern, input, expected] of paths) {
    test(`path ${pattern} vs ${input} -> ${expected}`, () => {
      assert.equal(compileWildcard(pattern, { caseInsensitive: false }).test(input), expected)
    })
  }

  test('query-string escapes: \\* and \\? are literal, \\\\ is one backslash', () => {
    const star = compileWildcard('a\\*b', { caseInsensitive: true, escapes: true })
    assert.equal(star.test('a*b'), true)
    assert.equal(star.test('axb'), false)
    const question = compileWildcard('why\\?', { caseInsensitive: true, escapes: true })
    assert.equal(question.test('WHY?'), true)
    assert.equal(question.test('whyx'), false)
    const backslash = compileWildcard('a\\\\*', { caseInsensitive: true, escapes: true })
    assert.equal(backslash.test('a\\anything'), true)
    assert.equal(backslash.test('a*'), false)
    const other = compileWildcard('a\\b', { caseInsensitive: true, escapes: true })
    assert.equal(other.test('a\\b'), true)
    const trailing = compileWildcard('a\\', { caseInsensitive: true, escapes: true })
    assert.equal(trailing.test('a\\'), true)
  })

  test('without escapes a backslash is an ordinary character', () => {
    const m = compileWildcard('a\\*', { caseInsensitive: false })
    assert.equal(m.test('a\\xyz'), true)
    assert.equal(m.test('a*'), false)
  })

  test('case folding is ASCII only; other characters compare exactly', () => {
    const m = compileWildcard('café', { caseInsensitive: true })
    assert.equal(m.test('CAFé'), true)
    assert.equal(m.test('CAFÉ'), false)
  })

  test('keeps the configured pattern', () => {
    assert.equal(compileWildcard('/a/*', { caseInsensitive: false }).pattern, '/a/*')
  })
})

describe('compileWildcard: property tests against the reference matcher', () => {
  // Small alphabets make matches (and near misses) frequent.
  const patternChar = fc.constantFrom('a', 'b', 'A', '*', '?', '\\', '/')
  const inputChar = fc.constantFrom('a', 'b', 'A', 'B', '*', '?', '\\', '/')
  const pattern = fc.array(patternChar, { maxLength: 12 }).map((cs) => cs.join(''))
  const input = fc.array(inputChar, { maxLength: 24 }).map((cs) => cs.join(''))

  for (const caseInsensitive of [false, true]) {
    for (const escapes of [false, true]) {
      test(`agrees with the reference (caseInsensitive=${caseInsensitive}, escapes=${escapes})`, () => {
        fc.assert(
          fc.property(pattern, input, (p, s) => {
            const m = compileWildcard(p, { caseInsensitive, escapes })
            assert.equal(m.test(s), reference(p, s, caseInsensitive, escapes), `pattern ${p} input ${s}`)
          }),
          { numRuns: 3000 },
        )
      })
    }
  }

  test('a pattern built from the input always matches it', () => {
    fc.assert(
      fc.property(input, fc.array(fc.nat(), { maxLength: 4 }), (s, cuts) => {
        // Replace some characters with `?` and some runs with `*`: the input must still match.
        const chars = [...s].map((c) => (c === '*' || c === '?' || c === '\\' ? 'x' : c))
        const subject = chars.join('')
        let p = subject
        for (const cut of cuts) {
          if (p.length === 0) break
          const at = cut % p.length
          p = cut % 2 === 0 ? `${p.slice(0, at)}?${p.slice(at + 1)}` : `${p.slice(0, at)}*${p.slice(at + 1)}`
        }
        assert.equal(compileWildcard(p, { caseInsensitive: false }).test(subject), true)
      }),
      { numRuns: 2000 },
    )
  })
})

describe('compileWildcard: adversarial inputs', () => {
  test('a pattern that makes a backtracking matcher explode still answers', () => {
    // As a RegExp (^.*a.*a.*a.*a.*a.*b$) this takes O(n^6) steps on 16 KB of `a`s.
    const m = compileWildcard('*a*a*a*a*a*b', { caseInsensitive: true })
    const input = 'a'.repeat(16 * 1024)
    assert.equal(m.test(input), false)
    assert.equal(m.test(`${input}b`), true)
  })

  test('many `?` holes and a long input', () => {
    // The holed segment sits between two stars, so it is searched for at every position.
    const m = compileWildcard(`*${'?'.repeat(100)}x*`, { caseInsensitive: false })
    assert.equal(m.test('y'.repeat(64 * 1024)), false)
    assert.equal(m.test(`${'y'.repeat(64 * 1024)}x`), true)
    assert.equal(m.test(`x${'y'.repeat(64 * 1024)}`), false)
  })
})
