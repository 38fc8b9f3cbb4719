import {
  RejectReason,
  makeOrigin,
  pingReplyTouchesMax,
  sessionEntry,
  type Origin,
  type PeerMessage,
  type SessionEntry,
  type PeerMessageType,
} from './messages.js';
import { ServerState } from './vote.js';
import { zxidEpochMax } from './zxid.js';

/**
 * The schema of every peer message, and its shape on the wire: a tuple [type code, fields in
 * the schema's order], with no key names to pack, unpack or allocate. Checked on receipt at the
 * transport boundary so that the core only ever sees well-formed messages. A frame from the
 * network is untrusted whoever sent it: a field that is missing, of the wrong type or out of
 * range, or one too many, refuses the whole message with a reason that names the type and field.
 */

/** What a field may hold. Ranges are those the core can use without another check. */
export const FieldKind = {
  /** A zxid: bigint, 0 ≤ z < 2^64. */
  zxid: 'zxid',
  /** A zxid in a vote: as zxid, or -1 (an observer's "no candidate"). */
  voteZxid: 'voteZxid',
  /** An epoch: bigint, 0 ≤ e ≤ 2^32-1 (the high half of a zxid). */
  epoch: 'epoch',
  /** An epoch in a vote: as epoch, or -1. */
  voteEpoch: 'voteEpoch',
  /** The election's logical clock: bigint, 0 ≤ c < 2^64. */
  electionEpoch: 'electionEpoch',
  /** A server id as zoo.cfg's server.N writes it: integer 0..255. */
  sid: 'sid',
  protocolVersion: 'protocolVersion',
  serverState: 'serverState',
  boolean: 'boolean',
  bytes: 'bytes',
  /** On the wire a list of [sessionId, timeoutMs] tuples (timeout 1..2^31-1 ms), at most pingReplyTouchesMax of them; to the core SessionEntry objects. */
  touches: 'touches',
  /** On the wire a tuple [sid, requestId]; to the core an Origin. */
  origin: 'origin',
  originOrNull: 'originOrNull',
  rejectReason: 'rejectReason',
  /** A session id: bigint in the signed 64-bit range. */
  sessionId: 'sessionId',
  /** A session timeout: integer 0..2^31-1 ms. */
  timeoutMs: 'timeoutMs',
  /** A size in bytes: integer 0..2^53-1. */
  byteCount: 'byteCount',
} as const;
export type FieldKind = (typeof FieldKind)[keyof typeof FieldKind];

export type FieldSpec = readonly [name: string, kind: FieldKind];

const zxidField: readonly FieldSpec[] = [['zxid', FieldKind.zxid]];
const learnerInfoFields: readonly FieldSpec[] = [['acceptedEpoch', FieldKind.epoch], ['protocolVersion', FieldKind.protocolVersion]];
const txnFields: readonly FieldSpec[] = [['zxid', FieldKind.zxid], ['payload', FieldKind.bytes], ['origin', FieldKind.originOrNull]];

/** Every message type's fields, in the key order its factory in messages.ts writes them and in
 * the order its tuple carries them: changing a message's fields is an edit of its line here (and
 * a new quorumProtocolVersion). */
export const peerMessageSchema: Readonly<Record<PeerMessageType, readonly FieldSpec[]>> = Object.freeze({
  notification: [
    ['version', FieldKind.protocolVersion],
    ['state', FieldKind.serverState],
    ['leader', FieldKind.sid],
    ['zxid', FieldKind.voteZxid],
    ['electionEpoch', FieldKind.electionEpoch],
    ['peerEpoch', FieldKind.voteEpoch],
  ],
  followerInfo: learnerInfoFields,
  observerInfo: learnerInfoFields,
  leaderInfo: [['newEpoch', FieldKind.epoch], ['protocolVersion', FieldKind.protocolVersion]],
  ackEpoch: [['lastLoggedZxid', FieldKind.zxid], ['currentEpoch', FieldKind.epoch], ['acceptedNow', FieldKind.boolean]],
  diff: zxidField,
  trunc: zxidField,
  snap: [['zxid', FieldKind.zxid], ['snapshotBytes', FieldKind.byteCount]],
  snapChunk: [['data', FieldKind.bytes]],
  newLeader: zxidField,
  ackNewLeader: zxidField,
  upToDate: [],
  proposal: txnFields,
  ack: zxidField,
  commit: zxidField,
  inform: txnFields,
  ping: zxidField,
  pingReply: [['touches', FieldKind.touches]],
  request: [['origin', FieldKind.origin], ['payload', FieldKind.bytes]],
  syncRequest: [['origin', FieldKind.origin]],
  sync: [['origin', FieldKind.origin]],
  requestRejected: [['origin', FieldKind.origin], ['reason', FieldKind.rejectReason]],
  revalidate: [['sessionId', FieldKind.sessionId], ['timeoutMs', FieldKind.timeoutMs]],
  revalidateReply: [['sessionId', FieldKind.sessionId], ['valid', FieldKind.boolean]],
  leaderDurable: zxidField,
});

export const peerMessageTypes: readonly PeerMessageType[] = Object.freeze(Object.keys(peerMessageSchema) as PeerMessageType[]);

/** Every message type's code, the first element of its tuple; a code is never reused for another type. */
export const peerMessageCodes: Readonly<Record<PeerMessageType, number>> = Object.freeze({
  notification: 1, followerInfo: 2, observerInfo: 3, leaderInfo: 4, ackEpoch: 5, diff: 6, trunc: 7, snap: 8,
  snapChunk: 9, newLeader: 10, ackNewLeader: 11, upToDate: 12, proposal: 13, ack: 14, commit: 15, inform: 16,
  ping: 17, pingReply: 18, request: 19, syncRequest: 20, sync: 21, requestRejected: 22, revalidate: 23,
  revalidateReply: 24, leaderDurable: 25,
});

const typeByCode: readonly (PeerMessageType | undefined)[] = peerMessageTypes.reduce<(PeerMessageType | undefined)[]>((byCode, type) => {
  byCode[peerMessageCodes[type]] = type;
  return byCode;
}, []);

export type CheckedMessage =
  | { readonly ok: true; readonly msg: PeerMessage }
  | { readonly ok: false; readonly reason: string };

const uint64Max = (1n << 64n) - 1n;
const int64Min = -(1n << 63n);
const int64Max = (1n << 63n) - 1n;
const serverStates: ReadonlySet<unknown> = new Set(Object.values(ServerState));
const rejectReasons: ReadonlySet<unknown> = new Set(Object.values(RejectReason));

/** How a value looks, for a reason: never the value itself when it may be large. */
function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Uint8Array) return 'bytes';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return 'a string';
  if (typeof value === 'bigint') return `the bigint ${value}`;
  if (typeof value === 'number') return `the number ${value}`;
  return `${typeof value} ${String(value)}`;
}

function bigintIn(value: unknown, min: bigint, max: bigint, what: string): string | null {
  if (typeof value !== 'bigint') return `is ${describe(value)}, not a bigint ${what}`;
  return value < min || value > max ? `${value} is outside ${min}..${max}` : null;
}

function integerIn(value: unknown, min: number, max: number, what: string): string | null {
  if (typeof value !== 'number' || !Number.isInteger(value)) return `is ${describe(value)}, not an integer ${what}`;
  return value < min || value > max ? `${value} is outside ${min}..${max}` : null;
}

function originProblem(value: unknown): string | null {
  if (!Array.isArray(value)) return `is ${describe(value)}, not an origin [sid, requestId]`;
  if (value.length !== 2) return `has ${value.length} elements, not an origin [sid, requestId]`;
  const sid = integerIn(value[0], 0, 255, 'server id');
  if (sid !== null) return `.sid ${sid}`;
  const requestId = integerIn(value[1], 0, Number.MAX_SAFE_INTEGER, 'request id');
  return requestId === null ? null : `.requestId ${requestId}`;
}

function touchProblem(value: unknown): string | null {
  if (!Array.isArray(value)) return ` is ${describe(value)}, not a touch [sessionId, timeoutMs]`;
  if (value.length !== 2) return ` has ${value.length} elements, not a touch [sessionId, timeoutMs]`;
  const sessionId = bigintIn(value[0], int64Min, int64Max, 'session id');
  if (sessionId !== null) return `.sessionId ${sessionId}`;
  const timeout = integerIn(value[1], 1, 0x7fffffff, 'timeout');
  return timeout === null ? null : `.timeoutMs ${timeout}`;
}

function touchesProblem(value: unknown): string | null {
  if (!Array.isArray(value)) return `is ${describe(value)}, not a list of touches`;
  if (value.length > pingReplyTouchesMax) return `holds ${value.length} touches, more than ${pingReplyTouchesMax}`;
  for (let i = 0; i < value.length; i++) {
    const problem = touchProblem(value[i]);
    if (problem !== null) return `[${i}]${problem}`;
  }
  return null;
}

/** Why `value` is not a valid field of this kind, or null when it is. */
export function fieldProblem(kind: FieldKind, value: unknown): string | null {
  switch (kind) {
    case FieldKind.zxid: return bigintIn(value, 0n, uint64Max, 'zxid');
    case FieldKind.voteZxid: return bigintIn(value, -1n, uint64Max, 'zxid');
    case FieldKind.epoch: return bigintIn(value, 0n, zxidEpochMax, 'epoch');
    case FieldKind.voteEpoch: return bigintIn(value, -1n, zxidEpochMax, 'epoch');
    case FieldKind.electionEpoch: return bigintIn(value, 0n, uint64Max, 'election epoch');
    case FieldKind.sid: return integerIn(value, 0, 255, 'server id');
    case FieldKind.protocolVersion: return integerIn(value, 0, 0xffff, 'protocol version');
    case FieldKind.serverState: return serverStates.has(value) ? null : `${describe(value)} is not a server state (0..3)`;
    case FieldKind.boolean: return typeof value === 'boolean' ? null : `is ${describe(value)}, not a boolean`;
    case FieldKind.bytes: return value instanceof Uint8Array ? null : `is ${describe(value)}, not bytes`;
    case FieldKind.touches: return touchesProblem(value);
    case FieldKind.origin: return originProblem(value);
    case FieldKind.originOrNull: return value === null ? null : originProblem(value);
    case FieldKind.rejectReason: return rejectReasons.has(value) ? null : `${describe(value)} is not a reject reason`;
    case FieldKind.sessionId: return bigintIn(value, int64Min, int64Max, 'session id');
    case FieldKind.timeoutMs: return integerIn(value, 0, 0x7fffffff, 'timeout');
    case FieldKind.byteCount: return integerIn(value, 0, Number.MAX_SAFE_INTEGER, 'size');
  }
}

/** A field's value as the core gets it: origins and touches become objects. */
function fieldValue(kind: FieldKind, value: unknown): unknown {
  if ((kind === FieldKind.origin || kind === FieldKind.originOrNull) && value !== null) {
    const origin = value as [number, number];
    return makeOrigin(origin[0], origin[1]);
  }
  if (kind === FieldKind.touches) return (value as [bigint, number][]).map((t) => sessionEntry(t[0], t[1]));
  return value;
}

/** A field's value as its tuple carries it. */
function wireValue(kind: FieldKind, value: unknown): unknown {
  if ((kind === FieldKind.origin || kind === FieldKind.originOrNull) && value !== null && typeof value === 'object') {
    const origin = value as Origin;
    return [origin.sid, origin.requestId];
  }
  if (kind === FieldKind.touches) return (value as readonly SessionEntry[]).map((t) => [t.sessionId, t.timeoutMs]);
  return value;
}

/** A message as its wire tuple: [type code, fields in the schema's order]. */
export function peerMessageTuple(msg: PeerMessage): unknown[] {
  const fields = peerMessageSchema[msg.type];
  const record = msg as unknown as Record<string, unknown>;
  // Sized once: pushing onto [code] grew the array's backing store on every message.
  const tuple = new Array<unknown>(fields.length + 1);
  tuple[0] = peerMessageCodes[msg.type];
  for (let i = 0; i < fields.length; i++) tuple[i + 1] = wireValue(fields[i]![1], record[fields[i]![0]]);
  return tuple;
}

/**
 * Checks a decoded wire tuple against the schema. On success the message is built field by
 * field in the factory's key order, so the core gets the same object a factory makes.
 */
export function checkPeerMessage(value: unknown): CheckedMessage {
  if (!Array.isArray(value)) return { ok: false, reason: `a peer message is a tuple [type code, ...fields], not ${describe(value)}` };
  return checkPeerTuple(value, value.length);
}

/** checkPeerMessage for the first `length` values of `values` (the frame reader reuses one array for every frame). */
export function checkPeerTuple(values: readonly unknown[], length: number): CheckedMessage {
  const code = length === 0 ? undefined : values[0];
  const type = typeof code === 'number' ? typeByCode[code] : undefined;
  if (type === undefined) return { ok: false, reason: length === 0 ? 'the message has no type code' : `unknown message type code: ${describe(code)}` };
  const fields = peerMessageSchema[type];
  if (length > fields.length + 1) return { ok: false, reason: `${type} has ${length - 1} fields, more than its ${fields.length}` };
  const msg: Record<string, unknown> = { type };
  // Index loops, no closures: every PROPOSAL, ACK and COMMIT passes through here.
  for (let i = 0; i < fields.length; i++) {
    const name = fields[i]![0];
    const kind = fields[i]![1];
    const field: unknown = i + 1 < length ? values[i + 1] : undefined;
    if (field === undefined) return { ok: false, reason: `${type}.${name} is missing` };
    const problem = fieldProblem(kind, field);
    if (problem !== null) return { ok: false, reason: `${type}.${name}${problem.startsWith('.') || problem.startsWith('[') ? '' : ' '}${problem}` };
    msg[name] = fieldValue(kind, field);
  }
  return { ok: true, msg: msg as unknown as PeerMessage };
}
