import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { modifyResponseHead } from '../../src/headers/response-headers.js'

describe('modifyResponseHead', () => {
  const mod = { set: [['x-frame-options', 'DENY']] as const, server: false }

  test('replaces a header the target sent, in any case, and drops Server; keeps repeats of the others', () => {
    assert.deepEqual(
      modifyResponseHead(
        ['Server', 'nginx', 'X-Frame-Options', 'ALLOWALL', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2'],
        mod,
      ),
      ['Set-Cookie', 'a=1', 'Set-Cookie', 'b=2', 'x-frame-options', 'DENY'],
    )
  })

  test('takes the object form of writeHead, array values as repeats, and none at all', () => {
    assert.deepEqual(
      modifyResponseHead({ server: 'awselb/2.0', 'set-cookie': ['a=1', 'b=2'], 'content-length': 0 }, mod),
      ['set-cookie', 'a=1', 'set-cookie', 'b=2', 'content-length', '0', 'x-frame-options', 'DENY'],
    )
    assert.deepEqual(modifyResponseHead(undefined, mod), ['x-frame-options', 'DENY'])
  })

  test('with Server on, a Server header stays', () => {
    assert.deepEqual(modifyResponseHead({ server: 'awselb/2.0' }, { set: [], server: true }), ['server', 'awselb/2.0'])
  })
})
