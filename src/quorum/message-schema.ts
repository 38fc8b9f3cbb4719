import {
  RejectReason,
  pingReplyTouchesMax,
  sessionEntry,
  type PeerMessage,
  type SessionEntry,
  type PeerMessageType,
} from './messages.js';
import { ServerState } from './vote.js';
import { zxidEpochMax } from './zxid.js';

/**
 * The schema of every peer message, checked on receipt at the transport boundary so that the
 * core only ever sees well-formed messages. A frame from the network is untrusted whoever sent
 * it: a field that is missing, of the wrong type, out of range or unknown refuses the whole
 * message with a reason that names the message type and the field.
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
  /** A list of {sessionId, timeoutMs} entries (timeout 1..2^31-1 ms), at most pingReplyTouchesMax of them. */
  touches: 'touches',
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

/** Every message type's fields, in the key order its factory in messages.ts writes them. */
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
});

export const peerMessageTypes: readonly PeerMessageType[] = Object.freeze(Object.keys(peerMessageSchema) as PeerMessageType[]);

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

function hasOwn(value: object, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(value, key);
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
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) {
    return `is ${describe(value)}, not an origin {sid, requestId}`;
  }
  for (const key in value) {
    if (hasOwn(value, key) && key !== 'sid' && key !== 'requestId') return `has an unknown field '${key}'`;
  }
  const record = value as Record<string, unknown>;
  if (!hasOwn(value, 'sid')) return '.sid is missing';
  const sid = integerIn(record.sid, 0, 255, 'server id');
  if (sid !== null) return `.sid ${sid}`;
  if (!hasOwn(value, 'requestId')) return '.requestId is missing';
  const requestId = integerIn(record.requestId, 0, Number.MAX_SAFE_INTEGER, 'request id');
  return requestId === null ? null : `.requestId ${requestId}`;
}

function touchProblem(value: unknown): string | null {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) {
    return ` is ${describe(value)}, not a touch {sessionId, timeoutMs}`;
  }
  for (const key in value) {
    if (hasOwn(value, key) && key !== 'sessionId' && key !== 'timeoutMs') return ` has an unknown field '${key.slice(0, 40)}'`;
  }
  const record = value as Record<string, unknown>;
  if (!hasOwn(value, 'sessionId')) return '.sessionId is missing';
  const sessionId = bigintIn(record.sessionId, int64Min, int64Max, 'session id');
  if (sessionId !== null) return `.sessionId ${sessionId}`;
  if (!hasOwn(value, 'timeoutMs')) return '.timeoutMs is missing';
  const timeout = integerIn(record.timeoutMs, 1, 0x7fffffff, 'timeout');
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

/** A field's value as the core gets it: origins are rebuilt, so no stray keys ride along. */
function fieldValue(kind: FieldKind, value: unknown): unknown {
  if ((kind === FieldKind.origin || kind === FieldKind.originOrNull) && value !== null) {
    const origin = value as { sid: number; requestId: number };
    return { sid: origin.sid, requestId: origin.requestId };
  }
  if (kind === FieldKind.touches) return (value as SessionEntry[]).map((t) => sessionEntry(t.sessionId, t.timeoutMs));
  return value;
}

/** The first own key of `record` that is neither 'type' nor a field of the schema, or null. */
function unknownField(record: Record<string, unknown>, fields: readonly FieldSpec[]): string | null {
  for (const key in record) {
    if (key === 'type' || !hasOwn(record, key)) continue;
    let known = false;
    for (let i = 0; i < fields.length && !known; i++) known = fields[i]![0] === key;
    if (!known) return key;
  }
  return null;
}

/**
 * Checks a decoded frame against the schema. On success the message is rebuilt field by field
 * in the factory's key order, so the core never sees a key the schema does not name.
 */
export function checkPeerMessage(value: unknown): CheckedMessage {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) {
    return { ok: false, reason: `a peer message is an object with a type, not ${describe(value)}` };
  }
  const record = value as Record<string, unknown>;
  const type = hasOwn(value, 'type') ? record.type : undefined;
  if (typeof type !== 'string' || !hasOwn(peerMessageSchema, type)) {
    return { ok: false, reason: typeof type === 'string' ? `unknown message type '${type.slice(0, 40)}'` : 'the message has no type' };
  }
  const fields = peerMessageSchema[type as PeerMessageType];
  const unknown = unknownField(record, fields);
  if (unknown !== null) return { ok: false, reason: `${type} has an unknown field '${unknown.slice(0, 40)}'` };
  const msg: Record<string, unknown> = { type };
  // Index loops, no closures: every PROPOSAL, ACK and COMMIT passes through here.
  for (let i = 0; i < fields.length; i++) {
    const name = fields[i]![0];
    const kind = fields[i]![1];
    if (!hasOwn(value, name)) return { ok: false, reason: `${type}.${name} is missing` };
    const problem = fieldProblem(kind, record[name]);
    if (problem !== null) return { ok: false, reason: `${type}.${name}${problem.startsWith('.') || problem.startsWith('[') ? '' : ' '}${problem}` };
    msg[name] = fieldValue(kind, record[name]);
  }
  return { ok: true, msg: msg as unknown as PeerMessage };
}
