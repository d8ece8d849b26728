import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { createForwardAction } from '../../src/actions/forward.js'
import type { ForwardAction } from '../../src/config/model.js'
import { TargetGroupRegistry } from '../../src/targets/target-group.js'
import { groupModel, request, secret, startFront, startUpstream, type TestServer } from '../proxy/fixtures.js'

function forward(groups: { arn: string; weight: number }[], stickiness?: number): ForwardAction {
  return {
    type: 'forward',
    order: 1,
    targetGroups: groups.map((g) => ({ targetGroupArn: g.arn, weight: g.weight })),
    stickiness: stickiness === undefined ? undefined : { durationSeconds: stickiness },
  }
}

describe('forward action', () => {
  const upstreams: TestServer[] = []
  const seen: { name: string; method: string; url: string; headers: Record<string, unknown> }[] = []

  before(async () => {
    for (const name of ['a', 'b']) {
      upstreams.push(
        await startUpstream((req, res) => {
          seen.push({ name, method: req.method!, url: req.url!, headers: req.headers })
          res.setHeader('x-upstream', name)
          res.end(`hello from ${name}`)
        }),
      )
    }
  })
  after(async () => {
    await Promise.all(upstreams.map((u) => u.close()))
  })

  test('forwards method, path, query and Host, and relays the response with record fields', async () => {
    const model = groupModel({ targets: [{ id: '127.0.0.1', port: upstreams[0]!.port }] })
    const registry = TargetGroupRegistry.create([model], { stickinessSecret: secret })
    const front = await startFront(
      createForwardAction(forward([{ arn: model.arn, weight: 1 }]), registry, { stickinessSecret: secret }).run,
    )
    try {
      seen.length = 0
      const res = await request(`${front.url}/some/path?x=1&y=%20`, {
        method: 'POST',
        body: 'payload',
        headers: { host: 'app.example.com:8080' },
      })
      assert.equal(res.status, 200)
      assert.equal(res.body, 'hello from a')
      assert.equal(res.headers['x-upstream'], 'a')
      assert.equal(seen[0]!.url, '/some/path?x=1&y=%20')
      assert.equal(seen[0]!.method, 'POST')
      assert.equal(seen[0]!.headers.host, 'app.example.com:8080')
      const record = front.contexts[0]!.record
      assert.equal(record.target, `127.0.0.1:${upstreams[0]!.port}`)
      assert.equal(record.targetGroupArn, model.arn)
      assert.equal(record.targetStatusCode, 200)
      assert.ok(record.targetProcessingTime >= 0)
    } finally {
      await front.close()
      await registry.destroy()
    }
  })

  test('round robin alternates between targets', async () => {
    const model = groupModel({ targets: upstreams.map((u) => ({ id: '127.0.0.1', port: u.port })) })
    const registry = TargetGroupRegistry.create([model], { stickinessSecret: secret })
    const front = await startFront(
      createForwardAction(forward([{ arn: model.arn, weight: 1 }]), registry, { stickinessSecret: secret }).run,
    )
    try {
      const names: string[] = []
      for (let i = 0; i < 6; i++) names.push((await request(front.url)).headers['x-upstream'] as string)
      assert.deepEqual(names, ['a', 'b', 'a', 'b', 'a', 'b'])
    } finally {
      await front.close()
      await registry.destroy()
    }
  })
})
