/**
 * The shape of `portcullis.yaml` (or `.json`): ELBv2 API field names and value
 * forms, so that `aws elbv2 describe-*` output pastes in, plus the
 * Portcullis-only settings under `Portcullis` keys.
 *
 * These schemas check *shape* only (types, required fields). Every object is
 * a block of the classification table (`classification.ts`), whose field
 * check (`classify.ts`) runs first and deals with unknown keys and with
 * settings Portcullis does not implement.
 * Ranges, cross-references and ALB's own rules are checked in `normalise/`,
 * which can name the conflicting field in its message. Keeping transforms out
 * of here lets `z.toJSONSchema()` publish exactly this file format for editors.
 */
import { z } from 'zod'
import { BLOCKS, type BlockName, describeField } from './classification.js'

/**
 * Builds the strict object of one block of the classification table: `shape`
 * holds the fields Portcullis reads (every implemented or Portcullis field of
 * the block, and only fields of the block), and the table adds the others
 * (AWS-only, not implemented) as accepted values described for editors. The
 * field check (`classify.ts`) has judged those and removed unknown keys
 * before this schema sees the file.
 */
function strict<T extends z.core.$ZodLooseShape>(block: BlockName, shape: T) {
  const fields = BLOCKS[block].fields
  for (const key of Object.keys(shape)) {
    if (fields[key] === undefined) throw new Error(`${block}.${key} is not in the classification table`)
  }
  const others: Record<string, z.ZodOptional<z.ZodUnknown>> = {}
  for (const [key, field] of Object.entries(fields)) {
    if (key in shape) continue
    if (field.treatment === 'implemented' || field.treatment === 'extension') {
      throw new Error(`${block}.${key} is ${field.treatment} in the classification table but has no schema`)
    }
    others[key] = z.unknown().optional().describe(describeField(field))
  }
  // The table's other fields are not typed: the normalisers never read them.
  return z.strictObject({ ...shape, ...others } as T)
}

/** The table's word on a field Portcullis reads, for the JSON Schema. */
function noted(block: BlockName, key: string): string {
  return describeField(BLOCKS[block].fields[key]!)
}

/** An integer written as a number or, as the ELBv2 API does, as a string of digits. */
const INTEGER_EXPECTED = 'expected an integer (a number, or a string of digits as the ELBv2 API writes it)'
const integerLike = z.union([z.number().int(), z.string().regex(/^-?\d+$/, { error: INTEGER_EXPECTED })], {
  error: INTEGER_EXPECTED,
})

/** A TCP port as a number or a string of digits (range checked later). */
const port = integerLike.describe('TCP port, 1..65535.')

const nonEmpty = z.string().min(1, { error: 'must not be empty' })
const stringList = z.array(z.string())

/** `{ Key, Value }` attribute as in `describe-*-attributes`; the API writes every value as a string. */
const AttributeSchema = strict('Attribute', {
  Key: nonEmpty,
  Value: z.union([z.string(), z.number(), z.boolean()], {
    error: 'expected a string (numbers and booleans are accepted and converted)',
  }),
})

const LoadBalancerSchema = strict('LoadBalancer', {
  Name: z.string().optional().describe('Load balancer name (1..32 letters, digits and hyphens). Default `portcullis`.'),
  LoadBalancerName: z.string().optional().describe('Alias of `Name`, as `describe-load-balancers` writes it.'),
  Region: z.string().optional().describe('AWS region used in derived ARNs and Cognito endpoints. Default `us-east-1`.'),
  AccountId: z.string().optional().describe('12-digit account id used in derived ARNs. Default `000000000000`.'),
  Arn: z
    .string()
    .optional()
    .describe(
      'The load balancer ARN, the `signer` of identity tokens. Derived from Name/Region/AccountId when absent.',
    ),
  LoadBalancerArn: z.string().optional().describe('Alias of `Arn`, as `describe-load-balancers` writes it.'),
  Attributes: z
    .array(AttributeSchema)
    .optional()
    .describe('Load balancer attributes (`idle_timeout.timeout_seconds` …).'),
  Type: z.string().optional().describe(noted('LoadBalancer', 'Type')),
})

const CertificateSchema = strict('Certificate', {
  CertificateArn: z.string().optional().describe(noted('Certificate', 'CertificateArn')),
  CertificateFile: z.string().optional().describe('PEM certificate chain, relative to the config file.'),
  PrivateKeyFile: z.string().optional().describe('PEM private key, relative to the config file.'),
})

const valuesConfig = (block: 'HostHeaderConditionConfig' | 'PathPatternConditionConfig') =>
  strict(block, { Values: stringList.optional(), RegexValues: stringList.optional() })

const ConditionSchema = strict('RuleCondition', {
  Field: z.enum(['host-header', 'path-pattern', 'http-header', 'http-request-method', 'query-string', 'source-ip']),
  Values: stringList.optional().describe('Legacy form for host-header and path-pattern.'),
  RegexValues: stringList.optional().describe('Regular expressions, for host-header, path-pattern and http-header.'),
  HostHeaderConfig: valuesConfig('HostHeaderConditionConfig').optional(),
  PathPatternConfig: valuesConfig('PathPatternConditionConfig').optional(),
  HttpHeaderConfig: strict('HttpHeaderConditionConfig', {
    HttpHeaderName: nonEmpty,
    Values: stringList.optional(),
    RegexValues: stringList.optional(),
  }).optional(),
  QueryStringConfig: strict('QueryStringConditionConfig', {
    Values: z.array(strict('QueryStringKeyValuePair', { Key: z.string().optional(), Value: z.string() })),
  }).optional(),
  HttpRequestMethodConfig: strict('HttpRequestMethodConditionConfig', { Values: stringList }).optional(),
  SourceIpConfig: strict('SourceIpConditionConfig', { Values: stringList }).optional(),
})

const rewritesConfig = (block: 'HostHeaderRewriteConfig' | 'UrlRewriteConfig') =>
  strict(block, { Rewrites: z.array(strict('RewriteConfig', { Regex: z.string(), Replace: z.string() })) })

const TransformSchema = strict('RuleTransform', {
  Type: z.enum(['host-header-rewrite', 'url-rewrite']),
  HostHeaderRewriteConfig: rewritesConfig('HostHeaderRewriteConfig').optional(),
  UrlRewriteConfig: rewritesConfig('UrlRewriteConfig').optional(),
})

/** Portcullis-only settings of one authenticate-oidc / authenticate-cognito action. */
const authenticateExtension = {
  Pkce: z.boolean().optional().describe('Send a PKCE S256 challenge. Default true.'),
  Nonce: z.boolean().optional().describe('Send and check an OIDC nonce. Default true.'),
  TokenEndpointAuthMethod: z
    .enum(['client_secret_basic', 'client_secret_post'])
    .optional()
    .describe('How the client authenticates at the token endpoint. Default client_secret_basic.'),
  JwksUri: z.string().optional().describe('JWKS for ID-token signatures; from discovery when absent.'),
  IdentityTokenLifetimeSeconds: integerLike.optional().describe('Lifetime of x-amzn-oidc-data tokens. Default 120.'),
  LogoutPath: z
    .string()
    .optional()
    .describe(
      "A path (under this rule's conditions) that ends the session and sends the browser to the IdP's end_session_endpoint. None by default.",
    ),
  PostLogoutRedirectUri: z
    .string()
    .optional()
    .describe('Where the IdP sends the browser after logout: a path on the request host or a full URL. Default `/`.'),
}

const authenticateCommon = {
  SessionCookieName: z.string().optional().describe('Default `AWSELBAuthSessionCookie`.'),
  Scope: z.string().optional().describe('Default `openid`.'),
  SessionTimeout: integerLike.optional().describe('Seconds, 1..604800. Default 604800.'),
  AuthenticationRequestExtraParams: z.record(z.string(), z.string()).optional().describe('At most 10.'),
  OnUnauthenticatedRequest: z.enum(['authenticate', 'allow', 'deny']).optional().describe('Default `authenticate`.'),
}

const AuthenticateOidcConfigSchema = strict('AuthenticateOidcActionConfig', {
  Issuer: nonEmpty,
  AuthorizationEndpoint: nonEmpty,
  TokenEndpoint: nonEmpty,
  UserInfoEndpoint: nonEmpty,
  ClientId: nonEmpty,
  ClientSecret: z.string().optional().describe('Required unless UseExistingClientSecret is true.'),
  UseExistingClientSecret: z.boolean().optional(),
  ...authenticateCommon,
  Portcullis: strict('OidcPortcullis', authenticateExtension).optional(),
})

const AuthenticateCognitoConfigSchema = strict('AuthenticateCognitoActionConfig', {
  UserPoolArn: nonEmpty,
  UserPoolClientId: nonEmpty,
  UserPoolDomain: nonEmpty.describe('A domain prefix, or a full custom domain.'),
  ...authenticateCommon,
  Portcullis: strict('CognitoPortcullis', {
    ...authenticateExtension,
    ClientSecret: z
      .string()
      .optional()
      .describe('The app client secret (ALB fetches it from Cognito; Portcullis cannot). Absent for a public client.'),
  }).optional(),
})

const JwtValidationConfigSchema = strict('JwtValidationActionConfig', {
  JwksEndpoint: nonEmpty,
  Issuer: nonEmpty,
  AdditionalClaims: z
    .array(
      strict('JwtValidationActionAdditionalClaim', {
        Name: nonEmpty,
        Format: z.enum(['single-string', 'string-array', 'space-separated-values']),
        Values: stringList,
      }),
    )
    .optional(),
  Portcullis: strict('JwtValidationPortcullis', {
    AllowEs256: z
      .boolean()
      .optional()
      .describe('Also accept ES256 signatures (ALB accepts RS256 only). Default false.'),
  }).optional(),
})

const ActionSchema = strict('Action', {
  Type: z.enum([
    'forward',
    'redirect',
    'fixed-response',
    'authenticate-oidc',
    'authenticate-cognito',
    'jwt-validation',
  ]),
  Order: integerLike.optional().describe('1..50000; defaults to the position in the list.'),
  TargetGroupArn: z.string().optional().describe('A target group ARN or TargetGroupName.'),
  ForwardConfig: strict('ForwardActionConfig', {
    TargetGroups: z.array(
      strict('TargetGroupTuple', {
        TargetGroupArn: nonEmpty.describe('A target group ARN or TargetGroupName.'),
        Weight: integerLike.optional(),
      }),
    ),
    TargetGroupStickinessConfig: strict('TargetGroupStickinessConfig', {
      Enabled: z.boolean().optional(),
      DurationSeconds: integerLike.optional(),
    }).optional(),
  }).optional(),
  RedirectConfig: strict('RedirectActionConfig', {
    Protocol: z.string().optional(),
    Port: z.union([z.string(), z.number()]).optional(),
    Host: z.string().optional(),
    Path: z.string().optional(),
    Query: z.string().optional(),
    StatusCode: z.enum(['HTTP_301', 'HTTP_302']),
  }).optional(),
  FixedResponseConfig: strict('FixedResponseActionConfig', {
    StatusCode: integerLike,
    ContentType: z.string().optional(),
    MessageBody: z.string().optional(),
  }).optional(),
  AuthenticateOidcConfig: AuthenticateOidcConfigSchema.optional(),
  AuthenticateCognitoConfig: AuthenticateCognitoConfigSchema.optional(),
  JwtValidationConfig: JwtValidationConfigSchema.optional(),
})

const RuleSchema = strict('Rule', {
  Priority: z
    .union(
      [z.number().int(), z.string().regex(/^(\d+|default)$/, { error: 'expected a priority 1..50000 or "default"' })],
      { error: 'expected a priority 1..50000 (number or string) or "default"' },
    )
    .describe('1..50000, or "default" for the default rule as describe-rules writes it.'),
  Conditions: z.array(ConditionSchema).optional(),
  Transforms: z.array(TransformSchema).optional(),
  Actions: z.array(ActionSchema),
  IsDefault: z.boolean().optional(),
  RuleArn: z.string().optional(),
})

const ListenerSchema = strict('Listener', {
  Port: port,
  Protocol: z.enum(['HTTP', 'HTTPS']),
  Certificates: z.array(CertificateSchema).optional().describe('Several certificates are selected by SNI.'),
  SslPolicy: z.string().optional().describe(noted('Listener', 'SslPolicy')),
  DefaultActions: z.array(ActionSchema).optional(),
  Rules: z
    .array(RuleSchema)
    .optional()
    .describe(
      'As describe-rules prints them; its default rule (IsDefault: true) may repeat DefaultActions when it matches them.',
    ),
  Attributes: z
    .array(AttributeSchema)
    .optional()
    .describe('Listener attributes as describe-listener-attributes prints them; accepted, not acted on.'),
  MutualAuthentication: strict('MutualAuthenticationAttributes', {
    Mode: z.enum(['off', 'verify', 'passthrough']).describe(noted('MutualAuthenticationAttributes', 'Mode')),
    TrustStoreArn: z.string().optional().describe(noted('MutualAuthenticationAttributes', 'TrustStoreArn')),
    IgnoreClientCertificateExpiry: z
      .boolean()
      .optional()
      .describe(noted('MutualAuthenticationAttributes', 'IgnoreClientCertificateExpiry')),
  })
    .optional()
    .describe(noted('Listener', 'MutualAuthentication')),
  Portcullis: strict('ListenerPortcullis', {
    Address: z.string().optional().describe('Address to bind. Default 0.0.0.0.'),
  }).optional(),
})

const TargetSchema = strict('TargetDescription', {
  Id: nonEmpty.describe('IP address or host name; an EC2 instance id needs Portcullis.InstanceAddresses.'),
  Port: port.optional(),
})

/** One entry of `describe-target-health` output: its `Target` is what Portcullis reads. */
const TargetHealthDescriptionSchema = strict('TargetHealthDescription', { Target: TargetSchema })

const TargetGroupSchema = strict('TargetGroup', {
  TargetGroupName: nonEmpty,
  TargetGroupArn: z.string().optional().describe('Derived from the name when absent.'),
  Protocol: z
    .enum(['HTTP', 'HTTPS'])
    .optional()
    .describe('Required, but for a Lambda target group (which is refused).'),
  Port: port.optional().describe('Default port of targets registered without one.'),
  Targets: z.array(TargetSchema).optional(),
  TargetHealthDescriptions: z
    .array(TargetHealthDescriptionSchema)
    .optional()
    .describe('The targets as describe-target-health prints them; instead of Targets.'),
  HealthCheckEnabled: z.boolean().optional(),
  HealthCheckProtocol: z.enum(['HTTP', 'HTTPS']).optional(),
  HealthCheckPort: z
    .union(
      [
        z.literal('traffic-port'),
        z.string().regex(/^\d+$/, { error: 'expected "traffic-port" or a port number' }),
        z.number().int(),
      ],
      {
        error: 'expected "traffic-port" or a port number',
      },
    )
    .optional(),
  HealthCheckPath: z
    .string()
    .optional()
    .describe('Default "/"; for a GRPC group "/AWS.ALB/healthcheck" (a gRPC method, /package.service/method).'),
  HealthCheckIntervalSeconds: integerLike.optional(),
  HealthCheckTimeoutSeconds: integerLike.optional(),
  HealthyThresholdCount: integerLike.optional(),
  UnhealthyThresholdCount: integerLike.optional(),
  Matcher: strict('Matcher', {
    HttpCode: z
      .union([z.string(), z.number().int()])
      .optional()
      .describe('HTTP codes 200..499 (e.g. "200", "200,202", "200-299"). Default "200". Not for GRPC groups.'),
    GrpcCode: z
      .union([z.string(), z.number().int()])
      .optional()
      .describe('gRPC status codes 0..99 (e.g. "12", "0,1", "0-5"). Default "12". GRPC groups only.'),
  }).optional(),
  TargetType: z.string().optional().describe(noted('TargetGroup', 'TargetType')),
  ProtocolVersion: z.string().optional().describe(noted('TargetGroup', 'ProtocolVersion')),
  Attributes: z.array(AttributeSchema).optional(),
  Portcullis: strict('TargetGroupPortcullis', {
    CaFile: z.string().optional().describe('PEM CA bundle trusted for HTTPS targets.'),
    TargetTimeoutSeconds: z.number().positive().optional().describe('Per-request timeout to the target (504 after).'),
  }).optional(),
})

/** One entry of `describe-trust-stores`, with the files Portcullis reads in place of AWS's S3 objects. */
const TrustStoreSchema = strict('TrustStore', {
  Name: nonEmpty.describe('The trust store name (1..32 letters, digits and hyphens).'),
  TrustStoreArn: z.string().optional().describe('Derived from the name when absent.'),
  Portcullis: strict('TrustStorePortcullis', {
    CaCertificatesBundleFile: z
      .string()
      .optional()
      .describe('PEM bundle of the CA certificates (roots and intermediates, no leaf), relative to the config file.'),
    RevocationFiles: z
      .array(z.string())
      .optional()
      .describe('PEM certificate revocation lists (CRLs), relative to the config file; checked on every handshake.'),
  }).optional(),
})

const PortcullisSettingsSchema = strict('PortcullisSettings', {
  StateDirectory: z.string().optional().describe('Keys and generated certificates. Default ./.portcullis.'),
  Admin: z
    .union(
      [
        z.literal(false),
        strict('PortcullisAdmin', {
          Address: z.string().optional(),
          Port: port.optional(),
          TokenFile: z
            .string()
            .optional()
            .describe(
              'File holding the bearer token the operator endpoints (/sessions) require (or PORTCULLIS_ADMIN_TOKEN). Required when the admin listener binds a non-loopback address and a rule authenticates users, unless ClientCertificateTrustStore is set.',
            ),
          CertificateFile: z
            .string()
            .optional()
            .describe('PEM certificate chain: the admin listener serves HTTPS with it (and PrivateKeyFile).'),
          PrivateKeyFile: z.string().optional().describe('PEM private key of CertificateFile.'),
          ClientCertificateTrustStore: z
            .string()
            .optional()
            .describe(
              'A trust store of TrustStores (ARN or Name): a client certificate it vouches for is an operator credential for /sessions, as the bearer token is. Needs CertificateFile and PrivateKeyFile.',
            ),
        }),
      ],
      {
        error:
          'expected { Address, Port, TokenFile, CertificateFile, PrivateKeyFile, ClientCertificateTrustStore } or false',
      },
    )
    .optional()
    .describe(
      'Admin listener (/healthz, /metrics, /keys readable by all; /sessions for operators). Default 127.0.0.1:9800; false disables it.',
    ),
  AllowInsecureHttpAuthentication: z
    .boolean()
    .optional()
    .describe('Development only: allow authentication on HTTP listeners bound to loopback addresses.'),
  CaFile: z.string().optional().describe('Extra PEM CA trusted for IdP and JWKS connections.'),
  AccessLog: strict('PortcullisAccessLog', {
    Format: z.enum(['json', 'alb']).optional(),
    Path: z
      .string()
      .optional()
      .describe('File to append to (SIGUSR2 or `portcullis reopen-logs` reopens it); standard output when absent.'),
    Directory: z
      .string()
      .optional()
      .describe(
        "ALB's delivery instead of Path: gzip files named and laid out as in ALB's S3 bucket (AWSLogs/…), one per interval and worker, in ALB's line format.",
      ),
    IntervalMinutes: integerLike.optional().describe('With Directory: 5 (default, as ALB) or 60.'),
    MaxTotalSizeMB: integerLike
      .optional()
      .describe('With Directory: delivered files beyond this total are deleted, oldest first. Default 10240.'),
  }).optional(),
  ConnectionLog: strict('PortcullisConnectionLog', {
    Format: z
      .enum(['json', 'alb'])
      .optional()
      .describe("json (default) or alb: ALB's space-separated connection-log line."),
    Path: z
      .string()
      .optional()
      .describe(
        'File to append to (SIGUSR2 or `portcullis reopen-logs` reopens it, with the access log); standard output when absent.',
      ),
  })
    .optional()
    .describe(
      "ALB's connection log: one line per TLS handshake on a listener with mutual TLS (verify or passthrough), admitted or refused, with tls_verify_status and the access log's conn_trace_id. Off when absent.",
    ),
  SharedState: strict('PortcullisSharedState', {
    Url: z
      .string()
      .describe(
        'redis://[user:password@]host[:port][/db], or rediss:// for TLS (trusting the CAs IdP calls trust: the system store, NODE_EXTRA_CA_CERTS, Portcullis.CaFile).',
      ),
    KeyPrefix: z.string().optional().describe('Prefix of every key Portcullis writes. Default `portcullis:`.'),
    ConnectTimeoutMs: integerLike.optional().describe('Bound on connecting, 100..60000 ms. Default 2000.'),
    CommandTimeoutMs: integerLike
      .optional()
      .describe(
        'Bound on each command, 10..60000 ms; a request that needs shared state answers 500 after it. Default 500.',
      ),
  })
    .optional()
    .describe('Redis or Valkey shared by several gateways: key rings, used login states, server-side sessions.'),
  SessionStore: z
    .enum(['cookie', 'shared'])
    .optional()
    .describe(
      'Where authenticate-oidc/cognito sessions live: `cookie` (sealed in the browser; default) or `shared` (in SharedState, the cookie carrying a sealed id; revocable).',
    ),
  LocalCertificates: z
    .boolean()
    .optional()
    .describe(
      'Development only: HTTPS listeners without certificate files (only CertificateArn, or none) get a certificate from the local CA for their host names. Default false.',
    ),
  ClientSecretsDirectory: z
    .string()
    .optional()
    .describe(
      'Directory with one file per client id holding its secret (a mounted Kubernetes secret), for UseExistingClientSecret: true.',
    ),
  InstanceAddresses: z
    .record(z.string(), z.string())
    .optional()
    .describe('EC2 instance id → IP address or host name, for targets registered by instance id (i-…).'),
})

/**
 * The whole configuration file: the single source of both the loader's shape
 * check and the published JSON Schema.
 *
 * @example
 * ```ts
 * const result = PortcullisFileSchema.safeParse(parseYaml(text))
 * if (!result.success) console.error(result.error.issues)
 * ```
 */
export const PortcullisFileSchema = strict('PortcullisFile', {
  $schema: z.string().optional().describe('JSON Schema reference for editors; ignored.'),
  LoadBalancer: LoadBalancerSchema.optional(),
  Listeners: z.array(ListenerSchema),
  TargetGroups: z.array(TargetGroupSchema).optional(),
  TrustStores: z.array(TrustStoreSchema).optional(),
  Portcullis: PortcullisSettingsSchema.optional(),
})

/** A configuration file as parsed (shape-checked, not yet normalised). */
export type PortcullisFile = z.infer<typeof PortcullisFileSchema>
/** One entry of `Listeners` as written in the file. */
export type ListenerFile = z.infer<typeof ListenerSchema>
/** One entry of a listener's `Rules`, as written or pasted from describe-rules. */
export type RuleFile = z.infer<typeof RuleSchema>
/** One entry of a rule's `Conditions`, in either of ELBv2's forms. */
export type ConditionFile = z.infer<typeof ConditionSchema>
/** One entry of a rule's `Transforms`. */
export type TransformFile = z.infer<typeof TransformSchema>
/** One entry of `Actions` / `DefaultActions`. */
export type ActionFile = z.infer<typeof ActionSchema>
/** One entry of `TrustStores`. */
export type TrustStoreFile = z.infer<typeof TrustStoreSchema>
/** One entry of `TargetGroups`. */
export type TargetGroupFile = z.infer<typeof TargetGroupSchema>
/** A `{ Key, Value }` attribute of a load balancer or target group. */
export type AttributeFile = z.infer<typeof AttributeSchema>
