import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Logger } from 'pino'
import type { GatewayConfig } from '../../config/model.js'
import { channels, type SessionsRevokedMessage } from '../../observability/diagnostics.js'
import { type SessionRecords, SharedStateUnavailable } from '../../shared/state.js'
import { listSessions, revokeIndexed, userIndex } from './shared-store.js'

/** The (issuer, client id) pairs of every `authenticate-oidc` / `-cognito` action of a configuration. */
export function oidcClients(config: GatewayConfig): { issuer: string; clientId: string }[] {
  const seen = new Map<string, { issuer: string; clientId: string }>()
  for (const listener of config.listeners) {
    for (const rule of listener.rules) {
      for (const a of rule.actions) {
        if (a.type === 'authenticate-oidc' || a.type === 'authenticate-cognito') {
          seen.set(`${a.issuer}\0${a.clientId}`, { issuer: a.issuer, clientId: a.clientId })
        }
      }
    }
  }
  return [...seen.values()]
}

const HANDLE = /^[A-Za-z0-9_-]{43}$/

/** Publishes an operator's revocation on `portcullis:sessions:revoked`. */
function announce(message: Omit<SessionsRevokedMessage, 'by' | 'idpSession'>): void {
  if (channels.sessionsRevoked.hasSubscribers) {
    channels.sessionsRevoked.publish({ by: 'operator', idpSession: undefined, ...message })
  }
}

/**
 * The admin listener's `/sessions` endpoints (shared sessions only; 409
 * otherwise):
 *
 * - `GET /sessions?sub=SUB`: the sessions of a user at every configured
 *   client, as `{ sessions: [{ session, issuer, clientId, expires }] }`
 *   (`session` is the session's public name, a digest of its id, which opens
 *   nothing);
 * - `POST /sessions/revoke?session=NAME`: ends one session;
 * - `POST /sessions/revoke?sub=SUB` (optionally `&issuer=…&client_id=…`): ends
 *   every session of a user.
 *
 * Each answers JSON (`{ revoked: n }` for a revocation) with
 * `Cache-Control: no-store`; 400 for a missing or malformed parameter, 500
 * when Redis cannot be asked. Every gateway refuses a revoked session within
 * a second.
 */
export function createSessionsHandler(
  config: GatewayConfig,
  sessions: SessionRecords | undefined,
  logger: Logger,
): (req: IncomingMessage, res: ServerResponse) => void {
  const clients = oidcClients(config)
  const usable = config.portcullis.sessionStore === 'shared' ? sessions : undefined
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://admin.invalid')
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' })
      res.end(JSON.stringify(body))
    }
    if (usable === undefined) {
      json(409, {
        error: 'sessions live in cookies (Portcullis.SessionStore: cookie): they cannot be listed or revoked',
      })
      return
    }
    const sub = url.searchParams.get('sub')
    const issuer = url.searchParams.get('issuer')
    const clientId = url.searchParams.get('client_id')
    const of = clients.filter(
      (c) => (issuer === null || c.issuer === issuer) && (clientId === null || c.clientId === clientId),
    )
    const run = async () => {
      if (url.pathname === '/sessions' && (req.method === 'GET' || req.method === 'HEAD')) {
        if (sub === null || sub === '') return json(400, { error: 'sub is required' })
        const listed = []
        for (const c of of) {
          for (const s of await listSessions(usable, userIndex(c.issuer, c.clientId, sub))) {
            listed.push({ session: s.session, issuer: c.issuer, clientId: c.clientId, expires: s.expires })
          }
        }
        return json(200, { sessions: listed })
      }
      if (url.pathname === '/sessions/revoke') {
        if (req.method !== 'POST') return json(405, { error: 'POST only' })
        const one = url.searchParams.get('session')
        if (one !== null) {
          if (!HANDLE.test(one)) return json(400, { error: 'session must be a session name (43 base64url characters)' })
          const revoked = await usable.revoke([one])
          logger.info({ session: one, revoked }, 'session revoked by an operator')
          announce({ revoked, session: one, subject: undefined, issuer: undefined, clientId: undefined })
          return json(200, { revoked })
        }
        if (sub === null || sub === '') return json(400, { error: 'session or sub is required' })
        let revoked = 0
        for (const c of of) {
          revoked += await revokeIndexed(usable, userIndex(c.issuer, c.clientId, sub))
        }
        logger.info({ revoked }, "a user's sessions revoked by an operator")
        announce({
          revoked,
          session: undefined,
          subject: sub,
          issuer: issuer ?? undefined,
          clientId: clientId ?? undefined,
        })
        return json(200, { revoked })
      }
      json(404, { error: 'not found' })
    }
    run().catch((err: unknown) => {
      if (res.headersSent) return
      json(500, {
        error:
          err instanceof SharedStateUnavailable ? 'the shared state is unreachable; nothing was revoked' : 'failed',
      })
    })
  }
}
