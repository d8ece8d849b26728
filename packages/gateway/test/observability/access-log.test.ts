import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { constants, mkdirSync, openSync, readFileSync, renameSync, statSync } from 'node:fs'
import { Socket } from 'node:net'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import { pino } from 'pino'
import {
  AccessLog,
  type AccessLogEntry,
  formatAlbLine,
  formatJsonLine,
  unwritten,
} from '../../src/observability/access-log.js'
import type { AccessLogWrittenMessage } from '../../src/observability/diagnostics.js'
import { startGateway } from '../../src/server/gateway.js'
import { ATHENA_ALB_REGEX } from '../fixtures/alb-log.js'
import { Capture } from '../fixtures/capture.js'
import { nextMessage } from '../fixtures/diagnostics.js'
import { SeededRandom } from '../fixtures/seeded-random.js'
import {
  configFromYaml,
  echoHandler,
  forwardYaml,
  send,
  silentLogger,
  startUpstream,
  stateDirectory,
} from '../fixtures/servers.js'

/** The next batch published for the log at `path`. */
const written = (path: string) =>
  nextMessage<AccessLogWrittenMessage>('portcullis:access-log:written', (m) => m.path === path)

describe('access log', () => {
  test("writes ALB's space-separated line with the matched rule, trace id, target and status", async () => {
    const upstream = await startUpstream(echoHandler)
    const dir = stateDirectory()
    const logPath = join(dir, 'access.log')
    const yaml = `${forwardYaml(0, upstream.port)}
Portcullis:
  AccessLog: { Format: alb, Path: ${logPath} }
`
    const gateway = await startGateway(configFromYaml(yaml, dir), { logger: silentLogger, admin: false })
    try {
      await send(`${gateway.listeners[0]!.url}logged?x=1`, { headers: { 'user-agent': 'test "agent"' } })
      await send(`${gateway.listeners[0]!.url}fixed`)
    } finally {
      await gateway.close({ deadlineMs: 1000 })
      await upstream.close()
    }
    const lines = readFileSync(logPath, 'utf8').trim().split('\n')
    assert.equal(lines.length, 2)
    const [forwarded, fixed] = lines as [string, string]
    assert.match(
      forwarded,
      /^http \d{4}-\d\d-\d\dT[\d:.]+Z app\/test-alb\/[0-9a-f]{16} 127\.0\.0\.1:\d+ 127\.0\.0\.1:\d+ /,
    )
    assert.match(
      forwarded,
      / 200 200 \d+ \d+ "GET http:\/\/127\.0\.0\.1:\d+\/logged\?x=1 HTTP\/1\.1" "test \\"agent\\"" /,
    )
    assert.match(forwarded, /"Root=1-[0-9a-f]{8}-[0-9a-f]{24}"/)
    assert.match(forwarded, / 0 \d{4}-[^ ]+ "forward" "-" "-" /)
    assert.match(fixed, / 200 - \d+ \d+ "GET /)
    assert.match(fixed, / 10 \d{4}-[^ ]+ "fixed-response" "-" "-" /)
    // The file's lines are those of ALB's delivery files (one formatter): Athena's table reads them.
    assert.match(fixed, ATHENA_ALB_REGEX)
    // conn_trace_id closes the line; request times are seconds with millisecond precision.
    assert.match(forwarded, / "-" "-" TID_[0-9a-f]{32}$/)
    const times = forwarded.split(' ').slice(5, 8)
    for (const time of times) assert.match(time, /^(?:-1|\d+(?:\.\d{1,3})?)$/, time)
  })

  test('request is METHOD protocol://host:port/uri HTTP/version, the port always written', async () => {
    const upstream = await startUpstream(echoHandler)
    const dir = stateDirectory()
    const logPath = join(dir, 'access.log')
    const yaml = `${forwardYaml(0, upstream.port)}
Portcullis:
  AccessLog: { Format: json, Path: ${logPath} }
`
    const gateway = await startGateway(configFromYaml(yaml, dir), { logger: silentLogger, admin: false })
    const port = gateway.listeners[0]!.port
    try {
      await send(`${gateway.listeners[0]!.url}a?b=1`, { headers: { host: 'www.example.com' } })
      await send(`${gateway.listeners[0]!.url}fixed`, { headers: { host: 'www.example.com:1234' } })
    } finally {
      await gateway.close({ deadlineMs: 1000 })
      await upstream.close()
    }
    const [first, second] = readFileSync(logPath, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>)
    assert.equal(first!.request, `GET http://www.example.com:${port}/a?b=1 HTTP/1.1`)
    assert.equal(second!.request, `GET http://www.example.com:${port}/fixed HTTP/1.1`)
    assert.match(String(first!.conn_trace_id), /^TID_[0-9a-f]{32}$/)
    // Two connections (send opens one per request), two ids.
    assert.notEqual(first!.conn_trace_id, second!.conn_trace_id)
    for (const entry of [first!, second!]) {
      const time = entry.request_processing_time as number
      assert.equal(Math.round(time * 1000) / 1000, time)
    }
  })
})

describe('access log batching', () => {
  test('a line reaches the file within a couple of seconds even when traffic stops', async () => {
    const upstream = await startUpstream(echoHandler)
    const dir = stateDirectory()
    const logPath = join(dir, 'access.log')
    const yaml = `${forwardYaml(0, upstream.port)}
Portcullis:
  AccessLog: { Format: json, Path: ${logPath} }
`
    const gateway = await startGateway(configFromYaml(yaml, dir), { logger: silentLogger, admin: false })
    try {
      // Measures the one-second flush: the batch is written by the timer, nothing else.
      const batch = written(logPath)
      await send(`${gateway.listeners[0]!.url}one`)
      await batch
      const entry = JSON.parse(readFileSync(logPath, 'utf8').trim()) as Record<string, unknown>
      assert.equal(entry.elb_status_code, 200)
      assert.equal(entry.target_status_code, 200)
      assert.equal(entry.actions_executed, 'forward')
      assert.match(String(entry.request), /^GET http:\/\/127\.0\.0\.1:\d+\/one HTTP\/1\.1$/)
    } finally {
      await gateway.close({ deadlineMs: 1000 })
      await upstream.close()
    }
  })
})

describe('access log flush', () => {
  test('flush() puts every line written so far in the file at once, and each batch is published', async () => {
    const path = join(stateDirectory(), 'access.log')
    const log = new AccessLog({ format: 'json', path, elb: 'app/test/0' })
    const random = new SeededRandom(3)
    try {
      const first = written(path)
      log.write(randomEntry(random))
      await log.flush()
      assert.equal(readFileSync(path, 'utf8').split('\n').length, 2, 'one line and its newline')
      assert.deepEqual(await first, { path, bytes: statSync(path).size, error: undefined })

      // Lines written while a batch is on its way go out with the next write, which flush() waits for too.
      log.write(randomEntry(random))
      const inFlight = log.flush()
      log.write(randomEntry(random))
      await Promise.all([inFlight, log.flush()])
      assert.equal(readFileSync(path, 'utf8').split('\n').length, 4)
    } finally {
      await log.close()
    }
  })
})

describe('access log write failures', () => {
  test('a full disk loses log lines, warns once, and never fails a request', async () => {
    const upstream = await startUpstream(echoHandler)
    const dir = stateDirectory()
    // /dev/full opens fine and fails every write with ENOSPC: a real fault on demand.
    const yaml = `${forwardYaml(0, upstream.port)}
Portcullis:
  AccessLog: { Format: json, Path: /dev/full }
`
    const warnings: string[] = []
    const onWarning = (warning: Error) => {
      if (warning.name === 'PortcullisWarning') warnings.push(warning.message)
    }
    process.on('warning', onWarning)
    const gateway = await startGateway(configFromYaml(yaml, dir), { logger: silentLogger, admin: false })
    try {
      for (let round = 0; round < 2; round++) {
        for (let i = 0; i < 5; i++) assert.equal((await send(`${gateway.listeners[0]!.url}x${i}`)).status, 200)
        const failed = written('/dev/full')
        await gateway.flushAccessLog()
        assert.equal(((await failed).error as NodeJS.ErrnoException | undefined)?.code, 'ENOSPC')
      }
    } finally {
      await gateway.close({ deadlineMs: 1000 })
      await upstream.close()
      process.off('warning', onWarning)
    }
    assert.equal(warnings.length, 1)
    assert.match(warnings[0]!, /access log \/dev\/full: .*ENOSPC/)
  })
})

/** Strings as clients, targets and configurations send them, the awkward ones included. */
function awkwardString(random: SeededRandom): string {
  const pieces = [
    'plain',
    'Mozilla/5.0 (X11; Linux x86_64)',
    'quote"',
    'back\\slash',
    'tab\t',
    'nul\u0000',
    'ctl\u001f',
    'del\u007f',
    'latin1 é ÿ',
    'line\u2028sep',
    '日本語',
    '😀',
    'lone \ud800 high',
    'lone \udfff low',
    '',
    '-',
  ]
  let s = ''
  for (let i = random.int(0, 4); i > 0; i--) s += random.pick(pieces)
  return s
}

function randomEntry(random: SeededRandom): AccessLogEntry {
  const s = () => awkwardString(random)
  const time = () => random.pick([-1, 0, 0.001, 0.123, 12.5, 3600])
  return {
    type: random.pick(['http', 'https', 'ws', 'wss'] as const),
    time: '2026-12-01T09:30:01.042Z',
    elb: s(),
    client_port: s(),
    target_port: s(),
    request_processing_time: time(),
    target_processing_time: time(),
    response_processing_time: time(),
    elb_status_code: random.pick([200, 302, 460, 502]),
    target_status_code: random.pick([null, 200, 500]),
    received_bytes: random.int(0, 1 << 30),
    sent_bytes: random.int(0, 1 << 30),
    request: s(),
    user_agent: s(),
    ssl_cipher: s(),
    ssl_protocol: s(),
    target_group_arn: s(),
    trace_id: s(),
    domain_name: s(),
    matched_rule_priority: random.pick(['-', '0', '10', '50000']),
    request_creation_time: '2026-12-01T09:30:00.999Z',
    actions_executed: random.pick(['-', 'forward', 'authenticate,forward']),
    redirect_url: s(),
    error_reason: random.pick(['-', 'TargetTimeout', 'AuthInvalidStateParam']),
    conn_trace_id: 'TID_0123456789abcdef0123456789abcdef',
  }
}

describe('access log JSON lines', () => {
  test('formatJsonLine is JSON.stringify and a newline, byte for byte, for awkward strings (seed 8812, 5000 entries)', () => {
    const random = new SeededRandom(8812)
    for (let i = 0; i < 5000; i++) {
      const entry = randomEntry(random)
      assert.equal(formatJsonLine(entry), `${JSON.stringify(entry)}\n`, JSON.stringify(entry))
    }
  })

  test('every line reaches the file whole and in order, across batches and for lines larger than a batch', async () => {
    const dir = stateDirectory()
    const path = join(dir, 'logs', 'access.log')
    const log = new AccessLog({ format: 'json', path, elb: 'app/test/0' })
    const random = new SeededRandom(77)
    const written: AccessLogEntry[] = []
    for (let i = 0; i < 3000; i++) {
      const entry = randomEntry(random)
      // Now and then a line of ~100 KB of multi-byte text: more than one whole batch.
      if (i % 700 === 350) entry.user_agent = '日本'.repeat(20_000)
      written.push(entry)
      log.write(entry)
    }
    await log.close()
    const lines = readFileSync(path, 'utf8').split('\n')
    assert.equal(lines.pop(), '')
    assert.equal(lines.length, written.length)
    lines.forEach((line, i) => {
      // JSON.parse turns escaped lone surrogates back into the same string.
      assert.deepEqual(JSON.parse(line), written[i])
    })
  })
})

describe('access log back-pressure', () => {
  test('a log that cannot keep up drops whole lines past 16 MiB queued and warns once, instead of growing without bound', async () => {
    const dir = stateDirectory()
    const fifo = join(dir, 'stalled.log')
    execFileSync('mkfifo', [fifo])
    // The reading end, opened without waiting for a writer, and left unread at first: once the pipe's
    // buffer is full, the log's write waits in the thread pool while requests keep adding lines.
    const reading = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK)
    const log = new AccessLog({ format: 'json', path: fifo, elb: 'app/test/0' })
    const warnings: string[] = []
    const onWarning = (warning: Error) => {
      if (warning.name === 'PortcullisWarning') warnings.push(warning.message)
    }
    process.on('warning', onWarning)
    try {
      const entry = randomEntry(new SeededRandom(5))
      entry.user_agent = 'u'.repeat(1000)
      const written = 30_000 // about 40 MiB of lines
      for (let i = 0; i < written; i++) log.write({ ...entry, sent_bytes: i })
      await new Promise((resolve) => setImmediate(resolve))
      assert.equal(warnings.length, 1)
      assert.match(warnings[0]!, /stalled\.log: dropping lines: the log cannot keep up/)

      const closing = log.close()
      // Read as a pipe socket until the log closes its end and everything was read.
      const chunks: Buffer[] = []
      for await (const chunk of new Socket({ fd: reading, readable: true, writable: false })) chunks.push(chunk)
      await closing
      const lines = Buffer.concat(chunks).toString('utf8').split('\n')
      assert.equal(lines.pop(), '')
      // Lines were dropped, none was cut: each line read is a whole entry, in order.
      assert.ok(lines.length > 1000 && lines.length < written, `${lines.length} of ${written} lines`)
      let previous = -1
      for (const line of lines) {
        const sent = (JSON.parse(line) as AccessLogEntry).sent_bytes
        assert.ok(sent > previous)
        previous = sent
      }
      assert.equal(warnings.length, 1)
    } finally {
      process.off('warning', onWarning)
    }
  })
})

describe('access log short writes', () => {
  test('what a short write left is written next, from the first byte not yet out', () => {
    const batches = [Buffer.from('abc'), Buffer.from('defg'), Buffer.from('h')]
    const text = (buffers: Buffer[]) => Buffer.concat(buffers).toString()
    assert.equal(text(unwritten(batches, 0)), 'abcdefgh')
    assert.equal(text(unwritten(batches, 2)), 'cdefgh')
    assert.equal(text(unwritten(batches, 3)), 'defgh')
    assert.equal(text(unwritten(batches, 5)), 'fgh')
    assert.equal(unwritten(batches, 8).length, 0)
  })
})

describe('access log reopen', () => {
  test('reopen() writes the lines it holds to the open file, then opens the path again; a path it cannot open is an error and the lines stay in the open file', async () => {
    const dir = stateDirectory()
    const path = join(dir, 'access.log')
    const log = new AccessLog({ format: 'json', path, elb: 'app/test/0' })
    const random = new SeededRandom(23)
    const entries = Array.from({ length: 4 }, () => randomEntry(random))
    const lines = entries.map(formatJsonLine)
    log.write(entries[0]!)
    // What logrotate does: move the file, then ask for the reopen.
    renameSync(path, `${path}.1`)
    await log.reopen()
    log.write(entries[1]!)
    await log.flush()
    assert.equal(readFileSync(`${path}.1`, 'utf8'), lines[0])
    assert.equal(readFileSync(path, 'utf8'), lines[1])
    renameSync(path, `${path}.2`)
    mkdirSync(path)
    log.write(entries[2]!)
    await assert.rejects(log.reopen(), { code: 'EISDIR' })
    log.write(entries[3]!)
    await log.close()
    assert.equal(readFileSync(`${path}.2`, 'utf8'), `${lines[1]}${lines[2]}${lines[3]}`)
  })
})

describe('access log settings on reload', () => {
  test('a reload that changes Portcullis.AccessLog says the log goes on as it was opened', async () => {
    const dir = stateDirectory()
    const first = join(dir, 'first.log')
    const upstream = await startUpstream(echoHandler)
    const yaml = (path: string) => `${forwardYaml(0, upstream.port)}
Portcullis:
  AccessLog: { Format: alb, Path: ${path} }
`
    const logs = new Capture()
    const logger = pino({ level: 'warn' }, logs)
    const gateway = await startGateway(configFromYaml(yaml(first), dir), { logger, admin: false })
    try {
      await gateway.reload(configFromYaml(yaml(join(dir, 'second.log')), dir))
      await logs.waitFor('Portcullis.AccessLog changed: restart the gateway to apply it')
      await send(`${gateway.listeners[0]!.url}fixed`)
      await gateway.flushAccessLog()
      assert.equal(readFileSync(first, 'utf8').split('\n').length, 2)
    } finally {
      await gateway.close({ deadlineMs: 1000 })
      await upstream.close()
    }
  })
})

describe("ALB's line format", () => {
  const base: AccessLogEntry = {
    type: 'https',
    time: '2026-12-07T11:45:00.123Z',
    elb: 'app/my-alb/50dc6c495c0c9188',
    client_port: '192.0.2.10:51234',
    target_port: '10.0.0.5:8080',
    request_processing_time: 0.001,
    target_processing_time: 0.02,
    response_processing_time: 0,
    elb_status_code: 200,
    target_status_code: 200,
    received_bytes: 312,
    sent_bytes: 1024,
    request: 'GET https://www.example.com:443/a/b?c=d HTTP/1.1',
    user_agent: 'curl/8.5.0',
    ssl_cipher: 'TLS_AES_256_GCM_SHA384',
    ssl_protocol: 'TLSv1.3',
    target_group_arn: 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/app/73e2d6bc24d8a067',
    trace_id: 'Root=1-58337262-36d228ad5d99923122bbe354',
    domain_name: 'www.example.com',
    matched_rule_priority: '10',
    request_creation_time: '2026-12-07T11:44:59.900Z',
    actions_executed: 'authenticate,forward',
    redirect_url: '-',
    error_reason: '-',
    conn_trace_id: 'TID_0123456789abcdef0123456789abcdef',
  }
  const cases: [string, Partial<AccessLogEntry>][] = [
    ['forwarded over HTTPS', {}],
    [
      'HTTP, fixed response, no TLS',
      {
        type: 'http',
        ssl_cipher: '-',
        ssl_protocol: '-',
        domain_name: '-',
        target_port: '-',
        target_status_code: null,
      },
    ],
    [
      'the client left before an answer (460)',
      { elb_status_code: 460, target_status_code: null, target_processing_time: -1, response_processing_time: -1 },
    ],
    ['redirect', { elb_status_code: 301, actions_executed: 'redirect', redirect_url: 'https://example.com:443/new' }],
    ['no target (503)', { elb_status_code: 503, target_port: '-', error_reason: 'TargetGroupNotFound' }],
    ['WebSocket upgrade', { type: 'wss', elb_status_code: 101, target_status_code: 101 }],
    ['HTTP/2, default rule', { request: 'POST https://www.example.com:443/api HTTP/2.0', matched_rule_priority: '0' }],
  ]
  for (const [name, change] of cases) {
    test(`one formatter for the file and the delivery files; Athena's regex reads it: ${name}`, () => {
      assert.match(formatAlbLine({ ...base, ...change }), ATHENA_ALB_REGEX)
    })
  }

  /** The line by its definition: ALB's fields in order, the quoted ones escaped (the formatter is hand-written for speed). */
  const byDefinition = (e: AccessLogEntry): string => {
    const q = (v: string) => `"${v.replace(/["\\]/g, (c) => `\\${c}`).replace(/[\r\n]/g, ' ')}"`
    return [
      e.type,
      e.time,
      e.elb,
      e.client_port,
      e.target_port,
      e.request_processing_time,
      e.target_processing_time,
      e.response_processing_time,
      e.elb_status_code,
      e.target_status_code ?? '-',
      e.received_bytes,
      e.sent_bytes,
      q(e.request),
      q(e.user_agent),
      e.ssl_cipher,
      e.ssl_protocol,
      e.target_group_arn,
      q(e.trace_id),
      q(e.domain_name),
      q('-'),
      e.matched_rule_priority,
      e.request_creation_time,
      q(e.actions_executed),
      q(e.redirect_url),
      q(e.error_reason),
      q(e.target_port),
      q(e.target_status_code === null ? '-' : String(e.target_status_code)),
      q('-'),
      q('-'),
      e.conn_trace_id,
    ].join(' ')
  }

  test('the line is its definition, byte for byte, whatever the client- and target-given fields hold', () => {
    // Quotes, backslashes, CR/LF and other text in every field a client or a target can fill.
    const text = fc.string({ unit: fc.constantFrom('a', ' ', '"', '\\', '\r', '\n', 'é', '\t', '-'), maxLength: 12 })
    fc.assert(
      fc.property(
        fc.record({
          request: text,
          user_agent: text,
          trace_id: text,
          domain_name: text,
          redirect_url: text,
          target_port: text,
          target_status_code: fc.option(fc.integer({ min: 100, max: 599 })),
        }),
        (change) => {
          const entry = { ...base, ...change }
          assert.equal(formatAlbLine(entry), byDefinition(entry))
        },
      ),
      { numRuns: 2000 },
    )
  })
})
