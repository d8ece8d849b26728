import assert from 'node:assert/strict'
import {
  Agent,
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request,
  type ServerResponse,
} from 'node:http'
import { after, before, describe, test } from 'node:test'
import { createFixedResponseAction } from '../../src/actions/fixed-response.js'
import type { FixedResponseAction } from '../../src/config/model.js'
import { NO_HEADER_MODIFICATION } from '../../src/config/normalise/header-modification.js'
import type { ActionHandler } from '../../src/core/actions.js'
import { newRequestRecord, type RequestContext } from '../../src/core/request.js'
import { listen } from '../fixtures/ports.js'

interface Reply {
  status: number
  headers: IncomingHttpHeaders
  body: Buffer
}

function fixed(overrides: Partial<FixedResponseAction> = {}): FixedResponseAction {
  return {
    type: 'fixed-response',
    order: 1,
    statusCode: 404,
    contentType: 'text/plain',
    messageBody: 'not found',
    ...overrides,
  }
}

/** The minimal RequestContext a listener builds; fixed-response only uses res and responseCookies. */
function contextFor(req: IncomingMessage, res: ServerResponse, port: number, cookies: string[]): RequestContext {
  return {
    req,
    res,
    listener: {
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
    },
    rule: { arn: 'arn:rule/default', priority: 'default', conditions: [], transforms: [], actions: [] },
    protocol: 'http',
    sourceIp: req.socket.remoteAddress ?? '',
    host: 'example.com',
    path: '/',
    query: '',
    upstreamHeaders: {},
    cookies: new Map(),
    responseCookies: cookies,
    record: { ...newRequestRecord('Root=1-00000000-000000000000000000000000'), matchedRulePriority: 'default' },
    upgrade: undefined,
    whenClientGone: undefined,
  }
}

describe('createFixedResponseAction through a real server', () => {
  let server: ReturnType<typeof createServer>
  let port = 0
  let handler: ActionHandler
  let cookies: string[] = []
  const outcomes: unknown[] = []

  before(async () => {
    server = createServer((req, res) => {
      Promise.resolve(handler.run(contextFor(req, res, port, cookies))).then((o) => outcomes.push(o))
    })
    port = await listen(server)
  })

  after(async () => {
    await new Promise((resolve) => server.close(resolve))
  })

  function send(method = 'GET'): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const r = request({ host: '127.0.0.1', port, path: '/anything?x=1', method }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }))
      })
      r.on('error', reject)
      r.end()
    })
  }

  test('status, Content-Type, Content-Length and body as configured', async () => {
    handler = createFixedResponseAction(fixed())
    cookies = []
    const reply = await send()
    assert.equal(reply.status, 404)
    assert.equal(reply.headers['content-type'], 'text/plain')
    assert.equal(reply.headers['content-length'], '9')
    assert.equal(reply.body.toString(), 'not found')
    assert.equal(reply.headers['set-cookie'], undefined)
    assert.equal(outcomes.at(-1), 'responded')
  })

  test('queued cookies are appended as Set-Cookie, and do not leak into the next response', async () => {
    handler = createFixedResponseAction(
      fixed({ statusCode: 200, contentType: 'application/json', messageBody: '{"ok":true}' }),
    )
    cookies = ['AWSELBAuthSessionCookie-0=; Max-Age=0; Path=/', 'AWSALB=abc; Path=/']
    const reply = await send()
    assert.equal(reply.status, 200)
    assert.equal(reply.headers['content-type'], 'application/json')
    assert.deepEqual(reply.headers['set-cookie'], cookies)
    assert.deepEqual(JSON.parse(reply.body.toString()), { ok: true })
    cookies = []
    const next = await send()
    assert.equal(next.headers['set-cookie'], undefined)
  })

  test('Content-Length counts bytes, not characters', async () => {
    const body = 'é — ünïcödé ✓'
    handler = createFixedResponseAction(fixed({ statusCode: 503, contentType: 'text/html', messageBody: body }))
    const reply = await send()
    assert.equal(reply.status, 503)
    assert.equal(reply.headers['content-length'], String(Buffer.byteLength(body)))
    assert.equal(reply.body.toString('utf8'), body)
  })

  test('no MessageBody and no ContentType: empty body, no Content-Type', async () => {
    handler = createFixedResponseAction(fixed({ statusCode: 500, contentType: undefined, messageBody: undefined }))
    const reply = await send()
    assert.equal(reply.status, 500)
    assert.equal(reply.headers['content-type'], undefined)
    assert.equal(reply.headers['content-length'], '0')
    assert.equal(reply.body.length, 0)
  })

  test('HEAD gets the headers and no body', async () => {
    handler = createFixedResponseAction(fixed())
    const reply = await send('HEAD')
    assert.equal(reply.status, 404)
    assert.equal(reply.headers['content-length'], '9')
    assert.equal(reply.body.length, 0)
  })

  test('204 is sent without body or Content-Length; 205 with Content-Length 0', async () => {
    handler = createFixedResponseAction(fixed({ statusCode: 204, messageBody: 'ignored' }))
    const noContent = await send()
    assert.equal(noContent.status, 204)
    assert.equal(noContent.headers['content-length'], undefined)
    assert.equal(noContent.headers['content-type'], undefined)
    assert.equal(noContent.body.length, 0)
    handler = createFixedResponseAction(fixed({ statusCode: 205, messageBody: 'ignored' }))
    const reset = await send()
    assert.equal(reset.status, 205)
    assert.equal(reset.headers['content-length'], '0')
    assert.equal(reset.body.length, 0)
  })

  test('the connection stays usable for the next request (keep-alive)', async () => {
    handler = createFixedResponseAction(fixed({ statusCode: 200, messageBody: 'one' }))
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    try {
      const ports: number[] = []
      for (let i = 0; i < 3; i++) {
        await new Promise<void>((resolve, reject) => {
          const r = request({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
            ports.push(res.socket.localPort!)
            res.resume()
            res.on('end', resolve)
          })
          r.on('error', reject)
          r.end()
        })
      }
      assert.equal(new Set(ports).size, 1)
    } finally {
      agent.destroy()
    }
  })
})
