import { createConnection } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import { notificationMessage, type PeerMessage } from '../../src/quorum/messages.js';
import type { PeerFaultHook } from '../../src/quorum/peer-options.js';
import { PeerTransport } from '../../src/quorum/peer-transport.js';
import { freePort, waitFor } from '../support/net.js';
import { scaled } from '../../src/testing/wait.js';

interface Node {
  transport: PeerTransport;
  inbox: { from: number; msg: PeerMessage }[];
  disconnects: number[];
}

async function pair(faults?: PeerFaultHook): Promise<[Node, Node]> {
  const ports = [await freePort(), await freePort()];
  const peers = [1, 2].map((sid, i) => ({ sid, host: '127.0.0.1', port: ports[i]! }));
  const nodes = [1, 2].map((sid, i): Node => {
    const node: Node = { inbox: [], disconnects: [], transport: null as unknown as PeerTransport };
    node.transport = new PeerTransport({
      self: sid,
      peers,
      listenHost: '127.0.0.1',
      listenPort: ports[i]!,
      log: silentLogger(),
      onMessage: (from, msg) => node.inbox.push({ from, msg }),
      onDisconnected: (peer) => node.disconnects.push(peer),
      faults,
    });
    return node;
  });
  await Promise.all(nodes.map((n) => n.transport.start()));
  return nodes as [Node, Node];
}

const vote = (zxid: bigint) => notificationMessage(0, 2, zxid, 1n, 1n);

describe('peer transport', () => {
  const started: Node[] = [];
  afterEach(async () => {
    for (const n of started.splice(0)) await n.transport.stop();
  });

  it('delivers messages both ways in order, bigints intact, over one connection', async () => {
    const [a, b] = await pair();
    started.push(a, b);
    // The smaller sid cannot dial: its messages wait until the larger one connects.
    for (let i = 0; i < 50; i++) a.transport.send(2, vote(0x1_0000_0000n + BigInt(i)));
    for (let i = 0; i < 50; i++) b.transport.send(1, vote(BigInt(i)));
    await waitFor('all messages', () => a.inbox.length === 50 && b.inbox.length === 50);
    expect(b.inbox.map((m) => (m.msg as { zxid: bigint }).zxid)).toEqual(Array.from({ length: 50 }, (_, i) => 0x1_0000_0000n + BigInt(i)));
    expect(a.inbox.every((m) => m.from === 2)).toBe(true);
    expect(a.transport.isConnected(2) && b.transport.isConnected(1)).toBe(true);
  });

  it('sends what one turn of the event loop sends to a peer in one write, in order', async () => {
    const [a, b] = await pair();
    started.push(a, b);
    b.transport.send(1, vote(0n));
    await waitFor('the link', () => a.inbox.length === 1 && b.transport.isConnected(1));
    const writesBefore = b.transport.peerWrites;
    const framesBefore = b.transport.framesSent;
    // One message object sent many times, as the leader sends a proposal to every follower.
    const same = vote(7n);
    for (let i = 1; i <= 200; i++) b.transport.send(1, i % 2 === 0 ? same : vote(BigInt(i)));
    await waitFor('the batch', () => a.inbox.length === 201);
    expect(b.transport.framesSent - framesBefore).toBe(200);
    expect(b.transport.peerWrites - writesBefore).toBe(1);
    expect(a.inbox.slice(1).map((m) => (m.msg as { zxid: bigint }).zxid)).toEqual(Array.from({ length: 200 }, (_, i) => ((i + 1) % 2 === 0 ? 7n : BigInt(i + 1))));
  });

  it('reports a broken connection and comes back', async () => {
    const [a, b] = await pair();
    started.push(a, b);
    b.transport.send(1, vote(1n));
    await waitFor('first message', () => a.inbox.length === 1);
    b.transport.disconnect(1);
    await waitFor('both sides to hear of the break', () => a.disconnects.includes(2) && b.disconnects.includes(1));
    await waitFor('the larger sid to dial again', () => b.transport.isConnected(1), { timeoutMs: 5000 });
    b.transport.send(1, vote(2n));
    await waitFor('a message on the new connection', () => a.inbox.length === 2);
  });

  it('closes a connection that sends garbage, and keeps serving its real peer', async () => {
    const [a, b] = await pair();
    started.push(a, b);
    b.transport.send(1, vote(1n));
    await waitFor('first message', () => a.inbox.length === 1);
    const port = a.transport.port;
    for (const garbage of [Buffer.from('GET / HTTP/1.1\r\n\r\n'), Buffer.from([0, 0, 0, 3, 0xc1, 0xc1, 0xc1]), Buffer.alloc(4096, 0xff)]) {
      const closed = await new Promise<boolean>((resolve) => {
        const s = createConnection({ host: '127.0.0.1', port }, () => s.write(garbage));
        s.on('error', () => undefined);
        s.on('close', () => resolve(true));
        setTimeout(() => {
          s.destroy();
          resolve(false);
        }, scaled(8000));
      });
      expect(closed).toBe(true);
    }
    b.transport.send(1, vote(2n));
    await waitFor('the real peer to still get through', () => a.inbox.length === 2);
    expect(a.inbox.every((m) => m.from === 2)).toBe(true);
  });

  it('lets a fault hook drop traffic, and says so as a disconnect', async () => {
    let cut = false;
    const [a, b] = await pair({ allow: () => !cut });
    started.push(a, b);
    b.transport.send(1, vote(1n));
    await waitFor('first message', () => a.inbox.length === 1);
    cut = true;
    b.transport.send(1, vote(2n));
    await waitFor('the sender to see the link as broken', () => b.disconnects.includes(1));
    expect(b.transport.framesDropped).toBeGreaterThan(0);
    cut = false;
    await waitFor('the link to come back', () => b.transport.isConnected(1), { timeoutMs: 5000 });
    b.transport.send(1, vote(3n));
    await waitFor('traffic after healing', () => a.inbox.some((m) => (m.msg as { zxid: bigint }).zxid === 3n));
    expect(a.inbox.some((m) => (m.msg as { zxid: bigint }).zxid === 2n)).toBe(false);
  });
});
