import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { describe, test } from 'node:test'
import { createSecureContext } from 'node:tls'
import {
  closestPolicyNames,
  currentTlsRuntime,
  DEFAULT_SECURITY_POLICY,
  defaultPolicyFor,
  outdatedBecause,
  policyRefusal,
  SECURITY_POLICIES,
  securityPolicy,
  type TlsRuntime,
  tlsOptionsFor,
} from '../../src/tls/security-policies.js'

const node20: TlsRuntime = { openssl: '3.0.19', fips: false, mlKem: false }
const node24: TlsRuntime = { openssl: '3.5.9', fips: false, mlKem: true }

describe('ALB security policies', () => {
  test('every policy this runtime honours builds a Node TLS context with its options', () => {
    const runtime = currentTlsRuntime()
    let honoured = 0
    for (const policy of SECURITY_POLICIES.values()) {
      if (policyRefusal(policy, runtime) !== undefined) continue
      honoured++
      assert.doesNotThrow(() => createSecureContext(tlsOptionsFor(policy)), policy.name)
    }
    // The 2021-06 TLS 1.3 family, the TLS 1.2 policies and the FS-1-2 ones at least; the PQ ones with ML-KEM.
    assert.ok(honoured >= (runtime.mlKem ? 15 : 10), `${honoured} honoured`)
  })

  test('the runtime probe agrees with OpenSSL: ML-KEM from OpenSSL 3.5', () => {
    const runtime = currentTlsRuntime()
    const [major, minor] = runtime.openssl.split('.').map(Number)
    assert.equal(runtime.mlKem, major! > 3 || (major === 3 && minor! >= 5))
  })

  test('a TLS 1.3-only policy maps to TLS 1.3 bounds and TLS 1.3 suites only', () => {
    const options = tlsOptionsFor(securityPolicy('ELBSecurityPolicy-TLS13-1-3-2021-06')!)
    assert.equal(options.minVersion, 'TLSv1.3')
    assert.equal(options.maxVersion, 'TLSv1.3')
    assert.equal(options.ciphers, 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256')
    assert.equal(options.ecdhCurve, 'X25519:P-256:P-384')
  })

  test('PQ policies name the hybrid ML-KEM groups first; others only classical groups', () => {
    assert.match(
      tlsOptionsFor(securityPolicy('ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09')!).ecdhCurve,
      /^X25519MLKEM768:SecP256r1MLKEM768:SecP384r1MLKEM1024:X25519/,
    )
    for (const policy of SECURITY_POLICIES.values()) {
      if (!policy.postQuantum) assert.doesNotMatch(policy.groups.join(':'), /MLKEM/, policy.name)
    }
  })

  test('TLS 1.0/1.1 policies are refused on every runtime, with the same ciphers on TLS 1.2 as the nearest', () => {
    for (const runtime of [node20, node24]) {
      const refusal = policyRefusal(securityPolicy('ELBSecurityPolicy-2016-08')!, runtime)
      assert.match(refusal!.reason, /allows TLS 1\.0 and 1\.1, which OpenSSL 3 negotiates only at security level 0/)
      assert.equal(refusal!.nearest, 'ELBSecurityPolicy-TLS-1-2-Ext-2018-06')
      assert.deepEqual(securityPolicy(refusal!.nearest!)!.ciphers, securityPolicy('ELBSecurityPolicy-2016-08')!.ciphers)
    }
  })

  test('PQ policies are refused without ML-KEM (nearest: the classical twin) and honoured with it', () => {
    const pq = securityPolicy('ELBSecurityPolicy-TLS13-1-3-PQ-2025-09')!
    assert.match(policyRefusal(pq, node20)!.reason, /ML-KEM .* OpenSSL 3\.0\.19 lacks/)
    assert.equal(policyRefusal(pq, node20)!.nearest, 'ELBSecurityPolicy-TLS13-1-3-2021-06')
    assert.equal(policyRefusal(pq, node24), undefined)
    // A nearest policy that is itself refused is followed to one that runs.
    const legacyPq = securityPolicy('ELBSecurityPolicy-TLS13-1-0-PQ-2025-09')!
    assert.equal(policyRefusal(legacyPq, node24)!.nearest, 'ELBSecurityPolicy-TLS13-1-2-Ext2-PQ-2025-09')
    assert.equal(policyRefusal(legacyPq, node20)!.nearest, 'ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06')
  })

  test('FIPS policies are refused without a FIPS provider, naming their non-FIPS twin', () => {
    const refusal = policyRefusal(securityPolicy('ELBSecurityPolicy-TLS13-1-2-Res-FIPS-2023-04')!, node24)
    assert.match(refusal!.reason, /FIPS provider \(crypto\.getFips\(\) is 0\)/)
    assert.equal(refusal!.nearest, 'ELBSecurityPolicy-TLS13-1-2-Res-2021-06')
  })

  test("the default is ALB console's, or its classical twin without ML-KEM", () => {
    assert.equal(DEFAULT_SECURITY_POLICY, 'ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09')
    assert.equal(defaultPolicyFor(node24).name, 'ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09')
    assert.equal(defaultPolicyFor(node20).name, 'ELBSecurityPolicy-TLS13-1-2-Res-2021-06')
  })

  test('outdated: TLS 1.0/1.1 or 3DES, from the table', () => {
    assert.equal(outdatedBecause(securityPolicy('ELBSecurityPolicy-2016-08')!), 'negotiates TLS 1.0 or 1.1')
    assert.equal(outdatedBecause(securityPolicy('ELBSecurityPolicy-TLS-1-1-2017-01')!), 'negotiates TLS 1.1')
    assert.equal(outdatedBecause(securityPolicy('ELBSecurityPolicy-TLS13-1-2-2021-06')!), undefined)
    assert.equal(outdatedBecause(securityPolicy('ELBSecurityPolicy-FS-1-2-Res-2020-10')!), undefined)
  })

  test('near misses get suggestions', () => {
    assert.equal(closestPolicyNames('ELBSecurityPolicy-TLS13-1-2-2021-07')[0], 'ELBSecurityPolicy-TLS13-1-2-2021-06')
    assert.equal(closestPolicyNames('elbsecuritypolicy-tls-1-2-2017-01')[0], 'ELBSecurityPolicy-TLS-1-2-2017-01')
    assert.deepEqual(closestPolicyNames('modern'), [])
  })
})

describe("the gateway README's table of security policies", () => {
  test('names every policy once, and says on which Node each runs as the table does', async () => {
    const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8')
    // The table's rows: policy names without their common prefix, each in backquotes.
    const policyRows = readme.split('\n').filter((l) => /^\| `[A-Za-z0-9-]+-\d{2}`/.test(l))
    const seen: string[] = []
    for (const row of policyRows) {
      const [names, , , on20, on24] = row.split(' | ').map((c) => c.replace(/^\| /, ''))
      for (const short of [...names!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!)) {
        const policy = securityPolicy(`ELBSecurityPolicy-${short}`)
        assert.ok(policy, short)
        seen.push(policy.name)
        assert.equal(on20!.startsWith('runs'), policyRefusal(policy, node20) === undefined, `${short} on Node 20`)
        assert.equal(on24!.startsWith('runs'), policyRefusal(policy, node24) === undefined, `${short} on Node 24`)
      }
    }
    assert.deepEqual([...seen].sort(), [...SECURITY_POLICIES.keys()].sort())
  })
})
