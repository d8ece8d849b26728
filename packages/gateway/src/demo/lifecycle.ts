import { GatewayError } from '../core/errors.js'

/**
 * Shared by the long-running development commands (`portcullis demo`,
 * `portcullis idp`): waiting for Ctrl-C/SIGTERM (or an abort signal, which is
 * how tests stop them) and turning startup failures into one clear line.
 */

/** Writable side of the command's terminal. */
export interface CommandIo {
  readonly stdout: NodeJS.WritableStream
  readonly stderr: NodeJS.WritableStream
}

/**
 * Resolves with the reason once SIGINT or SIGTERM arrives or `signal` aborts,
 * and removes its signal handlers again, so that a second Ctrl-C during
 * shutdown falls through to Node's default (immediate exit).
 */
export function waitForStop(signal?: AbortSignal): Promise<string> {
  return new Promise((resolve) => {
    const finish = (reason: string) => {
      process.off('SIGINT', onInt)
      process.off('SIGTERM', onTerm)
      signal?.removeEventListener('abort', onAbort)
      resolve(reason)
    }
    const onInt = () => finish('SIGINT')
    const onTerm = () => finish('SIGTERM')
    const onAbort = () => finish('aborted')
    process.once('SIGINT', onInt)
    process.once('SIGTERM', onTerm)
    if (signal?.aborted) finish('aborted')
    else signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/**
 * A one-line explanation of why something could not start: ports in use or
 * not permitted get advice, anything else its message (never a stack trace).
 */
export function describeStartupError(error: unknown, what: string, option: string): string {
  const err = systemErrorOf(error) as NodeJS.ErrnoException & { address?: string; port?: number }
  const where = err.port === undefined ? '' : ` ${err.address ?? ''}:${err.port}`.replace(' :', ' port ')
  if (err?.code === 'EADDRINUSE') {
    return `${what}: the address${where} is already in use; stop whatever is using it or choose another port with ${option}`
  }
  if (err?.code === 'EACCES') {
    return `${what}: not permitted to listen on${where}; ports below 1024 need privileges, choose another with ${option}`
  }
  if (err?.code === 'EADDRNOTAVAIL') return `${what}: the address${where} is not available on this machine`
  return `${what}: ${error instanceof Error ? error.message : String(error)}`
}

/** The system error (`EADDRINUSE`, …) behind a listener that could not bind, or `error` itself. */
export function systemErrorOf(error: unknown): unknown {
  return error instanceof GatewayError && error.code === 'ERR_LISTEN' ? error.cause : error
}
