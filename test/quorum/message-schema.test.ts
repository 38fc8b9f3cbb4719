import { describe, expect, it } from 'vitest';
import { FieldKind, checkPeerMessage, peerMessageSchema, peerMessageTypes } from '../../src/quorum/message-schema.js';
import * as m from '../../src/quorum/messages.js';
import { ServerState } from '../../src/quorum/vote.js';
import { makeZxid, zxidEpochMax } from '../../src/quorum/zxid.js';

const zxid = makeZxid(0xfffffff0n, 0xfffffff1n);
const origin = m.makeOrigin(3, 77);
const bytes = new Uint8Array([0, 1, 2, 255]);

/** One valid message of every type, from its factory. */
const samples: Record<m.PeerMessageType, m.PeerMessage> = {
  notification: m.notificationMessage(ServerState.looking, 2, zxid, 9n, 0xfffffff0n),
  followerInfo: m.followerInfoMessage(7n),
  observerInfo: m.observerInfoMessage(0n),
  leaderInfo: m.leaderInfoMessage(8n),
  ackEpoch: m.ackEpochMessage(zxid, 6n, true),
  diff: m.diffMessage(zxid),
  trunc: m.truncMessage(0n),
  snap: m.snapMessage(zxid, 12),
  snapChunk: m.snapChunkMessage(bytes),
  newLeader: m.newLeaderMessage(makeZxid(8n, 0n)),
  ackNewLeader: m.ackNewLeaderMessage(m.durableZxid(makeZxid(8n, 0n))),
  upToDate: m.upToDateMessage(),
  proposal: m.proposalMessage(zxid, bytes, origin),
  ack: m.ackMessage(m.durableZxid(zxid)),
  commit: m.commitMessage(zxid),
  inform: m.informMessage(zxid, bytes, null),
  ping: m.pingMessage(zxid),
  pingReply: m.pingReplyMessage([m.sessionEntry(0x7fff_ffff_ffff_fff0n, 30_000)]),
  request: m.requestMessage(origin, bytes),
  syncRequest: m.syncRequestMessage(origin),
  sync: m.syncMessage(origin),
  requestRejected: m.requestRejectedMessage(origin, m.RejectReason.busy),
  revalidate: m.revalidateMessage(0x7fff_ffff_ffff_fff0n, 30_000),
  revalidateReply: m.revalidateReplyMessage(-5n, true),
};

/** For each kind of field: values of the wrong type and values out of range, with the reason expected. */
const badValues: Record<FieldKind, [what: string, value: unknown, reason: RegExp][]> = {
  zxid: [['a number', 5, /is the number 5, not a bigint zxid/], ['below 0', -1n, /-1 is outside 0\.\./], ['above 64 bits', 1n << 64n, /is outside 0\.\.18446744073709551615/]],
  voteZxid: [['a string', '0x1', /is a string, not a bigint zxid/], ['below -1', -2n, /-2 is outside -1\.\./]],
  epoch: [['a number', 1, /not a bigint epoch/], ['above 32 bits', zxidEpochMax + 1n, /4294967296 is outside 0\.\.4294967295/]],
  voteEpoch: [['null', null, /is null, not a bigint epoch/], ['below -1', -2n, /-2 is outside -1\.\.4294967295/]],
  electionEpoch: [['a number', 3, /not a bigint election epoch/], ['below 0', -1n, /-1 is outside 0\.\./]],
  sid: [['a bigint', 2n, /is the bigint 2, not an integer server id/], ['a fraction', 1.5, /not an integer server id/], ['above 255', 256, /256 is outside 0\.\.255/]],
  protocolVersion: [['a string', '2', /not an integer protocol version/], ['negative', -1, /-1 is outside 0\.\.65535/]],
  serverState: [['a string', 'looking', /a string is not a server state/], ['out of the enum', 4, /the number 4 is not a server state/]],
  boolean: [['a number', 1, /is the number 1, not a boolean/]],
  bytes: [['a string', 'abc', /is a string, not bytes/], ['an array of numbers', [1, 2], /is an array, not bytes/]],
  touches: [
    ['bytes, not a list', bytes, /is bytes, not a list of touches/],
    ['a list with bytes', [{ sessionId: 1n, timeoutMs: 5 }, bytes], /\[1\] is bytes, not a touch \{sessionId, timeoutMs\}/],
    ['a touch without its timeout', [{ sessionId: 1n }], /\[0\]\.timeoutMs is missing/],
    ['a touch with a zero timeout', [{ sessionId: 1n, timeoutMs: 0 }], /\[0\]\.timeoutMs 0 is outside 1\.\.2147483647/],
    ['a touch with a number as session', [{ sessionId: 1, timeoutMs: 5 }], /\[0\]\.sessionId is the number 1, not a bigint session id/],
    ['a touch with another field', [{ sessionId: 1n, timeoutMs: 5, zxid: 1n }], /\[0\] has an unknown field 'zxid'/],
    ['too long', Array.from({ length: m.pingReplyTouchesMax + 1 }, () => m.sessionEntry(1n, 5)), /holds 10001 touches, more than 10000/],
  ],
  origin: [['null', null, /is null, not an origin/], ['without requestId', { sid: 1 }, /\.requestId is missing/], ['with a sid above 255', { sid: 300, requestId: 1 }, /\.sid 300 is outside 0\.\.255/], ['with a negative requestId', { sid: 1, requestId: -1 }, /\.requestId -1 is outside/], ['with another field', { sid: 1, requestId: 1, admin: true }, /has an unknown field 'admin'/]],
  originOrNull: [['a number', 4, /is the number 4, not an origin/], ['without sid', { requestId: 1 }, /\.sid is missing/]],
  rejectReason: [['unknown', 'tired', /a string is not a reject reason/], ['a number', 0, /the number 0 is not a reject reason/]],
  sessionId: [['a number', 5, /not a bigint session id/], ['above int64', 1n << 63n, /is outside -9223372036854775808\.\.9223372036854775807/]],
  timeoutMs: [['a bigint', 30_000n, /not an integer timeout/], ['above int32', 2 ** 31, /2147483648 is outside 0\.\.2147483647/]],
  byteCount: [['a bigint', 12n, /not an integer size/], ['negative', -1, /-1 is outside 0\.\./]],
};

function without(msg: m.PeerMessage, field: string): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...msg };
  delete copy[field];
  return copy;
}

const fieldCases: [type: string, field: string, what: string, value: Record<string, unknown>, reason: RegExp][] = [];
for (const type of peerMessageTypes) {
  for (const [field, kind] of peerMessageSchema[type]) {
    fieldCases.push([type, field, 'missing', without(samples[type], field), / is missing$/]);
    for (const [what, value, reason] of badValues[kind]) fieldCases.push([type, field, what, { ...samples[type], [field]: value }, reason]);
  }
}

describe('every peer message type against its schema', () => {
  it('has a schema for every message type, and a sample for every schema', () => {
    expect(Object.keys(samples).sort()).toEqual([...peerMessageTypes].sort());
  });

  it.each(peerMessageTypes.map((t) => [t]))('a valid %s passes and comes back with the factory\'s keys in order', (type) => {
    const checked = checkPeerMessage(samples[type]);
    expect(checked.ok).toBe(true);
    if (!checked.ok) return;
    expect(checked.msg).toEqual(samples[type]);
    expect(Object.keys(checked.msg)).toEqual(Object.keys(samples[type]));
  });

  it.each(fieldCases)('%s.%s %s is refused, with a reason naming the type and the field', (type, field, _what, value, reason) => {
    const checked = checkPeerMessage(value);
    expect(checked.ok).toBe(false);
    if (checked.ok) return;
    expect(checked.reason.startsWith(`${type}.${field}`), checked.reason).toBe(true);
    expect(checked.reason).toMatch(reason);
  });

  it.each(peerMessageTypes.map((t) => [t]))('a %s with a field the schema does not name is refused', (type) => {
    const checked = checkPeerMessage({ ...samples[type], extra: 1 });
    expect(checked).toEqual({ ok: false, reason: `${type} has an unknown field 'extra'` });
  });

  it('refuses values that are not messages at all', () => {
    for (const [value, reason] of [
      [null, 'a peer message is an object with a type, not null'],
      [[{ type: 'ping' }], 'a peer message is an object with a type, not an array'],
      ['ping', 'a peer message is an object with a type, not a string'],
      [new Uint8Array(3), 'a peer message is an object with a type, not bytes'],
      [{ zxid: 1n }, 'the message has no type'],
      [{ type: 7 }, 'the message has no type'],
      [{ type: 'takeover' }, "unknown message type 'takeover'"],
      [{ type: 'toString' }, "unknown message type 'toString'"],
    ] as const) {
      expect(checkPeerMessage(value)).toEqual({ ok: false, reason });
    }
  });

  it('hands the core a rebuilt origin, never the object that came off the wire', () => {
    const wire = { type: 'sync', origin: { sid: 3, requestId: 77 } };
    const checked = checkPeerMessage(wire);
    expect(checked.ok && checked.msg.type === 'sync' && checked.msg.origin !== wire.origin).toBe(true);
  });
});
