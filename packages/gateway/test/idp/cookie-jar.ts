/**
 * A minimal cookie jar for driving browser flows with `fetch` in tests:
 * remembers `name=value` from `Set-Cookie` (honouring `Max-Age=0` and past
 * `Expires` as deletion) per host, ignoring paths and other attributes,
 * which is enough for one origin at a time.
 */
export class CookieJar {
  readonly #cookies = new Map<string, Map<string, string>>()

  store(url: string, response: Response): void {
    const host = new URL(url).host
    let jar = this.#cookies.get(host)
    if (!jar) {
      jar = new Map()
      this.#cookies.set(host, jar)
    }
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';')
      const index = pair!.indexOf('=')
      const name = pair!.slice(0, index).trim()
      const value = pair!.slice(index + 1).trim()
      const expired = attributes.some((attribute) => {
        const [key, raw] = attribute.split('=').map((part) => part.trim())
        if (key?.toLowerCase() === 'max-age') return Number(raw) <= 0
        if (key?.toLowerCase() === 'expires') return Date.parse(raw ?? '') <= Date.now()
        return false
      })
      if (expired) jar.delete(name)
      else jar.set(name, value)
    }
  }

  header(url: string): string {
    const jar = this.#cookies.get(new URL(url).host)
    return jar ? [...jar].map(([name, value]) => `${name}=${value}`).join('; ') : ''
  }

  get(url: string, name: string): string | undefined {
    return this.#cookies.get(new URL(url).host)?.get(name)
  }

  names(url: string): string[] {
    return [...(this.#cookies.get(new URL(url).host)?.keys() ?? [])]
  }

  /** `fetch` that never follows redirects, sending and storing this jar's cookies. */
  async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers)
    const cookie = this.header(url)
    if (cookie) headers.set('cookie', cookie)
    const response = await fetch(url, { ...init, headers, redirect: 'manual' })
    this.store(url, response)
    return response
  }
}
