import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { peerMessageTuple } from '../../src/quorum/message-schema.js';
import * as m from '../../src/quorum/messages.js';
import { PeerFrameWriter, decodePeerFrame } from '../../src/quorum/peer-frames.js';
import { ServerState } from '../../src/quorum/vote.js';
import { makeZxid } from '../../src/quorum/zxid.js';

/** msgpackr hands back Buffers; compare them as plain bytes. */
function normalize(value: unknown): unknown {
  if (value instanceof Uint8Array) return Array.from(value);
  if (Array.isArray(value)) return value.map(normalize);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalize(v)]));
  }
  return value;
}

/** Through the peer transport's own codec: the frame written, its body read back and checked. */
function roundTrip(message: m.PeerMessage): m.PeerMessage {
  const frame = new PeerFrameWriter().encode(message);
  expect(frame.readUInt32BE(0)).toBe(frame.length - 4);
  const checked = decodePeerFrame(frame.subarray(4));
  if (!checked.ok) throw new Error(checked.reason);
  return checked.msg;
}

const zxid = makeZxid(0xfffffff0n, 0xfffffff1n); // well above 2^53: a float would lose it
const origin = m.makeOrigin(3, 77);
const bytes = new Uint8Array([0, 1, 2, 255]);
const durable = m.durableZxid(zxid);

const samples: Record<m.PeerMessageType, m.PeerMessage> = {
  notification: m.notificationMessage(ServerState.looking, 2, zxid, 9n, 0xfffffff0n),
  followerInfo: m.followerInfoMessage(7n),
  observerInfo: m.observerInfoMessage(0n),
  leaderInfo: m.leaderInfoMessage(8n),
  ackEpoch: m.ackEpochMessage(zxid, 6n, true),
  diff: m.diffMessage(zxid),
  trunc: m.truncMessage(0n),
  snap: m.snapMessage(zxid, 3 * 1024 * 1024 + 5),
  snapChunk: m.snapChunkMessage(bytes),
  newLeader: m.newLeaderMessage(makeZxid(8n, 0n)),
  ackNewLeader: m.ackNewLeaderMessage(m.durableZxid(makeZxid(8n, 0n))),
  upToDate: m.upToDateMessage(),
  proposal: m.proposalMessage(zxid, bytes, origin),
  ack: m.ackMessage(durable),
  commit: m.commitMessage(zxid),
  leaderDurable: m.leaderDurableMessage(m.durableZxid(zxid)),
  inform: m.informMessage(zxid, bytes, null),
  ping: m.pingMessage(zxid),
  pingReply: m.pingReplyMessage([m.sessionEntry(-5n, 1), m.sessionEntry(0x7fff_ffff_ffff_ffffn, 0x7fff_ffff)]),
  request: m.requestMessage(origin, bytes),
  syncRequest: m.syncRequestMessage(origin),
  sync: m.syncMessage(origin),
  requestRejected: m.requestRejectedMessage(origin, m.RejectReason.busy),
  revalidate: m.revalidateMessage(0x7fff_ffff_ffff_fff0n, 30_000),
  revalidateReply: m.revalidateReplyMessage(0x7fff_ffff_ffff_fff0n, true),
};

describe('peer message factories round-trip through the peer frame codec', () => {
  for (const [type, message] of Object.entries(samples)) {
    it(`${type} survives encode/decode with bigints intact and key order fixed`, () => {
      expect(message.type).toBe(type);
      const decoded = roundTrip(message) as unknown as Record<string, unknown>;
      expect(normalize(decoded)).toEqual(normalize(message));
      expect(Object.keys(decoded)).toEqual(Object.keys(message));
      for (const [key, value] of Object.entries(message)) {
        if (typeof value === 'bigint') expect(typeof decoded[key], `${type}.${key}`).toBe('bigint');
      }
    });
  }

  it('the large zxid keeps every bit', () => {
    expect((roundTrip(m.commitMessage(zxid)) as m.CommitMessage).zxid).toBe(zxid);
  });

  it('a frame that does not decode, or is not a message, is refused with the reason', () => {
    expect(decodePeerFrame(Buffer.from([0x93, 0x0d]))).toMatchObject({ ok: false, reason: expect.stringMatching(/^the frame does not decode/) });
    expect(decodePeerFrame(Buffer.from([0x81, 0xa1, 0x74, 0x01]))).toMatchObject({ ok: false, reason: expect.stringMatching(/not an object/) });
  });

  it('classifies every message by direction', () => {
    for (const message of Object.values(samples)) {
      const classes = [m.isElectionMessage(message), m.isLeaderToLearner(message), m.isLearnerToLeader(message)];
      expect(classes.filter(Boolean)).toHaveLength(1);
    }
  });
});

describe('the peer frame writer writes what msgpackr writes for the tuple', () => {
  // The peer wire's msgpackr settings (src/quorum/peer-frames.ts).
  const packr = new Packr({ useRecords: false, int64AsType: 'bigint', mapsAsObjects: true, moreTypes: false });
  const reference = (message: unknown) => {
    const body = packr.pack(peerMessageTuple(message as m.PeerMessage));
    return Buffer.concat([Buffer.from([body.length >>> 24, (body.length >>> 16) & 0xff, (body.length >>> 8) & 0xff, body.length & 0xff]), body]);
  };
  const edges: [string, unknown][] = [
    ...Object.entries(samples),
    ['a zxid of 2^64-1 (uint64)', m.commitMessage((1n << 64n) - 1n)],
    ['a negative session id', m.revalidateMessage(-(1n << 63n), 0)],
    ['a request id beyond 32 bits (a float64)', m.requestMessage(m.makeOrigin(255, 2 ** 40 + 3), new Uint8Array(300))],
    ['a size beyond 32 bits', m.snapMessage(0n, 2 ** 33)],
    ['twenty touches (array16)', m.pingReplyMessage(Array.from({ length: 20 }, (_, i) => m.sessionEntry(BigInt(i) << 40n, i + 1)))],
    ['a payload of 70,000 bytes (bin32, past the writer\'s scratch)', m.proposalMessage(1n, new Uint8Array(70_000).fill(7), null)],
    ['a payload of 300 bytes (bin16)', m.informMessage(1n, new Uint8Array(300).fill(1), m.makeOrigin(1, 0))],
    ['a field left undefined', { type: 'commit' }],
    ['an origin left undefined', { type: 'sync' }],
    ['a number where a bigint belongs', { type: 'ack', zxid: 5 }],
  ];
  it.each(edges)('%s', (_what, message) => {
    expect(new PeerFrameWriter().encode(message as m.PeerMessage).toString('hex')).toBe(reference(message).toString('hex'));
  });
});
