import http from 'node:http'
import http2 from 'node:http2'
import https from 'node:https'
import { isIP } from 'node:net'
import type { HealthCheckModel } from '../config/model.js'
import { type Matcher, matches, parseGrpcMatcher, parseMatcher } from '../values/http-codes.js'

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
  /** HTTP/1.1 GET (`HTTP1`), HTTP/2 GET (`HTTP2`) or a gRPC call over HTTP/2 (`GRPC`). */
  readonly protocolVersion: HealthCheckModel['protocolVersion']
  /** undefined = `traffic-port`: each target's own port. */
  readonly port: number | undefined
  readonly path: string
  readonly intervalMs: number
  readonly timeoutMs: number
  readonly healthyThreshold: number
  readonly unhealthyThreshold: number
  /** HTTP status codes, or gRPC status codes for a `GRPC` group. */
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
    protocolVersion: model.protocolVersion,
    port: model.port,
    path: model.path,
    intervalMs: overrides.intervalMs ?? model.intervalSeconds * 1000,
    timeoutMs: overrides.timeoutMs ?? model.timeoutSeconds * 1000,
    healthyThreshold: model.healthyThresholdCount,
    unhealthyThreshold: model.unhealthyThresholdCount,
    matcher: model.protocolVersion === 'GRPC' ? parseGrpcMatcher(model.matcher) : parseMatcher(model.matcher),
    ca,
  }
}

/** Host part of a URL authority / Host header: IPv6 literals in brackets. */
export function hostForAuthority(id: string): string {
  return isIP(id) === 6 ? `[${id}]` : id
}

/**
 * Sends one health-check request, like ALB: on a fresh connection closed
 * afterwards, `User-Agent: ELB-HealthChecker/2.0`, bounded by the timeout.
 * HTTP1 groups get `GET path` over HTTP/1.1, HTTP2 groups `GET path` over
 * HTTP/2, GRPC groups a gRPC call (see {@link probeHttp2}). The verdict depends
 * only on the status code (HTTP or gRPC); the body is drained and ignored.
 * Never rejects; an aborted probe resolves as failed.
 */
export function probe(
  settings: HealthCheckSettings,
  id: string,
  trafficPort: number,
  signal?: AbortSignal,
): Promise<ProbeResult> {
  const port = settings.port ?? trafficPort
  return settings.protocolVersion === 'HTTP1'
    ? probeHttp1(settings, id, port, signal)
    : probeHttp2(settings, id, port, signal)
}

function probeHttp1(
  settings: HealthCheckSettings,
  id: string,
  port: number,
  signal?: AbortSignal,
): Promise<ProbeResult> {
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
      headers: { host: `${hostForAuthority(id)}:${port}`, 'user-agent': USER_AGENT, connection: 'close' },
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

const USER_AGENT = 'ELB-HealthChecker/2.0'

/** A gRPC message frame with an empty message: uncompressed flag, length 0 (gRPC over HTTP/2, "Length-Prefixed-Message"). */
const EMPTY_GRPC_MESSAGE = Buffer.alloc(5)

/**
 * One HTTP/2 health check on its own session, closed when the check ends
 * (the probe owns it: the health-check port and protocol may differ from the
 * traffic's, so the target's forwarding session is not reused). HTTPS checks
 * negotiate `h2` by ALPN; HTTP checks speak HTTP/2 with prior knowledge, as
 * forwarding to such a group does.
 *
 * `HTTP2`: `GET path`, healthy when `:status` is in `Matcher.HttpCode`.
 * `GRPC`: `POST path` with `content-type: application/grpc`, `te: trailers`
 * and one empty message, healthy when `grpc-status` — from the trailers, or
 * from the headers of a trailers-only response — is in `Matcher.GrpcCode`.
 * Written here on node:http2 rather than with @grpc/grpc-js: a health check is
 * one fixed call whose only answer that matters is `grpc-status`, and the
 * gateway takes no runtime dependency for it.
 */
function probeHttp2(
  settings: HealthCheckSettings,
  id: string,
  port: number,
  signal?: AbortSignal,
): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const grpc = settings.protocolVersion === 'GRPC'
    const scheme = settings.protocol === 'HTTPS' ? 'https' : 'http'
    const authority = `${hostForAuthority(id)}:${port}`
    let settled = false
    const session = http2.connect(`${scheme}://${authority}`, {
      ...(settings.protocol === 'HTTPS' && settings.ca !== undefined ? { ca: settings.ca } : {}),
      ALPNProtocols: ['h2'],
      settings: { enablePush: false },
    })
    const finish = (result: ProbeResult): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      // The check is over: the session goes, whatever its streams are doing.
      session.destroy()
      resolve(result)
    }
    const onAbort = (): void => finish({ ok: false, reason: 'Target.FailedHealthChecks' })
    const timer = setTimeout(() => finish({ ok: false, reason: 'Target.Timeout' }), settings.timeoutMs)
    timer.unref()
    if (signal?.aborted) return onAbort()
    signal?.addEventListener('abort', onAbort, { once: true })
    session.on('error', () => finish({ ok: false, reason: 'Target.FailedHealthChecks' }))
    const verdict = (code: number): ProbeResult =>
      matches(settings.matcher, code) ? { ok: true } : { ok: false, reason: 'Target.ResponseCodeMismatch' }
    const stream = session.request(
      grpc
        ? {
            ':method': 'POST',
            ':path': settings.path,
            ':authority': authority,
            'content-type': 'application/grpc',
            te: 'trailers',
            'user-agent': USER_AGENT,
          }
        : { ':method': 'GET', ':path': settings.path, ':authority': authority, 'user-agent': USER_AGENT },
      { endStream: !grpc },
    )
    stream.on('error', () => finish({ ok: false, reason: 'Target.FailedHealthChecks' }))
    // A stream closed without a verdict (reset, or a gRPC response without grpc-status) fails the check.
    stream.on('close', () =>
      finish({ ok: false, reason: grpc ? 'Target.ResponseCodeMismatch' : 'Target.FailedHealthChecks' }),
    )
    stream.on('response', (headers, flags) => {
      if (!grpc) return finish(verdict(Number(headers[':status'])))
      // Trailers-only: the status is in the one HEADERS frame that ends the stream.
      const trailersOnly = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0
      if (trailersOnly || headers['grpc-status'] !== undefined) finish(grpcVerdict(headers['grpc-status'], verdict))
    })
    stream.on('trailers', (trailers) => finish(grpcVerdict(trailers['grpc-status'], verdict)))
    stream.resume()
    if (grpc) stream.end(EMPTY_GRPC_MESSAGE)
  })
}

/** A gRPC health check's verdict from its `grpc-status` value; a response without one has no status to match. */
function grpcVerdict(value: string | string[] | undefined, verdict: (code: number) => ProbeResult): ProbeResult {
  const code = typeof value === 'string' && /^\d{1,2}$/.test(value) ? Number(value) : undefined
  return code === undefined ? { ok: false, reason: 'Target.ResponseCodeMismatch' } : verdict(code)
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
