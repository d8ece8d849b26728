/**
 * The overlay: what a source cannot hold and Portcullis needs — the
 * `Portcullis` settings, the certificate and key files behind a certificate
 * ARN, the targets of a target group (an ECS service, an Auto Scaling group,
 * an instance id), a listener's bind address. A small file of its own, so a
 * re-import after the source changes keeps them; its fields are located in
 * it like the source's.
 *
 * ```yaml
 * Portcullis: { StateDirectory: .portcullis }
 * Certificates:
 *   - { CertificateArn: arn:aws:acm:…, CertificateFile: tls/cert.pem, PrivateKeyFile: tls/key.pem }
 * TargetGroups:
 *   my-targets: { Targets: [{ Id: 127.0.0.1, Port: 3000 }] }
 * Listeners:
 *   "443": { Portcullis: { Address: 127.0.0.1 } }
 * ```
 */
import { ConfigError, type ConfigIssue } from '../errors.js'
import { type SourceFile, sourceIssue } from './located.js'
import type { Imported } from './model.js'

type Json = Record<string, unknown>

const OVERLAY_KEYS = ['Portcullis', 'Certificates', 'TargetGroups', 'Listeners']
/** Fields holding a path: rewritten from the overlay's directory to the written file's. */
const PATH_FIELDS = new Set([
  'CertificateFile',
  'PrivateKeyFile',
  'CaFile',
  'StateDirectory',
  'ClientSecretsDirectory',
  'Path',
])

/**
 * Applies the overlay to an imported configuration. `rebase` turns a path
 * written in the overlay (relative to the overlay) into one relative to the
 * configuration that will be written.
 *
 * @throws {ConfigError} for an overlay entry that matches nothing in the source.
 */
export function applyOverlay(imported: Imported, overlay: SourceFile, rebase: (path: string) => string): Imported {
  const root = overlay.document.value
  const issues: ConfigIssue[] = []
  const at = (path: (string | number)[], message: string, field?: string) =>
    issues.push(sourceIssue({ file: overlay, path }, message, field))
  if (!isObject(root)) {
    at([], 'expected a mapping with Portcullis, Certificates, TargetGroups or Listeners')
    throw new ConfigError(issues, undefined)
  }
  for (const key of Object.keys(root)) {
    if (!OVERLAY_KEYS.includes(key)) at([], `unknown overlay field; expected one of ${OVERLAY_KEYS.join(', ')}`, key)
  }
  const value = structuredClone(imported.value)
  const { origins } = imported
  const listeners = (Array.isArray(value.Listeners) ? value.Listeners : []) as Json[]
  const groups = (Array.isArray(value.TargetGroups) ? value.TargetGroups : []) as Json[]

  if (root.Portcullis !== undefined) {
    value.Portcullis = rebased(root.Portcullis, rebase)
    origins.set(['Portcullis'], { file: overlay, path: ['Portcullis'] })
  }
  if (root.Certificates !== undefined) {
    if (!Array.isArray(root.Certificates))
      at(['Certificates'], 'expected a list of { CertificateArn, CertificateFile, PrivateKeyFile }')
    else
      root.Certificates.forEach((entry, k) => {
        const arn = isObject(entry) ? entry.CertificateArn : undefined
        if (typeof arn !== 'string') {
          at(['Certificates', k], 'expected { CertificateArn, CertificateFile, PrivateKeyFile }')
          return
        }
        let used = false
        listeners.forEach((listener, i) => {
          const certificates = Array.isArray(listener.Certificates) ? (listener.Certificates as Json[]) : []
          certificates.forEach((certificate, j) => {
            if (certificate.CertificateArn !== arn) return
            used = true
            for (const field of ['CertificateFile', 'PrivateKeyFile']) {
              const file = (entry as Json)[field]
              if (file === undefined) continue
              certificate[field] = typeof file === 'string' ? rebase(file) : file
              origins.set(['Listeners', i, 'Certificates', j, field], {
                file: overlay,
                path: ['Certificates', k, field],
              })
            }
          })
        })
        if (!used) at(['Certificates', k], `no listener of the source uses the certificate ${arn}`, 'CertificateArn')
      })
  }
  if (root.TargetGroups !== undefined) {
    if (!isObject(root.TargetGroups))
      at(['TargetGroups'], 'expected a mapping of target group name to { Targets, Portcullis }')
    else
      for (const [name, entry] of Object.entries(root.TargetGroups)) {
        const i = groups.findIndex((g) => g.TargetGroupName === name)
        if (i === -1) {
          at(
            ['TargetGroups'],
            `the source has no target group ${name} (it has ${groups.map((g) => String(g.TargetGroupName)).join(', ') || 'none'})`,
            name,
          )
          continue
        }
        if (!isObject(entry)) {
          at(['TargetGroups', name], 'expected { Targets, Portcullis }')
          continue
        }
        for (const [field, given] of Object.entries(entry)) {
          if (field !== 'Targets' && field !== 'Portcullis') {
            at(['TargetGroups', name], 'expected Targets or Portcullis', field)
            continue
          }
          // The overlay's targets replace the source's (registered by AWS, unknown here).
          if (field === 'Targets') delete groups[i]!.TargetHealthDescriptions
          groups[i]![field] = rebased(given, rebase)
          origins.set(['TargetGroups', i, field], { file: overlay, path: ['TargetGroups', name, field] })
        }
      }
  }
  if (root.Listeners !== undefined) {
    if (!isObject(root.Listeners)) at(['Listeners'], 'expected a mapping of listener port to { Portcullis }')
    else
      for (const [port, entry] of Object.entries(root.Listeners)) {
        const i = listeners.findIndex((l) => String(l.Port) === port)
        if (i === -1) {
          at(['Listeners'], `the source has no listener on port ${port}`, port)
          continue
        }
        if (!isObject(entry) || Object.keys(entry).some((k) => k !== 'Portcullis')) {
          at(['Listeners', port], 'expected { Portcullis: { Address } }')
          continue
        }
        listeners[i]!.Portcullis = entry.Portcullis
        origins.set(['Listeners', i, 'Portcullis'], { file: overlay, path: ['Listeners', port, 'Portcullis'] })
      }
  }
  if (issues.length > 0) throw new ConfigError(issues, undefined)
  return {
    ...imported,
    value,
    comments: [...imported.comments, { path: ['Portcullis'], text: `from ${overlay.name}` }],
  }
}

/** A copy of `value` with every path field rebased. */
function rebased(value: unknown, rebase: (path: string) => string): unknown {
  if (Array.isArray(value)) return value.map((v) => rebased(v, rebase))
  if (!isObject(value)) return value
  const out: Json = {}
  for (const [k, v] of Object.entries(value))
    out[k] = PATH_FIELDS.has(k) && typeof v === 'string' ? rebase(v) : rebased(v, rebase)
  return out
}

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}
