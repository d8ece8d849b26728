/**
 * `@portcullis/verify/grpc` with a real `@grpc/grpc-js` server and client
 * (here, where grpc-js is a devDependency; the helper itself imports nothing
 * from it): a gRPC method verifies the ALB identity carried as call metadata,
 * real minted tokens against a real key server, and answers each failure
 * with the gRPC status a client can act on.
 */
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import { after, before, describe, test } from 'node:test'
import * as grpc from '@grpc/grpc-js'
import { type AlbVerifier, createAlbVerifier } from '@portcullis/verify'
import { grpcPeerAddress, grpcStatusOf, verifyGrpcCall } from '@portcullis/verify/grpc'
import { type AlbSigningKey, createKeyHandler, generateSigningKey, signAlbToken } from '@portcullis/verify/mint'
import { WHO_AM_I, type WhoAmIClient } from '../fixtures/grpc.js'
import { listen } from '../fixtures/ports.js'

const SIGNER = 'arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/my-alb/50dc6c495c0c9188'
const ISSUER = 'https://idp.example.com'
const CLIENT_ID = 'my-client-id'

describe('@portcullis/verify/grpc: the ALB identity of a grpc-js call', () => {
  let key: AlbSigningKey
  let keyServer: Server
  let keyEndpoint: string
  const servers: grpc.Server[] = []
  const clients: grpc.Client[] = []

  before(async () => {
    key = generateSigningKey()
    keyServer = createServer(createKeyHandler([key]))
    keyEndpoint = `http://127.0.0.1:${await listen(keyServer)}`
  })
  after(() => {
    for (const c of clients) c.close()
    for (const s of servers) s.forceShutdown()
    keyServer.closeAllConnections()
    keyServer.close()
  })

  /** A grpc-js server whose method answers the verified email, or the status grpcStatusOf gives. */
  async function serve(verifier: AlbVerifier): Promise<WhoAmIClient> {
    const server = new grpc.Server()
    server.addService(WHO_AM_I, {
      async whoAmI(call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) {
        try {
          const { claims, identity, accessToken } = await verifyGrpcCall(verifier, call)
          callback(null, Buffer.from(`${identity} ${String(claims.email)} ${accessToken}`))
        } catch (error) {
          callback({ code: grpcStatusOf(error), details: (error as { code?: string }).code ?? 'error' })
        }
      },
    })
    servers.push(server)
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    )
    const Made = grpc.makeGenericClientConstructor(WHO_AM_I, 'Identity')
    const client = new Made(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as WhoAmIClient
    clients.push(client)
    return client
  }

  const verifier = (options: { trustedProxies?: readonly string[]; keyEndpoint?: string } = {}) =>
    createAlbVerifier({ signer: SIGNER, issuer: ISSUER, clientId: CLIENT_ID, keyEndpoint, ...options })
  const token = (sub = 'user-1') =>
    signAlbToken({
      claims: { sub, email: `${sub}@example.com` },
      key,
      signer: SIGNER,
      issuer: ISSUER,
      clientId: CLIENT_ID,
    })

  /** Metadata as ALB sends it to a gRPC target: the three identity headers. */
  function albMetadata(data: string, identity = 'user-1'): grpc.Metadata {
    const metadata = new grpc.Metadata()
    metadata.set('x-amzn-oidc-data', data)
    metadata.set('x-amzn-oidc-identity', identity)
    metadata.set('x-amzn-oidc-accesstoken', 'opaque-access-token')
    return metadata
  }

  const call = (client: WhoAmIClient, metadata: grpc.Metadata) =>
    new Promise<{ code: number; details?: string; response?: string }>((resolve) =>
      client.whoAmI(Buffer.alloc(0), metadata, (error, response) =>
        resolve(error ? { code: error.code, details: error.details } : { code: 0, response: response?.toString() }),
      ),
    )

  test('a call carrying a real ALB token is verified: identity, claims and access token', async () => {
    const client = await serve(verifier({ trustedProxies: ['127.0.0.1/32'] }))
    assert.deepEqual(await call(client, albMetadata(token())), {
      code: 0,
      response: 'user-1 user-1@example.com opaque-access-token',
    })
  })

  test('each failure is a gRPC status a client can act on', async () => {
    const client = await serve(verifier())
    const forged = signAlbToken({
      claims: { sub: 'user-1' },
      key: generateSigningKey(),
      signer: SIGNER,
      issuer: ISSUER,
      clientId: CLIENT_ID,
    })
    const repeated = albMetadata(token())
    repeated.add('x-amzn-oidc-data', token())
    for (const [metadata, details] of [
      [new grpc.Metadata(), 'ERR_MISSING_HEADER'],
      [albMetadata(token(), 'someone-else'), 'ERR_IDENTITY_MISMATCH'],
      [albMetadata(token()).clone(), undefined],
      [repeated, 'ERR_MALFORMED'],
      // Signed by a key the key server does not publish: its kid is unknown there.
      [albMetadata(forged), 'ERR_KID'],
    ] as const) {
      const got = await call(client, metadata)
      if (details === undefined) assert.equal(got.code, 0)
      else assert.deepEqual(got, { code: grpc.status.UNAUTHENTICATED, details })
    }
  })

  test('a peer outside trustedProxies is PERMISSION_DENIED; a key server that is down is UNAVAILABLE', async () => {
    const untrusted = await serve(verifier({ trustedProxies: ['10.0.0.0/8'] }))
    assert.deepEqual(await call(untrusted, albMetadata(token())), {
      code: grpc.status.PERMISSION_DENIED,
      details: 'ERR_UNTRUSTED_PROXY',
    })
    const down = createServer()
    const downEndpoint = `http://127.0.0.1:${await listen(down)}`
    down.close()
    const noKeys = await serve(verifier({ keyEndpoint: downEndpoint }))
    assert.deepEqual(await call(noKeys, albMetadata(token())), {
      code: grpc.status.UNAVAILABLE,
      details: 'ERR_KEY_FETCH',
    })
  })

  test("grpc-js's peer strings give the address", () => {
    assert.equal(grpcPeerAddress('10.0.1.5:41234'), '10.0.1.5')
    assert.equal(grpcPeerAddress('::ffff:127.0.0.1:41234'), '::ffff:127.0.0.1')
    assert.equal(grpcPeerAddress('::1:41234'), '::1')
    assert.equal(grpcPeerAddress('[::1]:41234'), '::1')
    assert.equal(grpcPeerAddress('::1'), '::1')
    assert.equal(grpcPeerAddress('unknown'), undefined)
    assert.equal(grpcPeerAddress(undefined), undefined)
  })
})
