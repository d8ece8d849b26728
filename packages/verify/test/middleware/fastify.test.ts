import assert from 'node:assert/strict'
import { test } from 'node:test'
import Fastify from 'fastify'
import { albAuthPlugin } from '../../src/middleware/fastify.js'
import { albHeaders, describeIdentity, middlewareSuite, mint, startKeyServer, verifierOptions } from './fixtures.js'

middlewareSuite('Fastify', async (options) => {
  const app = Fastify()
  await app.register(albAuthPlugin, options)
  app.get('/', async (request) => describeIdentity(request.alb))
  const url = await app.listen({ host: '127.0.0.1', port: 0 })
  return { url, close: () => app.close() }
})

test('Fastify: the plugin guards the context it is registered in, not its siblings', async () => {
  const keys = await startKeyServer()
  const app = Fastify()
  app.get('/health', async () => 'ok')
  await app.register(async (api) => {
    await api.register(albAuthPlugin, verifierOptions(keys.url))
    api.get('/api/me', async (request) => ({ sub: request.alb?.identity }))
  })
  const url = await app.listen({ host: '127.0.0.1', port: 0 })
  try {
    assert.equal((await fetch(`${url}/health`)).status, 200)
    assert.equal((await fetch(`${url}/api/me`)).status, 401)
    const me = await fetch(`${url}/api/me`, { headers: albHeaders(mint(keys.key)) })
    assert.deepEqual(await me.json(), { sub: 'user-1' })
  } finally {
    await app.close()
    await keys.close()
  }
})

test('Fastify: registering the plugin in two sibling contexts shares the request decorator', async () => {
  const keys = await startKeyServer()
  const app = Fastify()
  for (const prefix of ['/a', '/b']) {
    await app.register(
      async (scope) => {
        await scope.register(albAuthPlugin, { ...verifierOptions(keys.url), allowAnonymous: prefix === '/b' })
        scope.get('/', async (request) => describeIdentity(request.alb))
      },
      { prefix },
    )
  }
  const url = await app.listen({ host: '127.0.0.1', port: 0 })
  try {
    assert.equal((await fetch(`${url}/a`)).status, 401)
    assert.deepEqual(await (await fetch(`${url}/b`)).json(), { anonymous: true })
  } finally {
    await app.close()
    await keys.close()
  }
})

test('Fastify: routes declared before the registration are guarded too (hooks apply to the whole context)', async () => {
  const keys = await startKeyServer()
  const app = Fastify()
  app.get('/early', async (request) => describeIdentity(request.alb))
  await app.register(albAuthPlugin, verifierOptions(keys.url))
  const url = await app.listen({ host: '127.0.0.1', port: 0 })
  try {
    assert.equal((await fetch(`${url}/early`)).status, 401)
    const response = await fetch(`${url}/early`, { headers: albHeaders(mint(keys.key)) })
    assert.equal(((await response.json()) as { sub: string }).sub, 'user-1')
  } finally {
    await app.close()
    await keys.close()
  }
})
