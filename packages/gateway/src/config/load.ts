/**
 * Loading `portcullis.yaml` / `.json`: read, parse with source positions,
 * check every field against the classification table (`classify.ts`), check
 * the shape (zod), normalise and validate (ELBv2's constraints), and
 * for `loadConfig` also check that the files it references are usable.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto'
import { readFile, stat } from 'node:fs/promises'
import { dirname, extname, resolve } from 'node:path'
import type { z } from 'zod'
import { checkFields, closest, type FieldIssueKind, type IgnoredField } from './classify.js'
import { type FieldPath, formatPath, type ParsedDocument, parseText } from './document.js'
import { ConfigError, type ConfigIssue, type ConfigIssueSeverity, sortIssues } from './errors.js'
import type { GatewayConfig } from './model.js'
import { missingSecretMessage } from './normalise/authenticate.js'
import type { Environment, NormalisePurpose } from './normalise/context.js'
import { normalise } from './normalise/index.js'
import { PortcullisFileSchema } from './schema.js'
import { checkTrustStoreFiles } from './trust-store-files.js'

export type { IgnoredField } from './classify.js'

/** A loaded configuration and the warnings found while loading it. */
export interface LoadedConfig {
  readonly config: GatewayConfig
  /** Quota warnings and accepted-but-inert settings, in file order; never errors. */
  readonly warnings: readonly ConfigIssue[]
  /**
   * The warnings about settings Portcullis does not act on: a value of a
   * setting it does not implement, or a field unknown to it (also in
   * `warnings`). `portcullis audit` reports each as a finding.
   */
  readonly notActedOn: readonly ConfigIssue[]
  /** AWS-only fields, and not-implemented ones harmless as given, each once: what `validate` lists as ignored. */
  readonly ignored: readonly IgnoredField[]
  /**
   * With purpose `audit`: what `start` would still need or refuse (client
   * secrets, certificate files, instance addresses, settings Portcullis does
   * not implement), as the errors it would report; empty otherwise.
   */
  readonly startNeeds: readonly ConfigIssue[]
}

/** Options of {@link parseConfig}. */
export interface ParseConfigOptions {
  /** File name shown in messages (and resolved into `GatewayConfig.source`); omitted from messages when undefined. */
  readonly source?: string
  /** `yaml` (default) or `json`. */
  readonly format?: 'yaml' | 'json'
  /** Directory relative paths in the file are resolved against; default the source's directory, else the working directory. */
  readonly baseDir?: string
  /** Where `UseExistingClientSecret: true` looks for `PORTCULLIS_CLIENT_SECRET_<CLIENT ID>`; default `process.env`. */
  readonly env?: Environment
  /**
   * `start` (default): everything needed to run the file is required.
   * `audit`: no secret is looked up, and what only running needs is
   * reported in `startNeeds` instead of refusing the file.
   */
  readonly purpose?: NormalisePurpose
}

/** Configuration files larger than this are refused before parsing. */
export const MAX_CONFIG_BYTES = 4 * 1024 * 1024

/**
 * Parses and validates configuration text. Pure apart from path resolution
 * and the client secrets of `options.env` (default `process.env`): it reads
 * no files (use {@link loadConfig} for that). A client secret to be read from
 * `Portcullis.ClientSecretsDirectory` stays in `clientSecretFile`, unread.
 *
 * @throws {ConfigError} with every error (and warning) found, each with a field path, line and column.
 * @example
 * ```ts
 * const { config, warnings } = parseConfig(
 *   'Listeners: [{ Port: 8080, Protocol: HTTP, DefaultActions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: "200" } }] }]',
 *   { source: 'inline.yaml', baseDir: process.cwd() },
 * )
 * config.listeners[0].rules[0].priority // 'default'
 * ```
 */
export function parseConfig(text: string, options: ParseConfigOptions = {}): LoadedConfig {
  return parseInternal(text, options).loaded
}

/**
 * Reads, parses and validates a configuration file, and checks that the
 * certificate, key and CA files it names exist and are valid PEM (and that
 * each private key matches its certificate). YAML unless the name ends in `.json`.
 * Client secrets are looked up in `options.env` (default `process.env`)
 * before `Portcullis.ClientSecretsDirectory`.
 *
 * @throws {ConfigError} when the file is missing, unreadable or invalid.
 * @example
 * ```ts
 * const { config, warnings } = await loadConfig('portcullis.yaml')
 * for (const w of warnings) console.warn(formatIssue(w, 'portcullis.yaml'))
 * ```
 */
export async function loadConfig(path: string, options: Pick<ParseConfigOptions, 'env'> = {}): Promise<LoadedConfig> {
  const absolute = resolve(path)
  let text: string
  try {
    const info = await stat(absolute)
    if (!info.isFile()) throw new ConfigError([fileIssue(`${path} is not a file`)], path)
    if (info.size > MAX_CONFIG_BYTES) {
      throw new ConfigError([fileIssue(`the file is larger than ${MAX_CONFIG_BYTES} bytes`)], path)
    }
    text = await readFile(absolute, 'utf8')
  } catch (err) {
    if (err instanceof ConfigError) throw err
    const code = (err as NodeJS.ErrnoException).code
    const reason =
      code === 'ENOENT'
        ? configFileNotFound(absolute)
        : code === 'EACCES'
          ? `permission denied reading ${absolute}`
          : `cannot read ${absolute}: ${(err as Error).message}`
    throw new ConfigError([fileIssue(reason)], path)
  }
  const format = extname(path).toLowerCase() === '.json' ? 'json' : 'yaml'
  const { loaded, document } = parseInternal(text, {
    source: path,
    format,
    baseDir: dirname(absolute),
    env: options.env,
  })
  const issues = await checkReferencedFiles(loaded.config, document)
  const secrets = await readClientSecretFiles(loaded.config, document)
  issues.push(...secrets.issues)
  if (issues.some((i) => i.severity === 'error')) {
    throw new ConfigError([...loaded.warnings, ...issues], path)
  }
  return { ...loaded, config: secrets.config, warnings: sortIssues([...loaded.warnings, ...issues]) }
}

/** A mounted secret file larger than this is not a client secret. */
const MAX_SECRET_BYTES = 64 * 1024

/**
 * Reads the client secrets that `UseExistingClientSecret: true` takes from
 * `Portcullis.ClientSecretsDirectory` (the environment had none), one file
 * per client id, and returns the configuration with them filled in. A final
 * line break is dropped (`kubectl create secret --from-file` keeps the
 * file's). A missing or empty file is an error at every action that needs it.
 */
async function readClientSecretFiles(
  config: GatewayConfig,
  document: ParsedDocument,
): Promise<{ config: GatewayConfig; issues: ConfigIssue[] }> {
  const wanted = new Map<string, string>()
  for (const listener of config.listeners)
    for (const rule of listener.rules)
      for (const action of rule.actions)
        if (action.type === 'authenticate-oidc' && action.clientSecretFile !== undefined)
          wanted.set(action.clientSecretFile, action.clientId)
  if (wanted.size === 0) return { config, issues: [] }
  const secrets = new Map<string, string>()
  const issues: ConfigIssue[] = []
  const directory = config.portcullis.clientSecretsDirectory
  for (const [file, clientId] of wanted) {
    let secret: string | undefined
    let problem = missingSecretMessage(clientId, directory)
    try {
      const info = await stat(file)
      if (info.size > MAX_SECRET_BYTES) problem = `${file} is larger than ${MAX_SECRET_BYTES} bytes`
      else secret = (await readFile(file, 'utf8')).replace(/\r?\n$/, '')
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code !== 'ENOENT') problem = `cannot read ${file}: ${(err as Error).message}`
    }
    if (secret !== undefined && secret !== '') {
      secrets.set(file, secret)
      continue
    }
    for (const path of oidcActionPaths(document.value, clientId)) {
      issues.push({
        path: formatPath([...path, 'UseExistingClientSecret']),
        ...document.locate(path, 'UseExistingClientSecret'),
        message: problem,
        severity: 'error',
      })
    }
  }
  const listeners = config.listeners.map((listener) => ({
    ...listener,
    rules: listener.rules.map((rule) => ({
      ...rule,
      actions: rule.actions.map((action) =>
        action.type === 'authenticate-oidc' && action.clientSecretFile !== undefined
          ? { ...action, clientSecret: secrets.get(action.clientSecretFile) }
          : action,
      ),
    })),
  }))
  return { config: { ...config, listeners }, issues }
}

/** Where the file has an AuthenticateOidcConfig of `clientId` with UseExistingClientSecret: true. */
function oidcActionPaths(root: unknown, clientId: string): FieldPath[] {
  const paths: FieldPath[] = []
  const listeners = (root as { Listeners?: unknown[] }).Listeners ?? []
  listeners.forEach((listener, i) => {
    const l = listener as { DefaultActions?: unknown[]; Rules?: { Actions?: unknown[] }[] }
    const lists: [FieldPath, unknown[] | undefined][] = [[['Listeners', i, 'DefaultActions'], l.DefaultActions]]
    for (const [j, rule] of (l.Rules ?? []).entries())
      lists.push([['Listeners', i, 'Rules', j, 'Actions'], rule.Actions])
    for (const [base, actions] of lists) {
      ;(actions ?? []).forEach((action, k) => {
        const cfg = (action as { AuthenticateOidcConfig?: { ClientId?: unknown; UseExistingClientSecret?: unknown } })
          .AuthenticateOidcConfig
        if (cfg?.ClientId === clientId && cfg.UseExistingClientSecret === true) {
          paths.push([...base, k, 'AuthenticateOidcConfig'])
        }
      })
    }
  })
  return paths
}

/**
 * The message for a configuration file that does not exist, with where to
 * get a first one (`start`, `validate` and `audit` say the same).
 *
 * @example
 * ```ts
 * configFileNotFound('/srv/portcullis.yaml')
 * ```
 */
export function configFileNotFound(absolutePath: string): string {
  return `configuration file not found: ${absolutePath} (\`portcullis demo --print-config > portcullis.yaml\` writes one to start from)`
}

function fileIssue(message: string): ConfigIssue {
  return { path: '', message, severity: 'error' }
}

/** What the loader makes of each kind of field issue. */
const FIELD_SEVERITY: Record<FieldIssueKind, ConfigIssueSeverity> = {
  typo: 'error',
  refused: 'error',
  'not-implemented': 'warning',
  unknown: 'warning',
}

function parseInternal(text: string, options: ParseConfigOptions): { loaded: LoadedConfig; document: ParsedDocument } {
  const source = options.source
  if (text.length > MAX_CONFIG_BYTES) {
    throw new ConfigError([fileIssue(`the configuration is larger than ${MAX_CONFIG_BYTES} bytes`)], source)
  }
  const parsed = parseText(text, options.format ?? 'yaml')
  if (!parsed.ok) throw new ConfigError(parsed.issues, source)
  return { loaded: validateDocument(parsed.document, options), document: parsed.document }
}

/**
 * Validates an already parsed configuration: the field check, the shape, and
 * ELBv2's constraints, as {@link parseConfig} does for text. An imported
 * configuration (`src/config/sources/`) comes here with a document whose
 * positions point into its source files, so every issue names the source.
 *
 * @throws {ConfigError} with every error (and warning) found.
 */
export function validateDocument(document: ParsedDocument, options: Omit<ParseConfigOptions, 'format'>): LoadedConfig {
  const source = options.source
  const purpose = options.purpose ?? 'start'
  const issues: ConfigIssue[] = []
  const notActedOn: ConfigIssue[] = []
  const startNeeds: ConfigIssue[] = []
  const located = (path: FieldPath, message: string, severity: ConfigIssueSeverity, key?: string): ConfigIssue => ({
    path: formatPath(key === undefined ? path : [...path, key]),
    ...document.locate(path, key),
    message,
    severity,
  })
  const fields = checkFields(document.value)
  for (const { kind, path, key, message } of fields.issues) {
    const issue = located(path, message, FIELD_SEVERITY[kind], key)
    // An audit judges the settings; a setting Portcullis refuses is one more thing start would need changed.
    if (kind === 'refused' && purpose === 'audit') startNeeds.push(issue)
    else issues.push(issue)
    if (issue.severity === 'warning') notActedOn.push(issue)
  }
  const shape = PortcullisFileSchema.safeParse(fields.value)
  if (!shape.success) {
    throw new ConfigError([...issues, ...shape.error.issues.map((issue) => zodIssue(issue, document))], source)
  }
  const add = (severity: ConfigIssueSeverity) => (path: FieldPath, message: string, key?: string) => {
    issues.push({ path: formatPath(path), ...document.locate(path, key), message, severity })
  }
  const absoluteSource = source === undefined ? undefined : resolve(options.baseDir ?? process.cwd(), source)
  const baseDir = options.baseDir ?? (absoluteSource ? dirname(absoluteSource) : process.cwd())
  const config = normalise(
    shape.data,
    { baseDir, source: absoluteSource, env: options.env ?? process.env, purpose },
    {
      error: add('error'),
      warn: add('warning'),
      need: (path, message, key) => {
        startNeeds.push({ path: formatPath(path), ...document.locate(path, key), message, severity: 'error' })
      },
    },
  )
  if (issues.some((i) => i.severity === 'error')) throw new ConfigError(issues, source)
  return {
    config,
    warnings: sortIssues(issues),
    notActedOn: sortIssues(notActedOn),
    ignored: fields.ignored,
    startNeeds: sortIssues(startNeeds),
  }
}

/** Turns one zod issue into a located config issue. */
function zodIssue(issue: z.core.$ZodIssue, document: ParsedDocument): ConfigIssue {
  const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol')
  const actual = valueAt(document.value, path)
  let message = issue.message
  if (
    actual === undefined &&
    (issue.code === 'invalid_type' || issue.code === 'invalid_value' || issue.code === 'invalid_union')
  ) {
    message = 'required field is missing'
  } else if (issue.code === 'invalid_type') {
    message = `expected ${article(issue.expected)}, got ${describeValue(actual)}`
  } else if (issue.code === 'invalid_value') {
    const values = issue.values.map((v) => String(v))
    const suggestion = typeof actual === 'string' ? valueTypo(actual, values) : undefined
    message =
      suggestion === undefined
        ? `expected one of ${values.join(', ')}; got ${describeValue(actual)}`
        : `got ${describeValue(actual)}; did you mean ${suggestion}? (expected one of ${values.join(', ')})`
  } else if (issue.code === 'invalid_format' || issue.code === 'invalid_union') {
    message = `${issue.message}; got ${describeValue(actual)}`
  }
  return { path: formatPath(path), ...document.locate(path), message, severity: 'error' }
}

/**
 * The allowed value `actual` is a typo of, as for keys: a couple of edits at
 * most (one for short values), case aside. A different number is another
 * value, not a typo (`HTTP_307` is no misspelt `HTTP_301`).
 */
function valueTypo(actual: string, values: readonly string[]): string | undefined {
  const suggestion = closest(actual, values, Math.max(1, Math.min(2, Math.floor(actual.length / 3))))
  const digits = (text: string) => text.replace(/\D/g, '')
  return suggestion !== undefined && digits(suggestion) === digits(actual) ? suggestion : undefined
}

function valueAt(root: unknown, path: readonly (string | number)[]): unknown {
  let node = root
  for (const segment of path) {
    if (node === null || typeof node !== 'object') return undefined
    node = (node as Record<string | number, unknown>)[segment]
  }
  return node
}

function article(expected: string): string {
  return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`
}

function describeValue(value: unknown): string {
  if (value === null) return 'null (an empty value)'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object') return 'a mapping'
  if (typeof value === 'string') return `"${value.length > 60 ? `${value.slice(0, 60)}…` : value}"`
  return `${typeof value} ${String(value)}`
}

/** Where the trust store named `name` is in the file's `TrustStores`. */
function trustStoreIndex(document: ParsedDocument, name: string): number {
  const list = (document.value as { TrustStores?: { Name?: unknown }[] } | null)?.TrustStores ?? []
  return list.findIndex((t) => t?.Name === name)
}

/** Certificates, keys and CA bundles must exist and parse; keys must match their certificates. */
async function checkReferencedFiles(config: GatewayConfig, document: ParsedDocument): Promise<ConfigIssue[]> {
  const issues: ConfigIssue[] = []
  const issue = (path: FieldPath, message: string, severity: ConfigIssueSeverity = 'error') =>
    issues.push({ path: formatPath(path), ...document.locate(path), message, severity })
  const read = async (file: string, path: FieldPath): Promise<string | undefined> => {
    try {
      return await readFile(file, 'utf8')
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      issue(path, code === 'ENOENT' ? `file not found: ${file}` : `cannot read ${file}: ${(err as Error).message}`)
      return undefined
    }
  }
  /** A certificate chain and its key, at `certPath` and `keyPath`: both parse, and they match. */
  const checkPair = async (
    files: { certificateFile: string; privateKeyFile: string },
    certPath: FieldPath,
    keyPath: FieldPath,
  ) => {
    const [certPem, keyPem] = await Promise.all([
      read(files.certificateFile, certPath),
      read(files.privateKeyFile, keyPath),
    ])
    let cert: X509Certificate | undefined
    if (certPem !== undefined) {
      try {
        cert = new X509Certificate(certPem)
      } catch {
        issue(certPath, `${files.certificateFile} is not a PEM certificate`)
      }
    }
    let key: ReturnType<typeof createPrivateKey> | undefined
    if (keyPem !== undefined) {
      try {
        key = createPrivateKey(keyPem)
      } catch {
        issue(keyPath, `${files.privateKeyFile} is not an unencrypted PEM private key`)
      }
    }
    if (cert && key && !cert.checkPrivateKey(key)) {
      issue(keyPath, `the private key does not match the certificate ${files.certificateFile}`)
    }
    if (cert && Date.parse(cert.validTo) < Date.now()) {
      issue(certPath, `the certificate expired on ${cert.validTo}`, 'warning')
    }
  }
  for (const [i, listener] of config.listeners.entries()) {
    for (const [j, certificate] of listener.certificates.entries()) {
      const base: FieldPath = ['Listeners', i, 'Certificates', j]
      await checkPair(certificate, [...base, 'CertificateFile'], [...base, 'PrivateKeyFile'])
    }
  }
  const adminTls = config.portcullis.admin?.tls
  if (adminTls !== undefined) {
    const base: FieldPath = ['Portcullis', 'Admin']
    await checkPair(adminTls, [...base, 'CertificateFile'], [...base, 'PrivateKeyFile'])
  }
  const caFiles: { file: string; path: FieldPath }[] = []
  if (config.portcullis.caFile) caFiles.push({ file: config.portcullis.caFile, path: ['Portcullis', 'CaFile'] })
  config.targetGroups.forEach((tg, i) => {
    if (tg.caFile) caFiles.push({ file: tg.caFile, path: ['TargetGroups', i, 'Portcullis', 'CaFile'] })
  })
  for (const { file, path } of caFiles) {
    const pem = await read(file, path)
    if (pem !== undefined && !pem.includes('-----BEGIN CERTIFICATE-----')) {
      issue(path, `${file} contains no PEM certificate`)
    }
  }
  for (const store of config.trustStores) {
    const i = trustStoreIndex(document, store.name)
    const base: FieldPath = ['TrustStores', i, 'Portcullis']
    for (const p of checkTrustStoreFiles(store)) {
      const path: FieldPath = p.index === undefined ? [...base, p.field] : [...base, p.field, p.index]
      issue(path, p.message, p.severity)
    }
  }
  return issues
}
