import assert from 'node:assert/strict'
import type { Server } from 'node:http'
import { test } from 'node:test'
import express from 'express'
import { albAuth } from '../../src/middleware/express.js'
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

function listen(app: express.Express): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = app.listen(0, '127.0.0.1', (error?: Error) => (error ? reject(error) : resolve(server)))
  })
}

middlewareSuite('Express', async (options) => {
  const app = express()
  app.use(albAuth(options))
  app.get('/', (req, res) => {
    res.json(describeIdentity(req.alb))
  })
  const server = await listen(app)
  return { url: urlOf(server), close: () => closeServer(server) }
})

test('Express: routes mounted before the middleware are not guarded, routes after it are', async () => {
  const keys = await startKeyServer()
  const app = express()
  app.get('/health', (_req, res) => {
    res.send('ok')
  })
  app.use('/api', albAuth(verifierOptions(keys.url)))
  app.get('/api/me', (req, res) => {
    res.json({ sub: req.alb?.identity })
  })
  const server = await listen(app)
  try {
    const url = urlOf(server)
    assert.equal((await fetch(`${url}/health`)).status, 200)
    assert.equal((await fetch(`${url}/api/me`)).status, 401)
    const me = await fetch(`${url}/api/me`, { headers: albHeaders(mint(keys.key)) })
    assert.deepEqual(await me.json(), { sub: 'user-1' })
  } finally {
    await closeServer(server)
    await keys.close()
  }
})
