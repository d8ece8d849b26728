import { lookup } from 'node:dns'
import type { LookupFunction } from 'node:net'
import { compileCidrMatcher, parseCidr } from '@portcullis/verify/net'

/**
 * What "loopback" means everywhere in Portcullis: configuration validation,
 * the IdP and JWKS clients, the development IdP. One definition, so that a
 * file `portcullis validate` accepts is one `portcullis start` runs.
 *
 * **Decision:** loopback is 127.0.0.0/8, `::1` (and `::ffff:127.x.y.z`),
 * `localhost`, and every name under `.localhost` (RFC 6761 §6.3, which
 * browsers follow too). Such a name is only loopback if it resolves to
 * loopback, so outbound calls resolve `*.localhost` as `localhost`
 * ({@link lookupLocalhostAsLoopback}) instead of asking DNS.
 */

/**
 * True for an address or host name only this machine can reach: 127.0.0.0/8,
 * `::1` (in any spelling), IPv4-mapped `::ffff:127.x.y.z`, `localhost` and `*.localhost`
 * (case-insensitive, a trailing dot allowed). URL host names keep IPv6
 * brackets (`[::1]`); they are accepted as such.
 *
 * @example
 * ```ts
 * isLoopbackHost('127.8.9.10')      // true
 * isLoopbackHost('[::1]')           // true
 * isLoopbackHost('idp.localhost')   // true
 * isLoopbackHost('localhost.example') // false
 * ```
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase()
  if (isLocalhostName(h)) return true
  return isLoopbackIp(h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h)
}

const isLoopbackIp = compileCidrMatcher(['127.0.0.0/8', '::1/128'].map(parseCidr))

/**
 * Why `url` may not carry credentials to an IdP or a JWKS endpoint, or
 * undefined when it may: `https:`, or `http:` on a loopback host under the
 * development opt-in (`Portcullis.AllowInsecureHttpAuthentication`).
 * `needs-opt-in` is an http URL on a loopback host without the opt-in.
 */
export function insecureEndpointProblem(
  url: URL,
  allowInsecureHttp: boolean,
): 'not-https' | 'needs-opt-in' | undefined {
  if (url.protocol === 'https:') return undefined
  if (url.protocol !== 'http:' || !isLoopbackHost(url.hostname)) return 'not-https'
  return allowInsecureHttp ? undefined : 'needs-opt-in'
}

/**
 * A `lookup` for sockets (`net.connect`, undici's `connect` option) that
 * resolves every `*.localhost` name as `localhost`, and any other name as
 * usual, so that a name {@link isLoopbackHost} calls loopback never reaches a
 * DNS server.
 */
export const lookupLocalhostAsLoopback: LookupFunction = (hostname, options, callback) => {
  lookup(isLocalhostName(hostname.toLowerCase()) ? 'localhost' : hostname, options, callback)
}

/** `localhost` or a name under it, lower-case, a trailing dot allowed. */
function isLocalhostName(host: string): boolean {
  const h = host.endsWith('.') ? host.slice(0, -1) : host
  return h === 'localhost' || h.endsWith('.localhost')
}
