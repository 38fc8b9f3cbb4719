import { Packr } from 'msgpackr';
import { peerMessageCodes, peerMessageSchema } from '../quorum/message-schema.js';
import type { PeerMessageType } from '../quorum/messages.js';
import { withLength } from './bytes.js';

// The election port's bytes, as the fuzzer writes them: messages (valid or not) are shaped into
// wire tuples and packed by the fuzzer's own encoder, which src/fuzz/wire-check.ts holds to a
// real transport's bytes for every message type, and so is each handshake frame: a change of
// the peer wire format fails that check loudly.

/** The msgpackr settings of the peer wire (src/quorum/peer-frames.ts, peer-handshake.ts). */
const packr = new Packr({ useRecords: false, int64AsType: 'bigint', mapsAsObjects: true, moreTypes: false });

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Uint8Array);
}

/** A record-like value as its tuple: the named fields in order, what is absent left out, extras after. */
function recordTuple(value: unknown, names: readonly string[]): unknown {
  if (!isRecord(value)) return value;
  const extra = { ...value };
  const tuple: unknown[] = [];
  for (const name of names) {
    if (name in value) tuple.push(value[name]);
    delete extra[name];
  }
  return [...tuple, ...Object.values(extra)];
}

/** A field's value as its tuple carries it: origins as [sid, requestId], touches as [sessionId, timeoutMs] each. */
function fieldTuple(kind: string, value: unknown): unknown {
  if (kind === 'origin' || kind === 'originOrNull') return recordTuple(value, ['sid', 'requestId']);
  if (kind === 'touches' && Array.isArray(value)) return value.map((t) => recordTuple(t, ['sessionId', 'timeoutMs']));
  return value;
}

/**
 * Any value shaped as a wire tuple, however broken: a message object of a known type becomes
 * [code, its schema's fields in order (undefined where one is absent), then any extra values];
 * one of another type keeps its type value where the code goes. Anything else stays as it is.
 */
export function peerWireValue(value: unknown): unknown {
  if (!isRecord(value)) return value;
  const { type, ...rest } = value;
  const known = typeof type === 'string' && Object.prototype.hasOwnProperty.call(peerMessageSchema, type);
  const tuple: unknown[] = 'type' in value ? [known ? peerMessageCodes[type as PeerMessageType] : type] : [];
  for (const [name, kind] of known ? peerMessageSchema[type as PeerMessageType] : []) {
    tuple.push(fieldTuple(kind, rest[name]));
    delete rest[name];
  }
  return [...tuple, ...Object.values(rest)];
}

/** Any value as one peer message frame (valid messages and broken ones alike). */
export function encodePeerFrame(value: unknown): Buffer {
  return withLength(Buffer.from(packr.pack(peerWireValue(value))));
}

/** Any value as one frame, packed as it is (handshake records, valid or not). */
export function encodeRecordFrame(value: unknown): Buffer {
  return withLength(Buffer.from(packr.pack(value)));
}

/** A frame body back into a value; throws if it does not decode. */
export function decodePeerBody(body: Buffer): unknown {
  return packr.unpack(body);
}

/** The message type a decoded tuple claims by its code, if it is one. */
export function peerTypeOf(value: unknown): PeerMessageType | undefined {
  if (!Array.isArray(value)) return undefined;
  return (Object.keys(peerMessageCodes) as PeerMessageType[]).find((type) => peerMessageCodes[type] === value[0]);
}
