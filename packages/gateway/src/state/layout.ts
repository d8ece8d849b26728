import { join, resolve } from 'node:path'

/*
 * The state directory's layout: every file Portcullis keeps there, named in
 * this one place (the logic that reads and writes each lives elsewhere).
 * Directories are 0700; files 0600 unless marked public.
 *
 * - `signing-keys/{kid}.pem`: a P-256 key that signs `x-amzn-oidc-data`;
 *   `signing-keys/active`: the key id that signs new tokens;
 *   `signing-keys/{kid}.expires`: until when a retired key stays published;
 *   `signing-keys/rotate.lock/`: held while a rotation runs (auth/keys/key-ring-store.ts).
 * - `session-keys.json`: the ring sealing session cookies and `state`;
 *   `session-keys.lock/`: held while it rotates (auth/keys/key-ring-store.ts).
 * - `stickiness.key`: the key of the stickiness cookie values (state/secret.ts).
 * - `tls/ca.pem` (public) and `tls/ca-key.pem`: the local development CA;
 *   `tls/leaf-{id}.pem` (public, leaf then CA) and `tls/leaf-{id}-key.pem`:
 *   a leaf for one set of names (tls/local-ca.ts).
 */

/** Mode of a state file anyone may read (certificates). Everything else is owner-only (0600). */
export const PUBLIC_FILE_MODE = 0o644

// Sub-directory of the state directory holding the signing keys.
const SIGNING_KEYS_DIRECTORY = 'signing-keys'

const KEY_SUFFIX = '.pem'
const EXPIRY_SUFFIX = '.expires'

/** The signing-key files of one state directory. */
export interface SigningKeyFiles {
  readonly directory: string
  /** The marker naming the active key id. */
  readonly active: string
  /** Name of the lock (in `directory`) held while a rotation runs. */
  readonly rotateLock: string
  /** The PKCS#8 private key of `kid`. */
  key(kid: string): string
  /** Until when the retired key `kid` stays published (seconds since the epoch). */
  expiry(kid: string): string
  /** The key id whose key file is named `fileName`, or undefined for any other file. */
  kidOfKeyFile(fileName: string): string | undefined
  /** The key id whose expiry file is named `fileName`, or undefined for any other file. */
  kidOfExpiryFile(fileName: string): string | undefined
}

/** Where the signing keys of `stateDirectory` live: `signing-keys/`. */
export function signingKeyFiles(stateDirectory: string): SigningKeyFiles {
  const directory = join(stateDirectory, SIGNING_KEYS_DIRECTORY)
  return {
    directory,
    active: join(directory, 'active'),
    rotateLock: 'rotate',
    key: (kid) => join(directory, `${kid}${KEY_SUFFIX}`),
    expiry: (kid) => join(directory, `${kid}${EXPIRY_SUFFIX}`),
    kidOfKeyFile: (name) => (name.endsWith(KEY_SUFFIX) ? name.slice(0, -KEY_SUFFIX.length) : undefined),
    kidOfExpiryFile: (name) => (name.endsWith(EXPIRY_SUFFIX) ? name.slice(0, -EXPIRY_SUFFIX.length) : undefined),
  }
}

/** The session key ring of one state directory. */
export interface SessionKeyFiles {
  /** The directory the ring and its lock live in (the state directory itself). */
  readonly directory: string
  readonly ring: string
  /** Name of the lock (in `directory`) held while the ring rotates. */
  readonly rotateLock: string
}

/** Where the session key ring of `stateDirectory` lives: `session-keys.json`. */
export function sessionKeyFiles(stateDirectory: string): SessionKeyFiles {
  return { directory: stateDirectory, ring: join(stateDirectory, 'session-keys.json'), rotateLock: 'session-keys' }
}

/** The stickiness secret of `stateDirectory`: `stickiness.key`. */
export function stickinessSecretFile(stateDirectory: string): string {
  return join(stateDirectory, 'stickiness.key')
}

/** The local CA and its leaf certificates in one state directory (absolute paths). */
export interface TlsFiles {
  readonly directory: string
  /** The CA certificate (public). */
  readonly caCert: string
  readonly caKey: string
  /** The chain (leaf, then CA) of the leaf for the names identified by `id` (public). */
  leafCert(id: string): string
  leafKey(id: string): string
}

/** Where the local CA of `stateDirectory` lives: `tls/`, as an absolute path. */
export function tlsFiles(stateDirectory: string): TlsFiles {
  const directory = join(resolve(stateDirectory), 'tls')
  return {
    directory,
    caCert: join(directory, 'ca.pem'),
    caKey: join(directory, 'ca-key.pem'),
    leafCert: (id) => join(directory, `leaf-${id}.pem`),
    leafKey: (id) => join(directory, `leaf-${id}-key.pem`),
  }
}
