import { Packr } from 'msgpackr';
import { withLength } from './bytes.js';

// The election port's bytes, as the fuzzer writes them: messages (valid or not) are packed by
// the fuzzer's own encoder, which src/fuzz/wire-check.ts holds to a real transport's bytes for
// every message type, and so is each handshake frame: a change of the peer wire format fails
// that check loudly.

/** The msgpackr settings of the peer wire (src/quorum/peer-frames.ts, peer-handshake.ts). */
const packr = new Packr({ useRecords: false, int64AsType: 'bigint', mapsAsObjects: true, moreTypes: false });

/** Any value as one peer frame (valid messages and broken ones alike). */
export function encodePeerFrame(value: unknown): Buffer {
  return withLength(Buffer.from(packr.pack(value)));
}

/** A frame body back into a value; throws if it does not decode. */
export function decodePeerBody(body: Buffer): unknown {
  return packr.unpack(body);
}
