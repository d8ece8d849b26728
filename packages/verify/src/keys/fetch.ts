import { AlbVerifyError } from '../errors.js'

/** A P-256 SPKI PEM is under 200 bytes; anything much larger is not a key. */
export const MAX_KEY_RESPONSE_BYTES = 4096

// Global fetch (undici) rather than node:http/https: one code path for http:
// and https: endpoints, `redirect: 'manual'` so a 3xx is an answer we reject
// rather than a hop to an attacker-chosen host, and one AbortSignal that bounds
// connect, headers and body together, so a server trickling bytes cannot hold
// a request open past the timeout.

/**
 * Fetches `url` and returns its body as text, failing with `ERR_KEY_FETCH` on
 * any network error, timeout, status other than 200 (redirects included), or a
 * body over {@link MAX_KEY_RESPONSE_BYTES}.
 */
export async function fetchKeyText(url: string, timeoutMs: number): Promise<string> {
  let response: Response
  try {
    response = await fetch(url, {
      method: 'GET',
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
      headers: { accept: 'application/x-pem-file, text/plain, */*' },
    })
  } catch (err) {
    throw new AlbVerifyError('ERR_KEY_FETCH', 'key server request failed', { cause: err })
  }
  const body = response.body
  if (response.status === 404) {
    // The key server answered and has no such key: the token is bad, not the
    // server. Reported as the client's error (401 in the middleware), not 503.
    await body?.cancel().catch(() => {})
    throw new AlbVerifyError('ERR_KID', 'the key server has no key with this kid (HTTP 404)')
  }
  if (response.status !== 200) {
    await body?.cancel().catch(() => {})
    throw new AlbVerifyError('ERR_KEY_FETCH', `key server answered HTTP ${response.status}`)
  }
  const declared = Number(response.headers.get('content-length') ?? '0')
  if (body === null || declared > MAX_KEY_RESPONSE_BYTES) {
    await body?.cancel().catch(() => {})
    throw new AlbVerifyError('ERR_KEY_FETCH', 'key server answer is empty or too large')
  }
  const reader = body.getReader()
  const chunks: Uint8Array[] = []
  let total = 0
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      total += value.byteLength
      if (total > MAX_KEY_RESPONSE_BYTES) {
        await reader.cancel().catch(() => {})
        throw new AlbVerifyError('ERR_KEY_FETCH', 'key server answer is too large')
      }
      chunks.push(value)
    }
  } catch (err) {
    if (err instanceof AlbVerifyError) throw err
    throw new AlbVerifyError('ERR_KEY_FETCH', 'key server answer could not be read', { cause: err })
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks, total))
  } catch (err) {
    throw new AlbVerifyError('ERR_KEY_INVALID', 'key server answer is not UTF-8 text', { cause: err })
  }
}
