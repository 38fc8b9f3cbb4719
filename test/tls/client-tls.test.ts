// The secure client port with the zkts client: TLS with and without client certificates under
// each ssl.clientAuth, the x509 ACL scheme and its super user, four-letter words over TLS, the
// connection limits on the secure port, and a reconnect after the server comes back.
import { createConnection } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type ZooKeeperClient } from '../../src/client/index.js';
import type { ClientTlsOptions } from '../../src/client/types.js';
import { fourLetterWord } from '../../src/admin/four-letter-client.js';
import { ErrorCode, Perms } from '../../src/protocol/constants.js';
import type { ServerNode } from '../../src/server/node.js';
import { aliceDn, bobDn, makeTestCertificates, type KeyStore, type TestCertificates } from '../support/certs.js';
import { scaled } from '../support/wait.js';
import { startServer, waitFor } from '../server/harness.js';

let certs: TestCertificates;
const servers: ServerNode[] = [];
const clients: ZooKeeperClient[] = [];

beforeAll(() => {
  certs = makeTestCertificates();
});
afterAll(() => certs.remove());
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

async function secureServer(clientAuth: string, extra: Record<string, string | number> = {}): Promise<ServerNode> {
  const server = await startServer({
    secureClientPort: 0,
    secureClientPortAddress: '127.0.0.1',
    'ssl.keyStore.location': certs.member.path,
    'ssl.trustStore.location': certs.caPath,
    'ssl.clientAuth': clientAuth,
    ...extra,
  });
  servers.push(server);
  return server;
}

function tlsAs(store: KeyStore | null): ClientTlsOptions {
  return store === null ? { ca: certs.caPem } : { ca: certs.caPem, cert: store.cert, key: store.key };
}

function client(port: number, tls: ClientTlsOptions | undefined, connectTimeout = 5_000): ZooKeeperClient {
  const c = createClient(`127.0.0.1:${port}`, { tls, connectTimeout: scaled(connectTimeout), sessionTimeout: 6_000 });
  clients.push(c);
  return c;
}

/** Whether a session can be had: a refused TLS handshake leaves connect() to time out. */
async function connects(port: number, tls: ClientTlsOptions | undefined): Promise<boolean> {
  const c = client(port, tls, 1_500);
  return c.connect().then(() => true, () => false);
}

describe('secureClientPort with ssl.clientAuth=need', () => {
  it('serves create and get over TLS to a client with a certificate from the trusted CA', async () => {
    const server = await secureServer('need');
    const alice = client(server.securePort!, tlsAs(certs.alice));
    await alice.connect();
    await alice.create('/tls', 'over tls');
    expect((await alice.getData('/tls')).data?.toString()).toBe('over tls');
  });

  it('authenticates the connection as x509 with the subject DN Java prints', async () => {
    const server = await secureServer('need');
    const alice = client(server.securePort!, tlsAs(certs.alice));
    await alice.connect();
    const ids = (await alice.whoAmI()).map((i) => `${i.authScheme}:${i.user}`);
    expect(ids).toContain(`x509:${aliceDn}`);
  });

  it('refuses a client without a certificate, and one whose certificate another CA signed', async () => {
    const server = await secureServer('need');
    expect(await connects(server.securePort!, tlsAs(null))).toBe(false);
    expect(await connects(server.securePort!, { ...tlsAs(certs.rogue), ca: certs.caPem })).toBe(false);
    expect(await connects(server.securePort!, tlsAs(certs.alice))).toBe(true);
  });

  it('grants an x509:<DN> ACL to that certificate only: NOAUTH for another', async () => {
    const server = await secureServer('need');
    const alice = client(server.securePort!, tlsAs(certs.alice));
    const bob = client(server.securePort!, tlsAs(certs.bob));
    await Promise.all([alice.connect(), bob.connect()]);
    await alice.create('/alice', 'mine', { acl: [{ perms: Perms.ALL, id: { scheme: 'x509', id: aliceDn } }] });
    expect((await alice.getData('/alice')).data?.toString()).toBe('mine');
    await expect(bob.getData('/alice')).rejects.toMatchObject({ code: ErrorCode.NOAUTH });
    await expect(bob.setData('/alice', 'theirs')).rejects.toMatchObject({ code: ErrorCode.NOAUTH });
  });

  it('makes X509AuthenticationProvider.superUser super: it reads a node whose ACL names someone else', async () => {
    const server = await secureServer('need', { 'X509AuthenticationProvider.superUser': bobDn });
    const alice = client(server.securePort!, tlsAs(certs.alice));
    const bob = client(server.securePort!, tlsAs(certs.bob));
    await Promise.all([alice.connect(), bob.connect()]);
    await alice.create('/private', 'alice only', { acl: [{ perms: Perms.ALL, id: { scheme: 'x509', id: aliceDn } }] });
    expect((await bob.getData('/private')).data?.toString()).toBe('alice only');
    await bob.delete('/private');
  });

  it('answers addauth x509 on a connection its certificate authenticated', async () => {
    const server = await secureServer('need');
    const alice = client(server.securePort!, tlsAs(certs.alice));
    await alice.connect();
    await alice.addAuthInfo('x509', '');
    expect(alice.state).toBe('SYNC_CONNECTED');
  });

  it('answers four-letter words over TLS', async () => {
    const server = await secureServer('need');
    expect(await fourLetterWord('127.0.0.1', server.securePort!, 'ruok', scaled(5_000), tlsAs(certs.alice))).toBe('imok');
  });

  it('drops plain bytes sent to the secure port (a plain ZooKeeper client, garbage) and serves on', async () => {
    const server = await secureServer('need');
    // Each is a whole TLS record header that is not TLS, so the handshake fails at once.
    for (const bytes of [Buffer.from('ruok\n'), Buffer.from('0000002c000000000000000000000000000075300000000000000000000000100000000000000000000000000000000000', 'hex'), Buffer.alloc(4096, 0x17)]) {
      const socket = createConnection({ host: '127.0.0.1', port: server.securePort! }, () => socket.write(bytes));
      socket.on('error', () => undefined);
      await new Promise<void>((resolve) => socket.once('close', () => resolve()));
    }
    const alice = client(server.securePort!, tlsAs(certs.alice));
    await alice.connect();
    expect(await alice.exists('/')).not.toBeNull();
  });

  it('serves the plain clientPort beside it', async () => {
    const server = await secureServer('need');
    expect(server.port).not.toBe(server.securePort);
    const plain = client(server.port, undefined);
    await plain.connect();
    await plain.create('/plain');
    const alice = client(server.securePort!, tlsAs(certs.alice));
    await alice.connect();
    expect(await alice.exists('/plain')).not.toBeNull();
  });

  it('holds maxClientCnxns on the secure port', async () => {
    const server = await secureServer('need', { maxClientCnxns: 1 });
    const first = client(server.securePort!, tlsAs(certs.alice));
    await first.connect();
    expect(await connects(server.securePort!, tlsAs(certs.alice))).toBe(false);
    expect(server.stats.refusedConnections).toBeGreaterThan(0);
  });

  it('reconnects over TLS to a server restarted on the same port, which answers (its sessions were in memory) that the session expired', async () => {
    const first = await secureServer('need');
    const port = first.securePort!;
    const alice = client(port, tlsAs(certs.alice), 20_000);
    await alice.connect();
    const session = alice.sessionIdHex;
    await first.stop();
    servers.splice(servers.indexOf(first), 1);
    await waitFor('the client to notice the server is gone', () => alice.state === 'CONNECTING', { timeoutMs: 5_000 });
    // A server in this process keeps no sessions across a restart: that the client hears its
    // session expired shows it reconnected, handshook over TLS and got the server's answer.
    const states: string[] = [];
    alice.on('state', (change) => states.push(change.state));
    await secureServer('need', { secureClientPort: port });
    await waitFor(`session ${session} to be answered by the restarted server`, () => states.includes('EXPIRED'), { timeoutMs: 20_000 });
  });
});

describe('secureClientPort with ssl.clientAuth=want and none', () => {
  it('want: accepts a client without a certificate (no x509 id) and refuses a certificate from another CA', async () => {
    const server = await secureServer('want');
    const anonymous = client(server.securePort!, tlsAs(null));
    await anonymous.connect();
    expect((await anonymous.whoAmI()).map((i) => i.authScheme)).not.toContain('x509');
    expect(await connects(server.securePort!, { ...tlsAs(certs.rogue), ca: certs.caPem })).toBe(false);
    const alice = client(server.securePort!, tlsAs(certs.alice));
    await alice.connect();
    expect((await alice.whoAmI()).map((i) => `${i.authScheme}:${i.user}`)).toContain(`x509:${aliceDn}`);
  });

  it('none: accepts a client without a certificate, with no trust store configured', async () => {
    const server = await startServer({ secureClientPort: 0, secureClientPortAddress: '127.0.0.1', 'ssl.keyStore.location': certs.member.path, 'ssl.clientAuth': 'none' });
    servers.push(server);
    const anonymous = client(server.securePort!, tlsAs(null));
    await anonymous.connect();
    await anonymous.create('/open');
    expect(await anonymous.exists('/open')).not.toBeNull();
  });
});
