/**
 * `@portcullis/verify/net`: the address helpers behind `trustedProxies`,
 * exported so that other code (the Portcullis gateway's `source-ip`
 * conditions) parses CIDR blocks exactly as the verifier does.
 *
 * @packageDocumentation
 */
export { type CidrBlock, CidrError, compileCidrMatcher, parseCidr } from './cidr.js'
