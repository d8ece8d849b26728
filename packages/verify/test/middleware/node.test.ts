import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { test } from 'node:test'
import { getAlbIdentity, withAlbAuth } from '../../src/middleware/node.js'
import {
  albHeaders,
  answerIdentity,
  closeServer,
  listen,
  middlewareSuite,
  mint,
  startKeyServer,
  verifierOptions,
} from './fixtures.js'

middlewareSuite('node:http', (options) =>
  listen(createServer(withAlbAuth(options, (_req, res, identity) => answerIdentity(res, identity)))),
)

test('node:http: getAlbIdentity returns the identity withAlbAuth verified, undefined for other requests', async () => {
  const keys = await startKeyServer()
  const seen: unknown[] = []
  const server = createServer(
    withAlbAuth({ ...verifierOptions(keys.url), allowAnonymous: true }, (req, res, identity) => {
      seen.push(getAlbIdentity(req) === identity, getAlbIdentity(req)?.identity)
      res.end()
    }),
  )
  const app = await listen(server)
  try {
    assert.equal((await fetch(app.url, { headers: albHeaders(mint(keys.key)) })).status, 200)
    assert.equal((await fetch(app.url)).status, 200)
    assert.deepEqual(seen, [true, 'user-1', true, undefined])
  } finally {
    await closeServer(server)
    await keys.close()
  }
})

test('node:http: a handler that throws propagates to the caller of the listener', async () => {
  const keys = await startKeyServer()
  const failure = new Error('handler failed')
  const listener = withAlbAuth(verifierOptions(keys.url), () => {
    throw failure
  })
  const server = createServer()
  const app = await listen(server)
  try {
    const caught = new Promise<unknown>((resolve) => {
      server.on('request', (req, res) => {
        listener(req, res).catch((error: unknown) => {
          res.writeHead(500).end()
          resolve(error)
        })
      })
    })
    assert.equal((await fetch(app.url, { headers: albHeaders(mint(keys.key)) })).status, 500)
    assert.equal(await caught, failure)
  } finally {
    await app.close()
    await keys.close()
  }
})
