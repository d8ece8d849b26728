import type { FieldPath } from '../document.js'
import type { TrustStoreModel } from '../model.js'

/** Where validation sends what it finds; `key` points the position at that key of the mapping at `path`. */
export interface IssueReporter {
  error(path: FieldPath, message: string, key?: string): void
  warn(path: FieldPath, message: string, key?: string): void
  /**
   * What only the machine that runs the file can supply (a client secret,
   * certificate files, instance addresses): with purpose `audit` it comes
   * here, as information; with purpose `start` it is an error.
   */
  need(path: FieldPath, message: string, key?: string): void
}

/**
 * Why a file is normalised: `start` (and `validate`) need everything to run
 * it; `audit` judges the settings alone, reads no secret (not even from the
 * environment) and reports what running would need through
 * {@link IssueReporter.need}.
 */
export type NormalisePurpose = 'start' | 'audit'

/** What `normalise` needs beyond the file itself. */
export interface NormaliseOptions {
  /** Directory relative paths in the file are resolved against (the config file's directory). */
  readonly baseDir: string
  /** Absolute path of the file, recorded in `GatewayConfig.source`. */
  readonly source: string | undefined
  /**
   * Where `UseExistingClientSecret: true` finds `PORTCULLIS_CLIENT_SECRET_<CLIENT ID>`:
   * the caller's `process.env`, passed in so that normalising stays a function of its inputs.
   * Not read for purpose `audit`.
   */
  readonly env: Environment
  /** Default `start`. */
  readonly purpose?: NormalisePurpose
}

/** Environment variables by name, as `process.env` holds them. */
export type Environment = Readonly<Record<string, string | undefined>>

/** What every validator may read: where to report, and where relative paths start. */
export interface BaseContext {
  readonly report: IssueReporter
  readonly baseDir: string
}

/** The load balancer's region and account, from which ARNs are derived. */
export interface AccountContext extends BaseContext {
  readonly region: string
  readonly accountId: string
}

/** A target group's name and ARN, for resolving `TargetGroupArn` references. */
export interface TargetGroupRef {
  readonly name: string
  readonly arn: string
  /** True when the ARN was derived (not written in the file). */
  readonly derived: boolean
  readonly protocolVersion: 'HTTP1' | 'HTTP2' | 'GRPC'
}

/**
 * Everything listeners, rules and actions may read, built once before any of
 * them is validated and never changed after: the load balancer's identity,
 * the development opt-in, and the target groups by name and ARN.
 */
export interface NormaliseContext extends AccountContext {
  readonly loadBalancerArn: string
  readonly allowInsecureHttpAuthentication: boolean
  /** `Portcullis.LocalCertificates`: HTTPS listeners without certificate files get one from the local CA. */
  readonly localCertificates: boolean
  /** `Portcullis.ClientSecretsDirectory`, absolute; where secrets missing from the environment are read at load. */
  readonly clientSecretsDirectory: string | undefined
  /** The environment client secrets are read from ({@link NormaliseOptions.env}). */
  readonly env: Environment
  readonly purpose: NormalisePurpose
  readonly targetGroupsByName: ReadonlyMap<string, TargetGroupRef>
  readonly targetGroupsByArn: ReadonlyMap<string, TargetGroupRef>
  /** `TrustStores` with their files, for `MutualAuthentication.TrustStoreArn`. */
  readonly trustStores: readonly TrustStoreModel[]
  /** Every name and ARN written in `TrustStores`, with or without files. */
  readonly trustStoreNames: ReadonlySet<string>
}

/** The listener a rule belongs to, as far as validating its actions needs. */
export interface ListenerScope {
  readonly path: FieldPath
  readonly protocol: 'HTTP' | 'HTTPS'
  readonly port: number
  readonly address: string
}
