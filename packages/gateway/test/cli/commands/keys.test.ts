import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { after, before, describe, test } from 'node:test'
import { keysCommand } from '../../../src/cli/commands/keys.js'

function capture() {
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  let out = ''
  let err = ''
  stdout.on('data', (c: Buffer) => {
    out += c.toString()
  })
  stderr.on('data', (c: Buffer) => {
    err += c.toString()
  })
  return { io: { stdout, stderr }, out: () => out, err: () => err }
}

describe('portcullis keys', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-keys-cli-'))
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  test('list creates the first key and prints it as active', async () => {
    const c = capture()
    assert.equal(await keysCommand({ action: 'list', stateDirectory: dir }, c.io), 0)
    assert.match(c.out(), /^[0-9a-f-]{36}\tactive\n$/)
  })

  test('rotate makes a new key active and keeps the previous one published', async () => {
    const before = capture()
    await keysCommand({ action: 'list', stateDirectory: dir }, before.io)
    const oldKid = before.out().split('\t')[0]!
    const c = capture()
    assert.equal(await keysCommand({ action: 'rotate', stateDirectory: dir }, c.io), 0)
    const newKid = /signing key ([0-9a-f-]{36}) is now active/.exec(c.out())![1]!
    assert.notEqual(newKid, oldKid)
    const listed = capture()
    await keysCommand({ action: 'list', stateDirectory: dir }, listed.io)
    const lines = listed.out().trim().split('\n')
    assert.equal(lines[0], `${newKid}\tactive`)
    assert.match(lines.find((l) => l.startsWith(oldKid))!, /\tpublished-until=\d{4}-\d\d-\d\dT/)
  })

  test('a state directory that cannot be used → exit code 1 and one line on stderr', async () => {
    const file = join(dir, 'not-a-directory')
    await writeFile(file, 'x')
    const c = capture()
    assert.equal(await keysCommand({ action: 'list', stateDirectory: file }, c.io), 1)
    assert.match(c.err(), /^portcullis keys list: .+\n$/)
  })
})
