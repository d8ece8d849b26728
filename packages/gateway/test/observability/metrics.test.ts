import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { AggregatorRegistry, Counter, Histogram, Registry } from 'prom-client'
import { GatewayMetrics } from '../../src/observability/metrics.js'
import { SeededRandom } from '../fixtures/seeded-random.js'

/** The lines of one metric family in a text exposition. */
function family(text: string, name: string): string[] {
  return text.split('\n').filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
}

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

describe('request metrics', () => {
  test("counted through tallies, they read exactly as prom-client's own counters and histogram fed one request at a time", async () => {
    const metrics = new GatewayMetrics({ defaultMetrics: false })
    const reference = new Registry()
    const requestCount = new Counter({
      name: 'RequestCount',
      help: 'x',
      labelNames: ['listener', 'rule', 'target_group'],
      registers: [reference],
    })
    const elb = new Map(
      ['3XX', '4XX', '5XX', '500', '502', '503', '504'].map((c) => [
        c,
        new Counter({
          name: `HTTPCode_ELB_${c}_Count`,
          help: 'x',
          labelNames: ['listener', 'rule'],
          registers: [reference],
        }),
      ]),
    )
    const target = new Map(
      ['2XX', '3XX', '4XX', '5XX'].map((c) => [
        c,
        new Counter({
          name: `HTTPCode_Target_${c}_Count`,
          help: 'x',
          labelNames: ['target_group'],
          registers: [reference],
        }),
      ]),
    )
    const grpcRequests = new Counter({
      name: 'GrpcRequestCount',
      help: 'x',
      labelNames: ['listener', 'rule', 'target_group'],
      registers: [reference],
    })
    const byType = new Counter({
      name: 'portcullis_requests_by_type_total',
      help: 'x',
      labelNames: ['listener', 'type'],
      registers: [reference],
    })
    const responseTime = new Histogram({
      name: 'TargetResponseTime',
      help: 'x',
      labelNames: ['target_group'],
      buckets: BUCKETS,
      registers: [reference],
    })

    const rules = [
      ['listener/a', 'default', 'app'],
      ['listener/a', '10', '-'],
      ['listener/b', '5', 'app'],
      ['listener/b', '7', 'other'],
    ] as const
    const random = new SeededRandom(4242)
    for (let i = 0; i < 5000; i++) {
      const [listener, rule, group] = random.pick(rules)
      // A reload compiles the rule again: the same labels must land on the same counts.
      const tally = metrics.tally(listener, rule, group)
      const fromTarget = group !== '-' && random.next() < 0.7
      const status = fromTarget
        ? random.pick([200, 204, 301, 404, 500, 503])
        : random.pick([200, 301, 302, 400, 401, 460, 500, 502, 503, 504, 561])
      // Times on and around the bucket bounds, and "not measured" (-1).
      const seconds = random.next() < 0.1 ? -1 : random.pick([...BUCKETS, 0, 0.0004, 0.003, 0.7, 61, random.next()])
      const type = random.pick(['http', 'https', 'h2', 'grpcs', 'ws', 'wss'] as const)
      tally.count(status, fromTarget, seconds, type)

      requestCount.inc({ listener, rule, target_group: group })
      byType.inc({ listener, type })
      if (type === 'grpcs') grpcRequests.inc({ listener, rule, target_group: group })
      const cls = Math.floor(status / 100)
      if (fromTarget) {
        target.get(`${cls}XX`)!.inc({ target_group: group })
        if (seconds >= 0) responseTime.observe({ target_group: group }, seconds)
      } else if (cls >= 3) {
        elb.get(`${cls}XX`)!.inc({ listener, rule })
        if ([500, 502, 503, 504].includes(status)) elb.get(String(status))!.inc({ listener, rule })
      }
    }

    const ours = await metrics.registry.metrics()
    const theirs = await reference.metrics()
    const names = [
      'RequestCount',
      'GrpcRequestCount',
      'portcullis_requests_by_type_total',
      ...[...elb.keys()].map((c) => `HTTPCode_ELB_${c}_Count`),
      ...[...target.keys()].map((c) => `HTTPCode_Target_${c}_Count`),
      'TargetResponseTime_bucket',
      'TargetResponseTime_count',
    ]
    for (const name of names) {
      const expected = family(theirs, name).sort()
      assert.ok(expected.length > 0, `${name} was exercised`)
      assert.deepEqual(family(ours, name).sort(), expected, name)
    }
    // Sums are added up per rule first, then per target group: equal up to float rounding.
    const sums = (text: string) =>
      family(text, 'TargetResponseTime_sum')
        .sort()
        .map((line) => line.split(' ') as [string, string])
    const [ourSums, theirSums] = [sums(ours), sums(theirs)]
    assert.deepEqual(
      ourSums.map(([labels]) => labels),
      theirSums.map(([labels]) => labels),
    )
    ourSums.forEach(([, value], i) => {
      const expected = Number(theirSums[i]![1])
      assert.ok(Math.abs(Number(value) - expected) <= 1e-9 * expected, `${value} against ${expected}`)
    })
    assert.match(ours, /^# TYPE TargetResponseTime histogram$/m)
    // A second scrape reads the same, not twice as much.
    assert.equal(await metrics.registry.metrics(), ours)
  })

  test('the cluster primary sums the tallies of its workers', async () => {
    const workers = [new GatewayMetrics({ defaultMetrics: false }), new GatewayMetrics({ defaultMetrics: false })]
    workers[0]!.tally('listener/a', 'default', 'app').count(200, true, 0.002, 'https')
    workers[1]!.tally('listener/a', 'default', 'app').count(200, true, 0.2, 'grpcs')
    workers[1]!.tally('listener/a', 'default', 'app').count(503, false, -1, 'grpcs')
    const aggregated = AggregatorRegistry.aggregate(
      await Promise.all(workers.map((w) => w.registry.getMetricsAsJSON())),
    )
    const text = await aggregated.metrics()
    assert.deepEqual(family(text, 'RequestCount'), [
      'RequestCount{listener="listener/a",rule="default",target_group="app"} 3',
    ])
    assert.deepEqual(family(text, 'GrpcRequestCount'), [
      'GrpcRequestCount{listener="listener/a",rule="default",target_group="app"} 2',
    ])
    assert.deepEqual(family(text, 'TargetResponseTime_count'), ['TargetResponseTime_count{target_group="app"} 2'])
    assert.ok(
      family(text, 'TargetResponseTime_bucket').includes('TargetResponseTime_bucket{le="0.0025",target_group="app"} 1'),
    )
    assert.ok(
      family(text, 'TargetResponseTime_bucket').includes('TargetResponseTime_bucket{le="0.25",target_group="app"} 2'),
    )
    assert.deepEqual(family(text, 'HTTPCode_ELB_503_Count'), [
      'HTTPCode_ELB_503_Count{listener="listener/a",rule="default"} 1',
    ])
  })
})
