/**
 * `portcullis/idp`: the development OpenID provider behind `portcullis demo`
 * and `portcullis idp`, for applications that want a real login in their own
 * tests. Built on the certified `oidc-provider`; keys and sessions live in
 * memory, so it is for development and tests only.
 *
 * @example
 * ```ts
 * import { createDevIdentityProvider } from 'portcullis/idp'
 *
 * const idp = await createDevIdentityProvider({
 *   clients: [{ clientId: 'app', clientSecret: 'secret', redirectUris: ['http://127.0.0.1:8080/oauth2/idpresponse'] }],
 * })
 * console.log(idp.endpoints.authorization, idp.users.map((u) => u.username))
 * await idp.close()
 * ```
 *
 * @packageDocumentation
 */
export {
  createDevIdentityProvider,
  type DevClient,
  type DevIdentityProvider,
  type DevIdentityProviderEndpoints,
  type DevIdentityProviderOptions,
} from './provider.js'
export { DEFAULT_DEV_USERS, type DevUser } from './users.js'
