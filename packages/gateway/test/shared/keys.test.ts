import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { Redis } from 'ioredis'
import { pino } from 'pino'
import { type AuthRuntime, createAuthRuntime } from '../../src/auth/index.js'
import { sharedKeyRings } from '../../src/auth/keys/key-ring-store.js'
import { SecretRing } from '../../src/auth/keys/sealing-ring.js'
import { importSigningRing } from '../../src/auth/keys/signing-ring.js'
import { parseConfig } from '../../src/config/load.js'
import type { GatewayConfig } from '../../src/config/model.js'
import { connectSharedState, type SharedState } from '../../src/shared/state.js'
import { listen } from '../fixtures/ports.js'
import { runPortcullis, waitFor } from '../fixtures/process.js'
import { startRedis, type TestRedis } from '../fixtures/redis.js'

const logger = pino({ level: 'silent' })

// The shared rings of one connection, as every user of them sees them.
const rings = (c: SharedState) => sharedKeyRings(c.keyRings, c.displayUrl)
const loadSharedSigningKeys = async (c: SharedState) =>
  importSigningRing((await rings(c).signingRing()).ring, Date.now() / 1000)
const loadSharedSessionRing = (c: SharedState) => rings(c).sessionRing()
const rotateSharedSigningKey = (c: SharedState, options?: { graceSeconds?: number }) =>
  rings(c).rotateSigningKey(options)
const rotateSharedSessionKeys = (c: SharedState) => rings(c).rotateSessionKeys()
const listSharedSigningKeys = (c: SharedState) => rings(c).listSigningKeys()

function configFor(url: string, prefix: string, stateDirectory: string): string {
  return `Listeners:
  - Port: 0
    Protocol: HTTP
    DefaultActions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: "200" } }]
Portcullis:
  StateDirectory: ${stateDirectory}
  Admin: false
  SharedState: { Url: "${url}", KeyPrefix: "${prefix}" }
`
}

async function serve(handler: AuthRuntime['keysHandler']): Promise<{ server: Server; url: string }> {
  const server = createServer(handler)
  return { server, url: `http://127.0.0.1:${await listen(server)}` }
}

describe('key rings in the shared state', () => {
  let redis: TestRedis
  let dir: string
  before(async () => {
    redis = await startRedis()
    dir = await mkdtemp(join(tmpdir(), 'portcullis-shared-keys-'))
  })
  after(async () => {
    await redis.stop()
    await rm(dir, { recursive: true, force: true })
  })

  const connect = (prefix: string) =>
    connectSharedState(
      {
        url: redis.url,
        displayUrl: redis.url,
        tls: false,
        keyPrefix: prefix,
        connectTimeoutMs: 1000,
        commandTimeoutMs: 500,
      },
      { logger, caFile: undefined },
    )

  test('created once: gateways starting together agree on one signing key and one sealing ring', async () => {
    const prefix = `t${randomBytes(4).toString('hex')}:`
    const connections: SharedState[] = await Promise.all([1, 2, 3, 4, 5].map(() => connect(prefix)))
    try {
      const signing = await Promise.all(connections.map((c) => loadSharedSigningKeys(c)))
      assert.equal(new Set(signing.map((s) => s.active.kid)).size, 1)
      const rings = await Promise.all(connections.map((c) => loadSharedSessionRing(c)))
      assert.equal(new Set(rings.map((r) => r.active)).size, 1)
    } finally {
      await Promise.all(connections.map((c) => c.close()))
    }
  })

  test('concurrent rotations lose no key: each retired key stays published, one is active', async () => {
    const prefix = `t${randomBytes(4).toString('hex')}:`
    const connections = await Promise.all([1, 2, 3].map(() => connect(prefix)))
    try {
      const first = (await loadSharedSigningKeys(connections[0]!)).active.kid
      const rotated = await Promise.all(connections.map((c) => rotateSharedSigningKey(c, { graceSeconds: 3600 })))
      const listed = await listSharedSigningKeys(connections[0]!)
      assert.equal(listed.length, 4)
      assert.deepEqual(new Set(listed.map((k) => k.kid)), new Set([first, ...rotated.map((r) => r.kid)]))
      assert.equal(listed.filter((k) => k.active).length, 1)
      assert.ok(listed.filter((k) => !k.active).every((k) => (k.publishedUntil ?? 0) > Date.now() / 1000 + 3500))
      const sessions = await Promise.all(connections.map((c) => rotateSharedSessionKeys(c)))
      assert.equal((await loadSharedSessionRing(connections[0]!)).keys.length, 1 + sessions.length)
    } finally {
      await Promise.all(connections.map((c) => c.close()))
    }
  })

  test('two runtimes publish the same keys, open each other’s seals, and pick up a rotation made elsewhere', async () => {
    const prefix = `t${randomBytes(4).toString('hex')}:`
    const config: GatewayConfig = parseConfig(configFor(redis.url, prefix, dir), {
      baseDir: dir,
      source: 'p.yaml',
    }).config
    // Two gateways: each its own connection, as each process has.
    const gateways = await Promise.all([1, 2].map(() => connect(prefix)))
    const runtimes = await Promise.all(gateways.map((shared) => createAuthRuntime(config, { logger, shared })))
    const servers = await Promise.all(runtimes.map((r) => serve(r.keysHandler)))
    const admin = await connect(prefix)
    try {
      const before = (await loadSharedSigningKeys(admin)).active.kid
      for (const { url } of servers) assert.equal((await fetch(`${url}/${before}`)).status, 200)
      const { kid } = await rotateSharedSigningKey(admin)
      for (const { url } of servers) {
        await waitFor(async () => (await fetch(`${url}/${kid}`)).status === 200, `key ${kid} at ${url}`, 10_000)
        assert.equal((await fetch(`${url}/${before}`)).status, 200, 'the previous key stays published')
      }
      // The sealing ring: what one seals, a ring read from the same state opens, across a rotation.
      const a = await SecretRing.from(() => loadSharedSessionRing(admin))
      const sealed = a.seal('session', Buffer.from('hello'), Buffer.from('aad'))
      await rotateSharedSessionKeys(admin)
      const b = await SecretRing.from(() => loadSharedSessionRing(admin))
      assert.equal(String(b.open('session', sealed, Buffer.from('aad'))), 'hello')
      const resealed = b.seal('session', Buffer.from('again'), Buffer.from('aad'))
      assert.equal(String(await a.openFresh('session', resealed, Buffer.from('aad'))), 'again', 'a stale ring re-reads')
    } finally {
      for (const { server } of servers) server.close()
      for (const r of runtimes) await r.close()
      for (const g of gateways) await g.close()
      await admin.close()
    }
  })

  test('a Redis that comes back empty gets the running gateways’ rings back, not new ones: sessions and tokens survive', async () => {
    const prefix = `t${randomBytes(4).toString('hex')}:`
    const config: GatewayConfig = parseConfig(configFor(redis.url, prefix, dir), {
      baseDir: dir,
      source: 'p.yaml',
    }).config
    const gateway = await connect(prefix)
    const runtime = await createAuthRuntime(config, { logger, shared: gateway })
    const { server, url } = await serve(runtime.keysHandler)
    const admin = await connect(prefix)
    const inspect = new Redis(redis.url, { keyPrefix: prefix })
    try {
      const kid = (await loadSharedSigningKeys(admin)).active.kid
      const sealingKey = (await loadSharedSessionRing(admin)).active
      await inspect.flushall()
      await waitFor(
        async () => (await inspect.exists('signing-keys', 'session-keys')) === 2,
        'the running gateway to write its rings back',
        15_000,
      )
      assert.equal((await loadSharedSigningKeys(admin)).active.kid, kid, 'the same signing key, not a new one')
      assert.equal((await loadSharedSessionRing(admin)).active, sealingKey, 'the same sealing key, not a new one')
      assert.equal((await fetch(`${url}/${kid}`)).status, 200)
    } finally {
      server.close()
      await runtime.close()
      await gateway.close()
      await admin.close()
      inspect.disconnect()
    }
  })

  test("times in the shared rings are on Redis's clock: a rotation from a machine 9 days behind keeps the previous keys", async () => {
    const prefix = `t${randomBytes(4).toString('hex')}:`
    const file = join(dir, 'skewed.yaml')
    await writeFile(file, configFor(redis.url, prefix, join(dir, 'state')))
    const admin = await connect(prefix)
    try {
      const before = (await loadSharedSigningKeys(admin)).active.kid
      const ring = await SecretRing.from(() => loadSharedSessionRing(admin))
      const sealed = ring.seal('session', Buffer.from('kept'), Buffer.from('aad'))
      // Its own clock says 9 days ago: "24 h from now" and "8 days from now" would both be in our past.
      const rotate = await runPortcullis(['keys', 'rotate', '--config', file], dir, { via: ['faketime', '-f', '-9d'] })
      assert.equal(rotate.code, 0, rotate.stderr)
      const signing = await loadSharedSigningKeys(admin)
      assert.notEqual(signing.active.kid, before)
      assert.ok(
        signing.published.some((k) => k.kid === before),
        'the previous signing key is still published for its 24 h',
      )
      const until = (await listSharedSigningKeys(admin)).find((k) => k.kid === before)?.publishedUntil
      const left = until! - Date.now() / 1000
      assert.ok(left > 24 * 3600 - 120 && left <= 24 * 3600 + 2, `published for ${left} s more`)
      const rotated = await SecretRing.from(() => loadSharedSessionRing(admin))
      assert.equal(
        String(rotated.open('session', sealed, Buffer.from('aad'))),
        'kept',
        'the previous sealing key opens',
      )
    } finally {
      await admin.close()
    }
  })

  test('portcullis keys rotate --config rotates the shared rings, and keys list shows them', async () => {
    const prefix = `t${randomBytes(4).toString('hex')}:`
    const file = join(dir, 'shared.yaml')
    await writeFile(file, configFor(redis.url, prefix, join(dir, 'state')))
    const admin = await connect(prefix)
    try {
      const before = (await loadSharedSigningKeys(admin)).active.kid
      const rotate = await runPortcullis(['keys', 'rotate', '--config', file], dir)
      assert.equal(rotate.code, 0, rotate.stderr)
      assert.match(rotate.stdout, new RegExp(`is now active in the shared state redis://127\\.0\\.0\\.1:${redis.port}`))
      const after = (await loadSharedSigningKeys(admin)).active.kid
      assert.notEqual(after, before)
      const list = await runPortcullis(['keys', 'list', '--config', file], dir)
      assert.equal(list.code, 0, list.stderr)
      assert.match(list.stdout, new RegExp(`${after}\\tactive`))
      assert.match(list.stdout, new RegExp(`${before}\\tpublished-until=`))
    } finally {
      await admin.close()
    }
  })
})
