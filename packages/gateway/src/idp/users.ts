import { createHash, timingSafeEqual } from 'node:crypto'

/** A user of the development identity provider. */
export interface DevUser {
  /** What the user types into the login form. */
  readonly username: string
  readonly password: string
  /** Stable subject identifier (`sub`); what the target receives as `x-amzn-oidc-identity`. */
  readonly sub: string
  readonly email: string
  /** Default true. */
  readonly emailVerified?: boolean
  readonly name: string
  readonly givenName: string
  readonly familyName: string
  /** Released under the `groups` scope. */
  readonly groups?: readonly string[]
}

/**
 * The demo users: `alice` / `alice-password` and `bob` / `bob-password`.
 * Their `sub` values are fixed UUIDs so that what a target shows stays the
 * same across restarts.
 */
export const DEFAULT_DEV_USERS: readonly DevUser[] = Object.freeze([
  {
    username: 'alice',
    password: 'alice-password',
    sub: '6f1c3b0e-7d2a-4c55-9e4b-2a9f1d3c8b71',
    email: 'alice@example.com',
    emailVerified: true,
    name: 'Alice Example',
    givenName: 'Alice',
    familyName: 'Example',
    groups: ['admins', 'developers'],
  },
  {
    username: 'bob',
    password: 'bob-password',
    sub: 'b3e9d2f4-1a6c-4f08-8d7e-5c2b9a0e4f16',
    email: 'bob@example.com',
    emailVerified: true,
    name: 'Bob Example',
    givenName: 'Bob',
    familyName: 'Example',
    groups: ['developers'],
  },
])

/** OpenID scopes the provider supports and the claims each releases. */
export const SCOPE_CLAIMS = {
  openid: ['sub'],
  email: ['email', 'email_verified'],
  profile: ['name', 'given_name', 'family_name', 'preferred_username'],
  groups: ['groups'],
} as const

/** Every claim a {@link DevUser} has, keyed by its OpenID claim name. */
export function userClaims(user: DevUser): Record<string, unknown> {
  return {
    sub: user.sub,
    email: user.email,
    email_verified: user.emailVerified ?? true,
    name: user.name,
    given_name: user.givenName,
    family_name: user.familyName,
    preferred_username: user.username,
    groups: [...(user.groups ?? [])],
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest()
}

/** Looks users up by username (for the login form) and by `sub` (for tokens). */
export class DevUserDirectory {
  readonly #byUsername = new Map<string, DevUser>()
  readonly #bySub = new Map<string, DevUser>()

  constructor(users: readonly DevUser[]) {
    for (const user of users) {
      if (this.#byUsername.has(user.username)) throw new TypeError(`duplicate dev user name: ${user.username}`)
      if (this.#bySub.has(user.sub)) throw new TypeError(`duplicate dev user sub: ${user.sub}`)
      if (user.username.length === 0 || user.password.length === 0 || user.sub.length === 0) {
        throw new TypeError('a dev user needs a username, a password and a sub')
      }
      this.#byUsername.set(user.username, user)
      this.#bySub.set(user.sub, user)
    }
  }

  /** The user whose username and password both match, compared without leaking timing; undefined otherwise. */
  authenticate(username: string, password: string): DevUser | undefined {
    const user = this.#byUsername.get(username)
    // Compare against something even for an unknown name, so both cases cost the same.
    const expected = digest(user?.password ?? '\u0000unknown user')
    const matches = timingSafeEqual(expected, digest(password))
    return user && matches ? user : undefined
  }

  bySub(sub: string): DevUser | undefined {
    return this.#bySub.get(sub)
  }
}
