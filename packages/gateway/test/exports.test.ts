import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

// The public API of both packages, entry point by entry point: the names a
// program can import at run time (`values`) and the names only the
// declarations add (`types`). Changing an entry point's exports means
// changing this list, on purpose.
const API: Record<string, { values: readonly string[]; types: readonly string[] }> = {
  portcullis: {
    values: [
      'ConfigError',
      'GatewayError',
      'GatewayMetrics',
      'createLogger',
      'diagnosticsChannels',
      'ensureLeafCertificate',
      'ensureLocalCa',
      'formatIssue',
      'loadConfig',
      'openKeyRings',
      'parseConfig',
      'PortcullisError',
      'portcullisJsonSchema',
      'startGateway',
      'stateDirectoryKeyRings',
    ],
    types: [
      'AccessLogWrittenMessage',
      'ActionModel',
      'AuthErrorReason',
      'AuthenticateAction',
      'AuthenticateCognitoAction',
      'AuthenticateCommon',
      'AuthenticateOidcAction',
      'CertificateModel',
      'ConditionModel',
      'ConfigIssue',
      'ConfigIssueSeverity',
      'ErrorReason',
      'FinalAction',
      'FixedResponseAction',
      'ForwardAction',
      'GatewayConfig',
      'GatewayErrorCode',
      'HealthCheckModel',
      'HostHeaderCondition',
      'HttpHeaderCondition',
      'HttpRequestMethodCondition',
      'JwtValidationAction',
      'KeyRingStore',
      'LeafCertificate',
      'ListenerModel',
      'LoadBalancerAttributes',
      'LoadBalancerModel',
      'LoadBalancingAlgorithm',
      'LoadedConfig',
      'LocalCa',
      'LoginCompletedMessage',
      'LoginFailedMessage',
      'OnUnauthenticatedRequest',
      'ParseConfigOptions',
      'PathPatternCondition',
      'PortcullisErrorCode',
      'PortcullisModel',
      'QueryStringCondition',
      'RedirectAction',
      'RequestContext',
      'RequestErrorReason',
      'RequestFinishedMessage',
      'RequestMatchedMessage',
      'RequestRecord',
      'RuleModel',
      'RunningGateway',
      'RunningListener',
      'SessionKeyInfo',
      'SessionRefreshedMessage',
      'SessionRefreshFailedMessage',
      'SessionsRevokedMessage',
      'SharedStateDownMessage',
      'SharedStateUpMessage',
      'SigningKeyInfo',
      'SourceIpCondition',
      'StartGatewayOptions',
      'StickinessModel',
      'TargetErrorReason',
      'TargetGroupModel',
      'TargetModel',
      'TransformModel',
    ],
  },
  'portcullis/idp': {
    values: ['DEFAULT_DEV_USERS', 'createDevIdentityProvider'],
    types: [
      'DevClient',
      'DevIdentityProvider',
      'DevIdentityProviderEndpoints',
      'DevIdentityProviderOptions',
      'DevUser',
    ],
  },
  'portcullis/audit': {
    values: [
      'AwsAuditError',
      'auditAwsAccount',
      'auditConfigFile',
      'auditConfigText',
      'formatJson',
      'formatSarif',
      'formatText',
    ],
    types: [
      'AwsAuditOptions',
      'AwsAuditResult',
      'CheckOptions',
      'ConfigAuditResult',
      'Finding',
      'FindingId',
      'FindingLocation',
      'Severity',
    ],
  },
  '@portcullis/verify': {
    values: [
      'ALB_CLIENT_CERTIFICATE_HEADERS',
      'ALB_VERIFY_ERROR_CODES',
      'AlbVerifyError',
      'MAX_TOKEN_LENGTH',
      'createAlbClientCertificateReader',
      'createAlbVerifier',
      'defaultKeyEndpoint',
      'isAlbVerifyError',
      'parseAlbToken',
      'PortcullisVerifyError',
    ],
    types: [
      'AlbClaims',
      'AlbClientCertificate',
      'AlbClientCertificateHeaderNames',
      'AlbClientCertificateReader',
      'AlbClientCertificateReaderOptions',
      'AlbIdentity',
      'AlbTokenHeader',
      'AlbVerifier',
      'AlbVerifierOptions',
      'AlbVerifyErrorCode',
      'HeaderSource',
      'ParsedAlbToken',
      'PortcullisVerifyErrorCode',
    ],
  },
  '@portcullis/verify/mint': {
    values: [
      'albCertificateValidity',
      'createKeyHandler',
      'generateSigningKey',
      'importSigningKey',
      'presentedClientCertificateHeaders',
      'publicKeyPem',
      'rfc2253Name',
      'signAlbToken',
      'verifiedClientCertificateHeaders',
    ],
    types: ['AlbSigningKey', 'SignAlbTokenOptions'],
  },
  '@portcullis/verify/net': {
    values: ['CidrError', 'compileCidrMatcher', 'parseCidr'],
    types: ['CidrBlock'],
  },
  '@portcullis/verify/probe': {
    values: [
      'DEFAULT_PROBE_TIMEOUT_MS',
      'PROBE_CASES',
      'PROBE_CLIENT_CERTIFICATE_PEM',
      'ProbeError',
      'foreignSigner',
      'probeAlbTarget',
    ],
    types: [
      'ProbeCase',
      'ProbeCaseFamily',
      'ProbeCaseId',
      'ProbeCaseResult',
      'ProbeCaseRole',
      'ProbeCases',
      'ProbeContext',
      'ProbeErrorCode',
      'ProbeHandler',
      'ProbeOptions',
      'ProbeReport',
      'ProbeVerdict',
    ],
  },
  '@portcullis/verify/node': {
    values: [
      'AlbAuthRejection',
      'DEFAULT_RETRY_AFTER_SECONDS',
      'createAlbAuthenticator',
      'getAlbIdentity',
      'rejectionFor',
      'withAlbAuth',
    ],
    types: [
      'AlbAuthOptions',
      'AlbAuthResult',
      'AlbAuthenticator',
      'AlbIdentity',
      'AlbRequestHeaders',
      'AlbRequestListener',
    ],
  },
  '@portcullis/verify/express': {
    values: ['albAuth'],
    types: ['AlbAuthOptions', 'AlbIdentity'],
  },
  '@portcullis/verify/fastify': {
    values: ['albAuthPlugin'],
    types: ['AlbAuthOptions', 'AlbIdentity'],
  },
  '@portcullis/verify/hono': {
    values: ['albAuth'],
    types: ['AlbAnonymousEnv', 'AlbAuthOptions', 'AlbEnv', 'AlbHonoOptions', 'AlbIdentity'],
  },
  '@portcullis/verify/koa': {
    values: ['albAuth'],
    types: ['AlbAnonymousState', 'AlbAuthOptions', 'AlbIdentity', 'AlbState'],
  },
  '@portcullis/verify/grpc': {
    values: ['albHeadersFromMetadata', 'GRPC_STATUS', 'grpcPeerAddress', 'grpcStatusOf', 'verifyGrpcCall'],
    types: ['GrpcMetadataLike', 'GrpcServerCallLike'],
  },
}

const PACKAGES = {
  portcullis: new URL('../package.json', import.meta.url),
  '@portcullis/verify': new URL('../../verify/package.json', import.meta.url),
}

/** Every code entry point of a package (its `exports` with types), with its declaration file. */
function entryPoints(): { specifier: string; declarations: string }[] {
  return Object.entries(PACKAGES).flatMap(([name, manifest]) => {
    const exports = (JSON.parse(readFileSync(manifest, 'utf8')) as { exports: Record<string, unknown> }).exports
    return Object.entries(exports).flatMap(([subpath, target]) =>
      typeof target === 'object' && target !== null && 'types' in target
        ? [
            {
              specifier: `${name}${subpath.slice(1)}`,
              declarations: fileURLToPath(new URL((target as { types: string }).types, manifest)),
            },
          ]
        : [],
    )
  })
}

test('the entry points are exactly the pinned ones', () => {
  assert.deepEqual(
    entryPoints()
      .map((e) => e.specifier)
      .sort(),
    Object.keys(API).sort(),
  )
})

test('each entry point exports exactly its pinned names at run time and in its declarations, each documented', async () => {
  const entries = entryPoints()
  // One program over every declaration file (the built `dist`, as an application sees it).
  const program = ts.createProgram(
    entries.map((e) => e.declarations),
    { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, skipLibCheck: true },
  )
  const checker = program.getTypeChecker()
  for (const { specifier, declarations } of entries) {
    const pinned = API[specifier]!
    const runtime = Object.keys((await import(specifier)) as object).sort()
    assert.deepEqual(runtime, [...pinned.values].sort(), `${specifier}: run-time exports`)

    const module = checker.getSymbolAtLocation(program.getSourceFile(declarations)!)!
    const exported = checker.getExportsOfModule(module)
    assert.deepEqual(
      exported.map((s) => s.name).sort(),
      [...pinned.values, ...pinned.types].sort(),
      `${specifier}: exports of ${declarations}`,
    )
    const undocumented = exported
      .map((s) => (s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s))
      .filter((s) => ts.displayPartsToString(s.getDocumentationComment(checker)).trim() === '')
      .map((s) => s.name)
    assert.deepEqual(undocumented, [], `${specifier}: exports without TSDoc`)
  }
})

// Resolves the packages the way an application would: through the workspace
// links and each package's `exports` map, against the built `dist`.
test("portcullis's entry points resolve and expose their documented API", async () => {
  const gateway = await import('portcullis')
  for (const name of ['startGateway', 'loadConfig', 'parseConfig', 'ConfigError', 'createLogger', 'ensureLocalCa']) {
    assert.equal(typeof (gateway as Record<string, unknown>)[name], 'function', name)
  }
  const idp = await import('portcullis/idp')
  assert.equal(typeof idp.createDevIdentityProvider, 'function')
  assert.ok(idp.DEFAULT_DEV_USERS.length >= 2)
})

test("@portcullis/verify's entry points resolve, one per framework", async () => {
  const core = await import('@portcullis/verify')
  assert.equal(typeof core.createAlbVerifier, 'function')
  const mint = await import('@portcullis/verify/mint')
  assert.equal(typeof mint.signAlbToken, 'function')
  const adapters = await Promise.all([
    import('@portcullis/verify/node'),
    import('@portcullis/verify/express'),
    import('@portcullis/verify/fastify'),
    import('@portcullis/verify/hono'),
    import('@portcullis/verify/koa'),
  ])
  assert.equal(adapters.length, 5)
  for (const adapter of adapters) assert.ok(Object.values(adapter).some((v) => typeof v === 'function'))
})
