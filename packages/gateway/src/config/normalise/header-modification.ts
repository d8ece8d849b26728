import type { HeaderModificationModel, RequestHeaderNames } from '../model.js'
import type { Attributes } from './attributes.js'
import type { BaseContext } from './context.js'

/** The response headers of `routing.http.response.<part>.header_value`, and ALB's rule for each value. */
const RESPONSE_HEADERS: readonly { part: string; header: string; valid: RegExp; rule: string }[] = [
  {
    part: 'strict_transport_security',
    header: 'strict-transport-security',
    valid: /^max-age=\d+(?:\s*;\s*(?:includeSubDomains|preload))*\s*;?$/i,
    rule: 'max-age=<seconds>, optionally followed by ; includeSubDomains and ; preload',
  },
  {
    part: 'access_control_allow_origin',
    header: 'access-control-allow-origin',
    valid: /^(?:\*|null|https?:\/\/[^\s,]+)$/,
    rule: '*, null or one origin (scheme://host[:port])',
  },
  {
    part: 'access_control_allow_methods',
    header: 'access-control-allow-methods',
    valid: /^(?:\*|[A-Z]+(?:\s*,\s*[A-Z]+)*)$/,
    rule: '* or a comma-separated list of methods',
  },
  {
    part: 'access_control_allow_headers',
    header: 'access-control-allow-headers',
    valid: /^(?:\*|[-A-Za-z0-9]+(?:\s*,\s*[-A-Za-z0-9]+)*)$/,
    rule: '* or a comma-separated list of header names',
  },
  {
    part: 'access_control_allow_credentials',
    header: 'access-control-allow-credentials',
    valid: /^true$/,
    rule: 'true (the only value the header has)',
  },
  {
    part: 'access_control_expose_headers',
    header: 'access-control-expose-headers',
    valid: /^(?:\*|[-A-Za-z0-9]+(?:\s*,\s*[-A-Za-z0-9]+)*)$/,
    rule: '* or a comma-separated list of header names',
  },
  { part: 'access_control_max_age', header: 'access-control-max-age', valid: /^\d{1,9}$/, rule: 'a number of seconds' },
  {
    part: 'content_security_policy',
    header: 'content-security-policy',
    valid: /^[\x20-\x7e]+$/,
    rule: 'a policy in printable ASCII',
  },
  { part: 'x_content_type_options', header: 'x-content-type-options', valid: /^nosniff$/i, rule: 'nosniff' },
  {
    part: 'x_frame_options',
    header: 'x-frame-options',
    valid: /^(?:DENY|SAMEORIGIN|ALLOW-FROM \S+)$/i,
    rule: 'DENY, SAMEORIGIN or ALLOW-FROM <origin>',
  },
]

/** ALB's request headers that listener attributes rename, by the attribute's middle part. */
const RENAMES: readonly { part: string; key: keyof RequestHeaderNames; header: string }[] = [
  { part: 'x_amzn_mtls_clientcert_serial_number', key: 'serialNumber', header: 'x-amzn-mtls-clientcert-serial-number' },
  { part: 'x_amzn_mtls_clientcert_issuer', key: 'issuer', header: 'x-amzn-mtls-clientcert-issuer' },
  { part: 'x_amzn_mtls_clientcert_subject', key: 'subject', header: 'x-amzn-mtls-clientcert-subject' },
  { part: 'x_amzn_mtls_clientcert_validity', key: 'validity', header: 'x-amzn-mtls-clientcert-validity' },
  { part: 'x_amzn_mtls_clientcert_leaf', key: 'leaf', header: 'x-amzn-mtls-clientcert-leaf' },
  { part: 'x_amzn_mtls_clientcert', key: 'chain', header: 'x-amzn-mtls-clientcert' },
  { part: 'x_amzn_tls_version', key: 'tlsVersion', header: 'x-amzn-tls-version' },
  { part: 'x_amzn_tls_cipher_suite', key: 'tlsCipherSuite', header: 'x-amzn-tls-cipher-suite' },
]

/** A listener without header-modification attributes: ALB's defaults. */
export const NO_HEADER_MODIFICATION: HeaderModificationModel = Object.freeze({
  responseHeaders: [],
  serverHeader: true,
  requestHeaderNames: Object.freeze(
    Object.fromEntries(RENAMES.map(({ key, header }) => [key, header])) as unknown as RequestHeaderNames,
  ),
})

/** Headers a rename may not take: the ones the load balancer or HTTP itself owns. */
const RESERVED =
  /^(?:host|connection|keep-alive|transfer-encoding|te|trailer|upgrade|content-length|content-type|cookie|authorization|x-forwarded-(?:for|proto|port)|x-amzn-trace-id|x-amzn-oidc-.*)$/

/** A header name a rename may give: letters, digits and hyphens (ALB's valid header names), at most 40. */
const HEADER_NAME = /^[A-Za-z0-9-]{1,40}$/

/**
 * A listener's header modification, from its attributes: the response
 * headers it sets, whether `Server` stays, and the names of the mTLS and TLS
 * request headers after renames (lower-case; each distinct).
 */
export function normaliseHeaderModification(attrs: Attributes, ctx: BaseContext): HeaderModificationModel {
  const set: [string, string][] = []
  for (const { part, header, valid, rule } of RESPONSE_HEADERS) {
    const key = `routing.http.response.${part}.header_value`
    const value = attrs.string(key)
    if (value === undefined || value === '') continue
    if (!valid.test(value)) {
      ctx.report.error(attrs.pathOf(key), `${key} must be ${rule}, got "${value}"`)
      continue
    }
    set.push([header, value])
  }
  const names = {} as Record<keyof RequestHeaderNames, string>
  const taken = new Map<string, string>()
  for (const { part, key, header } of RENAMES) {
    const attribute = `routing.http.request.${part}.header_name`
    const value = attrs.string(attribute)
    let name = header
    if (value !== undefined && value !== '') {
      const lower = value.toLowerCase()
      if (!HEADER_NAME.test(value)) {
        ctx.report.error(
          attrs.pathOf(attribute),
          `${attribute} must be 1..40 letters, digits and hyphens, got "${value}"`,
        )
      } else if (RESERVED.test(lower)) {
        ctx.report.error(
          attrs.pathOf(attribute),
          `${attribute} cannot rename the header to ${value}, a header HTTP or the load balancer already uses`,
        )
      } else if (taken.has(lower)) {
        ctx.report.error(attrs.pathOf(attribute), `${attribute}: ${value} is already the name of ${taken.get(lower)}`)
      } else name = lower
    }
    taken.set(name, attribute)
    names[key] = name
  }
  return {
    responseHeaders: set,
    serverHeader: attrs.bool('routing.http.response.server.enabled', true),
    requestHeaderNames: names,
  }
}
