import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { pino } from 'pino'
import type { SharedStateModel } from '../../src/config/model.js'
import { GatewayError } from '../../src/core/errors.js'
import type { SharedStateDownMessage, SharedStateUpMessage } from '../../src/observability/diagnostics.js'
import { connectRedis, type RedisConnection, SharedStateUnavailable } from '../../src/shared/connection.js'
import { Capture } from '../fixtures/capture.js'
import { nextMessage } from '../fixtures/diagnostics.js'
import { waitFor } from '../fixtures/process.js'
import { startRedis, startRelay, startSilentServer, type TestRedis } from '../fixtures/redis.js'

function model(url: string, extra: Partial<SharedStateModel> = {}): SharedStateModel {
  const parsed = new URL(url)
  return {
    url,
    displayUrl: `${parsed.protocol}//${parsed.host}`,
    tls: parsed.protocol === 'rediss:',
    keyPrefix: 'test:',
    connectTimeoutMs: 1000,
    commandTimeoutMs: 200,
    ...extra,
  }
}

function capturedLogger() {
  const capture = new Capture()
  return { capture, logger: pino({ level: 'info' }, capture) }
}

/** Log lines whose msg contains `needle`. */
function lines(capture: Capture, needle: string): unknown[] {
  return capture.text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { msg: string })
    .filter((l) => l.msg.includes(needle))
}

describe('the shared-state connection', () => {
  let redis: TestRedis
  before(async () => {
    redis = await startRedis()
  })
  after(() => redis.stop())

  test('connects, prefixes every key, and closes', async () => {
    const { logger } = capturedLogger()
    const shared = await connectRedis(model(redis.url), { logger, caFile: undefined })
    try {
      await shared.run('set', (r) => r.set('k', 'v'))
      assert.equal(await shared.run('get', (r) => r.get('k')), 'v')
      assert.equal(shared.healthy, true)
    } finally {
      await shared.close()
    }
    const other = await connectRedis(model(redis.url, { keyPrefix: 'other:' }), { logger, caFile: undefined })
    const shorter = await connectRedis(model(redis.url, { keyPrefix: 'te' }), { logger, caFile: undefined })
    try {
      assert.equal(await other.run('get', (r) => r.get('k')), null, 'another prefix sees nothing')
      assert.equal(await shorter.run('get', (r) => r.get('st:k')), 'v', 'the key is test:k in Redis')
    } finally {
      await other.close()
      await shorter.close()
    }
  })

  test('a refused connection fails the start with ERR_SHARED_STATE, naming the URL but never the password', async () => {
    const { logger } = capturedLogger()
    const port = redis.port + 1 === 65536 ? 1 : redis.port + 1
    const url = `redis://user:hunter2@127.0.0.1:${port}`
    await assert.rejects(connectRedis(model(url), { logger, caFile: undefined }), (err: unknown) => {
      assert.ok(err instanceof GatewayError)
      assert.equal(err.code, 'ERR_SHARED_STATE')
      assert.match(err.message, new RegExp(`redis://127\\.0\\.0\\.1:${port}.*ECONNREFUSED`))
      assert.doesNotMatch(err.message, /hunter2/)
      return true
    })
  })

  test('a server that accepts and never answers fails the start within the connect timeout', async () => {
    const silent = await startSilentServer()
    try {
      const { logger } = capturedLogger()
      await assert.rejects(connectRedis(model(silent.url), { logger, caFile: undefined }), {
        name: 'GatewayError',
        code: 'ERR_SHARED_STATE',
        message: /accepted the connection but did not answer within 200 ms|timed out after 1000 ms/,
      })
    } finally {
      await silent.close()
    }
  })

  test('Redis killed: commands fail at once, one log line per outage, and it reconnects by itself', async () => {
    const { logger, capture } = capturedLogger()
    const shared = await connectRedis(model(redis.url), { logger, caFile: undefined })
    try {
      await redis.kill('SIGKILL')
      for (let i = 0; i < 20; i++) {
        await assert.rejects(
          shared.run('get', (r) => r.get('k')),
          (err: unknown) => err instanceof SharedStateUnavailable,
        )
      }
      await waitFor(() => lines(capture, 'unreachable').length > 0, 'the outage to be logged', 10_000)
      await redis.restart()
      await waitFor(
        async () => (await shared.run('ping', (r) => r.ping()).catch(() => '')) === 'PONG',
        'the connection to come back',
        15_000,
      )
      await waitFor(() => lines(capture, 'reachable again').length > 0, 'the recovery to be logged', 5000)
      assert.equal(lines(capture, 'unreachable').length, 1, 'one line for the whole outage')
      assert.equal(lines(capture, 'reachable again').length, 1)
    } finally {
      await shared.close()
    }
  })

  test('a Redis that stops answering: commands end at the command timeout, and it recovers', async () => {
    const relay = await startRelay(redis.port)
    const { logger, capture } = capturedLogger()
    let shared: RedisConnection | undefined
    try {
      shared = await connectRedis(model(relay.url), { logger, caFile: undefined })
      const s = shared
      relay.silent = true
      await assert.rejects(
        s.run('get', (r) => r.get('k')),
        (err: unknown) =>
          err instanceof SharedStateUnavailable && /timed out/i.test(String((err.cause as Error).message)),
      )
      await waitFor(() => lines(capture, 'unreachable').length > 0, 'the outage to be logged', 10_000)
      relay.silent = false
      await waitFor(
        async () => (await s.run('ping', (r) => r.ping()).catch(() => '')) === 'PONG',
        'answers again',
        15_000,
      )
    } finally {
      await shared?.close()
      await relay.close()
    }
  })

  test('an outage is published on portcullis:shared-state:down, its end on portcullis:shared-state:up', async () => {
    const relay = await startRelay(redis.port)
    const { logger } = capturedLogger()
    const ours = (m: { url: string }) => m.url === model(relay.url).displayUrl
    let shared: RedisConnection | undefined
    try {
      shared = await connectRedis(model(relay.url), { logger, caFile: undefined })
      const down = nextMessage<SharedStateDownMessage>('portcullis:shared-state:down', ours)
      relay.silent = true
      assert.match((await down).reason, /timed out/i)
      const up = nextMessage<SharedStateUpMessage>('portcullis:shared-state:up', ours)
      relay.silent = false
      assert.ok((await up).downForMs > 0)
      assert.equal(shared.healthy, true)
    } finally {
      await shared?.close()
      await relay.close()
    }
  })
})
