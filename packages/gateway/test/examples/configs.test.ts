import assert from 'node:assert/strict'
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { request } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { isMap, isSeq, parseDocument } from 'yaml'
import { freePort } from '../fixtures/ports.js'
import { portcullis, runPortcullis, waitFor } from '../fixtures/process.js'

const EXAMPLES = fileURLToPath(new URL('../../../../examples/configs/', import.meta.url))
const files = readdirSync(EXAMPLES).filter((f) => /\.(ya?ml|json)$/.test(f))

/**
 * A temporary copy of an example with every port it binds moved to a free
 * one (listeners, redirects to them, the admin listener): nothing else changes.
 */
async function copyOnFreePorts(file: string, dir: string): Promise<{ path: string; ports: Map<number, number> }> {
  const doc = parseDocument(readFileSync(join(EXAMPLES, file), 'utf8'))
  const ports = new Map<number, number>()
  const listeners = doc.get('Listeners')
  assert.ok(isSeq(listeners))
  for (const listener of listeners.items) {
    assert.ok(isMap(listener))
    const port = Number(listener.get('Port'))
    const moved = await freePort()
    ports.set(port, moved)
    listener.set('Port', moved)
  }
  // A redirect to another listener follows it to its new port.
  const text = doc.toString().replace(/(Port: "?)(\d+)("?)/g, (all, a: string, p: string, b: string) => {
    const moved = ports.get(Number(p))
    return a.includes('"') && moved !== undefined ? `${a}${moved}${b}` : all
  })
  const moved = parseDocument(text)
  moved.setIn(['Portcullis', 'Admin'], { Address: '127.0.0.1', Port: await freePort() })
  const path = join(dir, file)
  writeFileSync(path, moved.toString())
  return { path, ports }
}

/** One GET to a listener; HTTPS trusts the local CA the example's own state directory holds. */
function get(url: string, ca: string | undefined): Promise<{ status: number; server: string | undefined }> {
  return new Promise((resolve, reject) => {
    const send = url.startsWith('https:') ? request : httpRequest
    const req = send(url, { ca, servername: 'localhost' }, (res) => {
      res.resume()
      res.on('end', () => resolve({ status: res.statusCode ?? 0, server: res.headers.server as string | undefined }))
    })
    req.on('error', reject)
    req.end()
  })
}

describe('every file in examples/configs validates and starts as shipped', () => {
  const dirs: string[] = []
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  })
  assert.ok(files.length >= 3)

  for (const file of files) {
    test(file, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'portcullis-example-'))
      dirs.push(dir)
      // The file as shipped validates where it lies.
      const shipped = join(dir, `shipped-${file}`)
      copyFileSync(join(EXAMPLES, file), shipped)
      const validated = await runPortcullis(['validate', shipped], dir)
      assert.equal(validated.code, 0, validated.stdout + validated.stderr)

      const { path, ports } = await copyOnFreePorts(file, dir)
      const child = portcullis(['start', '--config', path, '--workers', '1', '--log-level', 'warn'], dir)
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (c: Buffer) => {
        stdout += c.toString()
      })
      child.stderr.on('data', (c: Buffer) => {
        stderr += c.toString()
      })
      try {
        await waitFor(() => stdout.includes('SIGHUP') || child.exitCode !== null, `${file} to start`)
        assert.equal(child.exitCode, null, stdout + stderr)
        const [first] = ports.values()
        const https = /Protocol: HTTPS/.test(readFileSync(path, 'utf8').split('- Port:')[1] ?? '')
        const ca = https ? readFileSync(join(dir, '.portcullis', 'tls', 'ca.pem'), 'utf8') : undefined
        const response = await get(`${https ? 'https' : 'http'}://localhost:${first}/`, ca)
        // Every example answers `/` itself (a fixed response or a login redirect), as ALB does: Server: awselb/2.0.
        assert.ok(response.status >= 200 && response.status < 500, `status ${response.status}`)
        assert.equal(response.server, 'awselb/2.0')
        if (https) assert.match(stderr + stdout, /local development CA/)
      } finally {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM')
          await new Promise((resolve) => child.once('exit', resolve))
        }
      }
    })
  }
})
