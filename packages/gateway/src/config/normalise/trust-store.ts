import { deriveTrustStoreArn } from '../arn.js'
import type { FieldPath } from '../document.js'
import type { MutualAuthenticationModel, TrustStoreModel } from '../model.js'
import type { ListenerFile, TrustStoreFile } from '../schema.js'
import { resolvePath } from './checks.js'
import type { AccountContext, NormaliseContext } from './context.js'

/** ELBv2's trust store names: 1..32 letters, digits and hyphens, not starting or ending with a hyphen. */
const TRUST_STORE_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$/

/**
 * The entries of `TrustStores` (describe-trust-stores), each with the files
 * that stand for AWS's S3 objects. The files themselves are checked by
 * `loadConfig` (they must exist and parse); here only their presence.
 */
export function normaliseTrustStores(files: readonly TrustStoreFile[], ctx: AccountContext): TrustStoreModel[] {
  const out: TrustStoreModel[] = []
  const names = new Map<string, number>()
  files.forEach((t, i) => {
    const path: FieldPath = ['TrustStores', i]
    if (!TRUST_STORE_NAME.test(t.Name)) {
      ctx.report.error([...path, 'Name'], 'a trust store name is 1..32 letters, digits and hyphens')
    }
    const first = names.get(t.Name)
    if (first !== undefined) ctx.report.error([...path, 'Name'], `trust store name "${t.Name}" is used twice`)
    names.set(t.Name, i)
    const bundle = t.Portcullis?.CaCertificatesBundleFile
    if (bundle === undefined) {
      ctx.report.need(
        path,
        'Portcullis cannot fetch the CA bundle from S3: add Portcullis: { CaCertificatesBundleFile: <PEM file> }',
        'Name',
      )
      return
    }
    out.push({
      name: t.Name,
      arn: t.TrustStoreArn ?? deriveTrustStoreArn(ctx.region, ctx.accountId, t.Name),
      caCertificatesBundleFile: resolvePath(ctx, bundle),
      revocationFiles: (t.Portcullis?.RevocationFiles ?? []).map((f) => resolvePath(ctx, f)),
    })
  })
  return out
}

/**
 * A listener's `MutualAuthentication`: undefined for `Mode: off` (or none);
 * HTTPS listeners only, as on ALB; `verify` names a trust store of the file
 * by ARN or name.
 */
export function normaliseMutualAuthentication(
  l: ListenerFile,
  path: FieldPath,
  ctx: NormaliseContext,
): MutualAuthenticationModel | undefined {
  const m = l.MutualAuthentication
  if (m === undefined || m.Mode === 'off') return undefined
  const mpath = [...path, 'MutualAuthentication']
  if (l.Protocol !== 'HTTPS') {
    ctx.report.error([...mpath, 'Mode'], 'mutual TLS applies to HTTPS listeners only')
    return undefined
  }
  if (m.Mode === 'passthrough') {
    if (m.TrustStoreArn !== undefined) {
      ctx.report.warn(
        [...mpath, 'TrustStoreArn'],
        'passthrough does not verify client certificates: the trust store is not used',
      )
    }
    return { mode: 'passthrough' }
  }
  if (m.TrustStoreArn === undefined) {
    ctx.report.error(
      mpath,
      'Mode verify needs TrustStoreArn: the trust store that vouches for client certificates',
      'Mode',
    )
    return undefined
  }
  const trustStore = ctx.trustStores.find((t) => t.arn === m.TrustStoreArn || t.name === m.TrustStoreArn)
  if (trustStore === undefined) {
    // A trust store without its files was reported where it is defined.
    if (!ctx.trustStoreNames.has(m.TrustStoreArn)) {
      ctx.report.error(
        [...mpath, 'TrustStoreArn'],
        `no trust store ${m.TrustStoreArn} in TrustStores (paste describe-trust-stores there, or name one by its Name)`,
      )
    }
    return undefined
  }
  const ignoreClientCertificateExpiry = m.IgnoreClientCertificateExpiry === true
  if (ignoreClientCertificateExpiry) {
    ctx.report.warn(
      [...mpath, 'IgnoreClientCertificateExpiry'],
      'expired and not-yet-valid client certificates are admitted (the chain, purpose and revocation are still checked): a stolen certificate stays usable after it expires',
    )
  }
  return { mode: 'verify', trustStore, ignoreClientCertificateExpiry }
}
