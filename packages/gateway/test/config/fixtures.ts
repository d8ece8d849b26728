import assert from 'node:assert/strict'
import { ConfigError, type ConfigIssue } from '../../src/config/errors.js'
import { type LoadedConfig, type ParseConfigOptions, parseConfig } from '../../src/config/load.js'

/** Base directory used for path resolution in parse tests (never read). */
export const BASE_DIR = '/etc/portcullis'

/** Parses `text` as `portcullis.yaml` in {@link BASE_DIR}, in an empty environment unless `options.env` says otherwise. */
export function load(text: string, options: ParseConfigOptions = {}): LoadedConfig {
  return parseConfig(text, { source: 'portcullis.yaml', baseDir: BASE_DIR, env: {}, ...options })
}

/** The issues of a file that must be refused. */
export function issuesOf(text: string, options: ParseConfigOptions = {}): readonly ConfigIssue[] {
  try {
    load(text, options)
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`)
    return err.issues
  }
  assert.fail('expected the configuration to be refused')
}

/** 1-based line and column of the `nth` occurrence of `needle` in `text`. */
export function positionOf(text: string, needle: string, nth = 0): { line: number; column: number } {
  let offset = -1
  for (let i = 0; i <= nth; i++) {
    offset = text.indexOf(needle, offset + 1)
    assert.ok(offset >= 0, `needle ${JSON.stringify(needle)} #${nth} not in the text`)
  }
  const before = text.slice(0, offset)
  const line = before.split('\n').length
  return { line, column: offset - before.lastIndexOf('\n') }
}

/**
 * Asserts that the file is refused with an error at `path` whose message
 * matches, located where `needle` starts in the text.
 */
export function expectError(
  text: string,
  path: string,
  message: RegExp,
  needle: string,
  nth = 0,
  options: ParseConfigOptions = {},
): ConfigIssue {
  const issues = issuesOf(text, options)
  const issue = issues.find((i) => i.path === path && i.severity === 'error' && message.test(i.message))
  assert.ok(
    issue,
    `no error at ${path} matching ${message}; got:\n${issues.map((i) => `${i.path}: ${i.message}`).join('\n')}`,
  )
  assert.deepEqual({ line: issue.line, column: issue.column }, positionOf(text, needle, nth))
  return issue
}

/** Asserts that the file loads with a warning at `path` whose message matches, located at `needle`. */
export function expectWarning(text: string, path: string, message: RegExp, needle: string, nth = 0): ConfigIssue {
  const { warnings } = load(text)
  const issue = warnings.find((i) => i.path === path && message.test(i.message))
  assert.ok(
    issue,
    `no warning at ${path} matching ${message}; got:\n${warnings.map((i) => `${i.path}: ${i.message}`).join('\n')}`,
  )
  assert.equal(issue.severity, 'warning')
  assert.deepEqual({ line: issue.line, column: issue.column }, positionOf(text, needle, nth))
  return issue
}

/**
 * A valid file with one HTTP listener on 8080, a default fixed response and
 * target groups `app` and `other`. `rules` is spliced under `Rules:` (six
 * spaces of indentation), `listener` under the listener, `top` at the end.
 */
export function withRules(rules: string, options: { listener?: string; top?: string } = {}): string {
  return `Listeners:
  - Port: 8080
    Protocol: HTTP
${options.listener ?? ''}    DefaultActions: [{ Type: fixed-response, FixedResponseConfig: { StatusCode: "404" } }]
    Rules:
${rules}
TargetGroups:
  - TargetGroupName: app
    Protocol: HTTP
    Targets: [{ Id: 127.0.0.1, Port: 3000 }]
  - TargetGroupName: other
    Protocol: HTTP
    Targets: [{ Id: 127.0.0.1, Port: 3001 }]
${options.top ?? ''}`
}

/** A rule at `priority` matching `/x/*` with the given actions (YAML flow list). */
export function rule(
  priority: number | string,
  actions: string,
  conditions = '[{ Field: path-pattern, Values: ["/x/*"] }]',
): string {
  return `      - Priority: ${priority}
        Conditions: ${conditions}
        Actions: ${actions}
`
}

/** Turns the first listener of a `withRules` file into an HTTPS listener with a certificate. */
export function https(text: string): string {
  return text.replace(
    'Protocol: HTTP\n',
    'Protocol: HTTPS\n    Certificates: [{ CertificateFile: c.pem, PrivateKeyFile: k.pem }]\n',
  )
}

/** Actions that forward to target group `app` (YAML flow list). */
export const FORWARD = '[{ Type: forward, TargetGroupArn: app }]'
/** Field path of the first listener's rules in a `withRules` file. */
export const R = 'Listeners[0].Rules'
