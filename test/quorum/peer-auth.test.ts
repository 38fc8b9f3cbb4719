import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { notificationMessage, type PeerMessage } from '../../src/quorum/messages.js';
import type { PeerTlsOptions } from '../../src/quorum/peer-options.js';
import { makeTestCertificates, type KeyStore, type TestCertificates } from '../support/certs.js';
import { waitFor } from '../support/net.js';
import { PeerForger } from '../support/peer-forger.js';
import { startNodes, stopNodes, type TransportNode } from './transport-nodes.js';

const vote = (zxid: bigint): PeerMessage => notificationMessage(0, 2, zxid, 1n, 1n);
const secret = new TextEncoder().encode('the ensemble shared secret, 41 bytes long');
const otherSecret = new TextEncoder().encode('another ensemble secret, also long enough');

let nodes: TransportNode[] = [];
const forgers: PeerForger[] = [];
afterEach(async () => {
  for (const f of forgers.splice(0)) f.destroy();
  await stopNodes(nodes);
  nodes = [];
});

async function forge(options: Parameters<typeof PeerForger.connect>[0]): Promise<PeerForger> {
  const f = await PeerForger.connect(options);
  forgers.push(f);
  return f;
}

/** Waits for 2 → 1 to carry a message: the link is up. */
async function expectLinked(a: TransportNode, b: TransportNode): Promise<void> {
  const before = a.inbox.length;
  b.transport.send(1, vote(BigInt(before + 1)));
  await waitFor('a message from 2 to 1', () => a.inbox.length === before + 1);
}

describe('a shared secret: peers prove they hold it in the hello', () => {
  it('members with the same secret link up; a hello that proves no secret, or a wrong one, is refused with its address and the live link stays', async () => {
    nodes = await startNodes(2, () => ({ secret }));
    const [a, b] = nodes as [TransportNode, TransportNode];
    await expectLinked(a, b);
    for (const [attempt, forgedSecret] of [['no proof', undefined], ['a wrong secret', otherSecret]] as const) {
      const f = await forge({ port: a.transport.port });
      expect(await f.hello(2, { secret: forgedSecret }), attempt).toEqual({ welcomed: true, sid: 1 });
      expect(await f.closedWithin(5000), `${attempt}: closed`).toBe(true);
    }
    const refused = a.logged('peer connection refused');
    expect(refused).toHaveLength(2);
    for (const r of refused) expect(r).toMatchObject({ address: '127.0.0.1', claimedSid: 2, reason: 'it did not prove it holds the shared secret' });
    // The live link was never touched: no break reported, and it still carries messages.
    expect(a.disconnects).toEqual([]);
    expect(b.disconnects).toEqual([]);
    await expectLinked(a, b);
  });

  it('a hello that proves the secret is taken (the check above is about the proof, not the forger)', async () => {
    nodes = await startNodes(2, () => ({ secret }));
    const [a, b] = nodes as [TransportNode, TransportNode];
    await expectLinked(a, b);
    const f = await forge({ port: a.transport.port });
    expect(await f.hello(2, { secret })).toEqual({ welcomed: true, sid: 1 });
    // It replaced the old link, and the core heard of the break first.
    await waitFor('the old link to be reported broken', () => a.disconnects.includes(2));
    f.send(vote(77n));
    await waitFor('the message on the proven connection', () => a.inbox.some((m) => (m.msg as { zxid: bigint }).zxid === 77n));
  });

  it('members with different secrets, or one without, never link up, and say why', async () => {
    nodes = await startNodes(3, (sid) => ({ secret: sid === 1 ? secret : sid === 2 ? otherSecret : null }));
    const [a, b, c] = nodes as [TransportNode, TransportNode, TransportNode];
    await waitFor('server 2 to give up on server 1', () => b.logged('cannot connect to peer').find((r) => r.peer === 1));
    expect(b.logged('cannot connect to peer').find((r) => r.peer === 1)!.reason).toBe('the peer did not prove it holds the shared secret');
    await waitFor('server 3 to give up on server 1', () => c.logged('cannot connect to peer').find((r) => r.peer === 1));
    expect(c.logged('cannot connect to peer').find((r) => r.peer === 1)!.reason).toBe('the peer proves a shared secret this server does not have');
    expect(a.transport.isConnected(2) || a.transport.isConnected(3)).toBe(false);
  });
});

describe('mutual TLS on the peer port', () => {
  let certs: TestCertificates;
  beforeAll(() => {
    certs = makeTestCertificates();
  });
  afterAll(() => certs?.remove());

  const tlsWith = (store: KeyStore, options: { ca?: string; hostnameVerification?: boolean } = {}): PeerTlsOptions => ({
    key: store.key,
    cert: store.cert,
    ca: [options.ca ?? certs.caPem],
    hostnameVerification: options.hostnameVerification ?? true,
  });

  it('members with certificates from the trusted CA link up, and the port speaks only TLS', async () => {
    nodes = await startNodes(2, () => ({ tls: tlsWith(certs.member) }));
    const [a, b] = nodes as [TransportNode, TransportNode];
    await expectLinked(a, b);
    const plain = await forge({ port: a.transport.port });
    expect(await plain.hello(2)).toEqual({ welcomed: false });
    await waitFor('the plain connection to be refused', () => a.logged('peer TLS handshake refused').length === 1);
    expect(a.disconnects).toEqual([]);
  });

  it('a peer with a certificate from another CA, or with none, is refused with its address; the live link stays', async () => {
    nodes = await startNodes(2, () => ({ tls: tlsWith(certs.member) }));
    const [a, b] = nodes as [TransportNode, TransportNode];
    await expectLinked(a, b);
    const rogue = await forge({ port: a.transport.port, tls: { ca: certs.caPem, key: certs.rogue.key, cert: certs.rogue.cert } });
    expect(await rogue.hello(2)).toEqual({ welcomed: false });
    const anonymous = await forge({ port: a.transport.port, tls: { ca: certs.caPem } });
    expect(await anonymous.hello(2)).toEqual({ welcomed: false });
    await waitFor('both TLS handshakes refused', () => a.logged('peer TLS handshake refused').length === 2);
    const reasons = a.logged('peer TLS handshake refused').map((r) => `${r.address} ${String(r.reason)}`);
    expect(reasons).toEqual(expect.arrayContaining([
      expect.stringMatching(/^127\.0\.0\.1 UNABLE_TO_VERIFY_LEAF_SIGNATURE/),
      expect.stringMatching(/^127\.0\.0\.1 .*did not return a certificate/),
    ]));
    expect(a.disconnects).toEqual([]);
    await expectLinked(a, b);
  });

  it('a member whose certificate another CA signed never links up, whichever side checks it', async () => {
    // 2 presents a rogue certificate (1 refuses it); 3 trusts only the rogue CA (it refuses 1's).
    nodes = await startNodes(3, (sid) => ({
      tls: sid === 2 ? tlsWith(certs.rogue) : sid === 3 ? tlsWith(certs.member, { ca: readFileSync(certs.rogueCaPath, 'utf8') }) : tlsWith(certs.member),
    }));
    const [a, , c] = nodes as [TransportNode, TransportNode, TransportNode];
    await waitFor('server 1 to refuse server 2\'s certificate', () => a.logged('peer TLS handshake refused').length > 0);
    await waitFor('server 3 to refuse server 1\'s certificate', () => c.logged('cannot connect to peer').find((r) => r.peer === 1));
    expect(String(c.logged('cannot connect to peer').find((r) => r.peer === 1)!.reason)).toMatch(/certificate/i);
    expect(a.transport.isConnected(2) || a.transport.isConnected(3)).toBe(false);
  });

  it('with hostname verification a certificate that does not name the member\'s host is refused; without it, it is taken', async () => {
    nodes = await startNodes(2, (sid) => ({ tls: tlsWith(sid === 2 ? certs.otherHost : certs.member) }));
    const [a] = nodes as [TransportNode, TransportNode];
    await waitFor('the certificate for 127.0.0.9 to be refused', () => a.logged('peer connection refused').length > 0);
    expect(a.logged('peer connection refused')[0]).toMatchObject({ claimedSid: 2, address: '127.0.0.1' });
    expect(String(a.logged('peer connection refused')[0]!.reason)).toMatch(/its certificate does not name 127\.0\.0\.1/);
    expect(a.transport.isConnected(2)).toBe(false);
    await stopNodes(nodes);

    nodes = await startNodes(2, (sid) => ({ tls: tlsWith(sid === 2 ? certs.otherHost : certs.member, { hostnameVerification: false }) }));
    const [a2, b2] = nodes as [TransportNode, TransportNode];
    await expectLinked(a2, b2);
  });
});
