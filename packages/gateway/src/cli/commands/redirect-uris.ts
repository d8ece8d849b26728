/**
 * The redirect URIs a user must register at each IdP for the gateway's
 * authenticate actions. ALB (and Portcullis) sends
 * `redirect_uri=https://{Host}/oauth2/idpresponse` with the Host the browser
 * used, so the URI depends on the names users type, not on the bind address.
 */
import type { GatewayConfig, ListenerModel } from '../../config/model.js'
import { isLoopbackHost } from '../../values/loopback.js'

const WILDCARD_ADDRESSES = new Set(['0.0.0.0', '::'])

function origin(scheme: 'http' | 'https', host: string, port: number): string {
  const defaultPort = scheme === 'https' ? 443 : 80
  const hostPart = host.includes(':') ? `[${host}]` : host
  return `${scheme}://${hostPart}${port === defaultPort ? '' : `:${port === 0 ? 'PORT' : port}`}`
}

/** Host names of a rule's host-header conditions (ALB's wildcards kept), or undefined when it matches any host. */
function ruleHosts(listener: ListenerModel, ruleIndex: number): readonly string[] | undefined {
  const condition = listener.rules[ruleIndex]!.conditions.find((c) => c.field === 'host-header')
  return condition?.field === 'host-header' && condition.values.length > 0 ? condition.values : undefined
}

/**
 * Lines describing, per listener with an `authenticate-oidc` or
 * `authenticate-cognito` rule, the exact redirect URI(s) to register and for
 * which client ids; empty when nothing authenticates. A listener that binds
 * every address says which host names the URI must carry.
 *
 * @example
 * ```ts
 * io.stdout.write(redirectUriLines(config).join('\n'))
 * ```
 */
export function redirectUriLines(config: GatewayConfig): string[] {
  const lines: string[] = []
  for (const listener of config.listeners) {
    const scheme = listener.protocol === 'HTTPS' ? 'https' : 'http'
    const byUri = new Map<string, Set<string>>()
    let anyHost: Set<string> | undefined
    listener.rules.forEach((rule, index) => {
      const clients = rule.actions.flatMap((a) =>
        a.type === 'authenticate-oidc' || a.type === 'authenticate-cognito' ? [a.clientId] : [],
      )
      if (clients.length === 0) return
      const hosts = ruleHosts(listener, index)
      if (hosts === undefined) {
        anyHost ??= new Set()
        for (const client of clients) anyHost.add(client)
        return
      }
      for (const host of hosts) {
        const uri = `${origin(scheme, host, listener.port)}/oauth2/idpresponse`
        const set = byUri.get(uri) ?? new Set<string>()
        for (const client of clients) set.add(client)
        byUri.set(uri, set)
      }
    })
    let note: string | undefined
    if (anyHost !== undefined) {
      const address = listener.address
      const host = WILDCARD_ADDRESSES.has(address) ? 'HOST' : isLoopbackHost(address) ? 'localhost' : address
      if (host === 'HOST') {
        note = `    HOST is each name browsers use to reach this listener (it binds ${address}): localhost on this machine, or the DNS name in front of it; register one URI per name`
      }
      byUri.set(`${origin(scheme, host, listener.port)}/oauth2/idpresponse`, anyHost)
    }
    if (byUri.size === 0) continue
    if (lines.length === 0) lines.push('Redirect URIs to register at the IdP (the client’s allowed callback URLs):')
    for (const [uri, clients] of byUri) lines.push(`  ${uri}  client ${[...clients].join(', ')}`)
    if (note !== undefined) lines.push(note)
  }
  return lines
}
