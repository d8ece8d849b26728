import assert from 'node:assert/strict'
import { createServer, type IncomingHttpHeaders, type IncomingMessage, request, type ServerResponse } from 'node:http'
import { after, before, describe, test } from 'node:test'
import { buildRedirectLocation, createRedirectAction, type RedirectSource } from '../../src/actions/redirect.js'
import type { ListenerModel, RedirectAction } from '../../src/config/model.js'
import { NO_HEADER_MODIFICATION } from '../../src/config/normalise/header-modification.js'
import type { ActionHandler } from '../../src/core/actions.js'
import { newRequestRecord, type RequestContext, type RequestRecord } from '../../src/core/request.js'
import { listen } from '../fixtures/ports.js'

function action(overrides: Partial<RedirectAction> = {}): RedirectAction {
  return {
    type: 'redirect',
    order: 1,
    statusCode: 301,
    protocol: '#{protocol}',
    host: '#{host}',
    port: '#{port}',
    path: '/#{path}',
    query: '#{query}',
    ...overrides,
  }
}

const plain: RedirectSource = { protocol: 'http', host: 'example.com', port: 80, path: '/a/b', query: 'x=1&y=2' }

describe('buildRedirectLocation', () => {
  const cases: [string, Partial<RedirectAction>, Partial<RedirectSource>, string | undefined][] = [
    ['HTTP to HTTPS, everything else kept', { protocol: 'HTTPS', port: '443' }, {}, 'https://example.com/a/b?x=1&y=2'],
    ['HTTPS on a non-default port', { protocol: 'HTTPS', port: '8443' }, {}, 'https://example.com:8443/a/b?x=1&y=2'],
    ['#{port} of a default-port listener is omitted', {}, {}, 'http://example.com/a/b?x=1&y=2'],
    ['#{port} of another port is kept', {}, { port: 8080 }, 'http://example.com:8080/a/b?x=1&y=2'],
    ['port 443 kept for http', { port: '443' }, {}, 'http://example.com:443/a/b?x=1&y=2'],
    ['#{protocol} keeps https', {}, { protocol: 'https', port: 443 }, 'https://example.com/a/b?x=1&y=2'],
    ['path "/new/#{path}"', { path: '/new/#{path}' }, {}, 'http://example.com/new/a/b?x=1&y=2'],
    ['path "/new/#{path}" for the root', { path: '/new/#{path}' }, { path: '/' }, 'http://example.com/new/?x=1&y=2'],
    ['host "example.#{host}"', { host: 'example.#{host}' }, { host: 'org' }, 'http://example.org/a/b?x=1&y=2'],
    ['fixed host, case folded', { host: 'WWW.Example.COM' }, {}, 'http://www.example.com/a/b?x=1&y=2'],
    ['query "#{query}&value=xyz"', { query: '#{query}&value=xyz' }, {}, 'http://example.com/a/b?x=1&y=2&value=xyz'],
    ['empty query: no "?"', {}, { query: '' }, 'http://example.com/a/b'],
    ['query removed', { query: '' }, {}, 'http://example.com/a/b'],
    ['fixed query', { query: 'from=old' }, {}, 'http://example.com/a/b?from=old'],
    [
      'path using host and port',
      { path: '/#{host}/#{port}/#{path}' },
      { port: 81 },
      'http://example.com:81/example.com/81/a/b?x=1&y=2',
    ],
    [
      'query using every placeholder',
      { query: 'u=#{protocol}://#{host}:#{port}/#{path}' },
      {},
      'http://example.com/a/b?u=http://example.com:80/a/b',
    ],
    ['fixed path', { path: '/maintenance.html', query: '' }, {}, 'http://example.com/maintenance.html'],
    ['IPv6 literal host', { host: '[2001:db8::1]' }, {}, 'http://[2001:db8::1]/a/b?x=1&y=2'],
    ['IPv4 host', {}, { host: '192.0.2.1' }, 'http://192.0.2.1/a/b?x=1&y=2'],
    ['"#" in the path is escaped', { path: '/a#b' }, { query: '' }, 'http://example.com/a%23b'],
    ['"?" in a configured path is escaped', { path: '/a?b' }, { query: '' }, 'http://example.com/a%3Fb'],
    [
      'configured Unicode is UTF-8 encoded',
      { path: '/\u00fcber/\u{1f600}' },
      { query: '' },
      'http://example.com/%C3%BCber/%F0%9F%98%80',
    ],
    ['space in a query is escaped', { query: 'q=a b' }, {}, 'http://example.com/a/b?q=a%20b'],
    ['missing host with #{host}: refused', {}, { host: undefined }, undefined],
    [
      'missing host but a fixed one configured',
      { host: 'example.net' },
      { host: undefined },
      'http://example.net/a/b?x=1&y=2',
    ],
    ['host with a slash: refused', {}, { host: 'evil.com/x' }, undefined],
    ['host with userinfo: refused', {}, { host: 'a@evil.com' }, undefined],
    ['host with a space: refused', {}, { host: 'a b' }, undefined],
    ['host with CR LF: refused', {}, { host: 'a\r\nset-cookie: x=1' }, undefined],
    ['host with a port: refused', {}, { host: 'example.com:81' }, undefined],
    ['empty host: refused', {}, { host: '' }, undefined],
    ['CR LF in the path: refused', {}, { path: '/a\r\nx: y' }, undefined],
    ['control character in the query: refused', {}, { query: 'a=\u0000' }, undefined],
    ['lone surrogate: refused', { path: '/\ud800' }, {}, undefined],
    ['an empty request path still gives "/"', {}, { path: '', query: '' }, 'http://example.com/'],
  ]
  for (const [name, a, s, expected] of cases) {
    test(name, () => {
      assert.equal(buildRedirectLocation(action(a), { ...plain, ...s }), expected)
    })
  }

  test('malformed actions are refused when created', () => {
    assert.throws(() => createRedirectAction(action({ protocol: 'FTP' })), /Protocol/)
    assert.throws(() => createRedirectAction(action({ port: 'abc' })), /Port/)
    assert.throws(() => createRedirectAction(action({ port: '0' })), /Port/)
    assert.throws(() => createRedirectAction(action({ port: '65536' })), /Port/)
    assert.throws(() => createRedirectAction(action({ path: 'relative' })), /Path/)
    assert.doesNotThrow(() => createRedirectAction(action({ protocol: 'https', port: '65535' })))
  })
})

// ------------------------------------------------ through a real node:http server

interface Reply {
  status: number
  headers: IncomingHttpHeaders
  body: string
}

function listener(port: number): ListenerModel {
  return {
    id: `listener/${port}`,
    arn: `arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/test/1/${port}`,
    port,
    address: '127.0.0.1',
    protocol: 'HTTP',
    certificates: [],
    localCertificateNames: undefined,
    attributes: {},
    headerModification: NO_HEADER_MODIFICATION,
    mutualAuthentication: undefined,
    sslPolicy: undefined,
    rules: [],
  }
}

function record(): RequestRecord {
  return newRequestRecord('Root=1-00000000-000000000000000000000000')
}

/** Builds the minimal RequestContext a listener would, the way a listener would. */
function contextFor(req: IncomingMessage, res: ServerResponse, port: number, cookies: string[]): RequestContext {
  const url = req.url ?? '/'
  const q = url.indexOf('?')
  const hostHeader = req.headers.host
  return {
    req,
    res,
    listener: listener(port),
    rule: { arn: 'arn:rule/1', priority: 1, conditions: [], transforms: [], actions: [] },
    protocol: 'http',
    sourceIp: req.socket.remoteAddress ?? '',
    host: hostHeader === undefined ? undefined : hostHeader.replace(/:\d+$/, '').toLowerCase(),
    path: q < 0 ? url : url.slice(0, q),
    query: q < 0 ? '' : url.slice(q + 1),
    upstreamHeaders: {},
    cookies: new Map(),
    responseCookies: cookies,
    record: record(),
    upgrade: undefined,
    whenClientGone: undefined,
  }
}

describe('createRedirectAction through a real server', () => {
  let server: ReturnType<typeof createServer>
  let port = 0
  let handler: ActionHandler
  let cookies: string[] = []
  let lastContext: RequestContext | undefined
  let outcome: unknown

  before(async () => {
    server = createServer((req, res) => {
      lastContext = contextFor(req, res, port, cookies)
      Promise.resolve(handler.run(lastContext)).then((o) => {
        outcome = o
      })
    })
    port = await listen(server)
  })

  after(async () => {
    await new Promise((resolve) => server.close(resolve))
  })

  function send(path: string, host: string, method = 'GET'): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const r = request({ host: '127.0.0.1', port, path, method, headers: { host } }, (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => {
          body += chunk
        })
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }))
      })
      r.on('error', reject)
      r.end()
    })
  }

  test('301 to HTTPS with Location, empty body, queued cookies and the access-log field', async () => {
    handler = createRedirectAction(action({ protocol: 'HTTPS', port: '443' }))
    cookies = ['AWSELBAuthSessionCookie-0=abc; Path=/; HttpOnly; Secure', 'AWSALB=xyz; Path=/']
    const reply = await send('/orders/7?view=full', 'Shop.Example.com')
    assert.equal(reply.status, 301)
    assert.equal(reply.headers.location, 'https://shop.example.com/orders/7?view=full')
    assert.equal(reply.headers['content-length'], '0')
    assert.equal(reply.body, '')
    assert.deepEqual(reply.headers['set-cookie'], cookies)
    assert.equal(lastContext?.record.redirectUrl, 'https://shop.example.com/orders/7?view=full')
    assert.equal(outcome, 'responded')
  })

  test('302 keeps the listener port through #{port}', async () => {
    handler = createRedirectAction(action({ statusCode: 302, path: '/v2/#{path}' }))
    cookies = []
    const reply = await send('/items', 'example.com')
    assert.equal(reply.status, 302)
    assert.equal(reply.headers.location, `http://example.com:${port}/v2/items`)
    assert.equal(reply.headers['set-cookie'], undefined)
  })

  test('HEAD gets the same redirect', async () => {
    handler = createRedirectAction(action({ protocol: 'HTTPS', port: '443' }))
    const reply = await send('/x', 'example.com', 'HEAD')
    assert.equal(reply.status, 301)
    assert.equal(reply.headers.location, 'https://example.com/x')
  })

  test('a Host that would change the URL’s meaning gets 400, never a Location', async () => {
    handler = createRedirectAction(action({ protocol: 'HTTPS', port: '443' }))
    cookies = ['a=1']
    for (const host of ['evil.com/path', 'user@evil.com', 'evil.com\\x', 'a"b']) {
      lastContext = undefined
      const reply = await send('/x', host)
      assert.equal(reply.status, 400, host)
      assert.equal(reply.headers.location, undefined)
      assert.equal(reply.body, '400 Bad Request\n')
      assert.deepEqual(reply.headers['set-cookie'], ['a=1'])
      assert.equal(lastContext!.record.redirectUrl, undefined)
    }
  })

  test('a request without a Host gets 400 when the redirect needs #{host}', async () => {
    handler = createRedirectAction(action({ protocol: 'HTTPS', port: '443' }))
    cookies = []
    const reply = await new Promise<Reply>((resolve, reject) => {
      const r = request({ host: '127.0.0.1', port, path: '/x', setHost: false }, (res) => {
        res.resume()
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: '' }))
      })
      r.on('error', reject)
      r.end()
    })
    assert.equal(reply.status, 400)
    assert.equal(reply.headers.location, undefined)
  })
})
