import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { startGateway } from '../../src/server/gateway.js'
import {
  configFromYaml,
  echoHandler,
  forwardYaml,
  freePort,
  send,
  silentLogger,
  startUpstream,
  stateDirectory,
} from '../fixtures/servers.js'

describe('access log', () => {
  test("writes ALB's space-separated line with the matched rule, trace id, target and status", async () => {
    const upstream = await startUpstream(echoHandler)
    const dir = stateDirectory()
    const logPath = join(dir, 'access.log')
    const yaml = `${forwardYaml(await freePort(), upstream.port)}
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
    // conn_trace_id closes the line; request times are seconds with millisecond precision.
    assert.match(forwarded, / "-" "-" TID_[0-9a-f]{32}$/)
    const times = forwarded.split(' ').slice(5, 8)
    for (const time of times) assert.match(time, /^(?:-1|\d+(?:\.\d{1,3})?)$/, time)
  })

  test('request is METHOD protocol://host:port/uri HTTP/version, the port always written', async () => {
    const upstream = await startUpstream(echoHandler)
    const dir = stateDirectory()
    const logPath = join(dir, 'access.log')
    const port = await freePort()
    const yaml = `${forwardYaml(port, upstream.port)}
Portcullis:
  AccessLog: { Format: json, Path: ${logPath} }
`
    const gateway = await startGateway(configFromYaml(yaml, dir), { logger: silentLogger, admin: false })
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
    const yaml = `${forwardYaml(await freePort(), upstream.port)}
Portcullis:
  AccessLog: { Format: json, Path: ${logPath} }
`
    const gateway = await startGateway(configFromYaml(yaml, dir), { logger: silentLogger, admin: false })
    try {
      await send(`${gateway.listeners[0]!.url}one`)
      const deadline = Date.now() + 5000
      let text = ''
      while (Date.now() < deadline) {
        text = existsSync(logPath) ? readFileSync(logPath, 'utf8') : ''
        if (text.includes('/one')) break
        await new Promise((r) => setTimeout(r, 100))
      }
      const entry = JSON.parse(text.trim()) as Record<string, unknown>
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

describe('access log write failures', () => {
  test('a full disk loses log lines, warns once, and never fails a request', async () => {
    const upstream = await startUpstream(echoHandler)
    const dir = stateDirectory()
    // /dev/full opens fine and fails every write with ENOSPC: a real fault on demand.
    const yaml = `${forwardYaml(await freePort(), upstream.port)}
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
        await new Promise((r) => setTimeout(r, 1300))
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
