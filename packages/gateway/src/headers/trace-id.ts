import { randomBytes } from 'node:crypto'

// Trace ids are on the hot path: draw random bytes in blocks rather than one
// syscall-backed call per request.
const POOL_SIZE = 12 * 256
let pool = randomBytes(POOL_SIZE)
let offset = 0

function random24Hex(): string {
  if (offset + 12 > POOL_SIZE) {
    pool = randomBytes(POOL_SIZE)
    offset = 0
  }
  const hex = pool.toString('hex', offset, offset + 12)
  offset += 12
  return hex
}

/** A fresh X-Ray style id: `1-{8 hex digits of epoch seconds}-{24 hex digits}`. */
export function newTraceRoot(nowMs: number = Date.now()): string {
  return `1-${Math.floor(nowMs / 1000)
    .toString(16)
    .padStart(8, '0')}-${random24Hex()}`
}

const ROOT_RE = /^1-[0-9a-f]{8}-[0-9a-f]{24}$/

/**
 * The `X-Amzn-Trace-Id` value sent to the target. A client that sent a
 * well-formed `Root` keeps it, and the load balancer adds its own `Self=`
 * (as ALB does); otherwise a new `Root` is made. Malformed client values are
 * replaced rather than forwarded, so a target can trust the field's shape.
 */
export function traceIdFor(clientValue: string | undefined, nowMs?: number): string {
  if (clientValue !== undefined && clientValue.length <= 256) {
    let root: string | undefined
    const rest: string[] = []
    for (const part of clientValue.split(';')) {
      const field = part.trim()
      if (field.startsWith('Root=')) root = field.slice(5)
      else if (field.startsWith('Self=')) continue
      else if (/^[A-Za-z][A-Za-z0-9_-]{0,63}=[\x21-\x3a\x3c-\x7e]{0,128}$/.test(field)) rest.push(field)
    }
    if (root !== undefined && ROOT_RE.test(root)) {
      return [`Self=${newTraceRoot(nowMs)}`, `Root=${root}`, ...rest].join(';')
    }
  }
  return `Root=${newTraceRoot(nowMs)}`
}
