import assert from 'node:assert/strict'
import { test } from 'node:test'

// Resolves the packages the way an application would: through the workspace
// links and each package's `exports` map, against the built `dist`.
test("portcullis's entry points resolve and expose their documented API", async () => {
  const gateway = await import('portcullis')
  for (const name of ['startGateway', 'loadConfig', 'parseConfig', 'ConfigError', 'createLogger', 'ensureLocalCa']) {
    assert.equal(typeof (gateway as Record<string, unknown>)[name], 'function', name)
  }
  const idp = await import('portcullis/idp')
  assert.equal(typeof idp.createDevIdentityProvider, 'function')
  assert.ok(idp.DEFAULT_DEV_USERS.length >= 2)
})

test("@portcullis/verify's entry points resolve, one per framework", async () => {
  const core = await import('@portcullis/verify')
  assert.equal(typeof core.createAlbVerifier, 'function')
  const mint = await import('@portcullis/verify/mint')
  assert.equal(typeof mint.signAlbToken, 'function')
  const adapters = await Promise.all([
    import('@portcullis/verify/node'),
    import('@portcullis/verify/express'),
    import('@portcullis/verify/fastify'),
    import('@portcullis/verify/hono'),
    import('@portcullis/verify/koa'),
  ])
  assert.equal(adapters.length, 5)
  for (const adapter of adapters) assert.ok(Object.values(adapter).some((v) => typeof v === 'function'))
})
