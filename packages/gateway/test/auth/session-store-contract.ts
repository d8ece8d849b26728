/**
 * The contract every {@link SessionStore} must honour, as a suite any
 * implementation registers against itself (as oauth2-proxy runs one suite
 * over its cookie and Redis stores):
 *
 * ```ts
 * sessionStoreContract('redis store', async () => ({ store: (binding, clock) => new RedisSessionStore(…), close }))
 * ```
 *
 * The tests talk to a store only through {@link SessionExchange}s, carrying
 * back whatever `Set-Cookie` values it wrote, as a browser would.
 */
import assert from 'node:assert/strict'
import type { IncomingMessage } from 'node:http'
import { after, before, describe, test } from 'node:test'
import type { SessionBinding } from '../../src/auth/cookie-session-store.js'
import { AuthError } from '../../src/auth/errors.js'
import type { SessionExchange, SessionStore } from '../../src/auth/session-store.js'
import type { SessionData } from '../../src/auth/types.js'

/** Stores of one harness share their backend (keys, a Redis database). */
export interface StoreHarness {
  /** A store for the action that `binding` describes, reading the time (seconds) from `clock`. */
  store(binding: SessionBinding, clock: () => number): SessionStore
  close(): Promise<void>
}

/** A browser's cookies for one site: what requests carry and `Set-Cookie` updates. */
export class Jar {
  readonly cookies = new Map<string, string>()

  /** A request carrying the jar's cookies. */
  exchange(): SessionExchange {
    return {
      cookies: new Map(this.cookies),
      responseCookies: [],
      protocol: 'https',
      req: { headers: { host: 'app.example' } } as IncomingMessage,
    }
  }

  /** Applies the response's `Set-Cookie` values. */
  keep(exchange: SessionExchange): void {
    for (const line of exchange.responseCookies) {
      const [pair = '', ...attributes] = line.split('; ')
      const eq = pair.indexOf('=')
      const name = pair.slice(0, eq)
      if (attributes.includes('Max-Age=0')) this.cookies.delete(name)
      else this.cookies.set(name, pair.slice(eq + 1))
    }
  }
}

export const BINDING: SessionBinding = {
  sessionCookieName: 'AppSession',
  issuer: 'https://idp.example',
  clientId: 'app',
}

const T0 = 1_800_000_000

/** A session as a login makes it: `rt`/`ae` only when given. */
export function session(extra: Partial<SessionData> = {}): SessionData {
  return { v: 1, c: { sub: 'alice', email: 'alice@example.test' }, at: 'access-1', se: T0 + 3600, ...extra }
}

/** A renewal that counts its calls, answering with a new access token (or failing). */
function renewal(outcome: 'renew' | 'fail' = 'renew') {
  const calls: SessionData[] = []
  const renew = async (s: SessionData): Promise<SessionData> => {
    calls.push(s)
    await new Promise((resolve) => setTimeout(resolve, 5))
    if (outcome === 'fail') throw new AuthError(401, 'AuthInvalidGrantError')
    return { ...s, at: `access-${calls.length + 1}`, rt: 'refresh-2', ae: T0 + 600 }
  }
  return { renew, calls }
}

/** Registers the contract tests for `name` (call at the top level of a test file). */
export function sessionStoreContract(name: string, makeHarness: () => Promise<StoreHarness>): void {
  describe(`session store contract: ${name}`, () => {
    let harness: StoreHarness
    let now = T0
    const clock = () => now
    const store = (binding: SessionBinding = BINDING) => harness.store(binding, clock)

    /** A jar holding a freshly sealed session. */
    const sealed = async (s: SessionData, target: SessionStore = store()): Promise<Jar> => {
      const jar = new Jar()
      const exchange = jar.exchange()
      await target.seal(exchange, s)
      jar.keep(exchange)
      return jar
    }

    before(async () => {
      harness = await makeHarness()
    })
    after(() => harness.close())

    test('a request without a session opens nothing, and clearing it writes nothing that sets a cookie', async () => {
      now = T0
      const jar = new Jar()
      const exchange = jar.exchange()
      assert.equal(await store().open(exchange), undefined)
      await store().clear(exchange)
      jar.keep(exchange)
      assert.equal(jar.cookies.size, 0)
    })

    test('a sealed session opens again, unchanged, in a later request', async () => {
      now = T0
      const s = session({ rt: 'refresh-1', ae: T0 + 300 })
      const jar = await sealed(s)
      assert.ok(jar.cookies.size > 0, 'sealing gives the browser something to keep')
      const opened = await store().open(jar.exchange())
      assert.deepEqual(opened?.session, s)
      // Another instance of the store for the same action (another worker, a reload) opens it too.
      assert.deepEqual((await store().open(jar.exchange()))?.session, s)
    })

    test("a session is bound to its action's issuer, client id and cookie name", async () => {
      now = T0
      const jar = await sealed(session())
      for (const other of [
        { ...BINDING, issuer: 'https://other-idp.example' },
        { ...BINDING, clientId: 'other-app' },
        { ...BINDING, sessionCookieName: 'OtherSession' },
      ]) {
        assert.equal(await store(other).open(jar.exchange()), undefined, JSON.stringify(other))
      }
      assert.ok(await store().open(jar.exchange()))
    })

    test('a tampered session opens nothing', async () => {
      now = T0
      const jar = await sealed(session())
      for (const [name, value] of jar.cookies) {
        const flipped = value.endsWith('A') ? `${value.slice(0, -1)}B` : `${value.slice(0, -1)}A`
        jar.cookies.set(name, flipped)
      }
      assert.equal(await store().open(jar.exchange()), undefined)
    })

    test('clear ends the session the request carries', async () => {
      now = T0
      const jar = await sealed(session())
      const exchange = jar.exchange()
      await store().clear(exchange)
      jar.keep(exchange)
      assert.equal(await store().open(jar.exchange()), undefined)
    })

    test('refresh leaves a session alone while its access token is valid, or when it has no refresh token', async () => {
      now = T0
      const { renew, calls } = renewal()
      const fresh = session({ rt: 'refresh-1', ae: T0 + 300 })
      const s1 = store()
      const opened = await s1.open((await sealed(fresh, s1)).exchange())
      assert.deepEqual((await s1.refresh(new Jar().exchange(), opened!, renew))?.session, fresh)

      const noRefreshToken = session({ ae: T0 - 1 })
      const s2 = store()
      const jar = await sealed(noRefreshToken, s2)
      const exchange = jar.exchange()
      const current = await s2.refresh(exchange, (await s2.open(jar.exchange()))!, renew)
      assert.deepEqual(current?.session, noRefreshToken)
      assert.equal(calls.length, 0)
    })

    test('an expired access token is renewed once for concurrent requests, and the renewed session is kept', async () => {
      now = T0
      const { renew, calls } = renewal()
      const target = store()
      const jar = await sealed(session({ rt: 'refresh-1', ae: T0 - 1 }), target)
      const exchanges = [jar.exchange(), jar.exchange(), jar.exchange()]
      const opened = await Promise.all(exchanges.map((e) => target.open(e)))
      const current = await Promise.all(exchanges.map((e, i) => target.refresh(e, opened[i]!, renew)))
      assert.equal(calls.length, 1, 'one renewal for three requests')
      for (const c of current) assert.equal(c?.session.at, 'access-2')
      jar.keep(exchanges[0]!)
      assert.equal((await target.open(jar.exchange()))?.session.at, 'access-2')
    })

    test('a request still carrying the pre-renewal session just after a renewal gets the renewed one', async () => {
      now = T0
      const { renew, calls } = renewal()
      const target = store()
      const old = await sealed(session({ rt: 'refresh-1', ae: T0 - 1 }), target)
      const first = old.exchange()
      await target.refresh(first, (await target.open(first))!, renew)
      now = T0 + 10
      const late = old.exchange()
      const current = await target.refresh(late, (await target.open(late))!, renew)
      assert.equal(current?.session.at, 'access-2')
      assert.equal(calls.length, 1, 'no second renewal: a rotated refresh token would not survive it')
      old.keep(late)
      assert.equal(
        (await target.open(old.exchange()))?.session.at,
        'access-2',
        'the late request is told the new session',
      )
    })

    test('a failed renewal ends the session; the same session is not renewed again', async () => {
      now = T0
      const { renew, calls } = renewal('fail')
      const target = store()
      const jar = await sealed(session({ rt: 'refresh-1', ae: T0 - 1 }), target)
      const first = jar.exchange()
      assert.equal(await target.refresh(first, (await target.open(first))!, renew), undefined)
      const second = jar.exchange()
      const opened = await target.open(second)
      if (opened !== undefined) assert.equal(await target.refresh(second, opened, renew), undefined)
      assert.equal(calls.length, 1)
    })
  })
}
