import type { OnUnauthenticatedRequest } from '../../config/model.js'

/** Why a request has no usable session. */
export type NoSession =
  /** No session cookie, or one that does not open. */
  | 'none'
  /** The session reached its timeout. */
  | 'expired'
  /** The access token expired and renewing it failed. */
  | 'refresh-failed'

/** What to do with a request that has no usable session. */
export type UnauthenticatedOutcome =
  /** Start a login: 302 to the IdP. */
  | 'authenticate'
  /** Forward without identity headers. */
  | 'allow'
  /** Answer 401. */
  | 'deny'

/**
 * `OnUnauthenticatedRequest` (contract §5): `allow` always forwards, and
 * `deny` answers 401 except for a session that timed out, which goes back to
 * the IdP as ALB documents; `authenticate` logs in.
 *
 * | mode | none | expired | refresh-failed |
 * | --- | --- | --- | --- |
 * | authenticate | authenticate | authenticate | authenticate |
 * | allow | allow | allow | allow |
 * | deny | deny | authenticate | deny |
 */
export function onUnauthenticated(mode: OnUnauthenticatedRequest, why: NoSession): UnauthenticatedOutcome {
  if (mode === 'allow') return 'allow'
  if (mode === 'deny' && why !== 'expired') return 'deny'
  return 'authenticate'
}
