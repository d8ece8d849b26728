import assert from 'node:assert/strict'
import http from 'node:http'
import { after, before, describe, test } from 'node:test'
import { createForwardAction } from '../../src/actions/forward.js'
import type { ForwardAction } from '../../src/config/model.js'
import { TargetGroupRegistry } from '../../src/targets/target-group.js'
import { seeded } from '../fixtures/seeded-random.js'
import { signal } from '../fixtures/signal.js'
import {
  cookieHeader,
  groupModel,
  request,
  secret,
  startFront,
  startUpstream,
  type TestServer,
} from '../proxy/fixtures.js'

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

  test('least outstanding requests avoids the target that is still busy', async () => {
    const held: http.ServerResponse[] = []
    const holding = signal()
    const busy = await startUpstream((req, res) => {
      if (req.url === '/hold') {
        held.push(res)
        holding.fire()
      } else res.end('busy-target')
    })
    const idle = await startUpstream((_req, res) => res.end('idle-target'))
    const model = groupModel({
      algorithm: 'least_outstanding_requests',
      targets: [busy, idle].map((u) => ({ id: '127.0.0.1', port: u.port })),
    })
    const registry = TargetGroupRegistry.create([model], { stickinessSecret: secret })
    const front = await startFront(
      createForwardAction(forward([{ arn: model.arn, weight: 1 }]), registry, { stickinessSecret: secret }).run,
    )
    try {
      const hold = http.get(`${front.url}/hold`, { agent: false })
      hold.on('error', () => {})
      await holding.promise
      for (let i = 0; i < 4; i++) assert.equal((await request(front.url)).body, 'idle-target')
      held[0]!.end()
    } finally {
      await front.close()
      await registry.destroy()
      await busy.close()
      await idle.close()
    }
  })

  test('weighted ForwardConfig distributes by weight and never uses weight 0', async () => {
    const models = [0, 1, 2].map((i) => groupModel({ targets: [{ id: '127.0.0.1', port: upstreams[i % 2]!.port }] }))
    const registry = TargetGroupRegistry.create(models, { stickinessSecret: secret })
    const handler = createForwardAction(
      forward([
        { arn: models[0]!.arn, weight: 300 },
        { arn: models[1]!.arn, weight: 100 },
        { arn: models[2]!.arn, weight: 0 },
      ]),
      registry,
      { stickinessSecret: secret, random: seeded(11) },
    )
    const front = await startFront(handler.run)
    try {
      const n = 400
      for (let i = 0; i < n; i++) assert.equal((await request(front.url)).status, 200)
      const counts = models.map((m) => front.contexts.filter((c) => c.record.targetGroupArn === m.arn).length)
      assert.equal(counts[2], 0)
      // Chi-square with 1 degree of freedom against 3:1; p = 0.001 at 10.83.
      const chi = (counts[0]! - n * 0.75) ** 2 / (n * 0.75) + (counts[1]! - n * 0.25) ** 2 / (n * 0.25)
      assert.ok(chi < 10.83, `counts ${counts}`)
    } finally {
      await front.close()
      await registry.destroy()
    }
  })

  test('AWSALBTG pins the client to its target group, even after its weight drops to 0', async () => {
    const models = [0, 1].map((i) => groupModel({ targets: [{ id: '127.0.0.1', port: upstreams[i]!.port }] }))
    const registry = TargetGroupRegistry.create(models, { stickinessSecret: secret })
    const blueGreen = (blue: number, green: number) =>
      createForwardAction(
        forward(
          [
            { arn: models[0]!.arn, weight: blue },
            { arn: models[1]!.arn, weight: green },
          ],
          3600,
        ),
        registry,
        { stickinessSecret: secret },
      )
    let handler = blueGreen(1, 1)
    const front = await startFront((ctx) => handler.run(ctx))
    try {
      const first = await request(front.url)
      const setCookies = first.headers['set-cookie']!
      assert.match(setCookies[0]!, /^AWSALBTG=[\w-]+; Expires=[^;]+; Path=\/$/)
      assert.match(setCookies[1]!, /^AWSALBTGCORS=[\w-]+; Expires=[^;]+; Path=\/; SameSite=None; Secure$/)
      const pinned = first.headers['x-upstream']
      const cookie = cookieHeader(first.headers, ['AWSALBTG'])
      for (let i = 0; i < 8; i++) {
        const res = await request(front.url, { headers: { cookie } })
        assert.equal(res.headers['x-upstream'], pinned)
        assert.ok(
          res.headers['set-cookie']!.some((c) => c.startsWith('AWSALBTG=')),
          'expiry refreshed',
        )
      }
      // Shift all weight away from the pinned group: the pinned client stays.
      handler = pinned === 'a' ? blueGreen(0, 1) : blueGreen(1, 0)
      assert.equal((await request(front.url, { headers: { cookie } })).headers['x-upstream'], pinned)
      // A new client goes where the weight is; a forged cookie counts as none.
      const other = pinned === 'a' ? 'b' : 'a'
      assert.equal((await request(front.url)).headers['x-upstream'], other)
      const forged = await request(front.url, { headers: { cookie: 'AWSALBTG=forged' } })
      assert.equal(forged.status, 200)
      assert.equal(forged.headers['x-upstream'], other)
    } finally {
      await front.close()
      await registry.destroy()
    }
  })

  test('lb_cookie stickiness keeps a client on its target through the proxy', async () => {
    const model = groupModel({
      targets: upstreams.map((u) => ({ id: '127.0.0.1', port: u.port })),
      stickiness: { type: 'lb_cookie', durationSeconds: 120, appCookieName: undefined },
    })
    const registry = TargetGroupRegistry.create([model], { stickinessSecret: secret })
    const front = await startFront(
      createForwardAction(forward([{ arn: model.arn, weight: 1 }]), registry, { stickinessSecret: secret }).run,
    )
    try {
      const first = await request(front.url)
      const cookie = cookieHeader(first.headers, ['AWSALB'])
      assert.match(cookie, /^AWSALB=/)
      for (let i = 0; i < 6; i++) {
        assert.equal(
          (await request(front.url, { headers: { cookie } })).headers['x-upstream'],
          first.headers['x-upstream'],
        )
      }
    } finally {
      await front.close()
      await registry.destroy()
    }
  })

  test('refuses an action naming an unknown target group', () => {
    const registry = TargetGroupRegistry.create([], { stickinessSecret: secret })
    assert.throws(
      () => createForwardAction(forward([{ arn: 'arn:missing', weight: 1 }]), registry, { stickinessSecret: secret }),
      /unknown target group arn:missing/,
    )
    assert.throws(() => createForwardAction(forward([]), registry, { stickinessSecret: secret }), /no target group/)
  })
})
