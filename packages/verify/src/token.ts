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

function malformed(message: string, cause?: unknown): AlbVerifyError {
  return new AlbVerifyError('ERR_MALFORMED', message, cause === undefined ? undefined : { cause })
}

// Per-token buffers are shared, not allocated: header and payload bytes are
// turned into strings at once, and the signed bytes and signature are used by
// the verifier synchronously (it copies them first if it must wait for a key).
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
  // Both texts are taken out of the shared scratch buffer right away.
  const headerText = scratch.toString('utf8', 0, headerLength)
  const payloadText = scratch.toString('utf8', headerLength, headerLength + payloadLength)
  const header = toJsonObject(headerText, 'header')
  const typ = header['typ']
  const kid = header['kid']
  const alg = header['alg']
  checkString(typ, 'typ', 'header')
  checkString(kid, 'kid', 'header')
  checkString(alg, 'alg', 'header')
  checkString(header['iss'], 'iss', 'header')
  checkString(header['client'], 'client', 'header')
  checkString(header['signer'], 'signer', 'header')
  const headerExp = header['exp'] as number | undefined
  checkNumber(headerExp, 'exp', 'header')
  // ALB always sends typ "JWT"; anything else is some other kind of token.
  if (typ !== undefined && typ !== 'JWT') throw malformed('token header "typ" is not "JWT"')
  if (alg !== 'ES256') throw new AlbVerifyError('ERR_ALG', 'token "alg" is not ES256')
  if (typeof kid !== 'string' || (kid !== lastUuidKid && !UUID.test(kid))) {
    throw new AlbVerifyError('ERR_KID', 'token "kid" is not a UUID')
  }
  lastUuidKid = kid

  if (signatureLength !== 64) {
    throw new AlbVerifyError('ERR_SIGNATURE', 'token signature is not a raw 64-byte ES256 signature')
  }

  const payload = toJsonObject(payloadText, 'payload')
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
