/**
 * Gateways that share one Redis, as copies of one configuration on several
 * hosts would: each a real `portcullis start` process on its own loopback
 * address (127.0.0.N), the same listener port, shared key rings and sessions.
 */
import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { decodeProtectedHeader } from 'jose'
import { authenticateOidcYaml, type TestProvider } from '../auth/fixtures/provider.js'
import { freePort } from '../fixtures/ports.js'
import { startGatewayCli } from '../fixtures/process.js'

export interface Instance {
  readonly url: string
  readonly admin: string
  readonly config: string
  readonly process: ChildProcess
  /** Everything the process printed so far. */
  output(): string
}

function config(o: {
  address: string
  port: number
  admin: number
  redis: string
  idp: TestProvider
  target: number
  dir: string
}) {
  return `LoadBalancer: { Name: ha-test }
Listeners:
  - Port: ${o.port}
    Protocol: HTTP
    Portcullis: { Address: ${o.address} }
    DefaultActions:
${authenticateOidcYaml(o.idp, 6, '{ LogoutPath: /logout }')}
      - { Type: forward, Order: 2, TargetGroupArn: app }
TargetGroups:
  - TargetGroupName: app
    Protocol: HTTP
    HealthCheckEnabled: false
    Targets: [{ Id: 127.0.0.1, Port: ${o.target} }]
Portcullis:
  StateDirectory: ${o.dir}
  AllowInsecureHttpAuthentication: true
  Admin: { Address: 127.0.0.1, Port: ${o.admin} }
  SharedState: { Url: "${o.redis}", KeyPrefix: "ha:" }
  SessionStore: shared
`
}

/** The addresses and ports of `count` gateways (register their redirect URIs at the IdP before starting them). */
export async function planGateways(count: number): Promise<{ address: string; port: number; admin: number }[]> {
  // One port on several loopback addresses: the gateways run the same configuration (listener and
  // rule ARNs derive from the port), as copies on several hosts would.
  const port = await freePort()
  return Promise.all(
    Array.from({ length: count }, async (_, i) => ({ address: `127.0.0.${i + 1}`, port, admin: await freePort() })),
  )
}

/** The callback URL at each planned gateway. */
export const redirectUris = (plan: readonly { address: string; port: number }[]) =>
  plan.map((p) => `http://${p.address}:${p.port}/oauth2/idpresponse`)

/**
 * Starts the planned gateways (one worker each), waiting until each says it
 * is running on the shared state; `env` is added to their environment (a
 * test clock's).
 */
export async function startGateways(
  plan: readonly { address: string; port: number; admin: number }[],
  o: { redis: string; idp: TestProvider; target: number; dir: string; env?: Readonly<Record<string, string>> },
): Promise<Instance[]> {
  const instances: Instance[] = []
  for (const [i, p] of plan.entries()) {
    const file = join(o.dir, `gateway-${i + 1}.yaml`)
    await writeFile(file, config({ ...p, ...o, dir: join(o.dir, `state-${i + 1}`) }))
    const cli = await startGatewayCli(file, o.dir, { env: o.env })
    instances.push({
      url: `http://${p.address}:${p.port}`,
      admin: `http://127.0.0.1:${p.admin}`,
      config: file,
      process: cli.child,
      output: cli.output,
    })
    assert.match(
      cli.output(),
      /shared {4}redis:\/\/127\.0\.0\.1:\d+ {2}\(connected; key prefix ha:, shared sessions\)/,
      cli.output(),
    )
  }
  return instances
}

/** Stops a child process (SIGTERM, SIGKILL after 5 s) and waits for it to exit. */
export async function stop(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
  await exited
  clearTimeout(timer)
}

/** The identity token a target received, and its kid. */
export async function identity(res: Response): Promise<{ token: string; kid: string }> {
  assert.equal(res.status, 200, `expected the target's answer, got ${res.status}`)
  const body = (await res.json()) as { data: string }
  return { token: body.data, kid: decodeProtectedHeader(body.data).kid! }
}
