// ClientPort with TLS on real sockets: a connection that never finishes its handshake is
// closed at the handshake deadline and frees its slot, so silent clients cannot use up
// maxClientCnxns on the secure port.
import { createConnection } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import { ClientPort } from '../../src/server/client-port.js';
import { makeTestCertificates, type TestCertificates } from '../support/certs.js';
import { waitFor } from '../support/wait.js';

let certs: TestCertificates;
beforeAll(() => {
  certs = makeTestCertificates();
});
afterAll(() => certs.remove());

describe('ClientPort with TLS', () => {
  it('closes a connection that sends nothing at the handshake deadline, freeing its slot', async () => {
    const tls = { port: 0, address: '127.0.0.1', key: certs.member.key, cert: certs.member.cert, ca: [certs.caPem], clientAuth: 'need', superUser: null } as const;
    const spec = { key: 'secureClientPort', port: 0, address: '127.0.0.1', perAddressMax: 1, totalMax: 0, tls, handshakeTimeoutMs: 300 };
    const accepted: unknown[] = [];
    const port = new ClientPort(spec, silentLogger(), (socket) => accepted.push(socket), () => undefined);
    await port.listen();
    try {
      let closed = false;
      const silent = createConnection({ host: '127.0.0.1', port: port.port });
      silent.on('error', () => undefined);
      silent.on('close', () => (closed = true));
      await waitFor('the silent connection to be admitted', () => port.connections === 1);
      await waitFor('the silent connection to be closed at the handshake deadline', () => closed, { timeoutMs: 5_000 });
      await waitFor('its slot to be free', () => port.connections === 0);
      expect(accepted).toEqual([]);
    } finally {
      await port.close();
    }
  });
});
