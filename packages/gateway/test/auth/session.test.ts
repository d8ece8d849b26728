import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { parseAlbToken } from '@portcullis/verify'
import fc from 'fast-check'
import { readShards, shardNames } from '../../src/auth/session/cookie.js'
import { sessionAad } from '../../src/auth/session/store.js'
import type { SessionData } from '../../src/auth/types.js'
import { loadSealingRing } from '../fixtures/keys.js'
import { Browser } from './fixtures/browser.js'
import {
  callbackUrlOf,
  clientOf,
  type EchoBody,
  listenFront,
  oidcAction,
  startIdpAndGateway,
  startTestGateway,
  type TestGateway,
} from './fixtures/gateway.js'
import { startTestProvider, type TestProvider } from './fixtures/provider.js'

const now = () => Math.floor(Date.now() / 1000)

/** Opens, rewrites and re-seals a session cookie value with the gateway's own key ring. */
async function rewriteSession(
  gw: TestGateway,
  idp: TestProvider,
  cookieName: string,
  sealed: string,
  change: (s: SessionData) => SessionData,
): Promise<string> {
  const ring = await loadSealingRing(gw.stateDirectory)
  const aad = sessionAad({ sessionCookieName: cookieName, issuer: idp.issuer, clientId: idp.clientId })
  const opened = ring.open('session', sealed, aad)
  assert.ok(Buffer.isBuffer(opened), 'the session cookie should open')
  const session = JSON.parse(opened.toString('utf8')) as SessionData
  return ring.seal('session', Buffer.from(JSON.stringify(change(session))), aad)
}

/** The session's sealed value as the browser holds it (shards joined). */
function sealedOf(browser: Browser, gw: TestGateway, cookieName: string): string {
  return readShards(browser.cookies(gw.url), shardNames(cookieName))!
}

function cookieHeader(cookieName: string, sealed: string): string {
  const parts: string[] = []
  for (let i = 0; i * 4000 < sealed.length; i++)
    parts.push(`${cookieName}-${i}=${sealed.slice(i * 4000, (i + 1) * 4000)}`)
  return parts.join('; ')
}

async function echo(res: Response): Promise<EchoBody> {
  assert.equal(res.status, 200)
  return (await res.json()) as EchoBody
}

describe('sessions: OnUnauthenticatedRequest, expiry, shards, independence, tampering', () => {
  let idp: TestProvider
  let gw: TestGateway
  /** A browser logged in as alice through /auth (cookie AppSession). */
  let alice: Browser

  before(async () => {
    ;({ idp, gw } = await startIdpAndGateway({
      routes: (idp) => {
        const base = clientOf(idp)
        return [
          { prefix: '/auth', action: oidcAction({ ...base, order: 1, sessionCookieName: 'AppSession' }) },
          {
            prefix: '/allow',
            action: oidcAction({
              ...base,
              order: 1,
              sessionCookieName: 'AppSession',
              onUnauthenticatedRequest: 'allow',
            }),
          },
          {
            prefix: '/deny',
            action: oidcAction({
              ...base,
              order: 1,
              sessionCookieName: 'AppSession',
              onUnauthenticatedRequest: 'deny',
            }),
          },
          { prefix: '/other', action: oidcAction({ ...base, order: 1, sessionCookieName: 'OtherSession' }) },
          {
            prefix: '/short',
            action: oidcAction({ ...base, order: 1, sessionCookieName: 'ShortSession', sessionTimeoutSeconds: 30 }),
          },
        ]
      },
    }))
    alice = new Browser()
    const res = await alice.login(`${gw.url}/auth/home`)
    assert.equal(res.status, 302)
  })
  after(async () => {
    await gw.close()
    await idp.close()
  })

  describe('the OnUnauthenticatedRequest table (contract §5)', () => {
    test('no session: authenticate → 302 to the IdP, allow → forwarded without identity, deny → 401', async () => {
      const anon = new Browser()
      const auth = await anon.fetch(`${gw.url}/auth/x`)
      assert.equal(auth.status, 302)
      assert.ok(auth.headers.get('location')!.startsWith(idp.endpoints.authorization))
      const allowed = await echo(await anon.fetch(`${gw.url}/allow/x`))
      assert.deepEqual(allowed.headers, {})
      const denied = await anon.fetch(`${gw.url}/deny/x`)
      assert.equal(denied.status, 401)
      assert.equal(denied.headers.get('location'), null)
    })

    test('valid session: every mode forwards with the three identity headers', async () => {
      for (const path of ['/auth/x', '/allow/x', '/deny/x']) {
        const body = await echo(await alice.fetch(`${gw.url}${path}`))
        assert.equal(body.headers['x-amzn-oidc-identity'], 'alice')
        assert.ok(body.headers['x-amzn-oidc-accesstoken'])
        assert.ok(body.headers['x-amzn-oidc-data'])
      }
    })

    test('expired session: authenticate → 302, allow → forwarded without identity and cookie cleared, deny → 302', async () => {
      const expired = await rewriteSession(gw, idp, 'AppSession', sealedOf(alice, gw, 'AppSession'), (s) => ({
        ...s,
        se: now() - 1,
      }))
      const cookie = cookieHeader('AppSession', expired)
      const auth = await fetch(`${gw.url}/auth/x`, { headers: { cookie }, redirect: 'manual' })
      assert.equal(auth.status, 302)
      assert.ok(auth.headers.get('location')!.startsWith(idp.endpoints.authorization))
      assert.ok(auth.headers.getSetCookie().some((c) => c.startsWith('AppSession-0=; Max-Age=0')))

      const allow = await fetch(`${gw.url}/allow/x`, { headers: { cookie }, redirect: 'manual' })
      assert.deepEqual((await echo(allow)).headers, {})
      assert.ok(allow.headers.getSetCookie().some((c) => c.startsWith('AppSession-0=; Max-Age=0')))

      const deny = await fetch(`${gw.url}/deny/x`, { headers: { cookie }, redirect: 'manual' })
      assert.equal(deny.status, 302)
      assert.ok(deny.headers.get('location')!.startsWith(idp.endpoints.authorization))
    })
  })

  test('the session ends at issue time + SessionTimeout, and identity tokens never outlive it', async () => {
    const browser = new Browser()
    assert.equal((await browser.login(`${gw.url}/short/x`)).status, 302)
    const ring = await loadSealingRing(gw.stateDirectory)
    const opened = ring.open(
      'session',
      sealedOf(browser, gw, 'ShortSession'),
      sessionAad({ sessionCookieName: 'ShortSession', issuer: idp.issuer, clientId: idp.clientId }),
    )
    assert.ok(Buffer.isBuffer(opened))
    const session = JSON.parse(opened.toString('utf8')) as SessionData
    assert.ok(Math.abs(session.se - (now() + 30)) <= 2)
    const body = await echo(await browser.fetch(`${gw.url}/short/x`))
    const token = parseAlbToken(body.headers['x-amzn-oidc-data']!)
    assert.ok(token.expiresAt <= session.se, 'token expiry capped at the session end')
    assert.ok(token.expiresAt >= now() + 25)
  })

  test('a busy session reuses its identity token instead of signing each request', async () => {
    const a = await echo(await alice.fetch(`${gw.url}/auth/one`))
    const b = await echo(await alice.fetch(`${gw.url}/auth/two`))
    assert.equal(a.headers['x-amzn-oidc-data'], b.headers['x-amzn-oidc-data'])
    const token = parseAlbToken(a.headers['x-amzn-oidc-data']!)
    assert.ok(token.expiresAt > now() + 60 && token.expiresAt <= now() + 120)
  })

  test('large sessions are sharded ≤ 4000 characters; a smaller later session clears the stale shards', async () => {
    const browser = new Browser()
    assert.equal((await browser.login(`${gw.url}/auth/x`, 'medium')).status, 302)
    const jar = browser.cookies(gw.url)
    assert.ok(jar.has('AppSession-0') && jar.has('AppSession-1') && jar.has('AppSession-2'))
    for (const [name, value] of jar) if (name.startsWith('AppSession-')) assert.ok(value.length <= 4000)
    assert.equal((await echo(await browser.fetch(`${gw.url}/auth/x`))).headers['x-amzn-oidc-identity'], 'medium')

    // Log in again as alice (a fresh IdP session), keeping the medium shards in the jar.
    const start = await fetch(`${gw.url}/auth/y`, { redirect: 'manual' })
    browser.store(gw.url, start)
    const callback = await new Browser().loginAtIdp(start.headers.get('location')!, 'alice')
    const back = await browser.fetch(callback)
    assert.equal(back.status, 302)
    const cleared = back.headers.getSetCookie().filter((c) => /^AppSession-[12]=; Max-Age=0/.test(c))
    assert.equal(cleared.length, 2)
    assert.deepEqual(
      [...browser.cookies(gw.url).keys()].filter((n) => n.startsWith('AppSession')),
      ['AppSession-0'],
    )
    assert.equal((await echo(await browser.fetch(`${gw.url}/auth/x`))).headers['x-amzn-oidc-identity'], 'alice')
  })

  test('a missing middle shard is no session (and never a 500)', async () => {
    const browser = new Browser()
    await browser.login(`${gw.url}/auth/x`, 'medium')
    browser.cookies(gw.url).delete('AppSession-1')
    const res = await browser.fetch(`${gw.url}/auth/x`)
    assert.equal(res.status, 302)
    assert.ok(res.headers.getSetCookie().some((c) => c.startsWith('AppSession-2=; Max-Age=0')))
  })

  test('two rules with distinct cookie names are independent; one rule’s cookie is useless under the other’s name', async () => {
    const other = await alice.fetch(`${gw.url}/other/x`)
    assert.equal(other.status, 302)
    const value = alice.cookies(gw.url).get('AppSession-0')!
    const replayed = await fetch(`${gw.url}/other/x`, {
      headers: { cookie: `OtherSession-0=${value}` },
      redirect: 'manual',
    })
    assert.equal(replayed.status, 302)
    assert.ok(replayed.headers.getSetCookie().some((c) => c.startsWith('OtherSession-0=; Max-Age=0')))
  })

  test('cookie attributes: HttpOnly, Path=/, SameSite=Lax, 7-day Expires (no Secure on the opted-in HTTP listener)', async () => {
    const browser = new Browser()
    const res = await browser.login(`${gw.url}/auth/x`)
    const cookie = res.headers.getSetCookie().find((c) => c.startsWith('AppSession-0='))!
    const match = /^AppSession-0=[A-Za-z0-9_-]+; Expires=([^;]+); HttpOnly; Path=\/; SameSite=Lax$/.exec(cookie)
    assert.ok(match, cookie)
    const days = (Date.parse(match[1]!) - Date.now()) / 86_400_000
    assert.ok(days > 6.9 && days <= 7)
  })

  test('property: any mutation of the shards is no session, never a 5xx', async () => {
    const browser = new Browser()
    await browser.login(`${gw.url}/auth/x`, 'medium')
    const shards = [0, 1, 2].map((i) => browser.cookies(gw.url).get(`AppSession-${i}`)!)
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), shard: fc.nat(2), at: fc.nat(3999), to: fc.nat(63) }),
      fc.record({ kind: fc.constant('truncate' as const), shard: fc.nat(2), length: fc.nat(3999) }),
      fc.record({ kind: fc.constant('swap' as const), a: fc.nat(2), b: fc.nat(2) }),
      fc.record({ kind: fc.constant('drop' as const), shard: fc.nat(2) }),
      fc.record({ kind: fc.constant('extra' as const), value: fc.stringMatching(/^[A-Za-z0-9_-]{1,200}$/) }),
      fc.record({ kind: fc.constant('replace' as const), shard: fc.nat(2), value: fc.string({ maxLength: 300 }) }),
    )
    await fc.assert(
      fc.asyncProperty(mutation, async (m) => {
        const s = [...shards] as (string | undefined)[]
        switch (m.kind) {
          case 'flip': {
            const text = s[m.shard]!
            const at = m.at % text.length
            const to = alphabet[m.to]!
            const replacement = to === text[at] ? alphabet[(m.to + 1) % 64]! : to
            s[m.shard] = text.slice(0, at) + replacement + text.slice(at + 1)
            break
          }
          case 'truncate':
            s[m.shard] = s[m.shard]!.slice(0, m.length % s[m.shard]!.length)
            break
          case 'swap': {
            const b = m.a === m.b ? (m.b + 1) % 3 : m.b
            ;[s[m.a], s[b]] = [s[b], s[m.a]]
            break
          }
          case 'drop':
            s[m.shard] = undefined
            break
          case 'extra':
            s.push(m.value)
            break
          case 'replace':
            s[m.shard] = m.value.replace(/[;\s,"\\]/g, '') || 'x'
            break
        }
        const cookie = s
          .map((v, i) => (v === undefined ? undefined : `AppSession-${i}=${v}`))
          .filter((v) => v !== undefined)
          .join('; ')
        const res = await fetch(`${gw.url}/allow/x`, { headers: { cookie }, redirect: 'manual' })
        assert.ok(res.status < 500, `status ${res.status}`)
        assert.deepEqual((await echo(res)).headers, {})
      }),
      { numRuns: 60 },
    )
  })
})

describe('refresh: expired access token with a refresh token', () => {
  let idp: TestProvider
  let gw: TestGateway

  before(async () => {
    ;({ idp, gw } = await startIdpAndGateway({
      provider: { rotateRefreshTokens: true },
      routes: (idp) => {
        const base = { ...clientOf(idp), sessionCookieName: 'S' }
        return [
          { prefix: '/auth', action: oidcAction({ ...base }) },
          { prefix: '/allow', action: oidcAction({ ...base, onUnauthenticatedRequest: 'allow' }) },
          { prefix: '/deny', action: oidcAction({ ...base, onUnauthenticatedRequest: 'deny' }) },
        ]
      },
    }))
  })
  after(async () => {
    await gw.close()
    await idp.close()
  })

  test('N concurrent requests share one refresh; the new cookie is set; the old cookie keeps working without a second refresh', async () => {
    const browser = new Browser()
    await browser.login(`${gw.url}/auth/x`)
    const before = await echo(await browser.fetch(`${gw.url}/auth/x`))
    const stale = await rewriteSession(gw, idp, 'S', sealedOf(browser, gw, 'S'), (s) => ({ ...s, ae: now() - 1 }))
    const cookie = cookieHeader('S', stale)
    const grantsBefore = idp.grants.refresh_token
    const answers = await Promise.all(
      Array.from({ length: 8 }, () => fetch(`${gw.url}/auth/x`, { headers: { cookie }, redirect: 'manual' })),
    )
    assert.equal(idp.grants.refresh_token, grantsBefore + 1)
    const newValues = new Set<string>()
    for (const res of answers) {
      const body = await echo(res)
      assert.equal(body.headers['x-amzn-oidc-identity'], 'alice')
      assert.notEqual(body.headers['x-amzn-oidc-accesstoken'], before.headers['x-amzn-oidc-accesstoken'])
      const set = res.headers.getSetCookie().find((c) => c.startsWith('S-0='))
      assert.ok(set, 'each answer carries the refreshed cookie')
      newValues.add(set.split(';')[0]!)
    }
    assert.equal(newValues.size, 1)
    // The old cookie again (a request sent before the browser saw the new one): no second refresh.
    await echo(await fetch(`${gw.url}/auth/x`, { headers: { cookie }, redirect: 'manual' }))
    assert.equal(idp.grants.refresh_token, grantsBefore + 1)
    // The new cookie is a valid session of its own.
    const fresh = await fetch(`${gw.url}/auth/x`, { headers: { cookie: [...newValues][0]! }, redirect: 'manual' })
    assert.equal((await echo(fresh)).headers['x-amzn-oidc-identity'], 'alice')
    assert.equal(gw.metrics.counts.get('refresh'), 1)
  })

  test('a failed refresh: authenticate → 302, deny → 401, allow → forwarded without identity, cookie cleared', async () => {
    const browser = new Browser()
    await browser.login(`${gw.url}/auth/x`)
    const sealed = sealedOf(browser, gw, 'S')
    for (const [path, expected] of [
      ['/auth/x', 302],
      ['/deny/x', 401],
      ['/allow/x', 200],
    ] as const) {
      // A distinct broken session per mode (the failure is remembered per cookie).
      const broken = await rewriteSession(gw, idp, 'S', sealed, (s) => ({ ...s, ae: now() - 1, rt: `revoked-${path}` }))
      const res = await fetch(`${gw.url}${path}`, {
        headers: { cookie: cookieHeader('S', broken) },
        redirect: 'manual',
      })
      assert.equal(res.status, expected, path)
      if (expected === 200) assert.deepEqual((await echo(res)).headers, {})
      assert.ok(
        res.headers.getSetCookie().some((c) => c.startsWith('S-0=; Max-Age=0')),
        path,
      )
    }
  })

  test('without a refresh token the session simply lasts: an expired access token is still forwarded', async () => {
    const browser = new Browser()
    await browser.login(`${gw.url}/auth/x`)
    const noRefresh = await rewriteSession(gw, idp, 'S', sealedOf(browser, gw, 'S'), (s) => {
      const { rt: _rt, ...without } = s
      return { ...without, ae: now() - 1 }
    })
    const grants = idp.grants.refresh_token
    const res = await fetch(`${gw.url}/auth/x`, {
      headers: { cookie: cookieHeader('S', noRefresh) },
      redirect: 'manual',
    })
    assert.equal((await echo(res)).headers['x-amzn-oidc-identity'], 'alice')
    assert.equal(idp.grants.refresh_token, grants)
  })
})

describe('a session is bound to the issuer and client id of the action that created it', () => {
  let idpX: TestProvider
  let idpY: TestProvider
  let gw: TestGateway

  before(async () => {
    const server = await listenFront()
    idpX = await startTestProvider({ redirectUris: [callbackUrlOf(server)] })
    idpY = await startTestProvider({ redirectUris: [callbackUrlOf(server)] })
    const x = { issuer: idpX.issuer, clientId: idpX.clientId, clientSecret: idpX.clientSecret }
    const y = { issuer: idpY.issuer, clientId: idpY.clientId, clientSecret: idpY.clientSecret }
    // Every rule uses the default cookie name, as most configurations do.
    gw = await startTestGateway({
      server,
      routes: [
        { prefix: '/x/', action: oidcAction({ ...x, order: 1 }) },
        { prefix: '/y/', action: oidcAction({ ...y, order: 1 }) },
        { prefix: '/y-deny/', action: oidcAction({ ...y, order: 1, onUnauthenticatedRequest: 'deny' }) },
        { prefix: '/x-other-client/', action: oidcAction({ ...x, clientId: 'another-client', order: 1 }) },
      ],
    })
  })
  after(async () => {
    await gw.close()
    await idpX.close()
    await idpY.close()
  })

  test('a session from IdP X is no session at a rule of IdP Y, or of another client of X: log in again', async () => {
    const browser = new Browser()
    assert.equal((await browser.login(`${gw.url}/x/a`)).status, 302)
    const atX = await echo(await browser.fetch(`${gw.url}/x/a`))
    assert.ok(atX.headers['x-amzn-oidc-data'], 'the session works where it was created')
    const cookie = browser.header(gw.url)

    const atY = await fetch(`${gw.url}/y/a`, { headers: { cookie }, redirect: 'manual' })
    assert.equal(atY.status, 302)
    assert.ok(atY.headers.get('location')!.startsWith(idpY.endpoints.authorization), 'a new login at IdP Y')
    assert.ok(atY.headers.getSetCookie().some((c) => c.startsWith('AWSELBAuthSessionCookie-0=; Max-Age=0')))

    const denied = await fetch(`${gw.url}/y-deny/a`, { headers: { cookie }, redirect: 'manual' })
    assert.equal(denied.status, 401, 'never a validly signed identity from an IdP that did not authenticate the user')

    const otherClient = await fetch(`${gw.url}/x-other-client/a`, { headers: { cookie }, redirect: 'manual' })
    assert.equal(otherClient.status, 302)
    assert.equal(new URL(otherClient.headers.get('location')!).searchParams.get('client_id'), 'another-client')
  })
})
