import { CidrError, compileCidrMatcher, parseCidr } from './cidr.js'

/**
 * Compiles a list of CIDRs (`10.0.0.0/8`, `fd00::/8`) or single addresses into
 * a membership test for peer addresses. IPv4-mapped IPv6 peers
 * (`::ffff:10.1.2.3`, what a dual-stack server reports) match IPv4 ranges.
 *
 * @throws {TypeError} on an empty list or an entry that is not an address or CIDR.
 */
export function compileTrustedProxies(cidrs: readonly string[]): (address: string | undefined) => boolean {
  if (!Array.isArray(cidrs) || cidrs.length === 0) {
    throw new TypeError('trustedProxies must be a non-empty array of CIDRs (omit it to disable the check)')
  }
  const blocks = cidrs.map((entry) => {
    if (typeof entry !== 'string') throw new TypeError('trustedProxies entries must be strings')
    try {
      return parseCidr(entry)
    } catch (error) {
      if (error instanceof CidrError) throw new TypeError(`trustedProxies entry: ${error.message}`)
      throw error
    }
  })
  return compileCidrMatcher(blocks)
}
