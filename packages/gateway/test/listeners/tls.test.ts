import assert from 'node:assert/strict'
import { once } from 'node:events'
import { request as httpsRequest } from 'node:https'
import { describe, test } from 'node:test'
import { connect as tlsConnect } from 'node:tls'
import { startGateway } from '../../src/server/gateway.js'
import { ensureLeafCertificate, ensureLocalCa } from '../../src/tls/local-ca.js'
import {
  configFromYaml,
  type Echo,
  echoHandler,
  silentLogger,
  startUpstream,
  stateDirectory,
} from '../fixtures/servers.js'

describe('HTTPS listener with SNI', () => {
  test('serves the certificate matching the server name, the first one otherwise', async () => {
    const dir = stateDirectory()
    const ca = await ensureLocalCa(dir)
    const one = await ensureLeafCertificate(dir, ['one.test'])
    const two = await ensureLeafCertificate(stateDirectory(), ['two.test', '*.wild.test'])
    const upstream = await startUpstream(echoHandler)
    const yaml = `
LoadBalancer: { Name: tls-alb, Region: us-east-1 }
Listeners:
  - Port: 0
    Protocol: HTTPS
    Portcullis: { Address: 127.0.0.1 }
    Certificates:
      - { CertificateFile: ${one.certPath}, PrivateKeyFile: ${one.keyPath} }
      - { CertificateFile: ${two.certPath}, PrivateKeyFile: ${two.keyPath} }
    DefaultActions: [{ Type: forward, TargetGroupArn: app }]
TargetGroups:
  - TargetGroupName: app
    Protocol: HTTP
    Targets: [{ Id: 127.0.0.1, Port: ${upstream.port} }]
`
    const gateway = await startGateway(configFromYaml(yaml, dir), {
      logger: silentLogger,
      accessLog: false,
      admin: false,
    })
    const { port } = gateway.listeners[0]!
    try {
      const subjectFor = async (servername: string | undefined): Promise<string> => {
        const socket = tlsConnect({
          port,
          host: '127.0.0.1',
          ...(servername ? { servername } : {}),
          rejectUnauthorized: false,
        })
        await once(socket, 'secureConnect')
        const names = socket.getPeerCertificate().subjectaltname ?? ''
        assert.ok(['TLSv1.2', 'TLSv1.3'].includes(socket.getProtocol() ?? ''))
        socket.destroy()
        return names
      }
      assert.match(await subjectFor('one.test'), /DNS:one\.test/)
      assert.match(await subjectFor('two.test'), /DNS:two\.test/)
      assert.match(await subjectFor('a.wild.test'), /DNS:\*\.wild\.test/)
      assert.match(await subjectFor('unknown.test'), /DNS:one\.test/)
      assert.match(await subjectFor(undefined), /DNS:one\.test/)

      const body = await new Promise<string>((resolve, reject) => {
        const req = httpsRequest(
          {
            host: '127.0.0.1',
            port,
            path: '/tls',
            servername: 'one.test',
            ca: ca.caCertPem,
            headers: { host: 'one.test' },
          },
          (res) => {
            const chunks: Buffer[] = []
            res.on('data', (c: Buffer) => chunks.push(c))
            res.on('end', () => resolve(Buffer.concat(chunks).toString()))
          },
        )
        req.on('error', reject)
        req.end()
      })
      const echo = JSON.parse(body) as Echo
      assert.equal(echo.headers['x-forwarded-proto'], 'https')

      const tls10 = tlsConnect({
        port,
        host: '127.0.0.1',
        servername: 'one.test',
        rejectUnauthorized: false,
        maxVersion: 'TLSv1.1',
        minVersion: 'TLSv1',
      })
      const [error] = (await once(tls10, 'error').catch((e: unknown) => [e])) as [Error]
      assert.ok(error instanceof Error, 'TLS 1.1 is refused')
    } finally {
      await gateway.close({ deadlineMs: 1000 })
      await upstream.close()
    }
  })
})
