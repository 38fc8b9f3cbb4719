import { describe, expect, it } from 'vitest';
import { FieldKind, checkPeerMessage, peerMessageCodes, peerMessageSchema, peerMessageTuple, peerMessageTypes } from '../../src/quorum/message-schema.js';
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
  leaderDurable: m.leaderDurableMessage(m.durableZxid(zxid)),
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
    ['a list with bytes', [[1n, 5], bytes], /\[1\] is bytes, not a touch \[sessionId, timeoutMs\]/],
    ['a touch without its timeout', [[1n]], /\[0\] has 1 elements, not a touch/],
    ['a touch with a zero timeout', [[1n, 0]], /\[0\]\.timeoutMs 0 is outside 1\.\.2147483647/],
    ['a touch with a number as session', [[1, 5]], /\[0\]\.sessionId is the number 1, not a bigint session id/],
    ['a touch with another element', [[1n, 5, 1n]], /\[0\] has 3 elements/],
    ['a touch as a map', [{ sessionId: 1n, timeoutMs: 5 }], /\[0\] is an object, not a touch/],
    ['too long', Array.from({ length: m.pingReplyTouchesMax + 1 }, () => [1n, 5]), /holds 10001 touches, more than 10000/],
  ],
  origin: [['null', null, /is null, not an origin/], ['without requestId', [1], /has 1 elements, not an origin \[sid, requestId\]/], ['with a sid above 255', [300, 1], /\.sid 300 is outside 0\.\.255/], ['with a negative requestId', [1, -1], /\.requestId -1 is outside/], ['with another element', [1, 1, true], /has 3 elements/], ['as a map', { sid: 1, requestId: 1 }, /is an object, not an origin/]],
  originOrNull: [['a number', 4, /is the number 4, not an origin/], ['with a string sid', ['1', 1], /\.sid is a string, not an integer server id/]],
  rejectReason: [['unknown', 'tired', /a string is not a reject reason/], ['a number', 0, /the number 0 is not a reject reason/]],
  sessionId: [['a number', 5, /not a bigint session id/], ['above int64', 1n << 63n, /is outside -9223372036854775808\.\.9223372036854775807/]],
  timeoutMs: [['a bigint', 30_000n, /not an integer timeout/], ['above int32', 2 ** 31, /2147483648 is outside 0\.\.2147483647/]],
  byteCount: [['a bigint', 12n, /not an integer size/], ['negative', -1, /-1 is outside 0\.\./]],
};

const tuples = Object.fromEntries(peerMessageTypes.map((t) => [t, peerMessageTuple(samples[t])])) as Record<m.PeerMessageType, unknown[]>;

/** The tuple of `type` with field `index` (0 = the first field) set to `value`, or cut before it. */
function withField(type: m.PeerMessageType, index: number, value: unknown | 'cut'): unknown[] {
  const tuple = [...tuples[type]];
  if (value === 'cut') return tuple.slice(0, index + 1);
  tuple[index + 1] = value;
  return tuple;
}

const fieldCases: [type: string, field: string, what: string, value: unknown[], reason: RegExp][] = [];
for (const type of peerMessageTypes) {
  for (const [index, [field, kind]] of peerMessageSchema[type].entries()) {
    fieldCases.push([type, field, 'missing (the tuple ends before it)', withField(type, index, 'cut'), / is missing$/]);
    fieldCases.push([type, field, 'undefined', withField(type, index, undefined), / is missing$/]);
    for (const [what, value, reason] of badValues[kind]) fieldCases.push([type, field, what, withField(type, index, value), reason]);
  }
}

describe('every peer message type against its schema', () => {
  it('has a schema for every message type, and a sample for every schema', () => {
    expect(Object.keys(samples).sort()).toEqual([...peerMessageTypes].sort());
  });

  it('gives every type its own code', () => {
    expect(new Set(peerMessageTypes.map((t) => peerMessageCodes[t])).size).toBe(peerMessageTypes.length);
  });

  it.each(peerMessageTypes.map((t) => [t]))('a valid %s as its tuple passes and comes back as the factory made it, keys in order', (type) => {
    expect(tuples[type]).toHaveLength(peerMessageSchema[type].length + 1);
    const checked = checkPeerMessage(tuples[type]);
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

  it.each(peerMessageTypes.map((t) => [t]))('a %s with one value more than its schema names is refused', (type) => {
    const checked = checkPeerMessage([...tuples[type], 1]);
    const fields = peerMessageSchema[type].length;
    expect(checked).toEqual({ ok: false, reason: `${type} has ${fields + 1} fields, more than its ${fields}` });
  });

  it('refuses values that are not messages at all', () => {
    for (const [value, reason] of [
      [null, 'a peer message is a tuple [type code, ...fields], not null'],
      [{ type: 'ping', zxid: 1n }, 'a peer message is a tuple [type code, ...fields], not an object'],
      ['ping', 'a peer message is a tuple [type code, ...fields], not a string'],
      [new Uint8Array(3), 'a peer message is a tuple [type code, ...fields], not bytes'],
      [[], 'the message has no type code'],
      [[1n], 'unknown message type code: the bigint 1'],
      [['ping', 1n], 'unknown message type code: a string'],
      [[0], 'unknown message type code: the number 0'],
      [[99, 1n], 'unknown message type code: the number 99'],
      [[1.5], 'unknown message type code: the number 1.5'],
    ] as const) {
      expect(checkPeerMessage(value)).toEqual({ ok: false, reason });
    }
  });

  it('hands the core an origin object built from the tuple', () => {
    const checked = checkPeerMessage([peerMessageCodes.sync, [3, 77]]);
    expect(checked).toEqual({ ok: true, msg: m.syncMessage(m.makeOrigin(3, 77)) });
  });
});
