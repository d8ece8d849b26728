import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { GatewayError } from '../../src/core/errors.js'
import { createAdminServer } from '../../src/server/admin.js'
import { echoHandler, forwardYaml, gatewayFromYaml, send, startUpstream } from '../fixtures/servers.js'

describe('admin listener', () => {
  test('serves /healthz and /metrics with ALB metric names, 404 for /keys without auth rules', async () => {
    const upstream = await startUpstream(echoHandler)
    const yaml = `${forwardYaml(0, upstream.port)}
Portcullis:
  Admin: { Address: 127.0.0.1, Port: 0 }
`
    const gateway = await gatewayFromYaml(yaml, undefined, { admin: true })
    try {
      assert.match(gateway.adminUrl ?? '', /^http:\/\/127\.0\.0\.1:[1-9]\d*\/$/, 'the port bound')
      await send(gateway.listeners[0]!.url)
      const health = await send(`${gateway.adminUrl}healthz`)
      assert.equal(health.status, 200)
      assert.deepEqual(JSON.parse(health.body), { status: 'ok', generation: 1 })
      const metrics = await send(`${gateway.adminUrl}metrics`)
      assert.equal(metrics.status, 200)
      for (const name of [
        'RequestCount',
        'TargetResponseTime_bucket',
        'ActiveConnectionCount',
        'HealthyHostCount',
        'UnHealthyHostCount',
        'NewConnectionCount',
      ]) {
        assert.match(metrics.body, new RegExp(`^${name}`, 'm'), name)
      }
      assert.equal((await send(`${gateway.adminUrl}keys/4b6e1a7e-6b3c-4f3e-9d2a-0c7b5f1e2d3a`)).status, 404)
      assert.equal((await send(`${gateway.adminUrl}nothing`)).status, 404)
      assert.equal((await send(`${gateway.adminUrl}metrics`, { method: 'POST' })).status, 405)
    } finally {
      await gateway.close({ deadlineMs: 1000 })
      await upstream.close()
    }
  })
})

describe('the admin listener over HTTPS', () => {
  test('a certificate file gone between load and start is ERR_ADMIN_TLS, naming the settings and the cause', () => {
    const missing = '/nonexistent/portcullis-admin-cert.pem'
    assert.throws(
      () =>
        createAdminServer(
          {
            address: '0.0.0.0',
            port: 0,
            operatorToken: undefined,
            tls: { certificateFile: missing, privateKeyFile: missing },
            clientCertificateTrustStore: undefined,
          },
          () => {},
        ),
      (error: unknown) => {
        assert.ok(error instanceof GatewayError)
        assert.equal(error.code, 'ERR_ADMIN_TLS')
        assert.match(error.message, /Portcullis\.Admin\.CertificateFile.*ENOENT/)
        assert.equal((error.cause as NodeJS.ErrnoException).code, 'ENOENT')
        return true
      },
    )
  })
})
