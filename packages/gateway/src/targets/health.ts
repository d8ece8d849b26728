import http from 'node:http'
import https from 'node:https'
import { isIP } from 'node:net'
import type { HealthCheckModel } from '../config/model.js'
import { type Matcher, matches, parseMatcher } from '../values/http-codes.js'

/**
 * ALB's target health states. `unavailable` is what ALB reports when health
 * checks are disabled: the target is routable and never checked.
 */
export type TargetHealthState = 'initial' | 'healthy' | 'unhealthy' | 'unavailable'

/** ALB's `TargetHealth.Reason` codes for the states Portcullis produces. */
export type TargetHealthReason =
  | 'Elb.InitialHealthChecking'
  | 'Target.ResponseCodeMismatch'
  | 'Target.Timeout'
  | 'Target.FailedHealthChecks'
  | 'Target.HealthCheckDisabled'

/** Outcome of one health-check request. */
export type ProbeResult = { readonly ok: true } | { readonly ok: false; readonly reason: TargetHealthReason }

/**
 * The health of one registered target, with the consecutive counters the
 * thresholds apply to.
 *
 * Transitions follow ALB: a newly registered target is `initial` and becomes
 * `healthy` after it passes ONE check ("After your target is registered, it
 * must pass one health check to be considered healthy"), or `unhealthy` after
 * `UnhealthyThresholdCount` consecutive failures. A healthy target becomes
 * unhealthy after `UnhealthyThresholdCount` consecutive failures; an unhealthy
 * one becomes healthy again after `HealthyThresholdCount` consecutive passes.
 */
export class TargetHealth {
  state: TargetHealthState
  reason: TargetHealthReason | undefined
  successes = 0
  failures = 0

  constructor(state: TargetHealthState = 'initial', reason?: TargetHealthReason) {
    this.state = state
    this.reason = reason ?? (state === 'initial' ? 'Elb.InitialHealthChecking' : undefined)
  }

  /** Copies state and counters from a previous configuration's record of the same target. */
  static from(previous: TargetHealth): TargetHealth {
    const h = new TargetHealth(previous.state, previous.reason)
    h.successes = previous.successes
    h.failures = previous.failures
    return h
  }

  /**
   * Applies one probe result; returns the previous state when the state
   * changed, undefined otherwise.
   */
  record(result: ProbeResult, healthyThreshold: number, unhealthyThreshold: number): TargetHealthState | undefined {
    const before = this.state
    if (result.ok) {
      this.failures = 0
      this.successes++
      if (before === 'initial' || (before === 'unhealthy' && this.successes >= healthyThreshold)) {
        this.state = 'healthy'
        this.reason = undefined
      }
    } else {
      this.successes = 0
      this.failures++
      if (before === 'unhealthy') this.reason = result.reason
      else if (this.failures >= unhealthyThreshold) {
        this.state = 'unhealthy'
        this.reason = result.reason
      }
    }
    return this.state === before ? undefined : before
  }
}

/** Everything a probe needs, derived once from the model. */
export interface HealthCheckSettings {
  readonly enabled: boolean
  readonly protocol: 'HTTP' | 'HTTPS'
  /** undefined = `traffic-port`: each target's own port. */
  readonly port: number | undefined
  readonly path: string
  readonly intervalMs: number
  readonly timeoutMs: number
  readonly healthyThreshold: number
  readonly unhealthyThreshold: number
  readonly matcher: Matcher
  /** PEM CA certificates trusted for HTTPS checks; undefined for the system store. */
  readonly ca: string | Buffer | undefined
}

/**
 * Test-only knobs: intervals below ALB's 5 s minimum so that transitions can
 * be exercised quickly. Not reachable from the configuration file.
 */
export interface HealthCheckOverrides {
  readonly intervalMs?: number
  readonly timeoutMs?: number
}

/** Compiles a `HealthCheckModel` (plus the group's CA) into probe settings. */
export function healthCheckSettings(
  model: HealthCheckModel,
  ca: string | Buffer | undefined,
  overrides: HealthCheckOverrides = {},
): HealthCheckSettings {
  return {
    enabled: model.enabled,
    protocol: model.protocol,
    port: model.port,
    path: model.path,
    intervalMs: overrides.intervalMs ?? model.intervalSeconds * 1000,
    timeoutMs: overrides.timeoutMs ?? model.timeoutSeconds * 1000,
    healthyThreshold: model.healthyThresholdCount,
    unhealthyThreshold: model.unhealthyThresholdCount,
    matcher: parseMatcher(model.matcher),
    ca,
  }
}

/** Host part of a URL authority / Host header: IPv6 literals in brackets. */
export function hostForAuthority(id: string): string {
  return isIP(id) === 6 ? `[${id}]` : id
}

/**
 * Sends one health-check request, like ALB: `GET path` on a fresh connection
 * closed afterwards, `Host: target:port`, `User-Agent: ELB-HealthChecker/2.0`.
 * The verdict depends only on the status code; the body is drained and ignored.
 * Never rejects; an aborted probe resolves as failed.
 */
export function probe(
  settings: HealthCheckSettings,
  id: string,
  trafficPort: number,
  signal?: AbortSignal,
): Promise<ProbeResult> {
  const port = settings.port ?? trafficPort
  return new Promise((resolve) => {
    let settled = false
    const finish = (result: ProbeResult): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve(result)
    }
    const options: https.RequestOptions = {
      host: id,
      port,
      method: 'GET',
      path: settings.path,
      agent: false,
      headers: { host: `${hostForAuthority(id)}:${port}`, 'user-agent': 'ELB-HealthChecker/2.0', connection: 'close' },
    }
    if (signal !== undefined) options.signal = signal
    if (settings.protocol === 'HTTPS') {
      if (settings.ca !== undefined) options.ca = settings.ca
      if (isIP(id) === 0) options.servername = id
    }
    const req = (settings.protocol === 'HTTPS' ? https : http).request(options, (res) => {
      const status = res.statusCode ?? 0
      finish(matches(settings.matcher, status) ? { ok: true } : { ok: false, reason: 'Target.ResponseCodeMismatch' })
      res.resume()
      res.on('error', () => {})
    })
    const timer = setTimeout(() => {
      finish({ ok: false, reason: 'Target.Timeout' })
      req.destroy()
    }, settings.timeoutMs)
    timer.unref()
    req.on('error', () => finish({ ok: false, reason: 'Target.FailedHealthChecks' }))
    req.end()
  })
}

/** A target as the health checker sees it. */
export interface HealthCheckedTarget {
  readonly id: string
  readonly port: number
  readonly health: TargetHealth
}

/** Called after a target's state changed. */
export type HealthChangeListener<T extends HealthCheckedTarget> = (target: T, previous: TargetHealthState) => void

/**
 * Checks every target of one group every `intervalMs`. As in ALB, each check
 * is independent: the next one is scheduled from the start of the previous
 * one, not from its end. The first check runs as soon as `start()` is called
 * so that a freshly started gateway does not wait a whole interval. Timers are
 * unref'ed: health checking alone never keeps the process alive.
 *
 * @example
 * const checker = new HealthChecker(settings, targets, (t, from) => log(t, from, t.health.state))
 * checker.start()
 * // …
 * checker.stop()
 */
export class HealthChecker<T extends HealthCheckedTarget> {
  readonly #settings: HealthCheckSettings
  readonly #targets: readonly T[]
  readonly #onChange: HealthChangeListener<T>
  readonly #timers = new Set<NodeJS.Timeout>()
  #running = false
  #stopped = false
  #abort = new AbortController()

  constructor(settings: HealthCheckSettings, targets: readonly T[], onChange: HealthChangeListener<T>) {
    this.#settings = settings
    this.#targets = targets
    this.#onChange = onChange
  }

  /** Starts periodic checks (no-op when checks are disabled or already running). */
  start(): void {
    if (this.#running || !this.#settings.enabled) return
    this.#running = true
    this.#stopped = false
    this.#abort = new AbortController()
    for (const target of this.#targets) this.#run(target)
  }

  /** Stops checking: clears the timers and aborts in-flight probes. */
  stop(): void {
    this.#running = false
    this.#stopped = true
    this.#abort.abort()
    for (const t of this.#timers) clearTimeout(t)
    this.#timers.clear()
  }

  /** Runs one check of `target` now and applies the result, unless stopped meanwhile. */
  async checkNow(target: T): Promise<void> {
    if (this.#stopped) return
    const result = await probe(this.#settings, target.id, target.port, this.#abort.signal)
    if (this.#stopped) return
    const previous = target.health.record(result, this.#settings.healthyThreshold, this.#settings.unhealthyThreshold)
    if (previous !== undefined) this.#onChange(target, previous)
  }

  #run(target: T): void {
    if (!this.#running) return
    const timer = setTimeout(() => {
      this.#timers.delete(timer)
      this.#run(target)
    }, this.#settings.intervalMs)
    timer.unref()
    this.#timers.add(timer)
    void this.checkNow(target)
  }
}
