import http, { type IncomingMessage } from 'node:http'
import https from 'node:https'
import { isIP, type Socket } from 'node:net'
import type { RequestContext } from '../core/request.js'
import { sendError } from '../core/responses.js'
import type { Target, TargetGroupRuntime } from '../targets/target-group.js'
import { classifyTargetError } from './http.js'

/**
 * Tunnels an HTTP/1.1 `Upgrade` request (WebSocket) to `target` on a fresh
 * TCP/TLS connection: the upgrade request goes out with the listener's
 * upstream headers plus `Connection: Upgrade` and the client's `Upgrade`; on
 * the target's `101` the response head is relayed and bytes are piped both
 * ways until either side closes or the connection idles for the target
 * timeout. A non-101 answer is relayed as an ordinary response and the client
 * connection is closed after it; a connection failure answers 502/504.
 *
 * @example
 * if (ctx.upgrade) proxyUpgrade(ctx, target, group)
 */
export function proxyUpgrade(ctx: RequestContext, target: Target, group: TargetGroupRuntime): void {
  const upgrade = ctx.upgrade!
  const client = upgrade.socket
  if (client.destroyed) return
  const record = ctx.record
  record.target = target.address
  group.acquire(target)
  let released = false
  const release = (): void => {
    if (!released) {
      released = true
      group.release(target)
    }
  }

  const headers = { ...ctx.upstreamHeaders, connection: 'Upgrade', upgrade: ctx.req.headers.upgrade ?? 'websocket' }
  const options: https.RequestOptions = {
    host: target.id,
    port: target.port,
    method: ctx.req.method ?? 'GET',
    path: ctx.query === '' ? ctx.path : `${ctx.path}?${ctx.query}`,
    headers,
    agent: false,
    timeout: group.targetTimeoutMs,
  }
  if (group.protocol === 'HTTPS') {
    if (group.ca !== undefined) options.ca = group.ca
    if (isIP(target.id) === 0) options.servername = target.id
  }
  const sentAt = performance.now()
  const req = (group.protocol === 'HTTPS' ? https : http).request(options)
  let settled = false
  const onClientGone = (): void => {
    if (!settled) {
      settled = true
      release()
      req.destroy()
      client.destroy()
    }
  }
  // Node's HTTP server detaches its own error handler from an upgraded socket;
  // a reset from the client must not become an uncaught exception ('close' follows).
  client.on('error', ignore)
  // The HTTP server's sockets allow half-open connections: a client FIN arrives as 'end', not 'close'.
  client.once('end', onClientGone)
  client.once('close', onClientGone)

  req.on('timeout', () => req.destroy(Object.assign(new Error('target timeout'), { code: 'ETIMEDOUT' })))

  req.on('error', (err) => {
    if (settled) return
    settled = true
    release()
    const { status, reason } = classifyTargetError(err)
    record.errorReason = reason
    sendError(ctx.res, status, ctx)
  })

  /** Records the target's answer, unless an error or the client's leaving settled the request first. */
  const answered = (res: IncomingMessage): boolean => {
    if (settled) return false
    settled = true
    record.targetStatusCode = res.statusCode
    record.targetProcessingTime = (performance.now() - sentAt) / 1000
    return true
  }

  req.on('upgrade', (res: IncomingMessage, upstream: Socket, upstreamHead: Buffer) => {
    if (!answered(res)) {
      upstream.destroy()
      return
    }
    client.removeListener('end', onClientGone)
    client.removeListener('close', onClientGone)
    let head = `HTTP/1.1 ${res.statusCode} ${res.statusMessage || 'Switching Protocols'}\r\n`
    const raw = res.rawHeaders
    for (let i = 0; i < raw.length; i += 2) head += `${raw[i]}: ${raw[i + 1]}\r\n`
    for (const cookie of ctx.responseCookies) head += `Set-Cookie: ${cookie}\r\n`
    client.write(`${head}\r\n`)
    if (upstreamHead.length > 0) client.write(upstreamHead)
    if (upgrade.head.length > 0) upstream.write(upgrade.head)
    upstream.setTimeout(group.targetTimeoutMs, () => upstream.destroy())
    upstream.setNoDelay(true)
    client.setNoDelay(true)
    tunnel(client, upstream, release)
  })

  req.on('response', (res: IncomingMessage) => {
    if (!answered(res)) {
      res.destroy()
      return
    }
    const out: string[] = []
    const raw = res.rawHeaders
    for (let i = 0; i < raw.length; i += 2) {
      const lower = raw[i]!.toLowerCase()
      if (lower === 'connection' || lower === 'keep-alive' || lower === 'transfer-encoding' || lower === 'upgrade') {
        continue
      }
      out.push(raw[i]!, raw[i + 1]!)
    }
    for (const cookie of ctx.responseCookies) out.push('set-cookie', cookie)
    out.push('connection', 'close')
    ctx.res.writeHead(res.statusCode ?? 502, out)
    res.pipe(ctx.res)
    res.on('error', () => client.destroy())
    ctx.res.once('finish', () => {
      release()
      client.destroySoon()
    })
    // A client that leaves mid-answer must not keep the target's connection (or the count) alive.
    client.once('close', () => {
      release()
      req.destroy()
    })
  })

  req.end()
}

function ignore(): void {}

/**
 * Pipes two sockets into each other. An error on either side tears down
 * both; a side that closes makes the other finish writing what it has and
 * close too (`destroySoon`), so a WebSocket close frame is never cut off.
 */
function tunnel(a: Socket, b: Socket, onClose: () => void): void {
  let closed = 0
  const onError = (): void => {
    a.destroy()
    b.destroy()
  }
  const closeOther = (other: Socket) => (): void => {
    other.destroySoon()
    if (++closed === 2) onClose()
  }
  a.on('error', onError)
  b.on('error', onError)
  a.on('close', closeOther(b))
  b.on('close', closeOther(a))
  a.pipe(b)
  b.pipe(a)
}
