import { type KeyRingStore, openKeyRings, stateDirectoryKeyRings } from '../../auth/index.js'
import { ConfigError } from '../../config/errors.js'
import { loadConfig } from '../../config/load.js'

/**
 * `portcullis keys rotate|list`: manages the key rings in the state directory,
 * or with `--config FILE` those of its `Portcullis.SharedState` (Redis).
 *
 * `rotate` makes a new signing key active (the previous one stays published
 * at `/keys/{kid}` for 24 h so tokens it signed keep verifying) and adds a new
 * session/state sealing key (older ones keep opening cookies until those
 * could no longer exist). Running gateways pick both up within seconds.
 * `list` prints the signing keys, one per line: `kid`, `active` or
 * `published-until=ISO-8601`.
 *
 * @returns the process exit code.
 * @example
 * ```ts
 * process.exitCode = await keysCommand({ action: 'list', stateDirectory: '.portcullis' }, process)
 * ```
 */
export async function keysCommand(
  args: { action: 'rotate' | 'list'; stateDirectory: string; config?: string | undefined },
  io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream },
): Promise<number> {
  let rings: (KeyRingStore & { close(): Promise<void> }) | undefined
  try {
    rings = await keyRings(args)
    if (args.action === 'rotate') {
      const { kid } = await rings.rotateSigningKey()
      const { id } = await rings.rotateSessionKeys()
      io.stdout.write(`signing key ${kid} is now active in ${rings.where}; previous key stays published for 24 h\n`)
      io.stdout.write(`session key ${id} is now active; previous keys still open existing sessions\n`)
      return 0
    }
    for (const key of await rings.listSigningKeys()) {
      const status = key.active
        ? 'active'
        : key.publishedUntil === undefined
          ? 'unpublished'
          : key.publishedUntil * 1000 > Date.now()
            ? `published-until=${new Date(key.publishedUntil * 1000).toISOString()}`
            : 'expired'
      io.stdout.write(`${key.kid}\t${status}\n`)
    }
    return 0
  } catch (err) {
    if (err instanceof ConfigError) {
      io.stderr.write(`${err.format()}\n`)
      return 2
    }
    io.stderr.write(`portcullis keys ${args.action}: ${err instanceof Error ? err.message : String(err)}\n`)
    return 1
  } finally {
    await rings?.close()
  }
}

/** `--config`: the rings the configuration's gateways use (Redis with SharedState); otherwise a state directory. */
async function keyRings(args: {
  stateDirectory: string
  config?: string | undefined
}): Promise<KeyRingStore & { close(): Promise<void> }> {
  if (args.config === undefined) return { ...stateDirectoryKeyRings(args.stateDirectory), close: async () => {} }
  const { config } = await loadConfig(args.config)
  return openKeyRings(config)
}
