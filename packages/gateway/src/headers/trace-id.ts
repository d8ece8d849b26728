import { randomBytes } from 'node:crypto'

// Trace ids are on the hot path: random bytes are drawn and hex-encoded in
// blocks, and the time part is formatted once per second.
const IDS_PER_BLOCK = 256
let block = ''
let next = IDS_PER_BLOCK

function random24Hex(): string {
  if (next === IDS_PER_BLOCK) {
    block = randomBytes(12 * IDS_PER_BLOCK).toString('hex')
    next = 0
  }
  const start = next * 24
  next++
  return block.slice(start, start + 24)
}

let rootSecond = Number.NaN
let rootPrefix = ''

/** A fresh X-Ray style id: `1-{8 hex digits of epoch seconds}-{24 hex digits}`. */
export function newTraceRoot(nowMs: number = Date.now()): string {
  const second = Math.floor(nowMs / 1000)
  if (second !== rootSecond) {
    rootSecond = second
    rootPrefix = `1-${second.toString(16).padStart(8, '0')}-`
  }
  return rootPrefix + random24Hex()
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
