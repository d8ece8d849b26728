import { randomBytes } from 'node:crypto'
import http, {
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  ServerResponse,
} from 'node:http'
import type { Socket } from 'node:net'
import { createForwardAction } from '../../src/actions/forward.js'
import type { ListenerModel, RuleModel, TargetGroupModel } from '../../src/config/model.js'
import type { ActionOutcome } from '../../src/core/actions.js'
import { newRequestRecord, type RequestContext, type RequestRecord } from '../../src/core/request.js'
import { parseCookieHeader } from '../../src/headers/cookies.js'
import { HOP_BY_HOP } from '../../src/headers/request-headers.js'
import { TargetGroupRegistry } from '../../src/targets/target-group.js'
import { listen } from '../fixtures/ports.js'

/** A stickiness secret for tests (the gateway keeps the real one in its state directory). */
export const secret = randomBytes(32)

const listener = { id: 'listener/test', port: 0, protocol: 'HTTP', rules: [] } as unknown as ListenerModel
const rule = {
  arn: 'rule/test',
  priority: 'default',
  conditions: [],
  transforms: [],
  actions: [],
} as unknown as RuleModel

/**
 * The request context the listener would build: hop-by-hop headers removed,
 * `Host` kept, the path and query split, cookies parsed, and the client's
 * early close reported to `whenClientGone`.
 */
export function buildContext(
  req: IncomingMessage,
  res: ServerResponse,
  upgrade?: { socket: Socket; head: Buffer },
): RequestContext {
  const upstreamHeaders: OutgoingHttpHeaders = {}
  for (const [name, value] of Object.entries(req.headers)) {
    if (!HOP_BY_HOP.has(name) && value !== undefined) upstreamHeaders[name] = value
  }
  const url = req.url ?? '/'
  const q = url.indexOf('?')
  const record: RequestRecord = {
    ...newRequestRecord('Root=1-00000000-000000000000000000000000'),
    matchedRulePriority: 'default',
  }
  const ctx: RequestContext = {
    req,
    res,
    listener,
    rule,
    protocol: 'http',
    sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
    host: req.headers.host?.split(':')[0],
    path: q === -1 ? url : url.slice(0, q),
    query: q === -1 ? '' : url.slice(q + 1),
    upstreamHeaders,
    cookies: parseCookieHeader(req.headers.cookie),
    responseCookies: [],
    record,
    upgrade,
    whenClientGone: undefined,
  }
  // As the listener pipeline does: a client that leaves early is reported to whatever is still working for it.
  res.on('close', () => {
    if (!res.writableFinished) ctx.whenClientGone?.clientGone()
  })
  return ctx
}

export interface TestServer {
  readonly server: http.Server
  readonly port: number
  readonly url: string
  close(): Promise<void>
}

async function serve(server: http.Server): Promise<TestServer> {
  const port = await listen(server)
  return {
    server,
    port,
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** A real upstream (target) server on 127.0.0.1. */
export function startUpstream(handler: http.RequestListener): Promise<TestServer> {
  return serve(http.createServer(handler))
}

/**
 * A front server standing in for the listener: builds a context from each
 * real request (and upgrade) and runs `action`. `contexts` collects every
 * context built, for assertions on `record`.
 */
export async function startFront(
  action: (ctx: RequestContext) => ActionOutcome | Promise<ActionOutcome>,
): Promise<TestServer & { contexts: RequestContext[] }> {
  const contexts: RequestContext[] = []
  const server = http.createServer((req, res) => {
    const ctx = buildContext(req, res)
    contexts.push(ctx)
    void action(ctx)
  })
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const res = new ServerResponse(req)
    res.assignSocket(socket)
    const ctx = buildContext(req, res, { socket, head })
    contexts.push(ctx)
    void action(ctx)
  })
  const s = await serve(server)
  return { ...s, contexts }
}

export interface TestResponse {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly body: string
}

/** One request on a fresh connection; resolves with the whole (small) response. */
export function request(
  url: string,
  options: { method?: string; headers?: OutgoingHttpHeaders; body?: string | Buffer } = {},
): Promise<TestResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: options.method ?? 'GET', headers: options.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () =>
          resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }),
        )
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.end(options.body)
  })
}

/** `name=value` pairs of a response's `Set-Cookie` headers, as a `Cookie` request header. */
export function cookieHeader(headers: IncomingHttpHeaders, names?: readonly string[]): string {
  return (headers['set-cookie'] ?? [])
    .map((c) => c.split(';')[0]!)
    .filter((pair) => names === undefined || names.includes(pair.split('=')[0]!))
    .join('; ')
}

let groupCounter = 0

/** A target group model with ALB's defaults, overridable. */
export function groupModel(overrides: Partial<TargetGroupModel> = {}): TargetGroupModel {
  const name = overrides.name ?? `tg-${++groupCounter}`
  return {
    name,
    arn: `arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/${name}/0123456789abcdef`,
    protocol: 'HTTP',
    protocolVersion: 'HTTP1',
    port: undefined,
    targets: [],
    healthCheck: {
      enabled: true,
      protocol: 'HTTP',
      port: undefined,
      path: '/',
      intervalSeconds: 30,
      timeoutSeconds: 5,
      healthyThresholdCount: 5,
      unhealthyThresholdCount: 2,
      protocolVersion: 'HTTP1',
      matcher: '200',
    },
    algorithm: 'round_robin',
    stickiness: undefined,
    slowStartSeconds: 0,
    deregistrationDelaySeconds: 300,
    caFile: undefined,
    targetTimeoutSeconds: undefined,
    raw: {},
    ...overrides,
  }
}

/** A front server forwarding every request to `models[0]` through a fresh registry. */
export async function startForwarding(
  models: readonly TargetGroupModel[],
): Promise<TestServer & { contexts: RequestContext[]; registry: TargetGroupRegistry }> {
  const registry = TargetGroupRegistry.create(models, { stickinessSecret: secret })
  const action = createForwardAction(
    { type: 'forward', order: 1, targetGroups: [{ targetGroupArn: models[0]!.arn, weight: 1 }], stickiness: undefined },
    registry,
    { stickinessSecret: secret },
  )
  const front = await startFront((ctx) => action.run(ctx))
  return {
    ...front,
    registry,
    close: async () => {
      await front.close()
      await registry.destroy()
    },
  }
}
