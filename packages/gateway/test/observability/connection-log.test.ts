/** The connection log's two line formats, held to ALB's field order and to JSON. */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  type ConnectionLogEntry,
  formatConnectionAlbLine,
  formatConnectionJsonLine,
  microsecondTime,
} from '../../src/observability/connection-log.js'

const entry: ConnectionLogEntry = {
  timestamp: '2023-10-04T17:31:50.474089Z',
  client_ip: '203.0.113.1',
  client_port: 55555,
  listener_port: 443,
  tls_protocol: 'TLSv1.2',
  tls_cipher: 'ECDHE-RSA-AES128-GCM-SHA256',
  tls_handshake_latency: 0.012,
  leaf_client_cert_subject: 'CN=client-1,O=Acme\\, Inc.,C=US',
  leaf_client_cert_validity: 'NotBefore=2023-09-21T22:43:21Z;NotAfter=2026-06-17T22:43:21Z',
  leaf_client_cert_serial_number: 'FEF257C0D5FA1E0A87DF0E46B9E7DBF1',
  tls_verify_status: 'Success',
  conn_trace_id: 'TID_b9ec43e2e6a4c34f8fa2c7a9ab2f2b2f',
}

test("ALB's line: the fields in ALB's order, the subject quoted as it is", () => {
  assert.equal(
    formatConnectionAlbLine(entry),
    '2023-10-04T17:31:50.474089Z 203.0.113.1 55555 443 TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256 0.012 ' +
      '"CN=client-1,O=Acme\\, Inc.,C=US" NotBefore=2023-09-21T22:43:21Z;NotAfter=2026-06-17T22:43:21Z ' +
      'FEF257C0D5FA1E0A87DF0E46B9E7DBF1 Success TID_b9ec43e2e6a4c34f8fa2c7a9ab2f2b2f\n',
  )
  const none = { ...entry, leaf_client_cert_subject: '-', leaf_client_cert_validity: '-' }
  assert.match(formatConnectionAlbLine(none), / 0\.012 "-" - FEF/)
})

test('JSON line: the entry, one line, parseable', () => {
  const line = formatConnectionJsonLine(entry)
  assert.ok(line.endsWith('}\n'))
  assert.equal(line.indexOf('\n'), line.length - 1)
  assert.deepEqual(JSON.parse(line), entry)
})

test('timestamps carry microseconds', () => {
  assert.equal(microsecondTime(Date.UTC(2024, 0, 2, 3, 4, 5, 678) + 0.9015), '2024-01-02T03:04:05.678901Z')
  assert.equal(microsecondTime(Date.UTC(2024, 0, 2, 3, 4, 5, 0)), '2024-01-02T03:04:05.000000Z')
})
