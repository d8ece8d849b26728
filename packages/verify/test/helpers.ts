// Shared fixtures for the verify tests: a real key server on 127.0.0.1 and
// hand-rolled token signing for the malformed tokens mint will not produce.
import { createHmac, type KeyObject, sign } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { type AlbVerifier, type AlbVerifierOptions, createAlbVerifier } from '../src/index.js'
import { type AlbSigningKey, createKeyHandler } from '../src/mint/index.js'

export const SIGNER = 'arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/my-alb/50dc6c495c0c9188'
export const OTHER_SIGNER = 'arn:aws:elasticloadbalancing:us-east-1:999999999999:loadbalancer/app/evil/0123456789abcdef'
export const ISSUER = 'https://idp.example.com'
export const CLIENT_ID = 'my-client-id'

/** A listening server and how to stop it. */
export interface Running {
  /** `http://127.0.0.1:PORT` */
  readonly url: string
  close(): Promise<void>
}

/** Listens on 127.0.0.1:0 and returns the base URL and a closer that drops keep-alive connections. */
export async function listen(server: Server): Promise<Running> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  return { url: urlOf(server), close: () => closeServer(server) }
}

/** The base URL of a server listening on 127.0.0.1. */
export function urlOf(server: Server): string {
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

/** Closes a node:http server, including idle keep-alive connections; closing twice is not an error. */
export function closeServer(server: Server): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve())
    server.closeAllConnections()
  })
}

/** A real HTTP server on 127.0.0.1:0 that counts the requests it receives. */
export interface TestServer extends Running {
  /** Request paths in arrival order. */
  readonly requests: string[]
}

export async function startServer(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<TestServer> {
  const requests: string[] = []
  const running = await listen(
    createServer((req, res) => {
      requests.push(req.url ?? '')
      handler(req, res)
    }),
  )
  return { ...running, requests }
}

/** A key server publishing `keys` with the package's own key handler. */
export function startKeyServer(keys: readonly AlbSigningKey[] | (() => readonly AlbSigningKey[])): Promise<TestServer> {
  return startServer(createKeyHandler(keys))
}

/** A verifier for SIGNER/ISSUER/CLIENT_ID against `keyEndpoint`. */
export function verifierFor(keyEndpoint: string, options: Partial<AlbVerifierOptions> = {}): AlbVerifier {
  return createAlbVerifier({ signer: SIGNER, issuer: ISSUER, clientId: CLIENT_ID, keyEndpoint, ...options })
}

/** base64url of JSON text or bytes, padded (ALB) or not. */
export function b64(value: unknown, pad = true): string {
  const bytes = Buffer.isBuffer(value) ? value : Buffer.from(typeof value === 'string' ? value : JSON.stringify(value))
  const text = bytes.toString('base64url')
  return pad && text.length % 4 !== 0 ? text + '='.repeat(4 - (text.length % 4)) : text
}

/** The header ALB would send for `key`, expiring at `exp`. */
export function albHeader(kid: string, exp: number, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { typ: 'JWT', kid, alg: 'ES256', iss: ISSUER, client: CLIENT_ID, signer: SIGNER, exp, ...overrides }
}

/**
 * Signs arbitrary header and payload objects (or raw segment text) with an EC
 * key, over the segments exactly as they will be sent.
 */
export function signParts(
  header: Record<string, unknown> | string,
  payload: Record<string, unknown> | string,
  privateKey: KeyObject,
  options: { pad?: boolean; der?: boolean } = {},
): string {
  const pad = options.pad ?? true
  const input =
    (typeof header === 'string' ? header : b64(header, pad)) +
    '.' +
    (typeof payload === 'string' ? payload : b64(payload, pad))
  const signature = sign('sha256', Buffer.from(input), {
    key: privateKey,
    dsaEncoding: options.der ? 'der' : 'ieee-p1363',
  })
  return input + '.' + b64(signature, pad)
}

/** An HS256 token whose secret is `secret`: the classic algorithm-confusion forgery. */
export function signHs256(header: Record<string, unknown>, payload: Record<string, unknown>, secret: string): string {
  const input = b64(header) + '.' + b64(payload)
  return input + '.' + b64(createHmac('sha256', secret).update(input).digest())
}

/** Seconds since the epoch, whole. */
export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000)
}
