import { readFileSync } from 'node:fs'
import type { Logger } from 'pino'
import { Pool } from 'undici'
import type { TargetGroupModel } from '../config/model.js'
import { elapsedMs } from '../values/clock.js'
import { type Balanced, type Balancer, createBalancer, type RandomSource } from './balancing.js'
import {
  type HealthCheckedTarget,
  HealthChecker,
  type HealthCheckOverrides,
  type HealthCheckSettings,
  healthCheckSettings,
  hostForAuthority,
  TargetHealth,
  type TargetHealthReason,
  type TargetHealthState,
} from './health.js'
import { TargetHttp2Connection } from './http2-connection.js'
import { SlowStart } from './slow-start.js'
import {
  type StickinessContext,
  type StickyBalancer,
  type StickyTargetValues,
  stickyTargetValues,
  TargetStickiness,
} from './stickiness/index.js'

/**
 * One registered target at run time: its address, health, in-flight request
 * count and keep-alive connection pool.
 */
export class Target implements Balanced, HealthCheckedTarget, StickyTargetValues {
  /** IP address or host name, as registered. */
  readonly id: string
  readonly port: number
  /** `host:port` as in ALB's access log (`[v6]:port` for IPv6). */
  readonly address: string
  /** Connection pool to this target (HTTP/1.1, keep-alive). */
  readonly dispatcher: Pool
  readonly health: TargetHealth
  /** Opaque `AWSALB` value naming this target. */
  readonly lbCookieValue: string
  /** Opaque `AWSALBAPP-0` value naming this target. */
  readonly appCookieValue: string
  /** The HTTP/2 session of an `HTTP2` or `GRPC` group's target (its requests bypass `dispatcher`). */
  readonly http2: TargetHttp2Connection | undefined
  /** Requests sent and not yet completed. */
  outstanding = 0

  constructor(
    id: string,
    port: number,
    dispatcher: Pool,
    health: TargetHealth,
    sticky: StickyTargetValues,
    http2?: TargetHttp2Connection,
  ) {
    this.id = id
    this.port = port
    this.address = `${hostForAuthority(id)}:${port}`
    this.dispatcher = dispatcher
    this.http2 = http2
    this.health = health
    this.lbCookieValue = sticky.lbCookieValue
    this.appCookieValue = sticky.appCookieValue
  }
}

/** A target's health changed; for logs and metrics. */
export interface TargetHealthChange {
  readonly targetGroupArn: string
  readonly targetGroupName: string
  /** `host:port`. */
  readonly target: string
  readonly from: TargetHealthState
  readonly to: TargetHealthState
  readonly reason: TargetHealthReason | undefined
}

/** How a `TargetGroupRuntime` is built; the secret is the only required setting. */
export interface TargetGroupOptions {
  /**
   * Key for the stickiness cookie values; must be the same in every worker
   * and stable across restarts (keep it in the state directory), ≥ 16 bytes.
   */
  readonly stickinessSecret: Buffer
  /** LB `idle_timeout.timeout_seconds`: the target timeout when the group sets none. Default 60. */
  readonly idleTimeoutSeconds?: number
  /** The same group in the configuration being replaced: unchanged targets keep their health. */
  readonly previous?: TargetGroupRuntime | undefined
  /** Called on every target health transition. */
  readonly onHealthChange?: (change: TargetHealthChange) => void
  /** Test-only: health-check intervals below ALB's minimum. */
  readonly healthCheckOverrides?: HealthCheckOverrides
  /** Test-only: random source for `weighted_random`. */
  readonly random?: RandomSource
  /**
   * The monotonic milliseconds slow start ramps on; default `performance.now()`.
   * Unit tests pass their own; every group of a process must share one, since
   * a reload carries a ramp's start from the old group to the new.
   */
  readonly elapsedMs?: () => number
}

/** Key under which a target's health is carried across reloads. */
function targetKey(id: string, port: number): string {
  return `${id}\0${port}`
}

/**
 * A target group at run time (one per `TargetGroupModel`): picks a target for
 * each request honouring stickiness, the load-balancing algorithm and target
 * health, and owns the health checker and the connection pools.
 *
 * Routing set: the healthy targets (or every target when health checks are
 * disabled). When none is healthy — every target `unhealthy` or still
 * `initial`, e.g. right after start — ALB fails open and so does this: all
 * registered targets are routable. New targets do not receive traffic while
 * `initial` if others are healthy (ALB routes only to healthy targets); the
 * first check runs immediately so that wait is short.
 *
 * @example
 * const group = new TargetGroupRuntime(model, { stickinessSecret })
 * group.start()
 * const target = group.select(ctx) // undefined only when the group has no targets
 */
export class TargetGroupRuntime {
  readonly model: TargetGroupModel
  readonly arn: string
  readonly name: string
  readonly protocol: 'HTTP' | 'HTTPS'
  readonly targets: readonly Target[]
  /** Per-request timeout towards the target (504 after it). */
  readonly targetTimeoutMs: number
  /** PEM CA used for HTTPS connections and checks; undefined = system store. */
  readonly ca: Buffer | undefined
  /** `lb_cookie` or `app_cookie` stickiness, when enabled; the proxy asks it about application cookies. */
  readonly stickiness: TargetStickiness<Target> | undefined
  readonly healthCheck: HealthCheckSettings

  readonly #balancer: Balancer
  readonly #checker: HealthChecker<Target>
  readonly #stickyBalancer: StickyBalancer<Target>
  readonly #onHealthChange: ((change: TargetHealthChange) => void) | undefined
  /** Slow start's ramps, when `slow_start.duration_seconds` is on. */
  readonly #slowStart: SlowStart<Target> | undefined
  /**
   * Targets registered by this configuration rather than carried over from
   * the one it replaces (ALB: "newly registered"); empty at first start,
   * whose targets are one registration and so never enter slow start then.
   */
  readonly #newlyRegistered = new Set<Target>()
  #routable: readonly Target[] = []
  #allHealthy = false

  constructor(model: TargetGroupModel, options: TargetGroupOptions) {
    this.model = model
    this.arn = model.arn
    this.name = model.name
    this.protocol = model.protocol
    this.ca = model.caFile === undefined ? undefined : readFileSync(model.caFile)
    this.targetTimeoutMs = (model.targetTimeoutSeconds ?? options.idleTimeoutSeconds ?? 60) * 1000
    this.healthCheck = healthCheckSettings(model.healthCheck, this.ca, options.healthCheckOverrides)
    this.#onHealthChange = options.onHealthChange
    const slowStart =
      model.slowStartSeconds > 0
        ? new SlowStart<Target>(model.slowStartSeconds * 1000, options.elapsedMs ?? elapsedMs)
        : undefined
    this.#slowStart = slowStart
    this.#balancer = createBalancer(
      model.algorithm,
      options.random,
      slowStart === undefined ? undefined : (t) => slowStart.weight(t as Target),
    )

    const secret = options.stickinessSecret
    const previous = new Map<string, TargetHealth>()
    const previousRamps = new Map<string, number>()
    for (const t of options.previous?.targets ?? []) {
      previous.set(targetKey(t.id, t.port), t.health)
      const since = options.previous?.slowStartSince(t)
      if (since !== undefined) previousRamps.set(targetKey(t.id, t.port), since)
    }
    const scheme = model.protocol === 'HTTPS' ? 'https' : 'http'
    const seen = new Set<string>()
    const targets: Target[] = []
    for (const tm of model.targets) {
      const key = targetKey(tm.id, tm.port)
      // Registering the same target twice does not make it count twice in ALB.
      if (seen.has(key)) continue
      seen.add(key)
      const carried = previous.get(key)
      const health = !model.healthCheck.enabled
        ? new TargetHealth('unavailable', 'Target.HealthCheckDisabled')
        : carried !== undefined && carried.state !== 'unavailable'
          ? TargetHealth.from(carried)
          : new TargetHealth()
      const pool = new Pool(`${scheme}://${hostForAuthority(tm.id)}:${tm.port}`, {
        connect: this.ca === undefined ? {} : { ca: this.ca },
      })
      const origin = `${scheme}://${hostForAuthority(tm.id)}:${tm.port}`
      const http2 =
        model.protocolVersion === 'HTTP2' || model.protocolVersion === 'GRPC'
          ? new TargetHttp2Connection(origin, this.ca)
          : undefined
      const target = new Target(tm.id, tm.port, pool, health, stickyTargetValues(secret, model.arn, key), http2)
      targets.push(target)
      if (options.previous !== undefined && !options.previous.targets.some((t) => targetKey(t.id, t.port) === key)) {
        this.#newlyRegistered.add(target)
      }
      const since = previousRamps.get(key)
      if (since !== undefined) slowStart?.enter(target, since)
    }
    this.targets = targets
    // Without health checks a target is routable from its registration: a newly registered one ramps from then.
    if (!model.healthCheck.enabled) for (const t of this.#newlyRegistered) this.#enterSlowStart(t)

    this.stickiness =
      model.stickiness === undefined ? undefined : new TargetStickiness(model.stickiness, targets, model.name)
    this.#stickyBalancer = {
      pick: () => this.#balancer.pick(this.#routable)!,
      // A pinned target takes requests while healthy, and also when the group fails open.
      isRoutable: (t) => this.#allHealthy || t.health.state === 'healthy' || t.health.state === 'unavailable',
    }

    this.#checker = new HealthChecker(this.healthCheck, targets, (target, from) => this.#healthChanged(target, from))
    this.#recompute()
  }

  /** Targets in the `healthy` (or `unavailable`) state; for `HealthyHostCount`. */
  get healthyCount(): number {
    let n = 0
    for (const t of this.targets) if (t.health.state === 'healthy' || t.health.state === 'unavailable') n++
    return n
  }

  /** Targets in the `unhealthy` state; for `UnHealthyHostCount`. */
  get unhealthyCount(): number {
    let n = 0
    for (const t of this.targets) if (t.health.state === 'unhealthy') n++
    return n
  }

  /** The targets requests are currently balanced over (healthy ones, or all when failing open). */
  get routable(): readonly Target[] {
    return this.#routable
  }

  /**
   * Picks the target for a request, or undefined when the group has no
   * registered targets (the caller answers 503). Honours stickiness: a valid
   * sticky cookie naming a routable target wins; a tampered, foreign or stale
   * one is ignored and the target is chosen afresh; the stickiness cookies
   * the response carries are appended to `ctx.responseCookies` (see
   * {@link TargetStickiness}).
   */
  select(ctx: StickinessContext): Target | undefined {
    const routable = this.#routable
    if (routable.length === 0) return undefined
    const stickiness = this.stickiness
    return stickiness === undefined ? this.#balancer.pick(routable) : stickiness.select(ctx, this.#stickyBalancer)
  }

  /** When `target` entered slow start (on the group's clock), or undefined when it is not ramping up. */
  slowStartSince(target: Target): number | undefined {
    return this.#slowStart?.since(target)
  }

  /** Counts a request sent to `target` (least outstanding requests); pair with `release`. */
  acquire(target: Target): void {
    target.outstanding++
  }

  /** The request counted by `acquire` has completed or failed. */
  release(target: Target): void {
    target.outstanding--
  }

  /** Starts health checks. */
  start(): void {
    this.#checker.start()
  }

  /** Stops health checks and closes the pools once their in-flight requests are done. */
  async close(): Promise<void> {
    this.#checker.stop()
    await Promise.all(this.targets.map((t) => Promise.all([t.dispatcher.close(), t.http2?.close()])))
  }

  /** Stops health checks and aborts every connection to the targets now. */
  async destroy(): Promise<void> {
    this.#checker.stop()
    for (const t of this.targets) t.http2?.destroy()
    await Promise.all(this.targets.map((t) => t.dispatcher.destroy()))
  }

  /**
   * Retires this group after a reload to `next` (the same group in the new
   * configuration, if it is still there); `idle` settles when the replaced
   * configuration has no request left to start. A target `next` still has
   * keeps serving the old requests until they finish; a target it no longer
   * has is deregistered as ALB does it: the old requests get the group's
   * `deregistration_delay.timeout_seconds`, and those still running then are
   * cut (the client gets a 502).
   */
  async retire(next: TargetGroupRuntime | undefined, idle: Promise<void>): Promise<void> {
    this.#checker.stop()
    const kept = new Set(next?.targets.map((t) => targetKey(t.id, t.port)))
    const delayMs = this.model.deregistrationDelaySeconds * 1000
    await Promise.all(
      this.targets.map(async (t) => {
        const drained = idle.then(() => Promise.all([t.dispatcher.close(), t.http2?.close()]))
        if (kept.has(targetKey(t.id, t.port))) return drained
        let timer: NodeJS.Timeout | undefined
        const expired = new Promise<'expired'>((resolve) => {
          timer = setTimeout(() => resolve('expired'), delayMs)
          // A process shutting down does not wait for a deregistration it is about to end anyway.
          timer.unref()
        })
        const outcome = await Promise.race([drained, expired])
        clearTimeout(timer)
        if (outcome === 'expired') {
          t.http2?.destroy()
          await t.dispatcher.destroy()
        }
      }),
    )
  }

  /** Runs one health check of every target now (tests, and `start` callers that want to wait). */
  async checkAll(): Promise<void> {
    if (!this.healthCheck.enabled) return
    await Promise.all(this.targets.map((t) => this.#checker.checkNow(t)))
  }

  #healthChanged(target: Target, from: TargetHealthState): void {
    if (this.#slowStart !== undefined) {
      const to = target.health.state
      // ALB: a target enters slow start when it becomes healthy (a newly registered one, or one that was
      // unhealthy) and leaves it when it becomes unhealthy.
      if (to === 'healthy' && (from === 'unhealthy' || this.#newlyRegistered.has(target))) this.#enterSlowStart(target)
      else if (to !== 'healthy') this.#slowStart.leave(target)
    }
    this.#recompute()
    this.#onHealthChange?.({
      targetGroupArn: this.arn,
      targetGroupName: this.name,
      target: target.address,
      from,
      to: target.health.state,
      reason: target.health.reason,
    })
  }

  /**
   * `target` enters slow start, if another routable target is at its full
   * share (ALB: "only when there is at least one healthy target that is not
   * in slow start mode"; ramping every target would only slow them all alike).
   */
  #enterSlowStart(target: Target): void {
    const slowStart = this.#slowStart
    if (slowStart === undefined) return
    const full = this.targets.some(
      (t) =>
        t !== target && (t.health.state === 'healthy' || t.health.state === 'unavailable') && !slowStart.ramping(t),
    )
    if (full) slowStart.enter(target)
  }

  #recompute(): void {
    const healthy = this.targets.filter((t) => t.health.state === 'healthy' || t.health.state === 'unavailable')
    this.#allHealthy = healthy.length === 0
    this.#routable = healthy.length === 0 ? this.targets : healthy
  }
}

/** `TargetGroupOptions` for every group, plus the registry being replaced and a logger. */
export interface TargetGroupRegistryOptions extends Omit<TargetGroupOptions, 'previous'> {
  /** The registry of the configuration being replaced (health is carried over, by ARN and target). */
  readonly previous?: TargetGroupRegistry | undefined
  /** Logs health transitions (`info`, `warn` when a target turns unhealthy, `debug` for the first healthy verdict). */
  readonly logger?: Pick<Logger, 'debug' | 'info' | 'warn'>
}

/**
 * Every target group of one configuration, by ARN.
 *
 * On reload, build the new registry with `previous` set to the old one so
 * that unchanged targets keep their health (no flapping to `initial`), then
 * `start()` the new one and `close()` the old one once the new configuration
 * serves (close lets in-flight requests finish).
 *
 * @example
 * const registry = TargetGroupRegistry.create(config.targetGroups, { stickinessSecret, logger })
 * registry.start()
 * registry.get(arn)?.select(ctx)
 */
export class TargetGroupRegistry {
  readonly #groups: Map<string, TargetGroupRuntime>

  private constructor(groups: Map<string, TargetGroupRuntime>) {
    this.#groups = groups
  }

  /** Builds the run-time target groups (no health check runs before `start()`). */
  static create(models: readonly TargetGroupModel[], options: TargetGroupRegistryOptions): TargetGroupRegistry {
    const { previous, logger, onHealthChange, ...rest } = options
    const notify = (change: TargetHealthChange): void => {
      if (logger !== undefined) {
        const fields = { ...change, event: 'target_health' }
        if (change.to === 'unhealthy') logger.warn(fields, 'target is unhealthy')
        // A target found healthy at start is what everyone expects, said by every worker: not news at info.
        else if (change.from === 'initial' && change.to === 'healthy') logger.debug(fields, 'target is healthy')
        else logger.info(fields, `target is ${change.to}`)
      }
      onHealthChange?.(change)
    }
    const groups = new Map<string, TargetGroupRuntime>()
    for (const model of models) {
      groups.set(
        model.arn,
        new TargetGroupRuntime(model, { ...rest, previous: previous?.get(model.arn), onHealthChange: notify }),
      )
    }
    return new TargetGroupRegistry(groups)
  }

  /** The group with this ARN. */
  get(arn: string): TargetGroupRuntime | undefined {
    return this.#groups.get(arn)
  }

  /** All groups, in configuration order. */
  get groups(): readonly TargetGroupRuntime[] {
    return [...this.#groups.values()]
  }

  /** Starts every group's health checks. */
  start(): void {
    for (const g of this.#groups.values()) g.start()
  }

  /** Stops health checks and closes pools gracefully (in-flight requests complete). */
  async close(): Promise<void> {
    await Promise.all([...this.#groups.values()].map((g) => g.close()))
  }

  /** Stops health checks and drops every target connection now. */
  async destroy(): Promise<void> {
    await Promise.all([...this.#groups.values()].map((g) => g.destroy()))
  }

  /** After a reload to `next`: every group {@link TargetGroupRuntime.retire retires} against its successor. */
  async retire(next: TargetGroupRegistry, idle: Promise<void>): Promise<void> {
    await Promise.all([...this.#groups.values()].map((g) => g.retire(next.get(g.arn), idle)))
  }
}
