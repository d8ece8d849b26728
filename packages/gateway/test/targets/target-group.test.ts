import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type { TargetGroupModel } from '../../src/config/model.js'
import {
  type Target,
  TargetGroupRegistry,
  type TargetGroupRuntime,
  type TargetHealthChange,
} from '../../src/targets/target-group.js'
import { groupModel, secret, startUpstream, type TestServer } from '../proxy/fixtures.js'

/** Upstreams whose `/health` answers 200 or 500 on demand. */
const upstreams: TestServer[] = []
const healthy = new Map<number, boolean>()

before(async () => {
  for (let i = 0; i < 3; i++) {
    const u = await startUpstream((_req, res) => {
      res.statusCode = healthy.get(u.port) === false ? 500 : 200
      res.end()
    })
    upstreams.push(u)
  }
})
after(async () => {
  await Promise.all(upstreams.map((u) => u.close()))
})

function setHealthy(...flags: boolean[]): void {
  for (const [i, f] of flags.entries()) healthy.set(upstreams[i]!.port, f)
}

function model(n: number, overrides: Partial<TargetGroupModel> = {}): TargetGroupModel {
  return groupModel({
    targets: upstreams.slice(0, n).map((u) => ({ id: '127.0.0.1', port: u.port })),
    healthCheck: { ...groupModel().healthCheck, healthyThresholdCount: 2, unhealthyThresholdCount: 2 },
    ...overrides,
  })
}

const ctx = (cookies: Record<string, string> = {}) => ({
  cookies: new Map(Object.entries(cookies)),
  responseCookies: [] as string[],
})

async function withGroup(
  m: TargetGroupModel,
  fn: (g: TargetGroupRuntime, changes: TargetHealthChange[]) => Promise<void>,
): Promise<void> {
  const changes: TargetHealthChange[] = []
  const registry = TargetGroupRegistry.create([m], { stickinessSecret: secret, onHealthChange: (c) => changes.push(c) })
  try {
    await fn(registry.get(m.arn)!, changes)
  } finally {
    await registry.destroy()
  }
}

const ports = (targets: readonly Target[]) => targets.map((t) => t.port)

describe('target group routing', () => {
  test('an empty group selects nothing', async () => {
    await withGroup(groupModel(), async (g) => {
      assert.equal(g.select(ctx()), undefined)
    })
  })

  test('fails open while every target is initial, then routes to healthy targets only', async () => {
    setHealthy(true, false)
    await withGroup(model(2), async (g, changes) => {
      assert.deepEqual(ports(g.routable), ports(g.targets))
      assert.equal(g.healthyCount, 0)
      await g.checkAll()
      // Target 0 passed once (initial → healthy); target 1 failed once (still initial).
      assert.deepEqual(ports(g.routable), [upstreams[0]!.port])
      for (let i = 0; i < 4; i++) assert.equal(g.select(ctx())!.port, upstreams[0]!.port)
      assert.deepEqual(
        changes.map((c) => [c.target, c.from, c.to]),
        [[`127.0.0.1:${upstreams[0]!.port}`, 'initial', 'healthy']],
      )
      assert.equal(changes[0]!.targetGroupArn, g.arn)
    })
  })

  test('fails open when every target is unhealthy', async () => {
    setHealthy(false, false)
    await withGroup(model(2), async (g) => {
      await g.checkAll()
      await g.checkAll()
      assert.equal(g.unhealthyCount, 2)
      assert.equal(g.healthyCount, 0)
      assert.deepEqual(ports(g.routable), ports(g.targets))
      const picked = new Set([1, 2, 3, 4].map(() => g.select(ctx())!.port))
      assert.equal(picked.size, 2)
    })
  })

  test('health checks disabled: every target is routable and counts as healthy', async () => {
    setHealthy(false, false)
    const m = model(2)
    await withGroup({ ...m, healthCheck: { ...m.healthCheck, enabled: false } }, async (g) => {
      await g.checkAll()
      assert.equal(g.healthyCount, 2)
      assert.deepEqual(
        g.targets.map((t) => t.health.state),
        ['unavailable', 'unavailable'],
      )
    })
  })

  test('a target registered twice counts once', async () => {
    const m = model(1)
    await withGroup({ ...m, targets: [...m.targets, ...m.targets] }, async (g) => {
      assert.equal(g.targets.length, 1)
    })
  })

  test('app_cookie stickiness requires a cookie name', () => {
    assert.throws(
      () =>
        TargetGroupRegistry.create(
          [model(1, { stickiness: { type: 'app_cookie', durationSeconds: 60, appCookieName: undefined } })],
          {
            stickinessSecret: secret,
          },
        ),
      /needs a cookie name/,
    )
  })
})

describe('slow start (slow_start.duration_seconds)', () => {
  /** Which upstream (0, 1, 2) each of `n` selections went to, counted. */
  function shares(g: TargetGroupRuntime, n: number): number[] {
    const counts = [0, 0, 0]
    for (let i = 0; i < n; i++) {
      const port = g.select(ctx())!.port
      counts[upstreams.findIndex((u) => u.port === port)]!++
    }
    return counts
  }

  test('a target that becomes healthy again ramps up linearly over the duration, on the clock the group is given', async () => {
    let now = 0
    setHealthy(true, true)
    const m = model(2, { slowStartSeconds: 30 })
    const registry = TargetGroupRegistry.create([m], { stickinessSecret: secret, elapsedMs: () => now })
    const g = registry.get(m.arn)!
    try {
      await g.checkAll()
      // Healthy at first start: one registration, no slow start.
      assert.deepEqual(shares(g, 20), [10, 10, 0])
      setHealthy(true, false)
      await g.checkAll()
      await g.checkAll()
      assert.equal(g.targets[1]!.health.state, 'unhealthy')
      setHealthy(true, true)
      await g.checkAll()
      await g.checkAll()
      assert.equal(g.targets[1]!.health.state, 'healthy')
      assert.equal(g.slowStartSince(g.targets[1]!), 0)
      assert.deepEqual(shares(g, 20), [20, 0, 0], 'weight 0 as it enters')
      now = 15_000
      // Weight 0.5: one request in three.
      assert.deepEqual(shares(g, 30), [20, 10, 0])
      now = 30_000
      assert.deepEqual(shares(g, 20), [10, 10, 0])
      assert.equal(g.slowStartSince(g.targets[1]!), undefined, 'out of slow start')
      // Unhealthy mid-ramp: it leaves slow start, and re-enters from nothing when healthy again.
      setHealthy(true, false)
      await g.checkAll()
      await g.checkAll()
      setHealthy(true, true)
      now = 40_000
      await g.checkAll()
      await g.checkAll()
      assert.equal(g.slowStartSince(g.targets[1]!), 40_000)
      now = 55_000
      setHealthy(true, false)
      await g.checkAll()
      await g.checkAll()
      assert.equal(g.slowStartSince(g.targets[1]!), undefined)
      setHealthy(true, true)
      now = 60_000
      await g.checkAll()
      await g.checkAll()
      assert.equal(g.slowStartSince(g.targets[1]!), 60_000)
    } finally {
      await registry.destroy()
    }
  })

  test('after a reload: a newly registered target ramps, a ramping one keeps its ramp, the others are at full share', async () => {
    let now = 0
    setHealthy(true, true, true)
    const m = model(1, { slowStartSeconds: 60 })
    const noChecks = { ...m.healthCheck, enabled: false }
    const first = TargetGroupRegistry.create([{ ...m, healthCheck: noChecks }], {
      stickinessSecret: secret,
      elapsedMs: () => now,
    })
    const twoTargets = model(2, { slowStartSeconds: 60, arn: m.arn, healthCheck: noChecks })
    const second = TargetGroupRegistry.create([twoTargets], {
      stickinessSecret: secret,
      previous: first,
      elapsedMs: () => now,
    })
    const g2 = second.get(m.arn)!
    now = 30_000
    const threeTargets = model(3, { slowStartSeconds: 60, arn: m.arn, healthCheck: noChecks })
    const third = TargetGroupRegistry.create([threeTargets], {
      stickinessSecret: secret,
      previous: second,
      elapsedMs: () => now,
    })
    const g3 = third.get(m.arn)!
    try {
      assert.equal(first.get(m.arn)!.slowStartSince(first.get(m.arn)!.targets[0]!), undefined)
      assert.equal(
        g2.slowStartSince(g2.targets[1]!),
        0,
        'registered by the reload, routable at once (no health checks)',
      )
      assert.deepEqual(
        g3.targets.map((t) => g3.slowStartSince(t)),
        [undefined, 0, 30_000],
      )
      // Weights 1, 0.5 and 0: upstream 1 gets one in three, upstream 2 none yet.
      assert.deepEqual(shares(g3, 30), [20, 10, 0])
    } finally {
      await Promise.all([first.destroy(), second.destroy(), third.destroy()])
    }
  })
})

describe('lb_cookie stickiness', () => {
  const lb = { stickiness: { type: 'lb_cookie' as const, durationSeconds: 3600, appCookieName: undefined } }

  test('sets AWSALB and AWSALBCORS and keeps the client on its target', async () => {
    setHealthy(true, true, true)
    await withGroup(model(3, lb), async (g) => {
      const first = ctx()
      const target = g.select(first)!
      assert.equal(first.responseCookies.length, 2)
      assert.match(first.responseCookies[0]!, /^AWSALB=[\w-]+; Expires=[^;]+ GMT; Path=\/$/)
      assert.match(first.responseCookies[1]!, /^AWSALBCORS=[\w-]+; Expires=[^;]+ GMT; Path=\/; SameSite=None; Secure$/)
      const value = first.responseCookies[0]!.split(';')[0]!.split('=')[1]!
      for (let i = 0; i < 6; i++) {
        const c = ctx({ AWSALB: value })
        assert.equal(g.select(c), target)
        // The expiry is refreshed on every response.
        assert.equal(c.responseCookies.length, 2)
      }
      // Cross-site requests carry only the CORS cookie.
      assert.equal(g.select(ctx({ AWSALBCORS: value })), target)
    })
  })

  test('a tampered cookie is ignored (balanced afresh, never an error)', async () => {
    await withGroup(model(3, lb), async (g) => {
      const c = ctx({ AWSALB: 'forged-value' })
      const target = g.select(c)!
      assert.ok(target)
      assert.ok(c.responseCookies[0]!.startsWith(`AWSALB=${target.lbCookieValue};`))
    })
  })

  test('a sticky target that turns unhealthy loses the client, who gets a new cookie', async () => {
    setHealthy(true, true, true)
    await withGroup(model(3, lb), async (g) => {
      await g.checkAll()
      const sticky = g.targets[1]!
      assert.equal(g.select(ctx({ AWSALB: sticky.lbCookieValue })), sticky)
      setHealthy(true, false, true)
      await g.checkAll()
      await g.checkAll()
      assert.equal(sticky.health.state, 'unhealthy')
      const c = ctx({ AWSALB: sticky.lbCookieValue })
      const moved = g.select(c)!
      assert.notEqual(moved, sticky)
      assert.ok(c.responseCookies[0]!.startsWith(`AWSALB=${moved.lbCookieValue};`))
    })
  })

  test('cookie values survive a reload and are the same for another registry with the same secret', () => {
    const m = model(2, lb)
    const a = TargetGroupRegistry.create([m], { stickinessSecret: secret })
    const b = TargetGroupRegistry.create([m], { stickinessSecret: secret })
    assert.deepEqual(
      a.get(m.arn)!.targets.map((t) => t.lbCookieValue),
      b.get(m.arn)!.targets.map((t) => t.lbCookieValue),
    )
    void a.destroy()
    void b.destroy()
  })
})

describe('app_cookie stickiness', () => {
  const app = { stickiness: { type: 'app_cookie' as const, durationSeconds: 600, appCookieName: 'SESSION' } }

  test('routes by AWSALBAPP-0 and moves the client when its target is unhealthy', async () => {
    setHealthy(true, true, true)
    await withGroup(model(3, app), async (g) => {
      await g.checkAll()
      assert.equal(g.stickiness?.appCookiePrefix, 'SESSION=')
      const c0 = ctx()
      g.select(c0)
      assert.deepEqual(c0.responseCookies, [], 'no AWSALBAPP until the application sets its cookie')
      const sticky = g.targets[2]!
      for (let i = 0; i < 4; i++) assert.equal(g.select(ctx({ 'AWSALBAPP-0': sticky.appCookieValue })), sticky)

      setHealthy(true, true, false)
      await g.checkAll()
      await g.checkAll()
      const c = ctx({ 'AWSALBAPP-0': sticky.appCookieValue })
      const moved = g.select(c)!
      assert.notEqual(moved, sticky)
      assert.equal(c.responseCookies.length, 4)
      assert.ok(c.responseCookies[0]!.startsWith(`AWSALBAPP-0=${moved.appCookieValue};`))
    })
  })

  test('a tampered AWSALBAPP-0 is ignored and not re-set', async () => {
    await withGroup(model(2, app), async (g) => {
      const c = ctx({ 'AWSALBAPP-0': g.targets[0]!.lbCookieValue })
      assert.ok(g.select(c))
      assert.deepEqual(c.responseCookies, [])
    })
  })
})

describe('registry', () => {
  test('carries health across a reload for unchanged targets; new targets start initial', async () => {
    setHealthy(true, true, true)
    const m1 = model(2)
    const first = TargetGroupRegistry.create([m1], { stickinessSecret: secret })
    await first.get(m1.arn)!.checkAll()
    const m2 = { ...m1, targets: upstreams.map((u) => ({ id: '127.0.0.1', port: u.port })) }
    const second = TargetGroupRegistry.create([m2], { stickinessSecret: secret, previous: first })
    try {
      const g = second.get(m2.arn)!
      assert.deepEqual(
        g.targets.map((t) => t.health.state),
        ['healthy', 'healthy', 'initial'],
      )
      // The new target waits for its first check before it receives traffic.
      assert.deepEqual(ports(g.routable), ports(g.targets.slice(0, 2)))
      assert.notEqual(g.targets[0]!.health, first.get(m1.arn)!.targets[0]!.health)
      assert.equal(second.groups.length, 1)
      assert.equal(second.get('arn:unknown'), undefined)
    } finally {
      await first.close()
      await second.close()
    }
  })

  test('start runs the first checks at once; logs transitions (the first healthy verdict at debug); close stops them', async () => {
    setHealthy(true)
    const m = model(1)
    const logs: { level: string; msg: string; fields: Record<string, unknown> }[] = []
    let seen!: () => void
    const changed = new Promise<void>((r) => (seen = r))
    const at = (level: string) => (fields: object, msg: string) => {
      logs.push({ level, msg, fields: fields as Record<string, unknown> })
      seen()
    }
    const logger = { debug: at('debug'), info: at('info'), warn: at('warn') }
    const registry = TargetGroupRegistry.create([m], {
      stickinessSecret: secret,
      logger: logger as never,
      healthCheckOverrides: { intervalMs: 60_000 },
    })
    registry.start()
    await changed
    await registry.close()
    assert.equal(logs[0]!.msg, 'target is healthy')
    assert.equal(logs[0]!.level, 'debug')
    assert.equal(logs[0]!.fields.targetGroupName, m.name)
    assert.equal(logs[0]!.fields.to, 'healthy')
  })
})
