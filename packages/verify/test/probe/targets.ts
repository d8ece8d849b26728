// Targets for the probe tests: flawed verifiers of the kinds found in the
// wild, each hand-written with node:crypto and one flaw, so that the probe
// must single out exactly the forgery that flaw lets through.
import { createPublicKey, verify } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { CLIENT_ID, ISSUER, SIGNER } from '../middleware/fixtures.js'

function answer(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
}

function single(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name]
  return typeof value === 'string' ? value : undefined
}

/** Trusts `x-amzn-oidc-identity` as is: the developer who fakes the headers locally and ships it. */
export function trustsHeaders(req: IncomingMessage, res: ServerResponse): void {
  const sub = single(req, 'x-amzn-oidc-identity')
  if (sub === undefined) answer(res, 401, { error: 'unauthenticated' })
  else answer(res, 200, { sub })
}

/**
 * A hand-rolled verifier with every check of the article, except the one
 * `flaw` removes: `alg-none` skips the signature when the header says
 * `alg: none`; `ignores-exp` never looks at `exp`.
 */
export function handRolled(keyEndpoint: string, flaw: 'alg-none' | 'ignores-exp') {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const token = single(req, 'x-amzn-oidc-data')
    const identity = single(req, 'x-amzn-oidc-identity')
    if (token === undefined || identity === undefined) return answer(res, 401, { error: 'unauthenticated' })
    // Exactly three segments: Buffer's lenient base64 would otherwise read the
    // first of two comma-joined tokens (a repeated header) as valid.
    const [h, p, s, extra] = token.split('.')
    if (h === undefined || p === undefined || s === undefined || extra !== undefined) {
      return answer(res, 401, { error: 'malformed' })
    }
    let header: Record<string, unknown>
    let claims: Record<string, unknown>
    try {
      header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8'))
      claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'))
    } catch {
      return answer(res, 401, { error: 'malformed' })
    }
    if (header['signer'] !== SIGNER || header['client'] !== CLIENT_ID || header['iss'] !== ISSUER) {
      return answer(res, 401, { error: 'not ours' })
    }
    if (!(flaw === 'alg-none' && header['alg'] === 'none')) {
      if (header['alg'] !== 'ES256' || !/^[0-9a-f-]{36}$/.test(String(header['kid']))) {
        return answer(res, 401, { error: 'alg' })
      }
      const response = await fetch(`${keyEndpoint}/${String(header['kid'])}`)
      if (response.status !== 200) return answer(res, 401, { error: 'no key' })
      const key = createPublicKey(await response.text())
      const signature = Buffer.from(s, 'base64url')
      if (!verify('sha256', Buffer.from(`${h}.${p}`), { key, dsaEncoding: 'ieee-p1363' }, signature)) {
        return answer(res, 401, { error: 'signature' })
      }
    }
    if (flaw !== 'ignores-exp' && !(typeof claims['exp'] === 'number' && claims['exp'] > Date.now() / 1000)) {
      return answer(res, 401, { error: 'expired' })
    }
    if (claims['sub'] !== identity) return answer(res, 401, { error: 'identity' })
    answer(res, 200, { sub: claims['sub'] })
  }
}
