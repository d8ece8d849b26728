import assert from 'node:assert/strict'
import { test } from 'node:test'
import { runQuickstart } from '../src/main.js'

test('the quickstart accepts the valid token and rejects the forged one and the missing one', async () => {
  const lines: string[] = []
  const outcomes = await runQuickstart((line) => lines.push(line))

  assert.deepEqual(
    outcomes.map(({ request, status }) => [request, status]),
    [
      ['valid token', 200],
      ['forged token (another load balancer)', 401],
      ['no token', 401],
    ],
  )
  assert.deepEqual(outcomes[0]?.body, { hello: 'alice@example.com', sub: 'alice' })
  assert.equal(outcomes[1]?.body['error'], 'ERR_SIGNER')
  assert.equal(outcomes[2]?.body['error'], 'ERR_MISSING_HEADER')

  const report = lines.join('\n')
  assert.match(report, /valid token +→ 200 accepted/)
  assert.match(report, /forged token \(another load balancer\) +→ 401 rejected +ERR_SIGNER/)
  assert.match(report, /no token +→ 401 rejected +ERR_MISSING_HEADER/)
})
