import assert from 'node:assert/strict'
import type { Server } from 'node:http'
import { test } from 'node:test'
import { serve } from '@hono/node-server'
import { Hono } from 'hono'
import { type AlbAnonymousEnv, type AlbEnv, albAuth } from '../../src/middleware/hono.js'
import {
  albHeaders,
  closeServer,
  describeIdentity,
  middlewareSuite,
  mint,
  type Running,
  startKeyServer,
  verifierOptions,
} from './fixtures.js'

function start(app: Hono<AlbEnv> | Hono<AlbAnonymousEnv>): Promise<Running> {
  return new Promise((resolve) => {
    const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, (info) => {
      resolve({ url: `http://127.0.0.1:${info.port}`, close: () => closeServer(server as Server) })
    })
  })
}

middlewareSuite('Hono (@hono/node-server)', (options) => {
  const app = new Hono<AlbAnonymousEnv>()
  app.use(albAuth(options))
  app.get('/', (c) => c.json(describeIdentity(c.get('alb'))))
  return start(app)
})

test('Hono: c.get("alb") is typed as the identity when allowAnonymous is off', async () => {
  const keys = await startKeyServer()
  const app = new Hono<AlbEnv>()
  app.use(albAuth(verifierOptions(keys.url)))
  app.get('/', (c) => c.json({ sub: c.get('alb').identity, email: c.get('alb').claims.email }))
  const running = await start(app)
  try {
    const response = await fetch(running.url, { headers: albHeaders(mint(keys.key)) })
    assert.deepEqual(await response.json(), { sub: 'user-1', email: 'user-1@example.com' })
  } finally {
    await running.close()
    await keys.close()
  }
})

test('Hono: getConnInfo supplies the peer address on runtimes without c.env.incoming', async () => {
  const keys = await startKeyServer()
  const peers = ['192.0.2.10', '10.1.2.3']
  // app.request() runs Hono in-process, as on a non-node runtime: no c.env.incoming.
  const app = new Hono<AlbEnv>()
  app.use(
    albAuth({
      ...verifierOptions(keys.url),
      trustedProxies: ['10.0.0.0/8'],
      getConnInfo: () => ({ remote: { address: peers.shift() } }),
    }),
  )
  app.get('/', (c) => c.text(c.get('alb').identity))
  try {
    const headers = albHeaders(mint(keys.key))
    const untrusted = await app.request('/', { headers })
    assert.equal(untrusted.status, 403)
    assert.equal(((await untrusted.json()) as { error: string }).error, 'ERR_UNTRUSTED_PROXY')
    const trusted = await app.request('/', { headers })
    assert.equal(trusted.status, 200)
    assert.equal(await trusted.text(), 'user-1')
  } finally {
    await keys.close()
  }
})

test('Hono: without node bindings or getConnInfo the peer is unknown, so trustedProxies rejects', async () => {
  const keys = await startKeyServer()
  const app = new Hono<AlbEnv>()
  app.use(albAuth({ ...verifierOptions(keys.url), trustedProxies: ['0.0.0.0/0'] }))
  app.get('/', (c) => c.text('reached'))
  try {
    const response = await app.request('/', { headers: albHeaders(mint(keys.key)) })
    assert.equal(response.status, 403)
  } finally {
    await keys.close()
  }
})

test('Hono: reads fetch Headers when no node request is present', async () => {
  const keys = await startKeyServer()
  const app = new Hono<AlbAnonymousEnv>()
  app.use(albAuth({ ...verifierOptions(keys.url), allowAnonymous: true }))
  app.get('/', (c) => c.json(describeIdentity(c.get('alb'))))
  try {
    const authenticated = await app.request('/', { headers: albHeaders(mint(keys.key)) })
    assert.equal(((await authenticated.json()) as { sub: string }).sub, 'user-1')
    assert.deepEqual(await (await app.request('/')).json(), { anonymous: true })
    const forged = await app.request('/', { headers: { 'X-Amzn-Oidc-Identity': 'user-1' } })
    assert.equal(forged.status, 401)
  } finally {
    await keys.close()
  }
})
