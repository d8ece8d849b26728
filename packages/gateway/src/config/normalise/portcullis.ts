import type { FieldPath } from '../document.js'
import type { AccessLogModel, ConnectionLogModel, PortcullisModel } from '../model.js'
import type { PortcullisFile } from '../schema.js'
import { checkAddress, inRange, resolvePath, TARGET_ADDRESS, toInt } from './checks.js'
import type { BaseContext } from './context.js'
import { normaliseSharedState } from './shared-state.js'

/** The admin listener when `Portcullis.Admin` is absent. */
export const DEFAULT_ADMIN = { address: '127.0.0.1', port: 9800 } as const
/** `Portcullis.StateDirectory` when absent, relative to the config file. */
export const DEFAULT_STATE_DIRECTORY = './.portcullis'

/** The top-level `Portcullis` block: settings that exist only in Portcullis. */
export function normalisePortcullis(file: PortcullisFile, ctx: BaseContext): PortcullisModel {
  const p = file.Portcullis ?? {}
  const path: FieldPath = ['Portcullis']
  let admin: PortcullisModel['admin']
  if (p.Admin !== false) {
    const address = p.Admin?.Address ?? DEFAULT_ADMIN.address
    checkAddress(ctx, [...path, 'Admin', 'Address'], address)
    const port = p.Admin?.Port === undefined ? DEFAULT_ADMIN.port : toInt(p.Admin.Port)
    inRange(ctx, [...path, 'Admin', 'Port'], port, 0, 65535, 'the admin port')
    const tokenFile = p.Admin?.TokenFile
    const certificateFile = p.Admin?.CertificateFile
    const privateKeyFile = p.Admin?.PrivateKeyFile
    if ((certificateFile === undefined) !== (privateKeyFile === undefined)) {
      ctx.report.error(
        [...path, 'Admin', certificateFile === undefined ? 'PrivateKeyFile' : 'CertificateFile'],
        'the admin listener serves HTTPS with both CertificateFile and PrivateKeyFile: give the other one too',
      )
    }
    admin = {
      address,
      port,
      operatorToken: tokenFile === undefined ? undefined : { file: resolvePath(ctx, tokenFile) },
      tls:
        certificateFile === undefined || privateKeyFile === undefined
          ? undefined
          : { certificateFile: resolvePath(ctx, certificateFile), privateKeyFile: resolvePath(ctx, privateKeyFile) },
      // Resolved against TrustStores with the rest of the file (normalise/index.ts).
      clientCertificateTrustStore: undefined,
    }
  }
  const log = accessLog(p.AccessLog ?? {}, [...path, 'AccessLog'], ctx)
  return {
    stateDirectory: resolvePath(ctx, p.StateDirectory ?? DEFAULT_STATE_DIRECTORY),
    admin,
    allowInsecureHttpAuthentication: p.AllowInsecureHttpAuthentication === true,
    caFile: p.CaFile === undefined ? undefined : resolvePath(ctx, p.CaFile),
    accessLog: log,
    connectionLog: p.ConnectionLog === undefined ? undefined : connectionLog(p.ConnectionLog, log, [...path], ctx),
    ...normaliseSharedState(file, ctx),
    localCertificates: p.LocalCertificates === true,
    clientSecretsDirectory:
      p.ClientSecretsDirectory === undefined ? undefined : resolvePath(ctx, p.ClientSecretsDirectory),
    instanceAddresses: instanceAddresses(p.InstanceAddresses ?? {}, [...path, 'InstanceAddresses'], ctx),
  }
}

/** `MaxTotalSizeMB` when absent: about two days of a gateway serving 300 requests a second, gzipped. */
export const DEFAULT_ACCESS_LOG_MAX_TOTAL_MB = 10_240

function accessLog(
  a: NonNullable<NonNullable<PortcullisFile['Portcullis']>['AccessLog']>,
  path: FieldPath,
  ctx: BaseContext,
): AccessLogModel {
  const logPath = a.Path === undefined ? undefined : resolvePath(ctx, a.Path)
  if (a.Directory === undefined) {
    for (const key of ['IntervalMinutes', 'MaxTotalSizeMB'] as const) {
      if (a[key] !== undefined) {
        ctx.report.error([...path, key], `${key} applies to ALB's delivery files: it needs Directory`)
      }
    }
    return { format: a.Format ?? 'json', path: logPath, delivery: undefined }
  }
  if (a.Path !== undefined) {
    ctx.report.error(
      [...path, 'Directory'],
      "give either Path (one file to append to) or Directory (ALB's delivery files), not both",
    )
  }
  if (a.Format === 'json') {
    ctx.report.error(
      [...path, 'Format'],
      "ALB's delivery files hold ALB's line format: Format must be alb (or absent) with Directory",
    )
  }
  const interval = a.IntervalMinutes === undefined ? 5 : toInt(a.IntervalMinutes)
  if (interval !== 5 && interval !== 60) {
    ctx.report.error([...path, 'IntervalMinutes'], `IntervalMinutes must be 5 (ALB's) or 60, got ${interval}`)
  }
  const maxMb = a.MaxTotalSizeMB === undefined ? DEFAULT_ACCESS_LOG_MAX_TOTAL_MB : toInt(a.MaxTotalSizeMB)
  inRange(ctx, [...path, 'MaxTotalSizeMB'], maxMb, 1, 16 * 1024 * 1024, 'MaxTotalSizeMB')
  return {
    format: 'alb',
    path: undefined,
    delivery: {
      directory: resolvePath(ctx, a.Directory),
      intervalMinutes: interval === 60 ? 60 : 5,
      maxTotalBytes: maxMb * 1024 * 1024,
    },
  }
}

/**
 * `Portcullis.ConnectionLog`. Its own file, not lines in the access log: ALB
 * keeps the two apart (two S3 prefixes, two line shapes), and a tool that
 * reads one (Athena's table for each) would choke on the other's lines.
 */
function connectionLog(
  c: NonNullable<NonNullable<PortcullisFile['Portcullis']>['ConnectionLog']>,
  access: AccessLogModel,
  path: FieldPath,
  ctx: BaseContext,
): ConnectionLogModel {
  const logPath = c.Path === undefined ? undefined : resolvePath(ctx, c.Path)
  if (logPath !== undefined && logPath === access.path) {
    ctx.report.error(
      [...path, 'ConnectionLog', 'Path'],
      `the connection log needs a file of its own: ${c.Path} is Portcullis.AccessLog.Path too`,
    )
  }
  return { format: c.Format ?? 'json', path: logPath }
}

/** An EC2 instance id, as `describe-target-health` prints instance targets. */
export const INSTANCE_ID = /^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$/

function instanceAddresses(map: Record<string, string>, path: FieldPath, ctx: BaseContext): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [id, address] of Object.entries(map)) {
    if (!INSTANCE_ID.test(id)) {
      ctx.report.error(path, `"${id}" is not an EC2 instance id (i- and 8 or 17 hexadecimal digits)`, id)
    } else if (!TARGET_ADDRESS.test(address) || INSTANCE_ID.test(address)) {
      ctx.report.error([...path, id], `expected the IP address or host name of instance ${id}, got "${address}"`)
    } else {
      out[id] = address
    }
  }
  return out
}
