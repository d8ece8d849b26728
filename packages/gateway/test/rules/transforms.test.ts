import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { RuleTransformError } from '../../src/rules/errors.js'
import { applyRewrite, applyTransforms, compileTransforms } from '../../src/rules/transforms.js'
import { RuleCompileError } from '../../src/values/errors.js'
import { compileRewrite } from '../../src/values/rewrite.js'

describe('compileRewrite / applyRewrite', () => {
  test('AWS host-header example: ^mywebsite-(.+).com$ -> internal.dev.$1.myweb.com', () => {
    const r = compileRewrite('^mywebsite-(.+).com$', 'internal.dev.$1.myweb.com', 'T')
    assert.equal(applyRewrite(r, 'mywebsite-example.com'), 'internal.dev.example.myweb.com')
    assert.equal(applyRewrite(r, 'other.com'), undefined)
  })

  test('AWS url example: strip a prefix', () => {
    const r = compileRewrite('^/api/(.+)$', '/$1', 'T')
    assert.equal(applyRewrite(r, '/api/users/7'), '/users/7')
  })

  test('only the first match is replaced; the rest of the input is kept', () => {
    const r = compileRewrite('o', '0', 'T')
    assert.equal(applyRewrite(r, '/foo/boo'), '/f0o/boo')
  })

  test('replacement syntax: $0, braced group numbers, $$, unmatched groups, stray $', () => {
    assert.equal(applyRewrite(compileRewrite('b+', '[$0]', 'T'), 'abbc'), 'a[bb]c')
    // biome-ignore lint/suspicious/noTemplateCurlyInString: ALB's replacement syntax, not a template
    assert.equal(applyRewrite(compileRewrite('(a)(b)', '${2}${1}0', 'T'), 'ab'), 'ba0')
    assert.equal(applyRewrite(compileRewrite('x', '$$1', 'T'), 'x'), '$1')
    assert.equal(applyRewrite(compileRewrite('(a)|(b)', '<$2>', 'T'), 'a'), '<>')
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal that must survive the rewrite
    assert.equal(applyRewrite(compileRewrite('x', 'cost: $ 5 ${x}', 'T'), 'x'), 'cost: $ 5 ${x}')
    assert.equal(applyRewrite(compileRewrite('x', "$& $` $'", 'T'), 'x'), "$& $` $'")
  })

  test('a reference to a missing group is a compile error', () => {
    assert.throws(
      () => compileRewrite('^(a)$', '$2', 'Transforms[0]'),
      (e: unknown) => e instanceof RuleCompileError && e.field === 'Transforms[0].Replace',
    )
  })

  test('an invalid expression is a compile error located at Regex', () => {
    assert.throws(
      () => compileRewrite('(a+)+', 'x', 'Transforms[1]'),
      (e: unknown) => e instanceof RuleCompileError && e.field === 'Transforms[1].Regex',
    )
  })
})

describe('compileTransforms / applyTransforms', () => {
  const both = compileTransforms([
    { type: 'host-header-rewrite', regex: '^(.+)\\.example\\.com$', replace: '$1.example.org' },
    { type: 'url-rewrite', regex: '^/dp/([A-Za-z0-9]+)/?$', replace: '/product.php?id=$1' },
  ])

  test('rewrites host and URL; the URL result is split into path and query', () => {
    assert.deepEqual(applyTransforms(both, 'shop.example.com', '/dp/B09G3HRMVB', ''), {
      host: 'shop.example.org',
      path: '/product.php',
      query: 'id=B09G3HRMVB',
    })
  })

  test('no match: the request is unchanged', () => {
    assert.deepEqual(applyTransforms(both, 'example.net', '/cart', 'a=1'), {
      host: 'example.net',
      path: '/cart',
      query: 'a=1',
    })
  })

  test('url-rewrite sees the query and may keep or drop it', () => {
    const keep = compileTransforms([{ type: 'url-rewrite', regex: '^/old/', replace: '/new/' }])
    assert.deepEqual(applyTransforms(keep, 'h', '/old/x', 'q=1'), { host: 'h', path: '/new/x', query: 'q=1' })
    const drop = compileTransforms([{ type: 'url-rewrite', regex: '^/old/([^?]*).*$', replace: '/new/$1' }])
    assert.deepEqual(applyTransforms(drop, 'h', '/old/x', 'q=1'), { host: 'h', path: '/new/x', query: '' })
  })

  test('percent-escapes are kept as sent', () => {
    const t = compileTransforms([{ type: 'url-rewrite', regex: '^/svc(/.*)$', replace: '$1' }])
    assert.equal(applyTransforms(t, 'h', '/svc/items/10%3A30', '').path, '/items/10%3A30')
  })

  test('the rewritten host is lower-cased; a missing host is left alone', () => {
    const t = compileTransforms([{ type: 'host-header-rewrite', regex: '^.*$', replace: 'Internal.Example.COM' }])
    assert.equal(applyTransforms(t, 'x.test', '/', '').host, 'internal.example.com')
    assert.equal(applyTransforms(t, undefined, '/', '').host, undefined)
  })

  test('a match that yields an invalid host or URL is a RuleTransformError (ALB: 500)', () => {
    const badHost = compileTransforms([{ type: 'host-header-rewrite', regex: '^(.*)$', replace: '$1/evil' }])
    assert.throws(() => applyTransforms(badHost, 'a.test', '/', ''), RuleTransformError)
    const emptyHost = compileTransforms([{ type: 'host-header-rewrite', regex: '^.*$', replace: '' }])
    assert.throws(() => applyTransforms(emptyHost, 'a.test', '/', ''), RuleTransformError)
    const relative = compileTransforms([{ type: 'url-rewrite', regex: '^/', replace: '' }])
    assert.throws(() => applyTransforms(relative, 'a.test', '/x', ''), RuleTransformError)
    const space = compileTransforms([{ type: 'url-rewrite', regex: '^/x', replace: '/a b' }])
    assert.throws(() => applyTransforms(space, 'a.test', '/x', ''), RuleTransformError)
    const fragment = compileTransforms([{ type: 'url-rewrite', regex: '^/x', replace: '/a#b' }])
    assert.throws(() => applyTransforms(fragment, 'a.test', '/x', ''), RuleTransformError)
  })

  test('an IPv6 literal is a valid rewritten host', () => {
    const t = compileTransforms([{ type: 'host-header-rewrite', regex: '^.*$', replace: '[::1]' }])
    assert.equal(applyTransforms(t, 'a.test', '/', '').host, '[::1]')
  })

  test('at most one transform of each type', () => {
    assert.throws(
      () =>
        compileTransforms([
          { type: 'url-rewrite', regex: 'a', replace: 'b' },
          { type: 'url-rewrite', regex: 'c', replace: 'd' },
        ]),
      (e: unknown) => e instanceof RuleCompileError && e.field === 'Transforms[1]',
    )
    assert.throws(
      () =>
        compileTransforms([
          { type: 'host-header-rewrite', regex: 'a', replace: 'b' },
          { type: 'host-header-rewrite', regex: 'c', replace: 'd' },
        ]),
      RuleCompileError,
    )
  })
})
