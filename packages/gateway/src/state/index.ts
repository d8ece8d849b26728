/**
 * The state directory, all of it: its layout (which file holds what, with
 * which mode: `layout.ts`), the one atomic writer, reads and locks every
 * process sharing the directory goes through (`files.ts`), and the
 * stickiness secret (`secret.ts`). The signing keys and
 * the session key ring (auth/keys/key-ring-store.ts) and the local CA
 * (tls/local-ca.ts) keep their logic and take their paths and file I/O from
 * here.
 */
export { createExclusive, ensurePrivateDirectory, readIfPresent, replaceAtomically, withLock } from './files.js'
export {
  PUBLIC_FILE_MODE,
  type SessionKeyFiles,
  type SigningKeyFiles,
  sessionKeyFiles,
  signingKeyFiles,
  stickinessSecretFile,
  type TlsFiles,
  tlsFiles,
} from './layout.js'
export { ensureStickinessSecret } from './secret.js'
