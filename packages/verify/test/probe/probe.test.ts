import assert from 'node:assert/strict'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { after, before, describe, test } from 'node:test'
import { getRequestListener } from '@hono/node-server'
import express from 'express'
import Fastify from 'fastify'
import { Hono } from 'hono'
import Koa from 'koa'
import { albAuth as expressAuth } from '../../src/middleware/express.js'
import { albAuthPlugin } from '../../src/middleware/fastify.js'
import { type AlbEnv, albAuth as honoAuth } from '../../src/middleware/hono.js'
import { type AlbState, albAuth as koaAuth } from '../../src/middleware/koa.js'
import { withAlbAuth } from '../../src/middleware/node.js'
import {
  PROBE_CASES,
  type ProbeCaseId,
  ProbeError,
  type ProbeOptions,
  type ProbeReport,
  probeAlbTarget,
} from '../../src/probe/index.js'
import {
  CLIENT_ID,
  downKeyEndpoint,
  ISSUER,
  type KeyServer,
  listen,
  SIGNER,
  startKeyServer,
  verifierOptions,
} from '../middleware/fixtures.js'
import { handRolled, trustsHeaders } from './targets.js'

/** The cases a probe runs by default (`cases: 'oidc'`); the mtls ones have their own file. */
const OIDC_CASES = PROBE_CASES.filter((c) => c.family !== 'mtls')
const FORGERIES = OIDC_CASES.filter((c) => c.role === 'forgery').map((c) => c.id)
const NEEDS_NO_KEY = OIDC_CASES.filter((c) => c.role === 'forgery' && !c.needsSigningKey).map((c) => c.id)

let keys: KeyServer
before(async () => {
  keys = await startKeyServer()
})
after(() => keys.close())

/** Probe options for a target that trusts the test ALB and fetches keys from `keys`. */
function probeOf(target: ProbeOptions['target'], extra: Partial<ProbeOptions> = {}): Promise<ProbeReport> {
  return probeAlbTarget({ target, signingKey: keys.key, signer: SIGNER, issuer: ISSUER, clientId: CLIENT_ID, ...extra })
}

function accepted(report: ProbeReport): ProbeCaseId[] {
  return report.results.filter((r) => r.role === 'forgery' && r.verdict === 'accepted').map((r) => r.id)
}

function assertPass(report: ProbeReport): void {
  assert.equal(report.outcome, 'pass', `${report.reason}\n${JSON.stringify(report.results, null, 2)}`)
  assert.equal(report.requests, OIDC_CASES.length)
  assert.deepEqual(
    report.results.map((r) => [r.id, r.verdict]),
    OIDC_CASES.map((c) => [c.id, c.role === 'control' ? 'accepted' : 'refused']),
  )
}

function options() {
  return verifierOptions(keys.url)
}

/** A protected handler's answer to a verified request. */
function ok(_req: IncomingMessage, res: ServerResponse): void {
  res.end('ok')
}

describe('every @portcullis/verify middleware passes the probe', () => {
  test('node:http withAlbAuth, as an in-process handler', async () => {
    assertPass(
      await probeOf(
        withAlbAuth(options(), (_req, res, { identity }) => {
          res.end(identity)
        }),
      ),
    )
  })

  test('Express albAuth, the app as an in-process handler', async () => {
    const app = express()
    app.use(expressAuth(options()))
    app.get('/me', (req, res) => {
      res.json({ sub: req.alb?.identity })
    })
    assertPass(await probeOf(app, { path: '/me' }))
  })

  test('Fastify albAuthPlugin, listening on 127.0.0.1, by URL', async () => {
    const app = Fastify()
    await app.register(albAuthPlugin, options())
    app.get('/me', async (request) => ({ sub: request.alb?.identity }))
    const url = await app.listen({ host: '127.0.0.1', port: 0 })
    try {
      assertPass(await probeAlbTarget({ target: `${url}/me`, ...probeKey() }))
    } finally {
      await app.close()
    }
  })

  test('Hono albAuth, through @hono/node-server', async () => {
    const app = new Hono<AlbEnv>()
    app.use(honoAuth(options()))
    app.get('/', (c) => c.json({ sub: c.get('alb').identity }))
    assertPass(await probeOf(getRequestListener(app.fetch)))
  })

  test('Koa albAuth, app.callback() as an in-process handler', async () => {
    const app = new Koa<AlbState>()
    app.use(koaAuth(options()))
    app.use((ctx) => {
      ctx.body = { sub: ctx.state.alb.identity }
    })
    assertPass(await probeOf(app.callback()))
  })
})

function probeKey() {
  return { signingKey: keys.key, signer: SIGNER, issuer: ISSUER, clientId: CLIENT_ID }
}

describe('the probe catches each flawed target, case by case', () => {
  test('a target that trusts the identity header: every forgery carrying it', async () => {
    const report = await probeOf(trustsHeaders)
    assert.equal(report.outcome, 'fail')
    // Only the underscore spelling (no x-amzn-oidc-identity at all) and the
    // oversized token (Node answers 431 before the handler runs) get refused.
    assert.deepEqual(
      accepted(report),
      FORGERIES.filter((id) => id !== 'underscore-header' && id !== 'oversized-token'),
    )
    assert.equal(report.results.find((r) => r.id === 'oversized-token')?.status, 431)
  })

  test('a target that accepts alg: none: exactly that case', async () => {
    const report = await probeOf(handRolled(keys.url, 'alg-none'))
    assert.equal(report.outcome, 'fail')
    assert.deepEqual(accepted(report), ['alg-none'])
    assert.match(report.reason, /accepted 1 forged identity: alg-none/)
  })

  test('a target that ignores exp: exactly the expired token', async () => {
    const report = await probeOf(handRolled(keys.url, 'ignores-exp'))
    assert.deepEqual(accepted(report), ['expired'])
    assert.equal(report.outcome, 'fail')
  })
})

describe('verdicts and the never-a-false-pass rule', () => {
  test('without a signing key, only keyless cases run; a header-trusting target still fails', async () => {
    const report = await probeAlbTarget({ target: trustsHeaders })
    assert.equal(report.outcome, 'fail')
    assert.deepEqual(accepted(report), NEEDS_NO_KEY)
    assert.equal(report.requests, 1 + NEEDS_NO_KEY.length)
    for (const r of report.results.filter((r) => r.verdict === 'skipped')) {
      assert.equal(r.detail, 'needs a signing key the target trusts', r.id)
    }
  })

  test('without a signing key, a correct target is inconclusive, not a pass', async () => {
    const report = await probeAlbTarget({ target: withAlbAuth(options(), ok) })
    assert.equal(report.outcome, 'inconclusive')
    assert.deepEqual(accepted(report), [])
    assert.match(report.reason, /without a signing key/)
  })

  test('a refused positive control (wrong signer given to the probe) is inconclusive; no forgery is sent', async () => {
    let requests = 0
    const handler = withAlbAuth(options(), ok)
    const report = await probeAlbTarget({
      target: (req, res) => {
        requests++
        return handler(req, res)
      },
      ...probeKey(),
      signer: SIGNER.replace('my-alb', 'not-my-alb'),
    })
    assert.equal(report.outcome, 'inconclusive')
    assert.equal(report.results[1]?.verdict, 'refused')
    assert.match(report.reason, /positive control, a valid token, was not accepted \(401, baseline 401\)/)
    assert.equal(requests, 2)
    assert.ok(report.results.slice(2).every((r) => r.verdict === 'skipped'))
  })

  test('a target answering 200 either way needs authenticatedMatch; with it, it passes', async () => {
    const page = withAlbAuth({ ...options(), allowAnonymous: true }, (_req, res, identity) => {
      res.end(identity === undefined ? 'Hello, anonymous' : `Signed in as ${identity.identity}`)
    })
    const blind = await probeOf(page)
    assert.equal(blind.outcome, 'inconclusive')
    assert.equal(blind.results[1]?.verdict, 'refused')
    const report = await probeOf(page, { authenticatedMatch: /Signed in as/g })
    assertPass(report)
    assert.equal(report.results[0]?.bodyMatched, false)
    assert.equal(report.results[1]?.bodyMatched, true)
  })

  test('a forgery the target never answers is inconclusive, bounded by timeoutMs', async () => {
    const correct = withAlbAuth(options(), ok)
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      // alg: none is the only token with an empty signature segment: never answer it.
      if (String(req.headers['x-amzn-oidc-data']).endsWith('.')) return
      return correct(req, res)
    }
    const started = Date.now()
    const report = await probeOf(handler, { timeoutMs: 300 })
    assert.ok(Date.now() - started < 5000)
    const none = report.results.find((r) => r.id === 'alg-none')
    assert.equal(none?.verdict, 'inconclusive')
    assert.equal(none?.detail, 'no answer within 300 ms')
    assert.equal(report.outcome, 'inconclusive')
    assert.match(report.reason, /1 case was not judged: alg-none \(no answer within 300 ms\)/)
  })

  test('the request budget bounds the run; cases beyond it are skipped and the run is inconclusive', async () => {
    const report = await probeOf(withAlbAuth(options(), ok), { maxRequests: 4 })
    assert.equal(report.requests, 4)
    assert.equal(report.outcome, 'inconclusive')
    assert.equal(report.results[4]?.detail, 'request budget (4) spent')
  })

  test('only the URL given is requested, path and query as given', async () => {
    const seen: string[] = []
    const server = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`)
      trustsHeaders(req, res)
    })
    const running = await listen(server)
    try {
      const report = await probeAlbTarget({ target: `${running.url}/api/me?x=1`, ...probeKey() })
      // Every request but the oversized one, which Node itself answers 431.
      assert.equal(seen.length, report.requests - 1)
      assert.equal(report.results.at(-1)?.status, 431)
      assert.ok(
        seen.every((line) => line === 'GET /api/me?x=1'),
        seen.join('\n'),
      )
    } finally {
      await running.close()
    }
  })

  test('an unreachable target is inconclusive after one request', async () => {
    const report = await probeAlbTarget({ target: await downKeyEndpoint(), ...probeKey() })
    assert.equal(report.outcome, 'inconclusive')
    assert.equal(report.requests, 1)
    assert.equal(report.results[0]?.verdict, 'inconclusive')
    assert.match(report.reason, /baseline request got no answer \(ECONNREFUSED\)/)
  })

  test('a handler that throws is answered 500 and the run goes on', async () => {
    const report = await probeAlbTarget({
      target: () => {
        throw new Error('boom')
      },
    })
    assert.equal(report.results[0]?.status, 500)
    assert.equal(report.outcome, 'inconclusive')
  })
})

describe('invalid options throw ProbeError before any request', () => {
  const cases: [string, ProbeOptions, string][] = [
    ['not a URL', { target: 'not a url' }, 'ERR_PROBE_TARGET'],
    ['another scheme', { target: 'ftp://127.0.0.1/' }, 'ERR_PROBE_TARGET'],
    ['a path with a URL target', { target: 'http://127.0.0.1/', path: '/x' }, 'ERR_PROBE_TARGET'],
    ['a relative path', { target: trustsHeaders, path: 'x' }, 'ERR_PROBE_TARGET'],
    ['a bad regular expression', { target: trustsHeaders, authenticatedMatch: '(' }, 'ERR_PROBE_OPTIONS'],
    ['a zero timeout', { target: trustsHeaders, timeoutMs: 0 }, 'ERR_PROBE_OPTIONS'],
    ['a fractional budget', { target: trustsHeaders, maxRequests: 1.5 }, 'ERR_PROBE_OPTIONS'],
    ['claims without sub', { target: trustsHeaders, claims: {} as never }, 'ERR_PROBE_OPTIONS'],
  ]
  for (const [name, probeOptions, code] of cases) {
    test(name, async () => {
      await assert.rejects(probeAlbTarget(probeOptions), (error: unknown) => {
        assert.ok(error instanceof ProbeError)
        assert.equal(error.code, code)
        return true
      })
    })
  }

  test('a signing key without signer, issuer or clientId', async () => {
    for (const missing of ['signer', 'issuer', 'clientId'] as const) {
      await assert.rejects(probeAlbTarget({ target: trustsHeaders, ...probeKey(), [missing]: undefined }), {
        name: 'ProbeError',
        code: 'ERR_PROBE_OPTIONS',
        message: new RegExp(`^${missing} is required with a signing key`),
      })
    }
  })

  test('a signing key that is not one', async () => {
    await assert.rejects(probeAlbTarget({ target: trustsHeaders, ...probeKey(), signingKey: { kid: 'x' } as never }), {
      code: 'ERR_PROBE_OPTIONS',
    })
  })
})
