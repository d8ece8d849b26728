import assert from 'node:assert/strict'
import type { Server } from 'node:http'
import { test } from 'node:test'
import Koa from 'koa'
import { type AlbAnonymousState, type AlbState, albAuth } from '../../src/middleware/koa.js'
import {
  albHeaders,
  closeServer,
  describeIdentity,
  middlewareSuite,
  mint,
  startKeyServer,
  urlOf,
  verifierOptions,
} from './fixtures.js'

function listen(app: Koa<AlbState> | Koa<AlbAnonymousState>): Promise<Server> {
  return new Promise((resolve) => {
    const server = app.listen(0, '127.0.0.1', () => resolve(server))
  })
}

middlewareSuite('Koa', async (options) => {
  const app = new Koa<AlbAnonymousState>()
  app.use(albAuth(options))
  app.use((ctx) => {
    ctx.body = describeIdentity(ctx.state.alb)
  })
  const server = await listen(app)
  return { url: urlOf(server), close: () => closeServer(server) }
})

test('Koa: downstream middleware does not run for a rejected request', async () => {
  const keys = await startKeyServer()
  let reached = 0
  const app = new Koa<AlbState>()
  app.use(albAuth(verifierOptions(keys.url)))
  app.use((ctx) => {
    reached++
    ctx.body = { sub: ctx.state.alb.identity }
  })
  const server = await listen(app)
  try {
    const url = urlOf(server)
    assert.equal((await fetch(url)).status, 401)
    assert.equal(reached, 0)
    const me = await fetch(url, { headers: albHeaders(mint(keys.key)) })
    assert.deepEqual(await me.json(), { sub: 'user-1' })
    assert.equal(reached, 1)
  } finally {
    await closeServer(server)
    await keys.close()
  }
})
