import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { appendListenerPort, hostPortSuffix } from '../../src/headers/request-headers.js'
import { startGateway } from '../../src/server/gateway.js'
import { freePort } from '../fixtures/ports.js'
import {
  configFromYaml,
  echoHandler,
  forwardYaml,
  send,
  silentLogger,
  startUpstream,
  stateDirectory,
} from '../fixtures/servers.js'

describe('routing.http.preserve_host_header.enabled', () => {
  test('off: the listener port is appended, except on 80 and 443 and when the Host has a port', () => {
    assert.equal(hostPortSuffix(8443, false), ':8443')
    assert.equal(hostPortSuffix(80, false), undefined)
    assert.equal(hostPortSuffix(443, false), undefined)
    assert.equal(hostPortSuffix(8443, true), undefined)
    const cases: [string, string][] = [
      ['www.example.com', 'www.example.com:8443'],
      ['www.example.com:9000', 'www.example.com:9000'],
      ['[::1]', '[::1]:8443'],
      ['[::1]:9000', '[::1]:9000'],
      ['10.0.0.1', '10.0.0.1:8443'],
    ]
    for (const [sent, expected] of cases) {
      const headers: Record<string, string> = { host: sent }
      appendListenerPort(headers, ':8443')
      assert.equal(headers.host, expected, sent)
    }
  })

  const hostAtTarget = async (attributes: string, host: string): Promise<string> => {
    const upstream = await startUpstream(echoHandler)
    // Named: the listener port added to Host is the configured one.
    const yaml = forwardYaml(await freePort(), upstream.port).replace(
      'LoadBalancer: { Name: test-alb, Region: eu-west-1, AccountId: "123456789012" }',
      `LoadBalancer: { Name: test-alb, Region: eu-west-1, AccountId: "123456789012", Attributes: [${attributes}] }`,
    )
    const gateway = await startGateway(configFromYaml(yaml, stateDirectory()), { logger: silentLogger, admin: false })
    try {
      const response = await send(`${gateway.listeners[0]!.url}echo`, { headers: { host } })
      assert.equal(response.status, 200)
      return (JSON.parse(response.body.toString()) as { headers: Record<string, string> }).headers.host!
    } finally {
      await gateway.close({ deadlineMs: 1000 })
      await upstream.close()
    }
  }

  test('default (off): the target sees Host with the listener port, as ALB sends it', async () => {
    const port = await hostAtTarget('', 'www.example.com')
    assert.match(port, /^www\.example\.com:\d+$/)
    assert.notEqual(port, 'www.example.com')
  })

  test('on: the target sees the Host exactly as the client sent it', async () => {
    const host = await hostAtTarget(
      '{ Key: routing.http.preserve_host_header.enabled, Value: "true" }',
      'www.example.com',
    )
    assert.equal(host, 'www.example.com')
  })
})
