import { readFileSync } from 'node:fs'
import * as tls from 'node:tls'

// tls.getCACertificates('system') exists from Node 22.15/23.5; on older Nodes
// the bundled roots (which also carry NODE_EXTRA_CA_CERTS) are what Node uses.
function systemCertificates(): readonly string[] {
  const get = (tls as unknown as { getCACertificates?: (type: string) => string[] }).getCACertificates
  if (typeof get !== 'function') return []
  try {
    return get('system')
  } catch {
    return []
  }
}

function extraCertificates(): string[] {
  const file = process.env['NODE_EXTRA_CA_CERTS']
  if (file === undefined || file === '') return []
  try {
    return [readFileSync(file, 'utf8')]
  } catch {
    return []
  }
}

/**
 * The CAs the gateway trusts for its own outbound TLS (IdPs, JWKS endpoints,
 * the shared Redis): Node's bundled roots, the system store, `NODE_EXTRA_CA_CERTS`
 * and the CA files given (`Portcullis.CaFile`, and the local development CA
 * with `Portcullis.LocalCertificates`). `undefined` when Node's defaults
 * already are exactly that (no CA file, no system store to add), so callers
 * leave `ca` unset.
 *
 * @example
 * ```ts
 * const ca = outboundTrust('/etc/portcullis/ca.pem')
 * tls.connect({ host, port, ...(ca === undefined ? {} : { ca }) })
 * ```
 */
export function outboundTrust(...caFiles: (string | undefined)[]): string[] | undefined {
  const files = caFiles.filter((file) => file !== undefined)
  const system = systemCertificates()
  if (files.length === 0 && system.length === 0) return undefined
  return [
    ...tls.rootCertificates,
    ...system,
    ...extraCertificates(),
    ...files.map((file) => readFileSync(file, 'utf8')),
  ]
}
