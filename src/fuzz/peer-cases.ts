import { Packr } from 'msgpackr';
import { encodeTxnRequest } from '../data/txn-codec.js';
import type { TxnOp } from '../data/txn.js';
import { OpCode } from '../protocol/constants.js';
import {
  CreateRequestCodec,
  PathRequestCodec,
  PathVersionRequestCodec,
  SetACLRequestCodec,
  SetDataRequestCodec,
} from '../protocol/records.js';
import {
  ackEpochMessage,
  ackMessage,
  ackNewLeaderMessage,
  commitMessage,
  leaderDurableMessage,
  diffMessage,
  durableZxid,
  followerInfoMessage,
  informMessage,
  leaderInfoMessage,
  makeOrigin,
  newLeaderMessage,
  notificationMessage,
  observerInfoMessage,
  pingMessage,
  pingReplyMessage,
  pingReplyTouchesMax,
  sessionEntry,
  proposalMessage,
  requestMessage,
  requestRejectedMessage,
  revalidateMessage,
  revalidateReplyMessage,
  snapChunkMessage,
  snapMessage,
  syncMessage,
  syncRequestMessage,
  truncMessage,
  upToDateMessage,
  type Origin,
  type PeerMessage,
  type PeerMessageType,
  type RejectReason,
  type SessionEntry,
} from '../quorum/messages.js';
import { ServerState } from '../quorum/vote.js';
import { peerMessageSchema } from '../quorum/message-schema.js';
import { mutateBody, withLength } from './bytes.js';
import type { FuzzInput } from './client-cases.js';
import { recordGenerators } from './client-cases.js';
import { answerOpening, dialOpening, type OpeningPlan } from './peer-opening.js';
import { encodePeerFrame } from './peer-wire.js';
import { phantomObserverSid } from './servers.js';
import { anyInt, anyLong, caseRng, CaseStream, Prng, randomBytes, weighted } from './rng.js';

// Election-port cases. A case is one TCP connection between the fuzzer and a member: usually the
// fuzzer dials, sometimes a member dials the fuzzer (src/fuzz/peer-opening.ts plans either
// handshake, valid or broken in one of many ways); then peer messages of every type built by the
// protocol's own factories, some with a field removed, retyped (a number where a bigint zxid
// belongs), out of range, of an unknown type, or huge; the last one may be a broken frame.

/** Whom a case claims to be: a phantom observer, the current leader, or another voter. */
export type PeerClaim = 'observer' | 'leader' | 'voter';
/** Which member a case dials. */
export type PeerTargetRole = 'leader' | 'follower';

export interface PeerCase {
  seed: number;
  index: number;
  target: PeerTargetRole;
  claim: PeerClaim;
  /** Picks among the members that fit the target role and claim, so that the choice replays. */
  pick: number;
  /** How the connection opens: the handshake, from the side the fuzzer plays. */
  opening: OpeningPlan;
  /** The messages sent once the handshake is done (after one that should be refused, too). */
  inputs: FuzzInput[];
}

// ---- values ------------------------------------------------------------------------------

function zxid(rng: Prng): bigint {
  return weighted<() => bigint>(rng, [
    [6, () => (BigInt(rng.range(0, 3)) << 32n) | BigInt(rng.range(0, 2000))],
    [1, () => 0n],
    [2, () => anyLong(rng)],
  ])();
}

function epoch(rng: Prng): bigint {
  return rng.chance(0.8) ? BigInt(rng.range(0, 4)) : anyLong(rng);
}

function sid(rng: Prng): number {
  return rng.chance(0.85) ? rng.range(1, 5) : rng.pick([0, 6, 99, 255, 256, -1, 0x7fffffff]);
}

function origin(rng: Prng): Origin {
  return makeOrigin(rng.chance(0.6) ? phantomObserverSid : sid(rng), rng.chance(0.8) ? rng.range(1, 1000) : anyInt(rng));
}

const touchPackr = new Packr({ useRecords: false, int64AsType: 'bigint', mapsAsObjects: true, moreTypes: false });

/** A session touch: mostly valid, sometimes a timeout the schema must refuse. */
function touch(rng: Prng): SessionEntry {
  return sessionEntry(rng.chance(0.5) ? BigInt(rng.range(1, 4)) : anyLong(rng), rng.pick([200, 4000, 10_000, -1, 0, 0x7fffffff]));
}

function touches(rng: Prng): SessionEntry[] {
  if (rng.chance(0.95)) return Array.from({ length: rng.range(0, 3) }, () => touch(rng));
  // A huge array: what matters is its length, so one record repeats.
  return new Array<SessionEntry>(rng.pick([1000, pingReplyTouchesMax + 1])).fill(touch(rng));
}

/** A write as an origin server forwards it: valid txn bytes, or not. */
function payload(rng: Prng): Uint8Array {
  return weighted<() => Uint8Array>(rng, [
    [4, () => txnRequest(rng)],
    [3, () => randomBytes(rng, rng.range(0, 64))],
    [2, () => mutateBody(rng, Buffer.from(txnRequest(rng))).bytes.subarray(4)],
    [1, () => touchPackr.pack(rng.pick<unknown>([[1], [1, 0n], { zxid: 1n }, null, 'txn', [2, 0n, 0, 0n, 0, [], 1]]))],
  ])();
}

function txnOp(rng: Prng): TxnOp {
  return weighted<() => TxnOp>(rng, [
    [4, () => ({ type: OpCode.create, request: recordGenerators.get(CreateRequestCodec)!(rng) }) as TxnOp],
    [2, () => ({ type: OpCode.setData, request: recordGenerators.get(SetDataRequestCodec)!(rng) }) as TxnOp],
    [2, () => ({ type: OpCode.delete, request: recordGenerators.get(PathVersionRequestCodec)!(rng) }) as TxnOp],
    [1, () => ({ type: OpCode.setACL, request: recordGenerators.get(SetACLRequestCodec)!(rng) }) as TxnOp],
    [1, () => ({ type: OpCode.deleteContainer, request: recordGenerators.get(PathRequestCodec)!(rng) }) as TxnOp],
    [1, () => ({ type: OpCode.createSession, timeout: anyInt(rng) })],
    [1, () => ({ type: OpCode.closeSession })],
    [1, () => ({ type: OpCode.error, err: anyInt(rng) })],
  ])();
}

function txnRequest(rng: Prng): Uint8Array {
  try {
    return encodeTxnRequest({
      time: rng.chance(0.9) ? 1_800_000_000_000 : anyInt(rng),
      sessionId: rng.chance(0.5) ? 0n : anyLong(rng),
      cxid: anyInt(rng),
      authIds: rng.chance(0.8) ? [{ scheme: 'ip', id: '127.0.0.1' }] : [],
      op: txnOp(rng),
    });
  } catch {
    // A value the txn writer refuses to carry (the writer's check holds): send bytes instead.
    return randomBytes(rng, rng.range(1, 32));
  }
}

/** A message of each type, from the protocol's own factories; the mapped type makes it every type. */
const messageGenerators: { readonly [K in PeerMessageType]: (rng: Prng) => PeerMessage } = {
  notification: (rng) => notificationMessage(rng.chance(0.9) ? rng.pick(Object.values(ServerState)) : (anyInt(rng) as ServerState), sid(rng), zxid(rng), epoch(rng), epoch(rng)),
  followerInfo: (rng) => followerInfoMessage(epoch(rng)),
  observerInfo: (rng) => observerInfoMessage(epoch(rng)),
  leaderInfo: (rng) => leaderInfoMessage(epoch(rng)),
  ackEpoch: (rng) => ackEpochMessage(zxid(rng), epoch(rng), rng.chance(0.5)),
  diff: (rng) => diffMessage(zxid(rng)),
  trunc: (rng) => truncMessage(zxid(rng)),
  snap: (rng) => snapMessage(zxid(rng), rng.chance(0.9) ? rng.range(0, 64) : anyInt(rng)),
  snapChunk: (rng) => snapChunkMessage(randomBytes(rng, rng.chance(0.95) ? rng.range(0, 64) : 1_000_000)),
  newLeader: (rng) => newLeaderMessage(zxid(rng)),
  ackNewLeader: (rng) => ackNewLeaderMessage(durableZxid(zxid(rng))),
  upToDate: () => upToDateMessage(),
  proposal: (rng) => proposalMessage(zxid(rng), payload(rng), rng.chance(0.8) ? origin(rng) : null),
  ack: (rng) => ackMessage(durableZxid(zxid(rng))),
  commit: (rng) => commitMessage(zxid(rng)),
  leaderDurable: (rng) => leaderDurableMessage(durableZxid(zxid(rng))),
  inform: (rng) => informMessage(zxid(rng), payload(rng), rng.chance(0.8) ? origin(rng) : null),
  ping: (rng) => pingMessage(zxid(rng)),
  pingReply: (rng) => pingReplyMessage(touches(rng)),
  request: (rng) => requestMessage(origin(rng), payload(rng)),
  syncRequest: (rng) => syncRequestMessage(origin(rng)),
  sync: (rng) => syncMessage(origin(rng)),
  requestRejected: (rng) => requestRejectedMessage(origin(rng), rng.chance(0.9) ? rng.pick<RejectReason>(['busy', 'notReady']) : ('bogus' as RejectReason)),
  revalidate: (rng) => revalidateMessage(anyLong(rng), rng.chance(0.8) ? rng.pick([200, 4000, 10_000]) : anyInt(rng)),
  revalidateReply: (rng) => revalidateReplyMessage(anyLong(rng), rng.chance(0.5)),
};

export const peerMessageTypes = Object.keys(messageGenerators) as PeerMessageType[];
const toLeaderTypes: PeerMessageType[] = ['followerInfo', 'observerInfo', 'ackEpoch', 'ackNewLeader', 'ack', 'pingReply', 'request', 'syncRequest', 'revalidate', 'notification'];
const toLearnerTypes: PeerMessageType[] = ['leaderInfo', 'diff', 'trunc', 'snap', 'newLeader', 'upToDate', 'proposal', 'commit', 'leaderDurable', 'inform', 'ping', 'sync', 'requestRejected', 'revalidateReply', 'notification'];

/** Messages that make sense from `claim` to `target` most of the time; any type now and then. */
function messageType(rng: Prng, c: Pick<PeerCase, 'claim' | 'target'>): PeerMessageType {
  if (rng.chance(0.25)) return rng.pick(peerMessageTypes);
  return rng.pick(c.claim === 'leader' ? toLearnerTypes : c.target === 'leader' ? toLeaderTypes : peerMessageTypes);
}

// ---- mutations of a message as a value -------------------------------------------------------

const typeNames = ['bogus', '', 'Proposal', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'hello'];

function oddValue(rng: Prng): unknown {
  return weighted<() => unknown>(rng, [
    [3, () => rng.pick(['x', '', '0x1', '1'])],
    [3, () => rng.pick([1.5, NaN, Infinity, -Infinity, -1, 2 ** 53 + 2, 2 ** 40, 0, 2 ** 32])],
    [2, () => rng.pick([0n, -1n, 1n << 62n, -(1n << 63n), 0xffffffffn])],
    [2, () => null],
    [1, () => rng.pick([true, false])],
    [2, () => rng.pick<unknown>([[], {}, [1, 2, 3], { sid: 1 }, { sid: 'x', requestId: [] }])],
    [1, () => Buffer.from('ab')],
    [1, () => new Array(rng.pick([10_000, 200_000])).fill(0)],
    [1, () => 'a'.repeat(rng.pick([10_000, 500_000]))],
  ])();
}

/** A bigint as a number and a number as a bigint; null for anything else. */
function swapNumeric(v: unknown): number | bigint | null {
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'number') return BigInt(Math.trunc(Number.isFinite(v) ? v : 0));
  return null;
}

type ValueMutation = (rng: Prng, msg: Record<string, unknown>) => { value: unknown; what: string };

function fieldOf(rng: Prng, msg: Record<string, unknown>): string | null {
  const keys = Object.keys(msg).filter((k) => k !== 'type');
  return keys.length === 0 ? null : rng.pick(keys);
}

const valueMutations: readonly (readonly [number, ValueMutation])[] = [
  [5, (rng, msg) => {
    const key = fieldOf(rng, msg);
    if (key === null) return { value: { ...msg, extra: oddValue(rng) }, what: 'an extra field' };
    const { [key]: _dropped, ...rest } = msg;
    return { value: rest, what: `without ${key}` };
  }],
  [8, (rng, msg) => {
    const key = fieldOf(rng, msg);
    if (key === null) return { value: { ...msg, zxid: oddValue(rng) }, what: 'with an unexpected zxid' };
    const value = oddValue(rng);
    return { value: { ...msg, [key]: value }, what: `${key} := ${describe(value)}` };
  }],
  [5, (rng, msg) => {
    // A number where a bigint belongs, and the other way round.
    const key = fieldOf(rng, msg);
    if (key === null) return { value: msg, what: 'unchanged' };
    const v = msg[key];
    const swapped = swapNumeric(v) ?? (v === null ? 0 : v);
    return { value: { ...msg, [key]: swapped }, what: `${key} as a ${typeof swapped}` };
  }],
  [3, (rng, msg) => {
    const key = fieldOf(rng, msg);
    if (key === null || typeof msg[key] !== 'object' || msg[key] === null || msg[key] instanceof Uint8Array) return { value: { ...msg, origin: oddValue(rng) }, what: 'with an odd origin' };
    const inner = { ...(msg[key] as Record<string, unknown>) };
    const innerKey = rng.pick(Object.keys(inner).length > 0 ? Object.keys(inner) : ['sid']);
    if (rng.chance(0.5)) delete inner[innerKey];
    else inner[innerKey] = oddValue(rng);
    return { value: { ...msg, [key]: inner }, what: `${key}.${innerKey} removed or retyped` };
  }],
  [4, (rng, msg) => {
    const type = rng.chance(0.7) ? rng.pick(typeNames) : oddValue(rng);
    return { value: { ...msg, type }, what: `type := ${describe(type)}` };
  }],
  [2, (_rng, msg) => {
    const { type: _type, ...rest } = msg;
    return { value: rest, what: 'without a type' };
  }],
  [2, (rng, msg) => ({ value: JSON.parse(`{"__proto__": {"polluted": 1}, "type": ${JSON.stringify(String(msg.type))}}`), what: 'with a __proto__ key' })],
  [3, (rng) => {
    const value = rng.pick<unknown>([null, 0, 'notification', [], ['proposal', 1n], 1n, true, Buffer.from('x')]);
    return { value, what: `not an object: ${describe(value)}` };
  }],
];

function describe(value: unknown): string {
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'string') return value.length > 20 ? `a string of ${value.length} chars` : JSON.stringify(value);
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (value instanceof Uint8Array) return `${value.length} bytes`;
  if (value !== null && typeof value === 'object') return 'an object';
  return String(value);
}

function mutateMessage(rng: Prng, msg: PeerMessage): { value: unknown; what: string } {
  return weighted(rng, valueMutations)(rng, { ...(msg as unknown as Record<string, unknown>) });
}

/** Every (message type, field) pair of the schema, in a fixed order. */
const fieldPairs: readonly (readonly [PeerMessageType, string])[] = Object.entries(peerMessageSchema)
  .flatMap(([type, fields]) => fields.map(([field]) => [type as PeerMessageType, field] as const));

/**
 * Pair `turn` (modulo their count) with its field removed, replaced by an odd value, or its
 * number/bigint swapped: cases take the pairs in turn, so every field of every type is
 * mutated after valid handshakes many times per run, not only when the dice allow.
 */
function fieldMutation(rng: Prng, turn: number): FuzzInput {
  const [type, field] = fieldPairs[turn % fieldPairs.length]!;
  const msg = { ...(messageGenerators[type](rng) as unknown as Record<string, unknown>) };
  const how = rng.range(0, 2);
  if (how === 0) {
    const { [field]: _dropped, ...rest } = msg;
    return frameOf(rest, `${type} without ${field}`, rng);
  }
  if (how === 1) {
    const value = oddValue(rng);
    return frameOf({ ...msg, [field]: value }, `${type} ${field} := ${describe(value)}`, rng);
  }
  const v = msg[field];
  const swapped = swapNumeric(v);
  return frameOf({ ...msg, [field]: swapped }, `${type} ${field} as a ${swapped === null ? 'null' : typeof swapped}`, rng);
}

function frameOf(value: unknown, what: string, rng: Prng): FuzzInput {
  try {
    return { bytes: encodePeerFrame(value), what };
  } catch (err) {
    // msgpack cannot carry the value (a bigint beyond 64 bits): send the bytes of a broken one.
    return { bytes: withLength(randomBytes(rng, 8)), what: `${what} (unencodable: ${(err as Error).message}); 8 random bytes instead` };
  }
}

/** A message between the first and the last: usually valid, sometimes not. */
function midMessage(rng: Prng, c: Pick<PeerCase, 'claim' | 'target'>): FuzzInput {
  const type = messageType(rng, c);
  const msg = messageGenerators[type](rng);
  if (rng.chance(0.85)) return frameOf(msg, type, rng);
  const m = mutateMessage(rng, msg);
  return frameOf(m.value, `${type} ${m.what}`, rng);
}

/** The last message: often broken, as a value or as bytes. */
function finalMessage(rng: Prng, c: Pick<PeerCase, 'claim' | 'target'>): FuzzInput {
  const type = messageType(rng, c);
  const msg = messageGenerators[type](rng);
  return weighted<() => FuzzInput>(rng, [
    [3, () => frameOf(msg, type, rng)],
    [6, () => {
      const m = mutateMessage(rng, msg);
      return frameOf(m.value, `${type} ${m.what}`, rng);
    }],
    [4, () => {
      const m = mutateBody(rng, encodePeerFrame(msg).subarray(4));
      return { bytes: m.bytes, what: `${type}: ${m.what}` };
    }],
    [1, () => ({ bytes: withLength(Buffer.concat([Buffer.alloc(rng.pick([1000, 100_000]), 0x91), Buffer.from([0xc0])])), what: 'arrays nested deeper than any stack' })],
    [1, () => ({ bytes: withLength(Buffer.from([0xc1])), what: 'the byte msgpack never uses' })],
    [1, () => ({ bytes: withLength(Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff])), what: 'an array claiming 2^32-1 elements' })],
    [1, () => ({ bytes: Buffer.concat([encodePeerFrame(msg), randomBytes(rng, rng.range(1, 64))]), what: `${type}, then garbage` })],
  ])();
}

/** Case `index` of the run with `seed`: a pure function of the two. */
export function peerCase(seed: number, index: number): PeerCase {
  const rng = caseRng(seed, CaseStream.peer, index);
  // Few: each waits for a member to dial, which members do at most every 2 s.
  const answering = rng.chance(0.05);
  const claim = answering ? 'observer' : weighted<PeerClaim>(rng, [[80, 'observer'], [14, 'leader'], [6, 'voter']]);
  const target: PeerTargetRole = claim === 'leader' ? 'follower' : rng.chance(0.6) ? 'leader' : 'follower';
  const c = { claim, target };
  const pick = rng.next();
  const aMessage = (r: Prng): FuzzInput => midMessage(r, c);
  const opening = answering ? answerOpening(rng, aMessage) : dialOpening(rng, aMessage);
  const inputs: FuzzInput[] = [];
  if (opening.expect !== 'accepted') {
    // Messages after a handshake that should have been refused: they must go nowhere.
    const count = rng.chance(0.5) ? 0 : rng.range(1, 3);
    for (let i = 0; i < count; i++) inputs.push(midMessage(rng, c));
  } else {
    if (claim === 'observer' && target === 'leader' && rng.chance(0.5)) {
      // A learner's opening, so that later messages reach a leader that knows this observer.
      inputs.push(frameOf(observerInfoMessage(rng.chance(0.8) ? 0n : epoch(rng)), 'observerInfo', rng));
      if (rng.chance(0.6)) inputs.push(frameOf(ackEpochMessage(zxid(rng), epoch(rng), rng.chance(0.5)), 'ackEpoch', rng));
    }
    const count = rng.range(1, 12);
    for (let i = 1; i < count; i++) inputs.push(midMessage(rng, c));
    // Every other case ends on the next pair's field mutation (see fieldMutation).
    if (index % 2 === 0) inputs.push(fieldMutation(rng, index / 2));
    else inputs.push(rng.chance(0.7) ? finalMessage(rng, c) : midMessage(rng, c));
  }
  return { seed, index, target, claim, pick, opening, inputs };
}

/** A LOOKING notification from `claimed` that no election counts (election epoch 0): every member answers it. */
export function barrierFrame(claimed: number): Buffer {
  return encodePeerFrame(notificationMessage(ServerState.looking, claimed, 0n, 0n, 0n));
}

/** One valid message of every type, for checking the fuzzer's encoder against the transport's. */
export function sampleMessages(): PeerMessage[] {
  const rng = new Prng(1);
  return peerMessageTypes.map((type) => messageGenerators[type](rng));
}
