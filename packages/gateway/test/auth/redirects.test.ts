import assert from 'node:assert/strict'
import type { IncomingMessage } from 'node:http'
import { connect } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { requestHost, safeRedirectPath } from '../../src/auth/oidc/redirects.js'
import { Browser } from './fixtures/browser.js'
import { clientOf, oidcAction, startIdpAndGateway, type TestGateway } from './fixtures/gateway.js'
import type { TestProvider } from './fixtures/provider.js'

describe('safeRedirectPath: only a path on this host', () => {
  const offsite = [
    'https://evil.example/',
    'http://evil.example',
    '//evil.example/x',
    '///evil.example',
    '/\\evil.example',
    '\\\\evil.example',
    '/\t/evil.example',
    '/\n/evil.example',
    '/ /evil.example',
    '/%0a/evil.example\r\n',
    'javascript:alert(1)',
    'JAVASCRIPT:alert(1)',
    ' /x',
    '',
    'evil.example',
    '/x\\y',
    '/é',
    `/${'a'.repeat(9000)}`,
  ]
  for (const uri of offsite) {
    test(`${JSON.stringify(uri.slice(0, 40))} → /`, () => {
      assert.equal(safeRedirectPath(uri), '/')
    })
  }
  const kept = ['/', '/a/b?c=d&e=%2F%2Fx', '/%2F%2Fevil.example', '/a//b', '/?next=//evil.example', '/a#frag']
  for (const uri of kept) {
    test(`${JSON.stringify(uri)} is kept as is`, () => {
      assert.equal(safeRedirectPath(uri), uri)
    })
  }
})

describe('requestHost: the Host header as sent, when valid', () => {
  const req = (host: string | undefined) => ({ headers: host === undefined ? {} : { host } }) as IncomingMessage
  test('keeps the port and the case', () => {
    assert.equal(requestHost(req('App.Example:8443')), 'App.Example:8443')
    assert.equal(requestHost(req('[::1]:8443')), '[::1]:8443')
  })
  test('absent or malformed → undefined', () => {
    for (const bad of [undefined, '', 'a b', 'evil.example/path', 'x@evil.example', 'h:port', `${'a'.repeat(300)}`]) {
      assert.equal(requestHost(req(bad)), undefined, String(bad))
    }
  })
})

describe('open-redirect attempts through the original URI never leave the host', () => {
  let idp: TestProvider
  let gw: TestGateway

  before(async () => {
    ;({ idp, gw } = await startIdpAndGateway({
      routes: (idp) => [{ prefix: '/', action: oidcAction(clientOf(idp)) }],
    }))
  })
  after(async () => {
    await gw.close()
    await idp.close()
  })

  /** Sends an exact request line (no client-side URL normalisation) and returns the raw answer head. */
  function rawRequest(target: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = connect(gw.port, '127.0.0.1', () => {
        socket.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${gw.port}\r\nConnection: close\r\n\r\n`)
      })
      let data = ''
      socket.on('data', (chunk) => {
        data += chunk.toString('latin1')
      })
      socket.on('end', () => resolve(data))
      socket.on('error', reject)
    })
  }

  const attempts = [
    '//evil.example/x',
    '/\\evil.example/x',
    '///evil.example',
    '/%2F%2Fevil.example',
    '/%5Cevil.example',
  ]
  for (const target of attempts) {
    test(`request target ${target}`, async () => {
      const head = await rawRequest(target)
      assert.match(head, /^HTTP\/1\.1 302 /)
      const location = /\r\nlocation: ([^\r]+)/i.exec(head)![1]!
      const nonce = /\r\nset-cookie: AWSALBAuthNonce=([A-Za-z0-9]+)/i.exec(head)![1]!
      const browser = new Browser()
      browser.cookies(gw.url).set('AWSALBAuthNonce', nonce)
      const callback = await browser.loginAtIdp(location, 'alice')
      const back = await browser.fetch(callback)
      assert.equal(back.status, 302)
      const landing = back.headers.get('location')!
      assert.ok(landing.startsWith('/') && !landing.startsWith('//') && !landing.startsWith('/\\'), landing)
      assert.equal(new URL(landing, 'https://gateway.invalid').host, 'gateway.invalid')
    })
  }
})
