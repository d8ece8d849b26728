// Strict base64url for ALB tokens. ALB keeps `=` padding on every segment and
// signs the padded text, so padding is accepted, but only where it belongs.
// Decoding is done here in one JavaScript pass (validate + decode) rather than
// with Buffer.from(…, 'base64url'), which silently skips invalid characters
// and would need a second validation pass: this sits on the per-request path.
// It reads the token's UTF-8 bytes rather than its characters: a byte array
// load is about three times cheaper than charCodeAt, and the verifier needs
// those bytes anyway (they are the signing input).

// One table per position in a group of four characters: the character's
// 6-bit value shifted into place, or -1 (all bits set) for a byte outside the
// alphabet, so OR-ing a group's four entries is negative if any is invalid.
// Every byte >= 0x80, which is how UTF-8 encodes each non-ASCII character, is
// -1. SHIFT_0 holds the plain values.
const SHIFT_18 = new Int32Array(256).fill(-1)
const SHIFT_12 = new Int32Array(256).fill(-1)
const SHIFT_6 = new Int32Array(256).fill(-1)
const SHIFT_0 = new Int32Array(256).fill(-1)
{
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  for (let i = 0; i < chars.length; i++) {
    const c = chars.charCodeAt(i)
    SHIFT_18[c] = i << 18
    SHIFT_12[c] = i << 12
    SHIFT_6[c] = i << 6
    SHIFT_0[c] = i
  }
}
const EQ = 0x3d

/**
 * The number of bytes `text[start, end)` decodes to if its length and padding
 * are those of canonical base64url (no padding, or exactly the padding that
 * completes a multiple of 4), else -1. Characters are checked by
 * {@link decodeBase64url}.
 */
export function base64urlDecodedLength(text: string, start: number, end: number): number {
  let bodyEnd = end
  while (bodyEnd > start && text.charCodeAt(bodyEnd - 1) === EQ) bodyEnd--
  const pad = end - bodyEnd
  const rest = (bodyEnd - start) % 4
  if (rest === 1 || (pad !== 0 && (rest === 0 || pad !== 4 - rest))) return -1
  return ((bodyEnd - start) >> 2) * 3 + (rest === 0 ? 0 : rest - 1)
}

/**
 * Decodes the base64url characters of a text from index `start` (a range
 * validated by {@link base64urlDecodedLength} to `length` bytes) into `out`
 * at `offset`, reading them from `utf8`: the UTF-8 encoding of the whole text,
 * written in full. Returns false on a character outside the base64url
 * alphabet or non-zero unused trailing bits (a non-canonical encoding).
 *
 * Reading bytes at character indices is exact: up to the first non-ASCII
 * character each character is one byte at its own index, and that character
 * puts a byte >= 0x80 at its index, which lies inside the range read (it is
 * not `=`) and is rejected. A latin1 copy would not do: it keeps only the low
 * byte of U+0100 and above, turning e.g. `Ł` (U+0141) into `A`.
 *
 * DataViews, made once by the caller: one 32-bit read per group of four
 * characters and one 16-bit write per two bytes cost less than byte by byte.
 */
export function decodeBase64url(utf8: DataView, start: number, length: number, out: DataView, offset: number): boolean {
  let i = start
  let o = offset
  const whole = offset + Math.floor(length / 3) * 3
  while (o < whole) {
    const group = utf8.getUint32(i)
    const n =
      SHIFT_18[group >>> 24]! |
      SHIFT_12[(group >>> 16) & 0xff]! |
      SHIFT_6[(group >>> 8) & 0xff]! |
      SHIFT_0[group & 0xff]!
    if (n < 0) return false
    out.setUint16(o, n >>> 8)
    out.setUint8(o + 2, n & 0xff)
    o += 3
    i += 4
  }
  const rest = length % 3
  if (rest !== 0) {
    const a = SHIFT_0[utf8.getUint8(i)]!
    const b = SHIFT_0[utf8.getUint8(i + 1)]!
    if ((a | b) < 0) return false
    if (rest === 1) {
      if ((b & 0x0f) !== 0) return false
      out.setUint8(o, (a << 2) | (b >> 4))
    } else {
      const c = SHIFT_0[utf8.getUint8(i + 2)]!
      if (c < 0 || (c & 0x03) !== 0) return false
      out.setUint8(o, (a << 2) | (b >> 4))
      out.setUint8(o + 1, ((b & 0x0f) << 4) | (c >> 2))
    }
  }
  return true
}

/** Encodes bytes (or UTF-8 text) as base64url with `=` padding, as ALB does. */
export function encodeBase64urlPadded(data: Uint8Array | string): string {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url')
  const rest = text.length % 4
  return rest === 0 ? text : text + (rest === 2 ? '==' : '=')
}
