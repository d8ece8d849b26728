import { once } from 'node:events'
import type { Server } from 'node:net'
import { GatewayError } from '../core/errors.js'

/**
 * Binds `server` to `address:port`. A failure to bind rejects with a
 * `GatewayError` `ERR_LISTEN` naming the address, port and `what` (which
 * listener), the system error as its `cause`.
 *
 * @example
 * ```ts
 * await listen(server, 8080, '0.0.0.0', 'listener listener/8080')
 * ```
 */
export async function listen(server: Server, port: number, address: string, what: string): Promise<void> {
  server.listen(port, address)
  try {
    await once(server, 'listening')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    const why =
      code === 'EADDRINUSE' ? 'the port is in use' : code === 'EACCES' ? 'permission denied' : (error as Error).message
    const host = address.includes(':') ? `[${address}]` : address
    throw new GatewayError('ERR_LISTEN', `cannot listen on ${host}:${port} for the ${what}: ${why}`, { cause: error })
  }
}
