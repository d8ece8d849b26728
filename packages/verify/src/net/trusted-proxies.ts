import { BlockList, isIP } from 'node:net'

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
  const list = new BlockList()
  for (const entry of cidrs) {
    if (typeof entry !== 'string') throw new TypeError('trustedProxies entries must be strings')
    const slash = entry.indexOf('/')
    const address = slash < 0 ? entry : entry.slice(0, slash)
    const family = isIP(address)
    if (family === 0) throw new TypeError(`trustedProxies entry is not an IP address or CIDR: ${entry}`)
    const max = family === 4 ? 32 : 128
    const prefix = slash < 0 ? max : Number(entry.slice(slash + 1))
    if (
      !Number.isInteger(prefix) ||
      prefix < 0 ||
      prefix > max ||
      (slash >= 0 && !/^\d+$/.test(entry.slice(slash + 1)))
    ) {
      throw new TypeError(`trustedProxies entry has an invalid prefix length: ${entry}`)
    }
    list.addSubnet(address, prefix, family === 4 ? 'ipv4' : 'ipv6')
  }
  return (peer) => {
    if (typeof peer !== 'string') return false
    const zone = peer.indexOf('%')
    const address = zone < 0 ? peer : peer.slice(0, zone)
    const family = isIP(address)
    if (family === 4) return list.check(address, 'ipv4')
    if (family !== 6) return false
    if (list.check(address, 'ipv6')) return true
    // ::ffff:a.b.c.d — the form Node reports for IPv4 clients on a dual-stack socket.
    if (address.length > 7 && address.slice(0, 7).toLowerCase() === '::ffff:') {
      const v4 = address.slice(7)
      return isIP(v4) === 4 && list.check(v4, 'ipv4')
    }
    return false
  }
}
