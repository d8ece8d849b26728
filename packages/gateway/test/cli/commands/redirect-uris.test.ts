import assert from 'node:assert/strict'
import { once } from 'node:events'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { ensureLeafCertificate } from '../../../src/tls/local-ca.js'
import { freePort } from '../../fixtures/ports.js'
import { portcullis, runPortcullis, waitFor } from '../../fixtures/process.js'
import { stateDirectory } from '../../fixtures/servers.js'

const oidc = (clientId: string) => `
      - Type: authenticate-oidc
        AuthenticateOidcConfig:
          Issuer: https://idp.example.com
          AuthorizationEndpoint: https://idp.example.com/authorize
          TokenEndpoint: https://idp.example.com/token
          UserInfoEndpoint: https://idp.example.com/userinfo
          ClientId: ${clientId}
          ClientSecret: s`

describe('the redirect URIs to register at the IdP (the real CLI)', () => {
  test('validate prints one per host name, and names HOST for a listener on every address', async () => {
    const dir = stateDirectory()
    const leaf = await ensureLeafCertificate(dir)
    writeFileSync(
      join(dir, 'auth.yaml'),
      `Listeners:
  - Port: 8443
    Protocol: HTTPS
    Certificates: [{ CertificateFile: ${leaf.certPath}, PrivateKeyFile: ${leaf.keyPath} }]
    Rules:
      - Priority: 1
        Conditions: [{ Field: host-header, Values: [app.example.com, www.example.com] }]
        Actions:${oidc('web').replace(/\n/g, '\n    ')}
          - { Type: fixed-response, FixedResponseConfig: { StatusCode: "200" } }
    DefaultActions:${oidc('fallback')}
      - { Type: fixed-response, FixedResponseConfig: { StatusCode: "200" } }
  - Port: 443
    Protocol: HTTPS
    Portcullis: { Address: 127.0.0.1 }
    Certificates: [{ CertificateFile: ${leaf.certPath}, PrivateKeyFile: ${leaf.keyPath} }]
    DefaultActions:${oidc('web')}
      - { Type: fixed-response, FixedResponseConfig: { StatusCode: "200" } }
  - Port: 8080
    Protocol: HTTP
    DefaultActions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: "200" } }]
`,
    )
    const { code, stdout, stderr } = await runPortcullis(['validate', 'auth.yaml'], dir)
    assert.equal(code, 0, stderr)
    const section = stdout.slice(stdout.indexOf('Redirect URIs to register at the IdP'))
    assert.deepEqual(section.trimEnd().split('\n').slice(1), [
      '  https://app.example.com:8443/oauth2/idpresponse  client web',
      '  https://www.example.com:8443/oauth2/idpresponse  client web',
      '  https://HOST:8443/oauth2/idpresponse  client fallback',
      '    HOST is each name browsers use to reach this listener (it binds 0.0.0.0): localhost on this machine, or the DNS name in front of it; register one URI per name',
      // Port 443 is implicit in the Host header browsers send, so it is not in the URI either.
      '  https://localhost/oauth2/idpresponse  client web',
    ])
  })

  test('start prints it for every authenticating listener', async () => {
    const dir = stateDirectory()
    const port = await freePort()
    writeFileSync(
      join(dir, 'portcullis.yaml'),
      `Listeners:
  - Port: ${port}
    Protocol: HTTP
    Portcullis: { Address: 127.0.0.1 }
    DefaultActions:${oidc('dev-client')}
      - { Type: fixed-response, FixedResponseConfig: { StatusCode: "200" } }
Portcullis:
  AllowInsecureHttpAuthentication: true
  Admin: { Address: 127.0.0.1, Port: ${await freePort()} }
`,
    )
    const child = portcullis(['start', '--workers', '1', '--log-level', 'error'], dir)
    let stdout = ''
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
    })
    try {
      await waitFor(() => stdout.includes('SIGHUP reloads') || child.exitCode !== null, 'start')
      assert.match(
        stdout,
        new RegExp(
          `Redirect URIs to register at the IdP.*\\n {2}http://localhost:${port}/oauth2/idpresponse {2}client dev-client\\n`,
        ),
      )
    } finally {
      child.kill('SIGTERM')
      await once(child, 'exit')
    }
  })
})
