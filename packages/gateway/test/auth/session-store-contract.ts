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
import { AuthError } from '../../src/auth/errors.js'
import type { SessionBinding, SessionExchange, SessionStore } from '../../src/auth/session/store.js'
import type { SessionData } from '../../src/auth/types.js'
import type { SessionRefreshedMessage, SessionRefreshFailedMessage } from '../../src/observability/diagnostics.js'
import { collect } from '../fixtures/diagnostics.js'

/** Stores of one harness share their backend (keys, a Redis database). */
export interface StoreHarness {
  /** A store for the action that `binding` describes, reading the time (seconds) from `clock`. */
  store(binding: SessionBinding, clock: () => number): SessionStore
  /**
   * Moves the backend's own time on by `seconds` (as oauth2-proxy's
   * `PersistentStoreFastForwardFunc`): whatever the backend expires by itself
   * must then be as if that time had passed. The tests move the stores'
   * `clock` by the same amount.
   */
  fastForward(seconds: number): Promise<void>
  /**
   * True when the store keeps sessions on the server: logout and revocation
   * then end a session everywhere, and refreshes are shared by every
   * instance. A cookie store keeps nothing: a copied cookie outlives a
   * logout, and each instance refreshes on its own.
   */
  readonly serverSide: boolean
  /** Ends every session of `user` at `binding`'s client (server-side stores only: the operator's revocation). */
  revokeUser?(binding: SessionBinding, user: string): Promise<number>
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

const YEAR = 365 * 24 * 3600

/**
 * The instants the contract runs at: the real now, and years either side of
 * it. A store must not care which, whatever clock its backend runs on.
 */
const STARTS = [
  ['now', 0],
  ['five years back', -5 * YEAR],
  ['five years ahead', 5 * YEAR],
] as const

/** A session as a login at `t0` makes it, ending an hour later: `rt`/`ae` only when given. */
export function sessionAt(t0: number, extra: Partial<SessionData> = {}): SessionData {
  return { v: 1, c: { sub: 'alice', email: 'alice@example.test' }, at: 'access-1', se: t0 + 3600, ...extra }
}

/** A session made by a login now (the real clock). */
export function session(extra: Partial<SessionData> = {}): SessionData {
  return sessionAt(Math.floor(Date.now() / 1000), extra)
}

/** A renewal at `T0` that counts its calls, answering with a new access token (or failing). */
function renewal(T0: number, outcome: 'renew' | 'fail' = 'renew') {
  const calls: SessionData[] = []
  const renew = async (s: SessionData): Promise<SessionData> => {
    calls.push(s)
    // An IdP round trip: the renewal ends after the callers' synchronous part.
    await new Promise((resolve) => setImmediate(resolve))
    if (outcome === 'fail') throw new AuthError(401, 'AuthInvalidGrantError')
    return { ...s, at: `access-${calls.length + 1}`, rt: 'refresh-2', ae: T0 + 600 }
  }
  return { renew, calls }
}

/**
 * Registers the contract tests for `name` (call at the top level of a test
 * file), once for each of {@link STARTS}: the stores' clock starts there
 * while the backend keeps its own.
 */
export function sessionStoreContract(name: string, makeHarness: () => Promise<StoreHarness>): void {
  for (const [when, offset] of STARTS) contractAt(`${name}, stores' clock at ${when}`, offset, makeHarness)
}

function contractAt(name: string, offset: number, makeHarness: () => Promise<StoreHarness>): void {
  describe(`session store contract: ${name}`, () => {
    let harness: StoreHarness
    const T0 = Math.floor(Date.now() / 1000) + offset
    const session = (extra: Partial<SessionData> = {}) => sessionAt(T0, extra)
    let now = T0
    const clock = () => now
    const store = (binding: SessionBinding = BINDING) => harness.store(binding, clock)
    const storeKind = () => (harness.serverSide ? 'shared' : 'cookie')

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
      const { renew, calls } = renewal(T0)
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
      const { renew, calls } = renewal(T0)
      const target = store()
      const jar = await sealed(session({ rt: 'refresh-1', ae: T0 - 1 }), target)
      const exchanges = [jar.exchange(), jar.exchange(), jar.exchange()]
      const opened = await Promise.all(exchanges.map((e) => target.open(e)))
      const published = collect<SessionRefreshedMessage>('portcullis:session:refreshed')
      const current = await Promise.all(exchanges.map((e, i) => target.refresh(e, opened[i]!, renew))).finally(
        published.stop,
      )
      assert.equal(calls.length, 1, 'one renewal for three requests')
      assert.deepEqual(published.messages, [
        { issuer: BINDING.issuer, clientId: BINDING.clientId, subject: 'alice', store: storeKind() },
      ])
      for (const c of current) assert.equal(c?.session.at, 'access-2')
      jar.keep(exchanges[0]!)
      assert.equal((await target.open(jar.exchange()))?.session.at, 'access-2')
    })

    test('a request still carrying the pre-renewal session just after a renewal gets the renewed one', async () => {
      now = T0
      const { renew, calls } = renewal(T0)
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
      const { renew, calls } = renewal(T0, 'fail')
      const target = store()
      const jar = await sealed(session({ rt: 'refresh-1', ae: T0 - 1 }), target)
      const first = jar.exchange()
      const published = collect<SessionRefreshFailedMessage>('portcullis:session:refresh-failed')
      try {
        assert.equal(await target.refresh(first, (await target.open(first))!, renew), undefined)
        const second = jar.exchange()
        const opened = await target.open(second)
        if (opened !== undefined) assert.equal(await target.refresh(second, opened, renew), undefined)
      } finally {
        published.stop()
      }
      assert.equal(calls.length, 1)
      assert.equal(published.messages.length, 1, 'published once, as the session ends')
      const { error, ...failure } = published.messages[0]!
      assert.deepEqual(failure, {
        issuer: BINDING.issuer,
        clientId: BINDING.clientId,
        subject: 'alice',
        store: storeKind(),
        reason: 'AuthInvalidGrantError',
      })
      assert.ok(error instanceof AuthError)
    })

    test('logout (end) clears the client and, in a server-side store, ends the session everywhere', async () => {
      now = T0
      const jar = await sealed(session({ it: 'id-token-1' }))
      const copied = new Map(jar.cookies)
      const exchange = jar.exchange()
      const idToken = await store().end(exchange)
      jar.keep(exchange)
      assert.equal(idToken, harness.serverSide ? 'id-token-1' : undefined, 'the ID token for id_token_hint, when kept')
      assert.equal(jar.cookies.size, 0, 'the cookies are cleared')
      const thief = new Jar()
      for (const [k, v] of copied) thief.cookies.set(k, v)
      const replayed = await store().open(thief.exchange())
      if (harness.serverSide) assert.equal(replayed, undefined, 'a copied cookie opens nothing after logout')
      else assert.ok(replayed, 'a cookie store cannot end a copied cookie (documented)')
    })

    test("revocation by user ends that user's sessions and no one else's (server-side stores)", async (t) => {
      now = T0
      if (harness.revokeUser === undefined) {
        assert.equal(harness.serverSide, false, 'a server-side store must offer revocation')
        t.diagnostic('sessions live in cookies: there is nothing to revoke (the admin API answers 409)')
        return
      }
      // Users of their own: the other tests' sessions share the backend.
      const carol = [await sealed(session({ c: { sub: 'carol' } })), await sealed(session({ c: { sub: 'carol' } }))]
      const dave = await sealed(session({ c: { sub: 'dave' } }))
      assert.equal(await harness.revokeUser(BINDING, 'carol'), 2)
      for (const jar of carol) assert.equal(await store().open(jar.exchange()), undefined)
      assert.ok(await store().open(dave.exchange()), "dave's session is untouched")
      assert.equal(await harness.revokeUser(BINDING, 'carol'), 0, 'nothing left to revoke')
    })

    test('two instances refreshing one session at once: one renewal with a server-side store', async () => {
      now = T0
      const { renew, calls } = renewal(T0)
      const jar = await sealed(session({ rt: 'refresh-1', ae: T0 - 1 }))
      const instances = [store(), store()]
      const results = await Promise.all(
        instances.map(async (s) => {
          const exchange = jar.exchange()
          return s.refresh(exchange, (await s.open(exchange))!, renew)
        }),
      )
      for (const r of results) assert.equal(r?.session.rt, 'refresh-2')
      // The refresh lock spans instances only where the session is shared.
      assert.equal(calls.length, harness.serverSide ? 1 : 2)
    })

    test("a session lasts until its end by the stores' clock, and no longer, whatever the backend's clock says", async () => {
      now = T0
      const target = store()
      const s = session({ se: T0 + 120 })
      const jar = await sealed(s, target)
      now = T0 + 119
      await harness.fastForward(119)
      assert.deepEqual((await store().open(jar.exchange()))?.session, s, 'open a second before its end')
      now = T0 + 121
      await harness.fastForward(2)
      const late = await store().open(jar.exchange())
      // Refusing a session past its end is the caller's (authenticate compares `se`); a store may also forget it.
      if (late !== undefined) assert.ok(now >= late.session.se, 'a session still opened is past its end')
    })
  })
}
