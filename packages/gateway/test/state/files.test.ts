import assert from 'node:assert/strict'
import { mkdir, mkdtemp, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, mock, test } from 'node:test'
import { stateDirectoryKeyRings } from '../../src/auth/keys/key-ring-store.js'
import { createExclusive, replaceAtomically } from '../../src/state/files.js'
import { ensureStickinessSecret } from '../../src/state/secret.js'
import { ensureLeafCertificate, ensureLocalCa } from '../../src/tls/local-ca.js'

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-files-'))
})
afterEach(async () => {
  mock.restoreAll()
  await rm(dir, { recursive: true, force: true })
})

/** Counts fsyncs of file handles (the writer's, and any other) while `fn` runs. */
async function fsyncsDuring(fn: () => Promise<unknown>): Promise<number> {
  const probe = await open(join(dir, '.probe'), 'w')
  const fileHandle = Object.getPrototypeOf(probe) as { sync: () => Promise<void> }
  await probe.close()
  const sync = mock.method(fileHandle, 'sync')
  await fn()
  const calls = sync.mock.callCount()
  sync.mock.restore()
  return calls
}

/** Files in `path`, recursively, without the probe. */
async function filesUnder(path: string): Promise<string[]> {
  const entries = await readdir(path, { recursive: true })
  return entries.filter((name) => name !== '.probe').sort()
}

describe('the one atomic writer', () => {
  test('gives the file exactly its mode, whatever the umask', async () => {
    const previous = process.umask(0o077)
    try {
      await replaceAtomically(join(dir, 'cert.pem'), 'public', 0o644)
      await createExclusive(join(dir, 'key.pem'), 'private')
    } finally {
      process.umask(previous)
    }
    assert.equal((await stat(join(dir, 'cert.pem'))).mode & 0o777, 0o644)
    assert.equal((await stat(join(dir, 'key.pem'))).mode & 0o777, 0o600)
  })

  test('replaces a file, or creates one only where none is, and leaves no temporary file', async () => {
    const path = join(dir, 'active')
    await replaceAtomically(path, 'one')
    await replaceAtomically(path, 'two')
    assert.equal(await readFile(path, 'utf8'), 'two')
    assert.equal(await createExclusive(path, 'three'), false)
    assert.equal(await readFile(path, 'utf8'), 'two')
    assert.deepEqual(await readdir(dir), ['active'])
  })

  test('a failed publish leaves no temporary file behind', async () => {
    const taken = join(dir, 'taken')
    await mkdir(taken)
    await writeFile(join(taken, 'inside'), 'x')
    await assert.rejects(replaceAtomically(taken, 'content'), { code: 'EISDIR' })
    assert.deepEqual(await readdir(dir), ['taken'])
  })

  test('every state file is flushed to disk before it is published', async () => {
    const stateDirectory = join(dir, 'state')
    // Signing keys: the new key, the active marker, the retired key's expiry.
    assert.ok((await fsyncsDuring(() => stateDirectoryKeyRings(stateDirectory).rotateSigningKey())) >= 2)
    assert.ok((await fsyncsDuring(() => stateDirectoryKeyRings(stateDirectory).rotateSigningKey())) >= 3)
    assert.equal(await fsyncsDuring(() => ensureStickinessSecret(stateDirectory)), 1)
    // The CA's key and certificate, then the leaf's.
    assert.equal(await fsyncsDuring(() => ensureLocalCa(stateDirectory)), 2)
    assert.equal(await fsyncsDuring(() => ensureLeafCertificate(stateDirectory)), 2)
    assert.ok((await filesUnder(stateDirectory)).every((name) => !name.endsWith('.tmp')))
  })
})
