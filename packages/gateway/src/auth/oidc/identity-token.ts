import type { OutgoingHttpHeaders } from 'node:http'
import { signAlbToken } from '@portcullis/verify/mint'
import type { SigningKey } from '../keys/signing-ring.js'
import { sessionSubject } from '../session/store.js'
import type { SessionData } from '../types.js'

/** What one action's identity tokens say and how long they last. */
export interface IdentityTokenOptions {
  /** `LoadBalancer.Arn`: the `signer` in the token header. */
  readonly signer: string
  readonly issuer: string
  readonly clientId: string
  /** Lifetime of a token (ALB: 120 s), never past the session's end. */
  readonly lifetimeSeconds: number
  /** The key that signs now (changes on rotation). */
  readonly signingKey: () => SigningKey
}

interface MintedToken {
  readonly token: string
  readonly exp: number
  readonly kid: string
}

/**
 * Mints the `x-amzn-oidc-*` headers of one action: the access token, the
 * user's `sub`, and the claims as an ES256 token in ALB's format. A token is
 * reused for the same session until it nears expiry, so that a busy session
 * does not sign every request; it is remembered as long as the session object
 * is (the store's per-process cache).
 */
export class IdentityTokens {
  readonly #options: IdentityTokenOptions
  readonly #reuseMargin: number
  readonly #minted = new WeakMap<SessionData, MintedToken>()

  constructor(options: IdentityTokenOptions) {
    this.#options = options
    this.#reuseMargin = Math.min(30, Math.floor(options.lifetimeSeconds / 2))
  }

  /** Sets the three identity headers for `session` on the upstream request. */
  addHeaders(headers: OutgoingHttpHeaders, session: SessionData, now: number): void {
    headers['x-amzn-oidc-accesstoken'] = session.at
    headers['x-amzn-oidc-identity'] = sessionSubject(session)
    headers['x-amzn-oidc-data'] = this.#token(session, now)
  }

  #token(session: SessionData, now: number): string {
    const key = this.#options.signingKey()
    const minted = this.#minted.get(session)
    // Reuse the token until it nears expiry (unless it already ends with the
    // session and cannot last longer), and never past a key rotation.
    if (
      minted !== undefined &&
      minted.kid === key.kid &&
      (minted.exp - now >= this.#reuseMargin || minted.exp >= session.se)
    ) {
      return minted.token
    }
    const lifetime = Math.min(this.#options.lifetimeSeconds, session.se - now)
    const token = signAlbToken({
      claims: session.c,
      key,
      signer: this.#options.signer,
      issuer: this.#options.issuer,
      clientId: this.#options.clientId,
      expiresInSeconds: lifetime,
      now,
    })
    this.#minted.set(session, { token, exp: now + lifetime, kid: key.kid })
    return token
  }
}
