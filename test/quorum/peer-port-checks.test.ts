import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { silentLogger } from '../../src/logger.js';
import { notificationMessage, proposalMessage, quorumProtocolVersion, type PeerMessage } from '../../src/quorum/messages.js';
import { normaliseAddress } from '../../src/quorum/peer-handshake.js';
import { peerFrameBytesCeiling, peerFrameBytesFor, peerFrameBytesMin, peerFrameOverheadBytes } from '../../src/quorum/peer-options.js';
import { PeerTransport } from '../../src/quorum/peer-transport.js';
import { waitFor } from '../support/net.js';
import { PeerForger } from '../support/peer-forger.js';
import { startNodes, stopNodes, type TransportNode } from './transport-nodes.js';

const vote = (zxid: bigint): PeerMessage => notificationMessage(0, 2, zxid, 1n, 1n);

let nodes: TransportNode[] = [];
const forgers: PeerForger[] = [];
afterEach(async () => {
  for (const f of forgers.splice(0)) f.destroy();
  await stopNodes(nodes);
  nodes = [];
});

/** Two linked transports, 1 and 2, with one message through to prove the link. */
async function linkedPair(): Promise<[TransportNode, TransportNode]> {
  nodes = await startNodes(2);
  const [a, b] = nodes as [TransportNode, TransportNode];
  b.transport.send(1, vote(1n));
  await waitFor('the first message over the link', () => a.inbox.length === 1);
  return [a, b];
}

async function forger(port: number, localAddress?: string): Promise<PeerForger> {
  const f = await PeerForger.connect({ port, localAddress });
  forgers.push(f);
  return f;
}

// The five inputs that crashed a member in the fuzzing run, and a few relatives.
const malformed: [string, unknown, RegExp][] = [
  ['REQUESTREJECTED without an origin', { type: 'requestRejected', reason: 'busy' }, /requestRejected\.origin is missing/],
  ['SYNC without an origin', { type: 'sync' }, /sync\.origin is missing/],
  ['a PROPOSAL whose zxid is a number, not a bigint', { type: 'proposal', zxid: 5, payload: new Uint8Array(3), origin: null }, /proposal\.zxid is the number 5, not a bigint/],
  ['a COMMIT without a zxid', { type: 'commit' }, /commit\.zxid is missing/],
  ['an ACK whose zxid is a string', { type: 'ack', zxid: '0x100000001' }, /ack\.zxid is a string/],
  ['a PING with a negative zxid', { type: 'ping', zxid: -5n }, /ping\.zxid -5 is outside/],
  ['a NOTIFICATION with an unknown server state', { type: 'notification', version: 2, state: 9, leader: 2, zxid: 0n, electionEpoch: 1n, peerEpoch: 0n }, /notification\.state the number 9 is not a server state/],
];

describe('messages on a live peer link are checked against their schema', () => {
  it.each(malformed)('%s closes the link with the reason logged (peer id and address), and the link comes back', async (_name, value, reason) => {
    const [a, b] = await linkedPair();
    b.transport.send(1, value as PeerMessage);
    b.transport.send(1, vote(2n));
    await waitFor('the receiver to close the link', () => a.disconnects.includes(2) && b.disconnects.includes(1));
    const [record] = a.logged('invalid peer message; closing connection');
    expect(record).toMatchObject({ peer: 2, address: '127.0.0.1' });
    expect(record!.reason).toMatch(reason);
    // Neither the bad message nor what followed it on the closed link reached the core.
    expect(a.inbox.map((m) => m.msg.type)).toEqual(['notification']);
    await waitFor('the dialer to come back', () => b.transport.isConnected(1), { timeoutMs: 5000 });
    b.transport.send(1, vote(3n));
    await waitFor('a message on the new link', () => a.inbox.length === 2);
    expect(a.inbox[1]!.msg).toEqual(vote(3n));
  });
});

describe('peer frames are bounded', () => {
  it('the frame limit is a few MiB and never less than two jute.maxbuffer-sized txns plus overhead', () => {
    expect(peerFrameBytesFor(0xfffff)).toBe(peerFrameBytesMin);
    expect(peerFrameBytesMin).toBeLessThanOrEqual(8 * 1024 * 1024);
    for (const jute of [0xfffff, 4 * 1024 * 1024, 50 * 1024 * 1024]) {
      expect(peerFrameBytesFor(jute)).toBeGreaterThanOrEqual(2 * jute + peerFrameOverheadBytes);
    }
  });

  it('a jute.maxbuffer that would need frames beyond the ceiling refuses to start, naming jute.maxbuffer', () => {
    const make = (juteMaxBuffer: number) => new PeerTransport({
      self: 1, peers: [], listenHost: '127.0.0.1', listenPort: 0, log: silentLogger(),
      onMessage: () => undefined, onDisconnected: () => undefined, juteMaxBuffer,
    });
    expect(() => make(10 * 1024 * 1024)).not.toThrow();
    const jute = Math.ceil(peerFrameBytesCeiling / 2);
    expect(() => make(jute)).toThrow(ConfigError);
    expect(() => make(jute)).toThrow(/jute\.maxbuffer.*needs peer frames/);
  });

  it('a frame declaring more bytes than the limit closes the link at once', async () => {
    const [a] = await linkedPair();
    const f = await forger(a.transport.port);
    expect(await f.hello(2)).toEqual({ welcomed: true, sid: 1 });
    const header = Buffer.alloc(4);
    header.writeUInt32BE(a.transport.frameBytesMax + 1, 0);
    f.sendRaw(header);
    expect(await f.closedWithin(5000)).toBe(true);
    expect(a.logged('bad peer frame; closing connection')[0]?.reason).toMatch(new RegExp(`frame length ${a.transport.frameBytesMax + 1} is outside`));
  });

  it('a message too large for a frame is not sent: the sender logs it and resets the link, the receiver never sees it', async () => {
    const [a, b] = await linkedPair();
    const huge = proposalMessage(0x1_0000_0001n, new Uint8Array(b.transport.frameBytesMax), null);
    b.transport.send(1, huge);
    await waitFor('the link to be reset', () => a.disconnects.includes(2));
    expect(b.logged('peer message larger than a frame may be; not sent')[0]).toMatchObject({ peer: 1, type: 'proposal' });
    await waitFor('the dialer to come back', () => b.transport.isConnected(1), { timeoutMs: 5000 });
    b.transport.send(1, vote(2n));
    await waitFor('the next message', () => a.inbox.length === 2);
    expect(a.inbox.map((m) => m.msg.type)).toEqual(['notification', 'notification']);
  });
});

describe('a hello must come from a configured member, from that member\'s address', () => {
  /** Sends a hello and expects it refused, the reason logged with the caller's address, and the live link untouched. */
  async function expectRefused(a: TransportNode, b: TransportNode, sid: number, reason: RegExp, options: { localAddress?: string; version?: number } = {}) {
    const f = await forger(a.transport.port, options.localAddress);
    expect(await f.hello(sid, { version: options.version })).toEqual({ welcomed: false });
    const [record] = a.logged('peer connection refused');
    expect(record).toMatchObject({ address: options.localAddress ?? '127.0.0.1' });
    expect(record!.reason).toMatch(reason);
    expect(a.disconnects).toEqual([]);
    expect(a.transport.isConnected(2)).toBe(true);
    b.transport.send(1, vote(9n));
    await waitFor('the real peer to still get through', () => a.inbox.length === 2);
  }

  it('an id that is not in the configuration is refused', async () => {
    const [a, b] = await linkedPair();
    await expectRefused(a, b, 7, /server 7 is not in the configuration/);
  });

  it('a configured id calling from another address is refused', async () => {
    const [a, b] = await linkedPair();
    await expectRefused(a, b, 2, /address 127\.0\.0\.2 is not server\.2's host 127\.0\.0\.1/, { localAddress: '127.0.0.2' });
  });

  it('our own id, and a smaller id (which never dials us), are refused', async () => {
    nodes = await startNodes(3);
    const [, b, c] = nodes as [TransportNode, TransportNode, TransportNode];
    c.transport.send(2, vote(1n));
    await waitFor('the link 3 → 2', () => b.inbox.length === 1);
    for (const [sid, reason] of [[2, /this server's own id 2/], [1, /server 1 has a smaller id/]] as const) {
      const f = await forger(b.transport.port);
      expect(await f.hello(sid)).toEqual({ welcomed: false });
      expect(b.logged('peer connection refused').at(-1)!.reason).toMatch(reason);
    }
    expect(b.disconnects).toEqual([]);
  });

  it('a hello in another protocol version is refused, naming both versions', async () => {
    const [a, b] = await linkedPair();
    // The previous version is the one a member not yet upgraded speaks: map messages, not tuples.
    const older = quorumProtocolVersion - 1;
    await expectRefused(a, b, 2, new RegExp(`speaks quorum protocol version ${older}; this server speaks ${quorumProtocolVersion}$`), { version: older });
  });

  it('a member named by a host name is accepted from the address the name resolves to', async () => {
    nodes = await startNodes(2, (sid) => (sid === 2 ? { host: 'localhost' } : {}));
    const [a, b] = nodes as [TransportNode, TransportNode];
    b.transport.send(1, vote(1n));
    await waitFor('the link from the member named localhost', () => a.inbox.length === 1);
    expect(a.logged('peer connection refused')).toEqual([]);
  });

  it('an IPv4 caller seen by an IPv6 socket (::ffff:127.0.0.1) is matched by its IPv4 address', async () => {
    expect(normaliseAddress('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(normaliseAddress('::FFFF:10.1.2.3')).toBe('10.1.2.3');
    expect(normaliseAddress('::1')).toBe('::1');
    nodes = await startNodes(2, (sid) => (sid === 1 ? { listenHost: '::' } : {}));
    const [a, b] = nodes as [TransportNode, TransportNode];
    b.transport.send(1, vote(1n));
    await waitFor('the link into the dual-stack listener', () => a.inbox.length === 1);
    expect(a.logged('peer connected')[0]).toMatchObject({ peer: 2, address: '::ffff:127.0.0.1' });
  });
});
