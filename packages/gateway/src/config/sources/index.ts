/**
 * `portcullis import`'s pure part: source files (text) in, the configuration
 * `start` runs out, every field located in its source. Each format has its
 * module; this one parses the files, tells the formats apart and applies the
 * overlay.
 */
import { parseText } from '../document.js'
import { ConfigError, type ConfigIssue } from '../errors.js'
import { fromAwsCli, isAwsCliOutput } from './aws-cli.js'
import { fromCloudFormation, isCloudFormation } from './cloudformation.js'
import { fromKubernetes, isKubernetesManifest } from './kubernetes.js'
import type { SourceFile } from './located.js'
import type { Imported } from './model.js'
import { applyOverlay } from './overlay.js'
import { fromTerraform, isTerraformJson } from './terraform.js'

export type { Imported, ResourceComment } from './model.js'
export { writeImported } from './write.js'

/** One source file as read. */
export interface SourceText {
  /** The name the user gave, shown in every message. */
  readonly name: string
  readonly text: string
  /** The resource a `describe-*` output without an ARN describes (`RESOURCE=FILE` on the command line). */
  readonly resource?: string
}

/** Options of {@link importSources}. */
export interface ImportOptions {
  /** The overlay file (`--overlay`), and how to rebase its paths onto the written file. */
  readonly overlay?: { readonly source: SourceText; readonly rebase: (path: string) => string }
  /** Which load balancer, when the sources describe several (`--load-balancer`). */
  readonly loadBalancer?: string
  /** A template's parameter values (`--parameter Name=Value`). */
  readonly parameters?: Readonly<Record<string, string>>
  /** What a template's `Fn::ImportValue` returns (`--import-value Name=Value`). */
  readonly importValues?: Readonly<Record<string, string>>
}

/** Parses one file (JSON when its name ends in `.json`, else YAML). */
export function parseSource(source: SourceText): SourceFile {
  const parsed = parseText(source.text, source.name.toLowerCase().endsWith('.json') ? 'json' : 'yaml', {
    cloudFormationTags: true,
    stream: true,
  })
  if (!parsed.ok)
    throw new ConfigError(
      parsed.issues.map((issue) => ({ ...issue, source: source.name })),
      undefined,
    )
  return { name: source.name, document: parsed.document }
}

/**
 * Turns source files into one configuration (not yet validated: give
 * `origins.document(value)` to `validateDocument`).
 *
 * @throws {ConfigError} for a file of no known format, or a problem joining them; each issue names its file.
 */
export function importSources(sources: readonly SourceText[], options: ImportOptions = {}): Imported {
  const files = sources.map((source) => ({ source, file: parseSource(source) }))
  const templates = files.filter(({ file }) => isCloudFormation(file.document.value))
  const terraform = files.filter(({ file }) => isTerraformJson(file.document.value))
  const kubernetes = files.filter(({ file }) => isKubernetesManifest(file.document.value))
  const issues: ConfigIssue[] = []
  const refuse = (name: string, message: string) =>
    issues.push({ path: '', line: 1, column: 1, source: name, message, severity: 'error' })
  if (templates.length + terraform.length > 0 && files.length > 1) {
    for (const { file } of files.slice(1)) {
      refuse(file.name, 'import one CloudFormation template or Terraform plan/state at a time, on its own')
    }
  }
  for (const { file } of files) {
    const value = file.document.value
    if (kubernetes.length > 0 && kubernetes.length < files.length && !isKubernetesManifest(value))
      refuse(file.name, 'Kubernetes manifests are imported on their own: give only manifest files')
    else if (
      !isAwsCliOutput(value) &&
      !isCloudFormation(value) &&
      !isTerraformJson(value) &&
      !isKubernetesManifest(value)
    ) {
      refuse(
        file.name,
        'not a source portcullis import reads: expected the output of an aws elbv2 describe-* command, a CloudFormation template, terraform show -json output, or Kubernetes manifests (Ingress for the AWS Load Balancer Controller)',
      )
    }
  }
  const templateOnly = [
    ['--parameter', options.parameters],
    ['--import-value', options.importValues],
  ] as const
  for (const [option, given] of templateOnly) {
    if (templates.length === 0 && given !== undefined && Object.keys(given).length > 0) {
      issues.push({ path: '', message: `${option} applies to a CloudFormation template only`, severity: 'error' })
    }
  }
  if (issues.length > 0) throw new ConfigError(issues, undefined)
  const loadBalancer = options.loadBalancer === undefined ? {} : { loadBalancer: options.loadBalancer }
  let imported =
    kubernetes.length > 0
      ? fromKubernetes(
          kubernetes.map(({ file }) => file),
          loadBalancer,
        )
      : terraform.length > 0
        ? fromTerraform(terraform[0]!.file, loadBalancer)
        : templates.length > 0
          ? fromCloudFormation(templates[0]!.file, {
              ...loadBalancer,
              ...(options.parameters === undefined ? {} : { parameters: options.parameters }),
              ...(options.importValues === undefined ? {} : { importValues: options.importValues }),
            })
          : fromAwsCli(
              files.map(({ source, file }) => ({
                file,
                ...(source.resource === undefined ? {} : { resource: source.resource }),
              })),
              loadBalancer,
            )
  if (options.overlay) imported = applyOverlay(imported, parseSource(options.overlay.source), options.overlay.rebase)
  return imported
}
