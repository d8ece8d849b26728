/**
 * Auditing a configuration file: parse and validate it as `validate` and
 * `start` do (so the audit judges what would run), without what only the
 * machine that runs it supplies (secrets, certificate files, instance
 * addresses), run the checks, and point each finding at its line and column.
 */
import { readFile } from 'node:fs/promises'
import { dirname, extname, resolve } from 'node:path'
import { type FieldPath, formatPath, type ParsedDocument, parseText } from '../config/document.js'
import { ConfigError, type ConfigIssue } from '../config/errors.js'
import {
  configFileNotFound,
  type LoadedConfig,
  MAX_CONFIG_BYTES,
  parseConfig,
  validateDocument,
} from '../config/load.js'
import type { ActionModel, GatewayConfig, RuleModel } from '../config/model.js'
import type { Imported } from '../config/sources/index.js'
import { type CheckOptions, checkModel, finding, type ResourceRef } from './checks.js'
import { CATALOGUE, type Finding, type FindingLocation, sortFindings } from './findings.js'

/** What the audit of a configuration file found. */
export interface ConfigAuditResult {
  readonly findings: Finding[]
  /**
   * What `portcullis start` would still need or refuse before running the
   * file (a client secret, certificate files, instance addresses, a setting
   * Portcullis does not implement), as the errors it would report:
   * information, not findings.
   */
  readonly startNeeds: readonly ConfigIssue[]
}

/**
 * Audits configuration text. No secret is looked up and no file read: the
 * audit is about the load balancer's settings, and what running them would
 * take is `startNeeds`.
 *
 * @param file The name shown in findings (`file:line:column`); relative paths inside resolve against its directory.
 * @throws {ConfigError} when the text is not a valid configuration (the same errors `validate` prints).
 * @example
 * ```ts
 * const { findings } = auditConfigText(await readFile('portcullis.yaml', 'utf8'), 'portcullis.yaml')
 * findings.filter((f) => f.severity === 'high').map((f) => `${f.resource} ${f.id}`)
 * ```
 */
export function auditConfigText(text: string, file: string, options: CheckOptions = {}): ConfigAuditResult {
  const format = extname(file).toLowerCase() === '.json' ? 'json' : 'yaml'
  const loaded = parseConfig(text, { source: file, format, baseDir: dirname(resolve(file)), purpose: 'audit' })
  // parseConfig succeeded, so the text parses; this second parse keeps the positions.
  const parsed = parseText(text, format)
  if (!parsed.ok) throw new ConfigError(parsed.issues, file)
  return auditDocument(parsed.document, loaded, file, options)
}

/**
 * Audits a configuration `portcullis import` assembled from its sources:
 * each finding is located in the source file (the template, the plan, the
 * `describe-*` output) its field came from.
 *
 * @throws {ConfigError} when the assembled configuration is invalid, located in the sources.
 */
export function auditImported(imported: Imported, label: string, options: CheckOptions = {}): ConfigAuditResult {
  const document = imported.origins.document(imported.value)
  const loaded = validateDocument(document, { baseDir: process.cwd(), purpose: 'audit' })
  return auditDocument(document, loaded, label, options)
}

function auditDocument(
  document: ParsedDocument,
  loaded: LoadedConfig,
  file: string,
  options: CheckOptions,
): ConfigAuditResult {
  const config = loaded.config
  const root = document.value as FileShape
  const locate = (ref: ResourceRef): FindingLocation | undefined => {
    const [path, key] = fieldPath(ref, root)
    const position = document.locate(path, key)
    return (
      position && {
        file: position.source ?? file,
        line: position.line,
        column: position.column,
        path: formatPath(path),
      }
    )
  }
  const findings = [
    ...checkModel(config, options).map((raw) => finding(raw, config, locate)),
    ...loaded.notActedOn.map((issue) => notActedOn(issue, config, issue.source ?? file)),
  ]
  return { findings: sortFindings(findings), startNeeds: loaded.startNeeds }
}

/** A warning that Portcullis does not act on a setting, as a finding at the setting. */
function notActedOn(issue: ConfigIssue, config: GatewayConfig, file: string): Finding {
  const check = CATALOGUE['setting-not-acted-on']
  const line = issue.line ?? 1
  const column = issue.column ?? 1
  const listener = /^Listeners\[(\d+)\]/.exec(issue.path)
  const targetGroup = /^TargetGroups\[(\d+)\]/.exec(issue.path)
  const arn =
    (listener && config.listeners[Number(listener[1])]?.arn) ??
    (targetGroup && config.targetGroups[Number(targetGroup[1])]?.arn) ??
    config.loadBalancer.arn
  return {
    id: 'setting-not-acted-on',
    severity: check.severity,
    control: check.control,
    title: check.title,
    loadBalancer: config.loadBalancer.arn,
    resource: `${file}:${line}:${column}`,
    arn,
    location: { file, line, column, path: issue.path },
    message: issue.message,
    remediation: check.remediation,
  }
}

/**
 * Reads and audits a configuration file (YAML, or JSON when the name ends in `.json`).
 *
 * @throws {ConfigError} when the file is missing, unreadable or invalid.
 * @example
 * ```ts
 * const { findings, startNeeds } = await auditConfigFile('examples/configs/basic.yaml')
 * ```
 */
export async function auditConfigFile(file: string, options: CheckOptions = {}): Promise<ConfigAuditResult> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const message = code === 'ENOENT' ? configFileNotFound(resolve(file)) : (err as Error).message
    throw new ConfigError([{ path: '', message, severity: 'error' }], file)
  }
  if (text.length > MAX_CONFIG_BYTES) {
    throw new ConfigError(
      [{ path: '', message: `the file is larger than ${MAX_CONFIG_BYTES} bytes`, severity: 'error' }],
      file,
    )
  }
  return auditConfigText(text, file, options)
}

/** The few parts of the raw file the locator walks. */
interface FileShape {
  LoadBalancer?: { Attributes?: { Key: string }[] }
  TargetGroups?: Record<string, unknown>[]
  Listeners: {
    DefaultActions?: { Order?: number | string }[]
    Rules?: { Priority: number | string; IsDefault?: boolean; Actions: { Order?: number | string }[] }[]
  }[]
}

/** The file path of a model element (the normaliser sorts rules and actions, so they are found by priority and Order). */
function fieldPath(ref: ResourceRef, root: FileShape): [FieldPath, string?] {
  switch (ref.kind) {
    case 'load-balancer': {
      const attributes = root.LoadBalancer?.Attributes
      const i = attributes?.findIndex((a) => a.Key === ref.attribute) ?? -1
      if (i >= 0) return [['LoadBalancer', 'Attributes', i, 'Value']]
      return attributes ? [['LoadBalancer', 'Attributes']] : [['LoadBalancer']]
    }
    case 'listener':
      return [['Listeners', ref.listener], ref.field]
    case 'target-group': {
      if (ref.target !== undefined) return [['TargetGroups', ref.targetGroup, 'Targets', ref.target, 'Id']]
      const group: FieldPath = ['TargetGroups', ref.targetGroup]
      if (ref.field === undefined) return [group]
      // The field where the file gives it; a default (absent from the file) is the group's.
      let node: unknown = root.TargetGroups?.[ref.targetGroup]
      for (const segment of ref.field) node = (node as Record<string, unknown> | undefined)?.[segment]
      return node === undefined ? [group, 'TargetGroupName'] : [[...group, ...ref.field]]
    }
    case 'rule': {
      const rulePath = rulePathOf(root, ref.listener, ref.rule)
      if (ref.action === undefined) return [rulePath, rulePath.at(-1) === 'DefaultActions' ? undefined : 'Priority']
      const actions = rulePath.at(-1) === 'DefaultActions' ? [...rulePath] : [...rulePath, 'Actions']
      return [[...actions, actionIndex(root, actions, ref.action), ...(ref.field ?? [])]]
    }
  }
}

function rulePathOf(root: FileShape, l: number, rule: RuleModel): FieldPath {
  const listener = root.Listeners[l]!
  const j = (listener.Rules ?? []).findIndex((r) =>
    rule.priority === 'default'
      ? r.Priority === 'default' || r.IsDefault === true
      : r.Priority !== 'default' && Number(r.Priority) === rule.priority,
  )
  return j >= 0 ? ['Listeners', l, 'Rules', j] : ['Listeners', l, 'DefaultActions']
}

function actionIndex(root: FileShape, path: FieldPath, action: ActionModel): number {
  let node: unknown = root
  for (const segment of path) node = (node as Record<string | number, unknown>)[segment]
  const list = node as { Order?: number | string }[]
  const k = list.findIndex((a, index) => (a.Order === undefined ? index + 1 : Number(a.Order)) === action.order)
  return Math.max(k, 0)
}
