/**
 * The probe's `mtls` cases: `X-Amzn-Mtls-Clientcert-*` headers sent straight
 * to a target, which a correct target ignores or refuses (they are worth
 * something only from its load balancer). Flawed targets are written the
 * ways such targets are written: reading the subject, or verifying the
 * passthrough chain against the right CA but not asking who sent it. The
 * certificates come from `openssl` at test time.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { promisify } from 'node:util'
import { createAlbClientCertificateReader, isAlbVerifyError } from '../../src/index.js'
import { withAlbAuth } from '../../src/middleware/node.js'
import { PROBE_CASES, type ProbeCaseId, ProbeError, type ProbeReport, probeAlbTarget } from '../../src/probe/index.js'
import { CLIENT_ID, ISSUER, type KeyServer, SIGNER, startKeyServer, verifierOptions } from '../middleware/fixtures.js'

const run = promisify(execFile)
const MTLS = PROBE_CASES.filter((c) => c.family === 'mtls').map((c) => c.id)

function answer(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
}

/** The partner's subject, the only one the targets below admit. */
const PARTNER = 'CN=partner-1,O=Partners'

/** Believes `X-Amzn-Mtls-Clientcert-Subject` from anyone: the mTLS twin of trusting `x-amzn-oidc-identity`. */
function trustsSubject(req: IncomingMessage, res: ServerResponse) {
  const subject = req.headers['x-amzn-mtls-clientcert-subject']
  if (subject === undefined) return answer(res, 401, { error: 'no client certificate' })
  if (subject !== PARTNER) return answer(res, 403, { error: 'not a partner' })
  answer(res, 200, { subject })
}

/**
 * A passthrough target that verifies the chain in `X-Amzn-Mtls-Clientcert`
 * against its CA, but not that the load balancer sent it: certificates are
 * public, so anyone who has seen one passes.
 */
function verifiesChainOnly(ca: X509Certificate) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const header = req.headers['x-amzn-mtls-clientcert']
    if (typeof header !== 'string') return answer(res, 401, { error: 'no client certificate' })
    const blocks = decodeURIComponent(header).match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)
    const leaf = new X509Certificate(blocks![0]!)
    if (!leaf.checkIssued(ca) || !leaf.verify(ca.publicKey)) return answer(res, 403, { error: 'untrusted' })
    answer(res, 200, { subject: leaf.subject })
  }
}

/** Correct: reads the headers with `createAlbClientCertificateReader`, which believes only the load balancer. */
function readsThroughTheReader(req: IncomingMessage, res: ServerResponse) {
  const read = createAlbClientCertificateReader({ trustedProxies: ['10.0.0.0/16'] })
  try {
    const cert = read(req.headers, { remoteAddress: req.socket.remoteAddress })
    if (cert === undefined) return answer(res, 401, { error: 'no client certificate' })
    if (cert.mode !== 'verify' || cert.subject !== PARTNER) return answer(res, 403, { error: 'not a partner' })
    answer(res, 200, { subject: cert.subject })
  } catch (error) {
    answer(res, isAlbVerifyError(error) && error.code === 'ERR_UNTRUSTED_PROXY' ? 403 : 400, { error: 'refused' })
  }
}

function accepted(report: ProbeReport): ProbeCaseId[] {
  return report.results.filter((r) => r.role === 'forgery' && r.verdict === 'accepted').map((r) => r.id)
}

describe("the probe's mtls cases", () => {
  let dir: string
  let ca: X509Certificate
  /** The partner's leaf then its CA, PEM: public certificates, no key. */
  let partnerChain: string
  let keys: KeyServer

  before(async () => {
    keys = await startKeyServer()
    dir = await mkdtemp(join(tmpdir(), 'verify-probe-mtls-'))
    const o = (...args: string[]) => run('openssl', args, { cwd: dir })
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes']
    await o('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-subj', '/CN=Partner CA', '-days', '2')
    await o('req', ...ec, '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/O=Partners/CN=partner-1')
    await writeFile(join(dir, 'ext'), 'extendedKeyUsage = clientAuth\n')
    await o(
      'x509',
      '-req',
      '-in',
      'leaf.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-set_serial',
      '0x1234',
      '-days',
      '1',
      '-extfile',
      'ext',
      '-out',
      'leaf.pem',
    )
    const caPem = await readFile(join(dir, 'ca.pem'), 'utf8')
    ca = new X509Certificate(caPem)
    partnerChain = (await readFile(join(dir, 'leaf.pem'), 'utf8')) + caPem
  })
  after(async () => {
    await keys?.close()
    await rm(dir, { recursive: true, force: true })
  })

  test('a target that believes the subject header: caught with the partner certificate', async () => {
    const report = await probeAlbTarget({ target: trustsSubject, cases: 'mtls', clientCertificate: partnerChain })
    assert.equal(report.outcome, 'fail', report.reason)
    assert.deepEqual(
      report.results.map((r) => r.id),
      ['baseline', ...MTLS],
    )
    // Only the hyphenated headers: Node hands x_amzn_… to the target under its own name.
    assert.deepEqual(accepted(report), ['mtls-verify-headers'])
    assert.equal(report.results.find((r) => r.id === 'mtls-verify-headers')?.status, 200)
    assert.match(report.reason, /accepted 1 forged identity: mtls-verify-headers/)
  })

  test("with the probe's own certificate, the same target is caught only if it admits any subject; never a false pass", async () => {
    // It admits only the partner, so the probe's CN=admin gets 403: no proof either way.
    const report = await probeAlbTarget({ target: trustsSubject, cases: 'mtls' })
    assert.equal(report.outcome, 'inconclusive')
    assert.match(report.reason, /the mtls cases claimed the probe's own certificate/)
    // A target that welcomes any subject is caught without one.
    const welcoming = (req: IncomingMessage, res: ServerResponse) =>
      req.headers['x-amzn-mtls-clientcert-subject'] === undefined
        ? answer(res, 401, {})
        : answer(res, 200, { hello: req.headers['x-amzn-mtls-clientcert-subject'] })
    const caught = await probeAlbTarget({ target: welcoming, cases: 'mtls' })
    assert.equal(caught.outcome, 'fail')
    assert.deepEqual(accepted(caught), ['mtls-verify-headers'])
  })

  test('a passthrough target that verifies the chain but not who sent it: caught', async () => {
    const report = await probeAlbTarget({
      target: verifiesChainOnly(ca),
      cases: 'mtls',
      clientCertificate: partnerChain,
    })
    assert.equal(report.outcome, 'fail')
    assert.deepEqual(accepted(report), ['mtls-passthrough-header'])
  })

  test('a target that folds underscores into hyphens (as CGI and WSGI servers do): the underscore case', async () => {
    const folding = (req: IncomingMessage, res: ServerResponse) => {
      for (const [name, value] of Object.entries(req.headers)) req.headers[name.replaceAll('_', '-')] = value
      trustsSubject(req, res)
    }
    const report = await probeAlbTarget({ target: folding, cases: 'mtls', clientCertificate: partnerChain })
    assert.deepEqual(accepted(report), ['mtls-verify-headers', 'mtls-underscore-headers'])
  })

  test('createAlbClientCertificateReader with trustedProxies: pass (403 to a peer that is not the load balancer, whatever it sends)', async () => {
    const report = await probeAlbTarget({
      target: readsThroughTheReader,
      cases: 'mtls',
      clientCertificate: partnerChain,
    })
    assert.equal(report.outcome, 'pass', `${report.reason}\n${JSON.stringify(report.results, null, 2)}`)
    assert.equal(report.reason, `every forgery was refused (${MTLS.length} cases)`)
    assert.equal(report.requests, 1 + MTLS.length)
    assert.deepEqual(
      report.results.map((r) => [r.id, r.verdict, r.status]),
      [
        ['baseline', 'refused', 403],
        ['mtls-verify-headers', 'refused', 403],
        ['mtls-underscore-headers', 'refused', 403],
        ['mtls-passthrough-header', 'refused', 403],
      ],
    )
  })

  test('a target that ignores the headers (an x-amzn-oidc-data verifier): pass with cases all', async () => {
    const target = withAlbAuth(verifierOptions(keys.url), (_req, res, { identity }) => {
      res.end(identity)
    })
    const report = await probeAlbTarget({
      target,
      cases: 'all',
      clientCertificate: partnerChain,
      signingKey: keys.key,
      signer: SIGNER,
      issuer: ISSUER,
      clientId: CLIENT_ID,
    })
    assert.equal(report.outcome, 'pass', report.reason)
    assert.equal(report.results.length, PROBE_CASES.length)
    for (const id of MTLS) assert.equal(report.results.find((r) => r.id === id)?.status, 401, id)
  })

  test('a target answering 200 with or without a certificate: cannot judge without authenticatedMatch, and judges with it', async () => {
    const page = (req: IncomingMessage, res: ServerResponse) => {
      const subject = req.headers['x-amzn-mtls-clientcert-subject']
      res.end(subject === PARTNER ? `Welcome, ${subject}` : 'Hello, stranger')
    }
    const blind = await probeAlbTarget({ target: page, cases: 'mtls', clientCertificate: partnerChain })
    assert.equal(blind.outcome, 'inconclusive')
    assert.match(blind.reason, /looks authenticated, .*pass authenticatedMatch/)
    const judged = await probeAlbTarget({
      target: page,
      cases: 'mtls',
      clientCertificate: partnerChain,
      authenticatedMatch: /^Welcome/,
    })
    assert.equal(judged.outcome, 'fail')
    assert.deepEqual(accepted(judged), ['mtls-verify-headers'])
  })

  test('the default runs the oidc cases only', async () => {
    const report = await probeAlbTarget({ target: trustsSubject })
    assert.ok(report.results.every((r) => r.family !== 'mtls'))
  })

  test('options that do not go together: ProbeError before any request', async () => {
    for (const [options, message] of [
      [{ cases: 'tls' }, /cases must be oidc, mtls or all/],
      [{ clientCertificate: 'x' }, /clientCertificate is for the mtls cases/],
      [{ cases: 'mtls', clientCertificate: 'not a certificate' }, /clientCertificate is not PEM certificates/],
      [
        {
          cases: 'mtls',
          clientCertificate: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n',
        },
        /clientCertificate is not PEM certificates/,
      ],
      [
        { cases: 'mtls', signingKey: keys.key, signer: SIGNER, issuer: ISSUER, clientId: CLIENT_ID },
        /no use with cases: mtls/,
      ],
    ] as const) {
      await assert.rejects(probeAlbTarget({ target: trustsSubject, ...(options as object) }), (error: unknown) => {
        assert.ok(error instanceof ProbeError)
        assert.equal(error.code, 'ERR_PROBE_OPTIONS')
        assert.match(error.message, message)
        return true
      })
    }
  })
})
