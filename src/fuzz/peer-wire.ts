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

/** An origin-like value as its tuple: [sid, requestId] with what is absent left out and extras after. */
function originTuple(value: unknown): unknown {
  if (!isRecord(value)) return value;
  const { sid, requestId, ...extra } = value;
  return [...('sid' in value ? [sid] : []), ...('requestId' in value ? [requestId] : []), ...Object.values(extra)];
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
    tuple.push(kind === 'origin' || kind === 'originOrNull' ? originTuple(rest[name]) : rest[name]);
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
