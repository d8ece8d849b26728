/**
 * Logout that logs out (a Portcullis extension; ALB has none), three ways:
 *
 * - by the application: a request to an authenticate action's
 *   `Portcullis.LogoutPath` ends the session ({@link SessionStore.end}) and
 *   goes on to the IdP's `end_session_endpoint` (OIDC RP-Initiated Logout):
 *   this module;
 * - by the IdP: OIDC Back-Channel Logout at `/oauth2/backchannel-logout`
 *   (`backchannel-logout.ts`);
 * - by an operator: `POST /sessions/revoke` on the admin listener
 *   (`session/admin.ts`).
 *
 * The last two need `Portcullis.SessionStore: shared`: a session that lives
 * only in a cookie cannot be found, let alone ended, without that cookie.
 */
import type { AuthenticateCognitoAction, AuthenticateOidcAction } from '../../config/model.js'
import type { RequestContext } from '../../core/request.js'
import { sendRedirect } from '../errors.js'
import type { SessionStore } from '../session/store.js'
import type { IdpClient } from './idp-client.js'
import { requestHost, safeRedirectPath } from './redirects.js'

type OidcAction = AuthenticateOidcAction | AuthenticateCognitoAction

/**
 * RP-initiated logout at an action's `Portcullis.LogoutPath`: ends the
 * session in its store, then redirects to the IdP's `end_session_endpoint`
 * with `id_token_hint` (when the store kept the ID token), `client_id` and
 * `post_logout_redirect_uri`, or straight to the post-logout URI when the IdP
 * publishes no end-session endpoint. A shared session that cannot be deleted
 * (Redis unreachable) rejects with `SharedStateUnavailable` (the pipeline
 * answers 500): the logout is not reported as done.
 */
export async function logOut(
  ctx: RequestContext,
  action: OidcAction,
  store: SessionStore,
  idp: IdpClient,
): Promise<void> {
  const idToken = await store.end(ctx)
  const host = requestHost(ctx.req)
  const target = action.postLogoutRedirectUri
  const postLogout = target.startsWith('/')
    ? host === undefined
      ? undefined
      : `${ctx.protocol}://${host}${safeRedirectPath(target)}`
    : target
  const { endSessionEndpoint } = await idp.logoutMetadata()
  if (endSessionEndpoint === undefined) {
    sendRedirect(ctx, target.startsWith('/') ? safeRedirectPath(target) : target)
    return
  }
  const url = new URL(endSessionEndpoint)
  if (idToken !== undefined) url.searchParams.set('id_token_hint', idToken)
  url.searchParams.set('client_id', action.clientId)
  if (postLogout !== undefined) url.searchParams.set('post_logout_redirect_uri', postLogout)
  sendRedirect(ctx, url.href)
}
