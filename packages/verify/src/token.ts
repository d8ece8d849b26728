import { base64urlDecodedLength, decodeBase64url } from './base64url.js'
import { AlbVerifyError } from './errors.js'

/** Tokens longer than this are rejected before any decoding (ALB's own tokens stay far below). */
export const MAX_TOKEN_LENGTH = 16 * 1024

/** The header of an ALB token after the format checks of {@link parseAlbToken}. */
export interface AlbTokenHeader {
  readonly typ?: string
  readonly kid: string
  readonly alg: 'ES256'
  readonly iss?: string
  readonly client?: string
  readonly signer?: string
  readonly exp?: number
  readonly [field: string]: unknown
}

/** A token split and decoded by {@link parseAlbToken}. Nothing in it is verified yet. */
export interface ParsedAlbToken {
  readonly header: AlbTokenHeader
  readonly payload: Record<string, unknown>
  /** The ASCII bytes of `header.payload` exactly as received: what the signature covers. */
  readonly signingInput: Buffer
  /** The raw 64-byte `R || S` signature. */
  readonly signature: Buffer
  /** The effective expiry in seconds since the epoch: the earlier of header and payload `exp`. */
  readonly expiresAt: number
}

// Case-insensitive 8-4-4-4-12 hex, as ALB key ids are. Compiled once.
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
// The last kid that matched UUID: ALB puts the same kid in every token until it
// rotates keys, and an equal string gives the same match.
let lastUuidKid: string | undefined

// ALB writes the same header in every token of a listener rule and key but
// for its exp, which comes last: `…,"exp":1700000000}`. The last header that
// JSON.parse accepted, that passed the header checks, whose values are all
// primitives and that ended this way is kept, with its bytes up to that exp.
// A header of the same bytes followed by only digits and `}` is that header
// with the new exp, exactly as JSON.parse would give it: the earlier parse
// shows that after those bytes the parser expects the value of the last member
// of the top-level object; that member's key is "exp" (its opening quote
// follows a comma, so it is not an escaped quote inside a string); the last of
// duplicate keys wins; up to 15 digits are exact in a double. The other values
// are the same, so the header checks hold too.
let lastHeader: Readonly<Record<string, unknown>> | undefined
let lastHeaderPrefix = new DataView(new ArrayBuffer(0))
const EXP_MEMBER = Buffer.from(',"exp":', 'latin1')
const CLOSE_BRACE = 0x7d
const ZERO = 0x30
const NINE = 0x39

function malformed(message: string, cause?: unknown): AlbVerifyError {
  return new AlbVerifyError('ERR_MALFORMED', message, cause === undefined ? undefined : { cause })
}

// Per-token buffers are shared, not allocated: header and payload bytes are
// parsed within the same synchronous call, and the signed bytes and signature
// are used by the verifier synchronously (it copies them first if it must wait
// for a key).
// The token's UTF-8 bytes are both what the decoder reads and, once the
// segments are valid (hence ASCII), the signing input. UTF-8 takes at most 3
// bytes per UTF-16 unit, so any token within the length limit fits whole, as
// the decoder requires. 16 KiB of base64 is at most 12 KiB of bytes.
const tokenBytes = Buffer.allocUnsafe(MAX_TOKEN_LENGTH * 3)
const scratch = Buffer.allocUnsafe((MAX_TOKEN_LENGTH * 3) / 4)
const signatureScratch = Buffer.allocUnsafe(64)
const tokenView = viewOf(tokenBytes)
const scratchView = viewOf(scratch)
const signatureView = viewOf(signatureScratch)

function viewOf(buffer: Buffer): DataView {
  return new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength)
}

function toJsonObject(text: string, what: string): Record<string, unknown> {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw malformed(`token ${what} is not valid JSON`, err)
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw malformed(`token ${what} is not a JSON object`)
  }
  return value as Record<string, unknown>
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value)
}

// Called with each field read by name: a read keyed by a variable over six
// field names goes megamorphic, a named read of a JSON.parse object does not.
function checkString(value: unknown, field: string, what: string): void {
  if (value !== undefined && typeof value !== 'string')
    throw malformed(`token ${what} field "${field}" must be a string`)
}

function checkNumber(value: unknown, field: string, what: string): void {
  if (value !== undefined && !isFiniteNumber(value)) throw malformed(`token ${what} field "${field}" must be a number`)
}

/** Where the digits of an ALB header's end `,"exp":<1 to 15 digits, no leading 0>}` start in scratch[0, length), or -1. */
function albExpStart(length: number): number {
  const last = length - 1
  if (last < EXP_MEMBER.length + 1 || scratch[last] !== CLOSE_BRACE) return -1
  let start = last
  while (start > last - 16 && start > 0 && scratch[start - 1]! >= ZERO && scratch[start - 1]! <= NINE) start--
  const digits = last - start
  if (digits === 0 || digits > 15 || scratch[start] === ZERO || start < EXP_MEMBER.length) return -1
  for (let i = 0; i < EXP_MEMBER.length; i++) {
    if (scratch[start - EXP_MEMBER.length + i] !== EXP_MEMBER[i]) return -1
  }
  return start
}

/** Whether scratch starts with the bytes of lastHeaderPrefix, compared four at a time. */
function startsWithLastHeaderPrefix(): boolean {
  const prefix = lastHeaderPrefix
  const length = prefix.byteLength
  let i = 0
  for (; i + 4 <= length; i += 4) if (scratchView.getUint32(i) !== prefix.getUint32(i)) return false
  for (; i < length; i++) if (scratchView.getUint8(i) !== prefix.getUint8(i)) return false
  return true
}

/** The header from its decoded bytes, scratch[0, length), parsed and checked. */
function parseHeader(length: number): Record<string, unknown> {
  const expStart = albExpStart(length)
  if (lastHeader !== undefined && expStart === lastHeaderPrefix.byteLength && startsWithLastHeaderPrefix()) {
    let exp = 0
    for (let i = expStart; i < length - 1; i++) exp = exp * 10 + (scratch[i]! - ZERO)
    return { ...lastHeader, exp }
  }
  const header = toJsonObject(scratch.toString('utf8', 0, length), 'header')
  const typ = header['typ']
  const kid = header['kid']
  const alg = header['alg']
  checkString(typ, 'typ', 'header')
  checkString(kid, 'kid', 'header')
  checkString(alg, 'alg', 'header')
  checkString(header['iss'], 'iss', 'header')
  checkString(header['client'], 'client', 'header')
  checkString(header['signer'], 'signer', 'header')
  checkNumber(header['exp'], 'exp', 'header')
  // ALB always sends typ "JWT"; anything else is some other kind of token.
  if (typ !== undefined && typ !== 'JWT') throw malformed('token header "typ" is not "JWT"')
  if (alg !== 'ES256') throw new AlbVerifyError('ERR_ALG', 'token "alg" is not ES256')
  if (typeof kid !== 'string' || (kid !== lastUuidKid && !UUID.test(kid))) {
    throw new AlbVerifyError('ERR_KID', 'token "kid" is not a UUID')
  }
  lastUuidKid = kid
  if (expStart >= 0 && Object.values(header).every((value) => value === null || typeof value !== 'object')) {
    // Copies: the header returned is the caller's, and hits are shallow copies of lastHeader.
    lastHeader = { ...header }
    const prefix = Buffer.from(scratch.subarray(0, expStart))
    lastHeaderPrefix = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength)
  }
  return header
}

/**
 * Splits and decodes an ALB token and enforces its wire format, WITHOUT
 * verifying the signature, the signer or the expiry — use
 * {@link createAlbVerifier} for that. Useful to inspect a token (e.g. its
 * `kid` or `signer`) in logs and tooling.
 *
 * Checks, in order: length ≤ 16 KiB; three segments; strict base64url (padding
 * only as correct trailing padding); header is a JSON object whose known
 * fields have the right types; `typ` absent or `JWT`; `alg` exactly `ES256`;
 * `kid` a UUID; signature exactly 64 bytes; payload a JSON object with
 * well-typed `exp`, `nbf`, `iat`, `iss`, `sub`; `exp` in header or payload.
 *
 * @throws {AlbVerifyError} `ERR_TOO_LARGE`, `ERR_MALFORMED`, `ERR_ALG`, `ERR_KID` or `ERR_SIGNATURE`.
 * @example
 * ```ts
 * const { header } = parseAlbToken(req.headers['x-amzn-oidc-data'])
 * console.log(header.kid, header.signer)
 * ```
 */
export function parseAlbToken(token: string): ParsedAlbToken {
  const parsed = parseAlbTokenShared(token)
  return { ...parsed, signingInput: Buffer.from(parsed.signingInput), signature: Buffer.from(parsed.signature) }
}

/**
 * {@link parseAlbToken} for the verifier's hot path: `signingInput` and
 * `signature` are views of buffers shared by all calls, valid only until the
 * next call — use them synchronously or copy them.
 */
export function parseAlbTokenShared(token: string): ParsedAlbToken {
  if (typeof token !== 'string') throw malformed('token is not a string')
  if (token.length > MAX_TOKEN_LENGTH) {
    throw new AlbVerifyError('ERR_TOO_LARGE', `token is longer than ${MAX_TOKEN_LENGTH} characters`)
  }
  const dot1 = token.indexOf('.')
  const dot2 = dot1 < 0 ? -1 : token.indexOf('.', dot1 + 1)
  if (dot2 < 0 || token.indexOf('.', dot2 + 1) >= 0) throw malformed('token does not have exactly three segments')
  tokenBytes.write(token, 0, tokenBytes.length, 'utf8')
  const headerLength = base64urlDecodedLength(token, 0, dot1)
  const payloadLength = base64urlDecodedLength(token, dot1 + 1, dot2)
  const signatureLength = base64urlDecodedLength(token, dot2 + 1, token.length)
  if (
    headerLength < 0 ||
    payloadLength < 0 ||
    signatureLength < 0 ||
    !decodeBase64url(tokenView, 0, headerLength, scratchView, 0) ||
    !decodeBase64url(tokenView, dot1 + 1, payloadLength, scratchView, headerLength) ||
    // Only validated here when it is not 64 bytes: its length is checked after alg and kid.
    !(signatureLength === 64
      ? decodeBase64url(tokenView, dot2 + 1, 64, signatureView, 0)
      : decodeBase64url(tokenView, dot2 + 1, signatureLength, scratchView, headerLength + payloadLength))
  ) {
    throw malformed('token segment is not strict base64url')
  }
  const header = parseHeader(headerLength)
  const headerExp = header['exp'] as number | undefined

  if (signatureLength !== 64) {
    throw new AlbVerifyError('ERR_SIGNATURE', 'token signature is not a raw 64-byte ES256 signature')
  }

  const payload = toJsonObject(scratch.toString('utf8', headerLength, headerLength + payloadLength), 'payload')
  const payloadExp = payload['exp'] as number | undefined
  checkNumber(payloadExp, 'exp', 'payload')
  checkNumber(payload['nbf'], 'nbf', 'payload')
  checkNumber(payload['iat'], 'iat', 'payload')
  checkString(payload['iss'], 'iss', 'payload')
  checkString(payload['sub'], 'sub', 'payload')
  let expiresAt: number
  if (headerExp === undefined) {
    if (payloadExp === undefined) throw malformed('token has no "exp" in header or payload')
    expiresAt = payloadExp
  } else {
    expiresAt = payloadExp === undefined || headerExp < payloadExp ? headerExp : payloadExp
  }

  return {
    header: header as AlbTokenHeader,
    payload,
    // The first two segments, validated above as ASCII: their bytes are exactly the received text.
    signingInput: tokenBytes.subarray(0, dot2),
    signature: signatureScratch,
    expiresAt,
  }
}
