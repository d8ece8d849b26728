import { listSigningKeys, rotateSessionKeys, rotateSigningKey } from '../../auth/index.js'

/**
 * `portcullis keys rotate|list`: manages the key rings in the state directory.
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
  args: { action: 'rotate' | 'list'; stateDirectory: string },
  io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream },
): Promise<number> {
  try {
    if (args.action === 'rotate') {
      const { kid } = await rotateSigningKey(args.stateDirectory)
      const { id } = await rotateSessionKeys(args.stateDirectory)
      io.stdout.write(`signing key ${kid} is now active; previous key stays published for 24 h\n`)
      io.stdout.write(`session key ${id} is now active; previous keys still open existing sessions\n`)
      return 0
    }
    for (const key of await listSigningKeys(args.stateDirectory)) {
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
    io.stderr.write(`portcullis keys ${args.action}: ${err instanceof Error ? err.message : String(err)}\n`)
    return 1
  }
}
