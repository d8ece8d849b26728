// Strict base64url for ALB tokens. ALB keeps `=` padding on every segment and
// signs the padded text, so padding is accepted, but only where it belongs.

// 0 = not an alphabet character, otherwise the 6-bit value + 1.
const ALPHABET = new Uint8Array(128)
{
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  for (let i = 0; i < chars.length; i++) ALPHABET[chars.charCodeAt(i)] = i + 1
}
const EQ = 0x3d

/**
 * Whether `text[start, end)` is canonical base64url: alphabet characters,
 * then either no padding (length mod 4 of 0, 2 or 3) or exactly the padding
 * that completes a multiple of 4; unused trailing bits must be zero.
 */
export function isStrictBase64url(text: string, start: number, end: number): boolean {
  let bodyEnd = end
  while (bodyEnd > start && text.charCodeAt(bodyEnd - 1) === EQ) bodyEnd--
  const pad = end - bodyEnd
  const bodyLength = bodyEnd - start
  const rest = bodyLength % 4
  if (rest === 1) return false
  if (pad !== 0 && (pad !== 4 - rest || rest === 0)) return false
  for (let i = start; i < bodyEnd; i++) {
    const c = text.charCodeAt(i)
    if (c >= 128 || ALPHABET[c] === 0) return false
  }
  if (rest !== 0) {
    // The last character carries 2 (rest 3) or 4 (rest 2) bits that must be 0.
    const last = ALPHABET[text.charCodeAt(bodyEnd - 1)]! - 1
    const mask = rest === 2 ? 0x0f : 0x03
    if ((last & mask) !== 0) return false
  }
  return true
}

/** Encodes bytes as base64url with `=` padding, as ALB does. */
export function encodeBase64urlPadded(data: Uint8Array | string): string {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url')
  const rest = text.length % 4
  return rest === 0 ? text : text + (rest === 2 ? '==' : '=')
}
