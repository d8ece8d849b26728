import { BlockList, isIP } from 'node:net'
import { PortcullisVerifyError } from '../errors.js'

/** One CIDR block: `10.0.0.0/8`, `2001:db8::/32`; a bare address is a /32 or /128. */
export interface CidrBlock {
  readonly address: string
  readonly prefix: number
  readonly family: 'ipv4' | 'ipv6'
  /** False for a bare address (no `/n` written). */
  readonly hasPrefix: boolean
}

/**
 * Why {@link parseCidr} refused a string: code `ERR_CIDR`, and `reason`
 * `address` (not an IP address) or `prefix` (bad `/n`).
 *
 * @example
 * ```ts
 * try { parseCidr(input) } catch (err) {
 *   if (err instanceof CidrError) console.error(`${err.code} (${err.reason}): ${err.message}`)
 * }
 * ```
 */
export class CidrError extends PortcullisVerifyError {
  override readonly name = 'CidrError'
  declare readonly code: 'ERR_CIDR'

  constructor(
    readonly reason: 'address' | 'prefix',
    message: string,
  ) {
    super('ERR_CIDR', message)
  }
}

/**
 * Parses an IPv4 or IPv6 CIDR block, or a bare address. The prefix length
 * is 1 to 3 decimal digits, at most 32 (IPv4) or 128 (IPv6).
 *
 * @throws {CidrError} when `text` is not an address, or its prefix length is invalid.
 * @example
 * ```ts
 * parseCidr('10.0.0.0/8')  // { address: '10.0.0.0', prefix: 8, family: 'ipv4', hasPrefix: true }
 * parseCidr('::1')         // { address: '::1', prefix: 128, family: 'ipv6', hasPrefix: false }
 * parseCidr('10.0.0.0/33') // throws CidrError (reason 'prefix')
 * ```
 */
export function parseCidr(text: string): CidrBlock {
  const slash = text.indexOf('/')
  const address = slash < 0 ? text : text.slice(0, slash)
  const version = isIP(address)
  if (version === 0) throw new CidrError('address', `"${text}" is not an IPv4 or IPv6 address or CIDR block`)
  const max = version === 4 ? 32 : 128
  const prefixText = slash < 0 ? String(max) : text.slice(slash + 1)
  const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : Number.NaN
  if (!(prefix <= max)) throw new CidrError('prefix', `"${text}" has an invalid prefix length (0..${max})`)
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6', hasPrefix: slash >= 0 }
}

/**
 * Compiles CIDR blocks into a membership test for peer addresses. IPv4-mapped
 * IPv6 peers (`::ffff:10.1.2.3`, what a dual-stack socket reports) match IPv4
 * blocks; a zone id (`fe80::1%eth0`) is ignored; anything that is not an IP
 * address is outside.
 *
 * @example
 * ```ts
 * const inside = compileCidrMatcher(['10.0.0.0/8', 'fd00::/8'].map(parseCidr))
 * inside('::ffff:10.1.2.3') // true
 * inside(undefined)         // false
 * ```
 */
export function compileCidrMatcher(blocks: readonly CidrBlock[]): (address: string | undefined) => boolean {
  const list = new BlockList()
  for (const block of blocks) list.addSubnet(block.address, block.prefix, block.family)
  return (peer) => {
    if (typeof peer !== 'string') return false
    const zone = peer.indexOf('%')
    const address = zone < 0 ? peer : peer.slice(0, zone)
    const version = isIP(address)
    if (version === 4) return list.check(address, 'ipv4')
    if (version !== 6) return false
    if (list.check(address, 'ipv6')) return true
    // Node documents IPv4-mapped matching for single addresses, not subnets: check the IPv4 form too.
    if (address.length > 7 && isMappedPrefix(address)) {
      const v4 = address.slice(7)
      return isIP(v4) === 4 && list.check(v4, 'ipv4')
    }
    return false
  }
}

/** `::ffff:` in any letter case, without allocating (this runs per request in the gateway). */
function isMappedPrefix(address: string): boolean {
  if (address.charCodeAt(0) !== 58 || address.charCodeAt(1) !== 58 || address.charCodeAt(6) !== 58) return false
  for (let i = 2; i < 6; i++) if ((address.charCodeAt(i) | 0x20) !== 102) return false
  return true
}
