import { createFixedResponseAction } from '../actions/fixed-response.js'
import { createForwardAction } from '../actions/forward.js'
import { createRedirectAction } from '../actions/redirect.js'
import type { ActionModel, GatewayConfig, ListenerModel, RuleModel } from '../config/model.js'
import type { ActionHandler, AuthenticateActionFactory, CallbackHandler } from '../core/actions.js'
import { hostPortSuffix } from '../headers/request-headers.js'
import type { ResponseHeaderModification } from '../headers/response-headers.js'
import type { GatewayMetrics, RequestTally, RuleLabels } from '../observability/metrics.js'
import { type CompiledRuleSet, compileRules } from '../rules/match.js'
import type { TargetGroupRegistry } from '../targets/target-group.js'

/** A rule with its actions built, ready for the hot path. */
export interface CompiledRule {
  readonly model: RuleModel
  readonly actions: readonly ActionHandler[]
  /** Action types for the access log's `actions_executed`, in order. */
  readonly actionNames: readonly string[]
  readonly labels: RuleLabels
  /** Name of the (first) target group of the final forward action, for metrics. */
  readonly targetGroupName: string
  /** Where the rule's finished requests are counted. */
  readonly tally: RequestTally
}

export interface CompiledListener {
  readonly model: ListenerModel
  readonly ruleSet: CompiledRuleSet
  readonly rules: readonly CompiledRule[]
  /** The default rule (last), used for requests handled before rule matching. */
  readonly defaultRule: CompiledRule
  /** Handles `/oauth2/idpresponse` when that path belongs to the load balancer on this listener. */
  readonly callback: CallbackHandler | undefined
  /** `:PORT` appended to a Host without a port (`routing.http.preserve_host_header.enabled` off), or undefined. */
  readonly hostPortSuffix: string | undefined
  /** The scheme clients use, for `X-Forwarded-Proto` and the access log. */
  readonly protocol: 'http' | 'https'
  /** The listener's port as `X-Forwarded-Port` carries it. */
  readonly forwardedPort: string
  /** Names listener attributes gave the mTLS and TLS request headers (other than ALB's own): a client's copy is dropped. */
  readonly renamedHeaders: ReadonlySet<string> | undefined
  /** What the response-header attributes change in every response; undefined when nothing. */
  readonly responseModification: ResponseHeaderModification | undefined
  /** `X-Amzn-Tls-Version` and `-Cipher-Suite` go to targets (an HTTPS listener, the load-balancer attribute on). */
  readonly tlsHeaders: boolean
}

/** Everything one configuration generation needs at request time. */
export interface CompiledGateway {
  readonly config: GatewayConfig
  readonly generation: number
  readonly listeners: ReadonlyMap<string, CompiledListener>
}

export interface CompileDependencies {
  readonly registry: TargetGroupRegistry
  /** The authentication runtime, when some rule authenticates (see `needsAuth`). */
  readonly auth: (CallbackHandler & AuthenticateActionFactory) | undefined
  readonly stickinessSecret: Buffer
  readonly metrics: Pick<GatewayMetrics, 'tally'>
}

const ACTION_LOG_NAMES: Record<ActionModel['type'], string> = {
  forward: 'forward',
  redirect: 'redirect',
  'fixed-response': 'fixed-response',
  'authenticate-oidc': 'authenticate',
  'authenticate-cognito': 'authenticate',
  'jwt-validation': 'jwt-validation',
}

/** True when some rule of the configuration authenticates users (and so needs the auth runtime). */
export function needsAuth(config: GatewayConfig): boolean {
  return config.listeners.some((l) =>
    l.rules.some((r) =>
      r.actions.some((a) => a.type !== 'forward' && a.type !== 'redirect' && a.type !== 'fixed-response'),
    ),
  )
}

/**
 * Builds every rule's conditions and actions once per configuration load, so
 * that a request does no compilation, lookup by name or allocation of
 * matchers.
 */
export function compileGateway(config: GatewayConfig, generation: number, deps: CompileDependencies): CompiledGateway {
  const groupNames = new Map(config.targetGroups.map((g) => [g.arn, g.name]))
  const listeners = new Map<string, CompiledListener>()
  for (const listener of config.listeners) {
    const rules = listener.rules.map((rule) => compileRule(listener, rule, deps, groupNames))
    const servesAuthCallback = listener.protocol === 'HTTPS' || config.portcullis.allowInsecureHttpAuthentication
    listeners.set(listener.id, {
      model: listener,
      ruleSet: compileRules(listener.rules),
      rules,
      defaultRule: rules[rules.length - 1]!,
      callback: servesAuthCallback ? deps.auth : undefined,
      hostPortSuffix: hostPortSuffix(listener.port, config.loadBalancer.attributes.preserveHostHeader),
      protocol: listener.protocol === 'HTTPS' ? 'https' : 'http',
      forwardedPort: String(listener.port),
      ...headerModification(listener, config.loadBalancer.attributes.tlsVersionAndCipherSuiteHeaders),
    })
  }
  return { config, generation, listeners }
}

function compileRule(
  listener: ListenerModel,
  rule: RuleModel,
  deps: CompileDependencies,
  groupNames: ReadonlyMap<string, string>,
): CompiledRule {
  let targetGroupName = '-'
  const actions = rule.actions.map((action): ActionHandler => {
    switch (action.type) {
      case 'forward':
        targetGroupName = groupNames.get(action.targetGroups[0]?.targetGroupArn ?? '') ?? '-'
        return createForwardAction(action, deps.registry, { stickinessSecret: deps.stickinessSecret })
      case 'redirect':
        return createRedirectAction(action)
      case 'fixed-response':
        return createFixedResponseAction(action)
      default:
        if (deps.auth === undefined) throw new Error('authenticate actions need the auth runtime')
        return deps.auth.createAction(rule, action, listener)
    }
  })
  const labels = { listener: listener.id, rule: String(rule.priority) }
  return {
    model: rule,
    actions,
    actionNames: rule.actions.map((a) => ACTION_LOG_NAMES[a.type]),
    labels,
    targetGroupName,
    tally: deps.metrics.tally(labels.listener, labels.rule, targetGroupName),
  }
}

/** The header-modification part of a compiled listener. */
function headerModification(
  listener: ListenerModel,
  tlsAttribute: boolean,
): Pick<CompiledListener, 'renamedHeaders' | 'responseModification' | 'tlsHeaders'> {
  const { requestHeaderNames, responseHeaders, serverHeader } = listener.headerModification
  // ALB's own names are dropped by prefix already (isIdentityHeaderName).
  const renamed = Object.values(requestHeaderNames).filter((n) => !/^x-amzn-(?:mtls|tls)-/.test(n))
  return {
    renamedHeaders: renamed.length === 0 ? undefined : new Set(renamed),
    responseModification:
      responseHeaders.length === 0 && serverHeader ? undefined : { set: responseHeaders, server: serverHeader },
    tlsHeaders: tlsAttribute && listener.protocol === 'HTTPS',
  }
}
