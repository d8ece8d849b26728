import assert from 'node:assert/strict'
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { pino } from 'pino'
import { type KeyRingStore, stateDirectoryKeyRings } from '../../src/auth/keys/key-ring-store.js'
import { liveKeyRings } from '../../src/auth/keys/live.js'
import { newSigningKey } from '../../src/auth/keys/signing-ring.js'
import { loadSealingRing, loadSigningKeys } from '../fixtures/keys.js'
import { signal } from '../fixtures/signal.js'

const rotateSigningKey = (dir: string, options?: { graceSeconds?: number }) =>
  stateDirectoryKeyRings(dir).rotateSigningKey(options)
const listSigningKeys = (dir: string) => stateDirectoryKeyRings(dir).listSigningKeys()
const rotateSessionKeys = (dir: string) => stateDirectoryKeyRings(dir).rotateSessionKeys()
const listSessionKeys = (dir: string) => stateDirectoryKeyRings(dir).listSessionKeys()

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

describe('signing key ring in the state directory', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-keys-'))
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  test('workers starting at once agree on one first key, written 0600 in a 0700 directory', async () => {
    const rings = await Promise.all(Array.from({ length: 8 }, () => loadSigningKeys(dir)))
    const kids = new Set(rings.map((r) => r.active.kid))
    assert.equal(kids.size, 1)
    const kid = [...kids][0]!
    assert.match(kid, UUID)
    const files = (await readdir(join(dir, 'signing-keys'))).filter((f) => f.endsWith('.pem'))
    assert.deepEqual(files, [`${kid}.pem`])
    assert.equal((await stat(join(dir, 'signing-keys', `${kid}.pem`))).mode & 0o777, 0o600)
    assert.equal((await stat(join(dir, 'signing-keys'))).mode & 0o777, 0o700)
    assert.equal(rings[0]!.active.privateKey.asymmetricKeyDetails?.namedCurve, 'prime256v1')
  })

  test('rotation: a new active key, the old one published during its grace, pruned after', async () => {
    const first = (await loadSigningKeys(dir)).active.kid
    const { kid: second } = await rotateSigningKey(dir)
    assert.notEqual(second, first)
    const ring = await loadSigningKeys(dir)
    assert.equal(ring.active.kid, second)
    assert.deepEqual(
      ring.published.map((k) => k.kid),
      [second, first],
    )
    const listed = await listSigningKeys(dir)
    assert.equal(listed[0]!.kid, second)
    assert.equal(listed[0]!.active, true)
    const old = listed.find((k) => k.kid === first)!
    assert.ok(old.publishedUntil! > Date.now() / 1000 + 23 * 3600)

    // Zero grace: the next rotation leaves the retired key unpublished and prunes it.
    const { kid: third } = await rotateSigningKey(dir, { graceSeconds: 0 })
    assert.deepEqual(
      (await loadSigningKeys(dir)).published.map((k) => k.kid),
      [third, first],
    )
    const { kid: fourth } = await rotateSigningKey(dir)
    const files = await readdir(join(dir, 'signing-keys'))
    assert.ok(!files.includes(`${second}.pem`), 'the zero-grace key is pruned')
    const published = (await loadSigningKeys(dir)).published.map((k) => k.kid)
    assert.equal(published[0], fourth)
    assert.deepEqual(published.slice(1).sort(), [first, third].sort())
  })

  test('a negative grace is refused', async () => {
    await assert.rejects(rotateSigningKey(dir, { graceSeconds: -1 }), RangeError)
  })
})

describe('session/state secret ring', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-ring-'))
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })
  const aad = Buffer.from('portcullis session:Cookie')

  test('concurrent creation yields one ring (0600); values round-trip and bind purpose and associated data', async () => {
    const rings = await Promise.all(Array.from({ length: 8 }, () => loadSealingRing(dir)))
    assert.equal((await listSessionKeys(dir)).length, 1)
    assert.equal((await stat(join(dir, 'session-keys.json'))).mode & 0o777, 0o600)
    const sealed = rings[0]!.seal('session', Buffer.from('hello'), aad)
    for (const ring of rings) assert.equal(ring.open('session', sealed, aad)?.toString(), 'hello')
    assert.equal(rings[1]!.open('state', sealed, aad), undefined, 'another purpose')
    assert.equal(
      rings[1]!.open('session', sealed, Buffer.from('portcullis session:Other')),
      undefined,
      'another cookie',
    )
    assert.equal(rings[1]!.open('session', `${sealed}A`, aad), undefined, 'extended')
    assert.equal(rings[1]!.open('session', sealed.slice(0, -1), aad), undefined, 'truncated')
    assert.equal(rings[1]!.open('session', `${sealed.slice(0, 10)}*${sealed.slice(11)}`, aad), undefined, 'bad char')
    assert.equal(rings[1]!.open('session', '', aad), undefined)
  })

  test('values sealed before a rotation still open; another instance’s rotation is picked up on an unknown key id', async () => {
    const before = await loadSealingRing(dir)
    const old = before.seal('session', Buffer.from('old'), aad)
    await rotateSessionKeys(dir)
    const afterRotation = await loadSealingRing(dir)
    assert.equal(afterRotation.open('session', old, aad)?.toString(), 'old')
    const fresh = afterRotation.seal('session', Buffer.from('new'), aad)
    assert.equal(before.open('session', fresh, aad), 'unknown-key')
    assert.equal((await before.openFresh('session', fresh, aad))?.toString(), 'new')
    const keys = await listSessionKeys(dir)
    assert.equal(keys.length, 2)
    assert.equal(keys.filter((k) => k.active).length, 1)
    assert.ok(keys.find((k) => !k.active)!.retiresAt! > Date.now() / 1000 + 7 * 86_400)
  })

  test('a value from a foreign ring does not open', async () => {
    const otherDir = await mkdtemp(join(tmpdir(), 'portcullis-ring-'))
    try {
      const foreign = (await loadSealingRing(otherDir)).seal('session', Buffer.from('x'), aad)
      const ring = await loadSealingRing(dir)
      assert.equal(await ring.openFresh('session', foreign, aad), undefined)
    } finally {
      await rm(otherDir, { recursive: true, force: true })
    }
  })
})

describe('a process keeps its signing keys current (liveKeyRings)', () => {
  test('a key set that changes without a new active key is no rotation, and is not logged as one', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'portcullis-keys-'))
    t.after(() => rm(dir, { recursive: true, force: true }))
    const store = stateDirectoryKeyRings(dir)
    const { ring } = await store.signingRing()
    // Two processes starting on a fresh state directory: the one that loses the race to write the first
    // key has its key file on disk for a moment, then removes it (stateDirectoryKeyRings' readSigning).
    const loser = newSigningKey()
    const loserFile = join(dir, 'signing-keys', `${loser.kid}.pem`)
    await writeFile(loserFile, loser.pem, { mode: 0o600 })
    const lines: string[] = []
    const logged = signal()
    const logger = pino(
      { level: 'debug' },
      {
        write(line: string) {
          lines.push(line)
          if (line.includes('rotation picked up')) logged.fire()
        },
      },
    )
    let reads = 0
    const reread = signal()
    const watched: KeyRingStore = {
      ...store,
      async signingRing(known) {
        const read = await store.signingRing(known)
        if (++reads === 2) setImmediate(reread.fire)
        return read
      },
    }
    const keys = await liveKeyRings(watched, logger)
    t.after(() => keys.close())
    // The periodic check's timer does not hold a process open: this does, until the test ends.
    const keepAlive = setInterval(() => {}, 60_000)
    t.after(() => clearInterval(keepAlive))
    await rm(loserFile)
    // The periodic check reads the ring again: the key set changed, the active key did not.
    await reread.promise
    assert.equal(keys.signing.active.kid, ring.active)
    assert.deepEqual(
      lines.filter((line) => line.includes('rotation')),
      [],
    )

    // A real rotation is logged, naming both keys.
    const rotated = await store.rotateSigningKey()
    await logged.promise
    const line = JSON.parse(lines.find((l) => l.includes('rotation picked up'))!) as Record<string, unknown>
    assert.equal(line['kid'], rotated.kid)
    assert.equal(line['previousKid'], ring.active)
  })
})
