/**
 * ALB's header modification of responses (listener attributes
 * `routing.http.response.*`): a configured header is set on every response,
 * replacing the target's own value when it sent one; with
 * `routing.http.response.server.enabled: false` no `Server` header leaves
 * the load balancer. Pure: a response head in, the modified head out.
 */
import type { OutgoingHttpHeaders } from 'node:http'

/** What a listener changes in every response head. */
export interface ResponseHeaderModification {
  /** Headers set on every response, names lower-case. */
  readonly set: readonly (readonly [string, string])[]
  /** False: the `Server` header is removed. */
  readonly server: boolean
}

/**
 * A response head as a flat `[name, value, …]` list with `mod` applied: the
 * configured headers replace any of the same name, appended last; `Server`
 * dropped when off. `headers` is `writeHead`'s argument: a flat list or an
 * object (array values for repeated headers), or undefined.
 */
export function modifyResponseHead(
  headers: OutgoingHttpHeaders | readonly string[] | undefined,
  mod: ResponseHeaderModification,
): string[] {
  const replaced = new Set(mod.set.map(([name]) => name))
  if (!mod.server) replaced.add('server')
  const out: string[] = []
  const keep = (name: string, value: unknown) => {
    if (value === undefined || replaced.has(name.toLowerCase())) return
    if (Array.isArray(value)) for (const v of value) out.push(name, String(v))
    else out.push(name, String(value))
  }
  if (Array.isArray(headers)) {
    for (let i = 0; i < headers.length; i += 2) keep(headers[i]!, headers[i + 1])
  } else if (headers !== undefined) {
    for (const [name, value] of Object.entries(headers)) keep(name, value)
  }
  for (const [name, value] of mod.set) out.push(name, value)
  return out
}
