/**
 * A local stand-in for the ELBv2 and EC2 endpoints: it speaks their query
 * protocols (form-encoded POST with Action and Version) and answers with the
 * XML shapes of the AWS API reference examples (`<member>` lists for ELBv2,
 * `<item>` lists and lower-camel names for EC2), so the real SDK parses,
 * paginates and retries against it. The account holds three load balancers
 * over two pages (one a network load balancer), rules and security groups
 * over two pages each, one Throttling answer, and one access-denied answer.
 */
import { createServer, type Server } from 'node:http'
import { listen } from '../fixtures/ports.js'

const REGION = 'us-east-1'
const ACCOUNT = '123456789012'
const ELB = `arn:aws:elasticloadbalancing:${REGION}:${ACCOUNT}`
export const SHOP = `${ELB}:loadbalancer/app/shop/1111111111111111`
export const API = `${ELB}:loadbalancer/app/api/3333333333333333`
const NLB = `${ELB}:loadbalancer/net/tcp/2222222222222222`
const SHOP_HTTPS = `${ELB}:listener/app/shop/1111111111111111/aaaaaaaaaaaaaaaa`
const API_HTTP = `${ELB}:listener/app/api/3333333333333333/bbbbbbbbbbbbbbbb`
const APP_TG = `${ELB}:targetgroup/app/4444444444444444`
const rule = (id: string) => `${SHOP_HTTPS.replace(':listener/', ':listener-rule/')}/${id}`

type Xml = string | number | boolean | undefined | Xml[] | { [tag: string]: Xml }

/** Serialises a value the way the query protocols do: objects as elements, arrays as `<member>`/`<item>` lists. */
function xml(value: Xml, item: 'member' | 'item'): string {
  if (value === undefined) return ''
  if (Array.isArray(value)) return value.map((v) => `<${item}>${xml(v, item)}</${item}>`).join('')
  if (typeof value === 'object') {
    return Object.entries(value)
      .map(([tag, v]) => (v === undefined ? '' : `<${tag}>${xml(v, item)}</${tag}>`))
      .join('')
  }
  return String(value).replace(/&/g, '&amp;').replace(/</g, '&lt;')
}

const elbResponse = (action: string, result: Record<string, Xml>) =>
  `<${action}Response xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"><${action}Result>${xml(result, 'member')}</${action}Result><ResponseMetadata><RequestId>6581c0ac-f39f-11e5-bb98-57e7EXAMPLE</RequestId></ResponseMetadata></${action}Response>`
const elbError = (code: string, message: string) =>
  `<ErrorResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"><Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>c9d7a6e2-EXAMPLE</RequestId></ErrorResponse>`
const ec2Response = (action: string, body: Record<string, Xml>) =>
  `<${action}Response xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>59dbff89-35bd-4eac-99ed-be587EXAMPLE</requestId>${xml(body, 'item')}</${action}Response>`

const oidc = (onUnauthenticated: string) => ({
  Issuer: 'https://idp.example.com',
  AuthorizationEndpoint: 'https://idp.example.com/authorize',
  TokenEndpoint: 'https://idp.example.com/token',
  UserInfoEndpoint: 'https://idp.example.com/userinfo',
  ClientId: 'shop',
  SessionCookieName: 'AWSELBAuthSessionCookie',
  Scope: 'openid',
  SessionTimeout: 3600,
  OnUnauthenticatedRequest: onUnauthenticated,
})
const forwardToApp = (order: number) => ({
  Type: 'forward',
  Order: order,
  TargetGroupArn: APP_TG,
  ForwardConfig: { TargetGroups: [{ TargetGroupArn: APP_TG, Weight: 1 }] },
})

const loadBalancer = (arn: string, name: string, type: string, groups: string[]) => ({
  LoadBalancerArn: arn,
  DNSName: `${name}-424835706.${REGION}.elb.amazonaws.com`,
  CanonicalHostedZoneId: 'Z35SXDOTRQ7X7K',
  CreatedTime: '2016-03-25T21:26:12.920Z',
  LoadBalancerName: name,
  Scheme: 'internet-facing',
  VpcId: 'vpc-3ac0fb5f',
  State: { Code: 'active' },
  Type: type,
  AvailabilityZones: [{ ZoneName: `${REGION}a`, SubnetId: 'subnet-8360a9e7' }],
  SecurityGroups: groups,
  IpAddressType: 'ipv4',
})

/** Every request the stub answered: the action and its form parameters. */
export interface StubCall {
  readonly action: string
  readonly params: URLSearchParams
}

/** A running stub: its URL, and the calls it received. */
export interface AwsStub {
  readonly url: string
  readonly calls: StubCall[]
  close(): Promise<void>
}

type Answer = { status: number; body: string }

function answer(action: string, p: URLSearchParams, state: { throttled: boolean }): Answer {
  const ok = (body: string): Answer => ({ status: 200, body })
  switch (action) {
    case 'DescribeLoadBalancers':
      if (!state.throttled) {
        state.throttled = true
        return { status: 400, body: elbError('Throttling', 'Rate exceeded') }
      }
      return p.get('Marker') === 'page-2'
        ? ok(elbResponse(action, { LoadBalancers: [loadBalancer(API, 'api', 'application', ['sg-0api'])] }))
        : ok(
            elbResponse(action, {
              LoadBalancers: [
                loadBalancer(SHOP, 'shop', 'application', ['sg-0lb']),
                loadBalancer(NLB, 'tcp', 'network', []),
              ],
              NextMarker: 'page-2',
            }),
          )
    case 'DescribeLoadBalancerAttributes': {
      const shop = p.get('LoadBalancerArn') === SHOP
      const attributes = shop
        ? [
            { Key: 'deletion_protection.enabled', Value: 'false' },
            { Key: 'access_logs.s3.enabled', Value: 'true' },
            { Key: 'access_logs.s3.bucket', Value: 'shop-logs' },
            { Key: 'routing.http.drop_invalid_header_fields.enabled', Value: 'true' },
            { Key: 'routing.http.desync_mitigation_mode', Value: 'defensive' },
            { Key: 'idle_timeout.timeout_seconds', Value: '60' },
          ]
        : [
            { Key: 'deletion_protection.enabled', Value: 'true' },
            { Key: 'access_logs.s3.enabled', Value: 'false' },
            { Key: 'routing.http.desync_mitigation_mode', Value: 'monitor' },
          ]
      return ok(elbResponse(action, { Attributes: attributes }))
    }
    case 'DescribeListeners':
      return p.get('LoadBalancerArn') === SHOP
        ? ok(
            elbResponse(action, {
              Listeners: [
                {
                  ListenerArn: SHOP_HTTPS,
                  LoadBalancerArn: SHOP,
                  Port: 443,
                  Protocol: 'HTTPS',
                  Certificates: [{ CertificateArn: `arn:aws:acm:${REGION}:${ACCOUNT}:certificate/12345678` }],
                  SslPolicy: 'ELBSecurityPolicy-2016-08',
                  DefaultActions: [
                    { Type: 'authenticate-oidc', Order: 1, AuthenticateOidcConfig: oidc('authenticate') },
                    forwardToApp(2),
                  ],
                },
              ],
            }),
          )
        : ok(
            elbResponse(action, {
              Listeners: [
                {
                  ListenerArn: API_HTTP,
                  LoadBalancerArn: API,
                  Port: 80,
                  Protocol: 'HTTP',
                  DefaultActions: [
                    {
                      Type: 'redirect',
                      Order: 1,
                      RedirectConfig: { Protocol: 'HTTPS', Port: '443', StatusCode: 'HTTP_301' },
                    },
                  ],
                },
              ],
            }),
          )
    case 'DescribeRules':
      if (p.get('ListenerArn') === API_HTTP) {
        return ok(
          elbResponse(action, {
            Rules: [
              {
                RuleArn: `${API_HTTP.replace(':listener/', ':listener-rule/')}/cccccccccccccccc`,
                Priority: 'default',
                Conditions: [],
                Actions: [
                  {
                    Type: 'redirect',
                    Order: 1,
                    RedirectConfig: {
                      Protocol: 'HTTPS',
                      Port: '443',
                      Host: '#{host}',
                      Path: '/#{path}',
                      Query: '#{query}',
                      StatusCode: 'HTTP_301',
                    },
                  },
                ],
                IsDefault: true,
              },
            ],
          }),
        )
      }
      return p.get('Marker') === 'rules-2'
        ? ok(
            elbResponse(action, {
              Rules: [
                {
                  RuleArn: rule('0000000000000010'),
                  Priority: '10',
                  Conditions: [
                    { Field: 'path-pattern', Values: ['/admin/*'], PathPatternConfig: { Values: ['/admin/*'] } },
                  ],
                  Actions: [
                    { Type: 'authenticate-oidc', Order: 1, AuthenticateOidcConfig: oidc('authenticate') },
                    forwardToApp(2),
                  ],
                  IsDefault: false,
                },
                {
                  RuleArn: rule('000000000000ffff'),
                  Priority: 'default',
                  Conditions: [],
                  Actions: [
                    { Type: 'authenticate-oidc', Order: 1, AuthenticateOidcConfig: oidc('authenticate') },
                    forwardToApp(2),
                  ],
                  IsDefault: true,
                },
              ],
            }),
          )
        : ok(
            elbResponse(action, {
              Rules: [
                {
                  RuleArn: rule('0000000000000005'),
                  Priority: '5',
                  Conditions: [{ Field: 'path-pattern', PathPatternConfig: { Values: ['/*.json'] } }],
                  Actions: [forwardToApp(1)],
                  IsDefault: false,
                },
              ],
              NextMarker: 'rules-2',
            }),
          )
    case 'DescribeTargetGroups':
      if (p.get('LoadBalancerArn') === API) {
        return {
          status: 403,
          body: elbError(
            'AccessDenied',
            `User: arn:aws:iam::${ACCOUNT}:user/auditor is not authorized to perform: elasticloadbalancing:DescribeTargetGroups`,
          ),
        }
      }
      return ok(
        elbResponse(action, {
          TargetGroups: [
            {
              TargetGroupArn: APP_TG,
              TargetGroupName: 'app',
              Protocol: 'HTTP',
              Port: 8080,
              VpcId: 'vpc-3ac0fb5f',
              HealthCheckProtocol: 'HTTP',
              HealthCheckPort: 'traffic-port',
              HealthCheckEnabled: true,
              HealthCheckIntervalSeconds: 30,
              HealthCheckTimeoutSeconds: 5,
              HealthyThresholdCount: 5,
              UnhealthyThresholdCount: 2,
              HealthCheckPath: '/',
              Matcher: { HttpCode: '200' },
              LoadBalancerArns: [SHOP],
              TargetType: 'instance',
              ProtocolVersion: 'HTTP1',
              IpAddressType: 'ipv4',
            },
          ],
        }),
      )
    case 'DescribeTargetGroupAttributes':
      return ok(elbResponse(action, { Attributes: [{ Key: 'stickiness.enabled', Value: 'false' }] }))
    case 'DescribeTargetHealth':
      return ok(
        elbResponse(action, {
          TargetHealthDescriptions: [
            { Target: { Id: 'i-0f76fade', Port: 8080 }, HealthCheckPort: '8080', TargetHealth: { State: 'healthy' } },
          ],
        }),
      )
    case 'DescribeInstances':
      return ok(
        ec2Response(action, {
          reservationSet: [
            {
              reservationId: 'r-1234567890abcdef0',
              ownerId: ACCOUNT,
              instancesSet: [
                {
                  instanceId: 'i-0f76fade',
                  privateIpAddress: '10.0.1.12',
                  ipAddress: '54.194.252.215',
                  subnetId: 'subnet-0public',
                  vpcId: 'vpc-3ac0fb5f',
                  groupSet: [{ groupId: 'sg-0app', groupName: 'app' }],
                },
              ],
            },
          ],
        }),
      )
    case 'DescribeSecurityGroups':
      return p.get('NextToken') === 'sg-2'
        ? ok(
            ec2Response(action, {
              securityGroupInfo: [
                {
                  ownerId: ACCOUNT,
                  groupId: 'sg-0app',
                  groupName: 'app',
                  groupDescription: 'targets',
                  vpcId: 'vpc-3ac0fb5f',
                  ipPermissions: [
                    {
                      ipProtocol: 'tcp',
                      fromPort: 8080,
                      toPort: 8080,
                      groups: [{ userId: ACCOUNT, groupId: 'sg-0lb' }],
                      ipRanges: [{ cidrIp: '0.0.0.0/0' }],
                    },
                    { ipProtocol: 'tcp', fromPort: 22, toPort: 22, ipRanges: [{ cidrIp: '203.0.113.0/24' }] },
                  ],
                },
              ],
            }),
          )
        : ok(
            ec2Response(action, {
              securityGroupInfo: [
                {
                  ownerId: ACCOUNT,
                  groupId: 'sg-0lb',
                  groupName: 'shop-alb',
                  groupDescription: 'load balancer',
                  vpcId: 'vpc-3ac0fb5f',
                  ipPermissions: [
                    { ipProtocol: 'tcp', fromPort: 443, toPort: 443, ipRanges: [{ cidrIp: '0.0.0.0/0' }] },
                  ],
                },
              ],
              nextToken: 'sg-2',
            }),
          )
    case 'DescribeRouteTables':
      return ok(
        ec2Response(action, {
          routeTableSet: [
            {
              routeTableId: 'rtb-0public',
              vpcId: 'vpc-3ac0fb5f',
              routeSet: [
                { destinationCidrBlock: '10.0.0.0/16', gatewayId: 'local', state: 'active' },
                { destinationCidrBlock: '0.0.0.0/0', gatewayId: 'igw-0b1c2d3e', state: 'active' },
              ],
              associationSet: [
                {
                  routeTableAssociationId: 'rtbassoc-1',
                  routeTableId: 'rtb-0public',
                  subnetId: 'subnet-0public',
                  main: false,
                },
              ],
            },
          ],
        }),
      )
    default:
      return { status: 400, body: elbError('InvalidAction', `the stub does not know ${action}`) }
  }
}

/**
 * Starts the stub on 127.0.0.1 (a free port).
 *
 * @example
 * ```ts
 * const stub = await startAwsStub()
 * await auditAwsAccount({ endpoint: stub.url, region: 'us-east-1' })
 * await stub.close()
 * ```
 */
export async function startAwsStub(): Promise<AwsStub> {
  const calls: StubCall[] = []
  const state = { throttled: false }
  const server: Server = createServer((req, res) => {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (chunk: string) => {
      body += chunk
    })
    req.on('end', () => {
      const params = new URLSearchParams(body)
      const action = params.get('Action') ?? ''
      calls.push({ action, params })
      const { status, body: xmlBody } = answer(action, params, state)
      res.writeHead(status, { 'content-type': 'text/xml' })
      res.end(`<?xml version="1.0" encoding="UTF-8"?>\n${xmlBody}`)
    })
  })
  const port = await listen(server)
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
