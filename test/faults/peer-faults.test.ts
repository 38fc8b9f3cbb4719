// Peer faults inside two real peer transports over loopback: each transport has its own
// PeerFaults with the same rules, as the members of a TestingCluster do.
import { afterEach, describe, expect, it } from 'vitest';
import { PeerFaults, isolationRules, partitionRules, validatePeerFaultRules, type PeerFaultRule } from '../../src/faults/index.js';
import { silentLogger } from '../../src/logger.js';
import { notificationMessage, type PeerMessage } from '../../src/quorum/messages.js';
import { PeerTransport } from '../../src/quorum/peer-transport.js';
import { freePort } from '../support/net.js';
import { waitFor } from '../support/wait.js';

interface Node {
  transport: PeerTransport;
  faults: PeerFaults;
  inbox: { from: number; zxid: bigint; at: number }[];
  disconnects: number[];
}

const started: Node[] = [];
afterEach(async () => {
  for (const n of started.splice(0)) {
    n.faults.clear();
    await n.transport.stop();
  }
});

async function pair(rules: PeerFaultRule[] = []): Promise<[Node, Node]> {
  const ports = [await freePort(), await freePort()];
  const peers = [1, 2].map((sid, i) => ({ sid, host: '127.0.0.1', port: ports[i]! }));
  const nodes = [1, 2].map((sid, i): Node => {
    const faults = new PeerFaults(sid, 42 + sid);
    faults.update(rules);
    const node: Node = { inbox: [], disconnects: [], faults, transport: null as unknown as PeerTransport };
    node.transport = new PeerTransport({
      self: sid,
      peers,
      listenHost: '127.0.0.1',
      listenPort: ports[i]!,
      log: silentLogger(),
      onMessage: (from, msg: PeerMessage) => node.inbox.push({ from, zxid: (msg as { zxid: bigint }).zxid, at: performance.now() }),
      onDisconnected: (peer) => node.disconnects.push(peer),
      faults,
    });
    return node;
  });
  await Promise.all(nodes.map((n) => n.transport.start()));
  started.push(...nodes);
  await waitFor('the peers to connect', () => nodes[0]!.transport.isConnected(2) && nodes[1]!.transport.isConnected(1));
  return nodes as [Node, Node];
}

const vote = (zxid: bigint) => notificationMessage(0, 2, zxid, 1n, 1n);
const zxids = (node: Node) => node.inbox.map((m) => m.zxid);
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => BigInt(from + i));

function update(nodes: Node[], rules: PeerFaultRule[]): void {
  for (const n of nodes) n.faults.update(rules);
}

describe('peer faults in the peer transport', () => {
  it('a partition holds messages on an open connection (silence, no disconnect); healing delivers them in order', async () => {
    const [a, b] = await pair();
    update([a, b], partitionRules([[1], [2]]));
    for (let i = 0; i < 20; i++) b.transport.send(1, vote(BigInt(i)));
    for (let i = 0; i < 5; i++) a.transport.send(2, vote(BigInt(100 + i)));
    await waitFor('both sides to hold what arrived', () => a.faults.heldCounts().get(2) === 20 && b.faults.heldCounts().get(1) === 5);
    expect(a.inbox).toEqual([]);
    expect(b.inbox).toEqual([]);
    expect(a.disconnects).toEqual([]);
    expect(a.transport.isConnected(2)).toBe(true);
    update([a, b], []);
    expect(zxids(a)).toEqual(range(0, 20));
    expect(zxids(b)).toEqual(range(100, 105));
  });

  it('a one-way cut holds one direction only', async () => {
    const [a, b] = await pair([{ kind: 'cut', from: 2, to: 1 }]);
    b.transport.send(1, vote(1n));
    a.transport.send(2, vote(2n));
    await waitFor('1 → 2 delivered', () => b.inbox.length === 1);
    await waitFor('2 → 1 held', () => a.faults.heldCounts().get(2) === 1);
    expect(a.inbox).toEqual([]);
  });

  it('isolation cuts a member off both ways', async () => {
    const [a, b] = await pair(isolationRules(2));
    b.transport.send(1, vote(1n));
    a.transport.send(2, vote(2n));
    await waitFor('both held', () => a.faults.heldCounts().get(2) === 1 && b.faults.heldCounts().get(1) === 1);
    expect(a.inbox.length + b.inbox.length).toBe(0);
  });

  it('held messages of a connection that closes are lost with it', async () => {
    const [a, b] = await pair(partitionRules([[1], [2]]));
    b.transport.send(1, vote(1n));
    await waitFor('held', () => a.faults.heldCounts().get(2) === 1);
    a.transport.disconnect(2);
    await waitFor('both ends to see the close', () => a.disconnects.includes(2) && b.disconnects.includes(1));
    await waitFor('the link back', () => a.transport.isConnected(2) && b.transport.isConnected(1));
    update([a, b], []);
    b.transport.send(1, vote(2n));
    await waitFor('the new message', () => a.inbox.length === 1);
    expect(zxids(a)).toEqual([2n]);
  });

  it('delay delivers each message that much later, in order', async () => {
    const [a, b] = await pair([{ kind: 'delay', from: '*', to: '*', ms: 200 }]);
    const sentAt = performance.now();
    for (let i = 0; i < 10; i++) b.transport.send(1, vote(BigInt(i)));
    await waitFor('all delivered', () => a.inbox.length === 10);
    expect(zxids(a)).toEqual(range(0, 10));
    expect(a.inbox[0]!.at - sentAt).toBeGreaterThanOrEqual(195);
  });

  it('drop is decided by the sender; a dropped message closes the connection, which comes back', async () => {
    const [a, b] = await pair([{ kind: 'drop', from: 2, to: 1, percent: 100 }]);
    b.transport.send(1, vote(1n));
    expect(b.faults.dropped).toBe(1);
    await waitFor('the disconnect', () => a.disconnects.includes(2));
    update([a, b], []);
    await waitFor('the link back', () => a.transport.isConnected(2) && b.transport.isConnected(1));
    b.transport.send(1, vote(2n));
    await waitFor('delivered', () => a.inbox.length === 1);
    expect(zxids(a)).toEqual([2n]);
  });

  it('rules arriving as data are checked, naming what is wrong', () => {
    expect(() => validatePeerFaultRules([{ kind: 'drop', from: 1, to: 2, percent: 120 }])).toThrow(/rule 0: percent must be 0 to 100/);
    expect(() => validatePeerFaultRules([{ kind: 'cut', from: 'x', to: 2 }])).toThrow(/rule 0: from and to/);
    expect(() => validatePeerFaultRules([{ kind: 'bend', from: 1, to: 2 }])).toThrow(/unknown kind "bend"/);
    expect(() => validatePeerFaultRules({})).toThrow(/must be an array/);
  });
});
