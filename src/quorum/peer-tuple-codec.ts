// The peer wire's tuples as bytes, without msgpackr in the way of the messages every write
// sends (PROPOSAL, ACK, COMMIT, REQUEST): a writer and a reader of exactly the msgpack msgpackr
// writes and reads for them (src/fuzz/wire-check.ts and test/sim/messages-roundtrip.test.ts hold
// the writer to msgpackr's bytes); what either does not handle goes through msgpackr instead.
import { MsgpackWriter } from '../data/msgpack-writer.js';
import { readLong, readUnsignedLong } from '../protocol/jute.js';
import { FieldKind, checkPeerTuple, peerMessageCodes, peerMessageSchema, type CheckedMessage } from './message-schema.js';
import type { Origin, PeerMessage } from './messages.js';

/** Frames up to this size are written by TupleWriter; larger ones (SNAP chunks) by msgpackr. */
export const scratchBytes = 64 * 1024;

/**
 * Writes a message's tuple straight into a buffer, the bytes msgpackr writes for
 * peerMessageTuple(msg) (src/fuzz/wire-check.ts holds the two together): packing the tuple
 * with msgpackr and copying it out was the largest item of a leader's peer traffic.
 */
export class TupleWriter extends MsgpackWriter {
  /** The frame's end in `buf` (its body from byte 4), -1 when it does not fit, -2 for a value msgpackr must write. */
  write(msg: PeerMessage, buf: Buffer): number {
    this.begin(buf, 4, buf.length);
    const fields = peerMessageSchema[msg.type];
    const record = msg as unknown as Record<string, unknown>;
    this.arrayHeader(fields.length + 1);
    this.number(peerMessageCodes[msg.type]);
    for (let i = 0; i < fields.length; i++) {
      const kind = fields[i]![1];
      const value = record[fields[i]![0]];
      if ((kind === FieldKind.origin || kind === FieldKind.originOrNull) && value !== null && typeof value === 'object') this.origin(value as Origin);
      else this.item(value);
    }
    return this.end();
  }

  private origin(origin: Origin): void {
    this.arrayHeader(2);
    this.number(origin.sid);
    this.number(origin.requestId);
  }

  private item(value: unknown): void {
    if (value instanceof Uint8Array) this.bytes(value);
    else if (typeof value === 'boolean') this.boolean(value);
    else if (Array.isArray(value)) {
      this.arrayHeader(value.length);
      for (let i = 0; i < value.length; i++) this.item(value[i]);
    } else this.value(value);
  }
}

/** No message has more values than this in its tuple (its code and fields). */
const tupleValuesMax = 15;
/** Nesting the reader follows: a field's list (touches) of lists. */
const tupleDepthMax = 2;
const noBody = Buffer.alloc(0);

/**
 * Reads a frame's tuple off its bytes into one reused array and checks it with checkPeerTuple,
 * the check a msgpackr-decoded tuple gets. It reads only the forms whose values it makes exactly
 * as msgpackr would (integers, int64 as bigint, float64, bin as a view, ASCII strings, nil,
 * booleans, short arrays); for anything else, or bytes that end early or run on, it answers
 * null and msgpackr decodes the frame (and names what is wrong with it). Saved per frame:
 * msgpackr's DataView over the body and the tuple array.
 */
export class TupleReader {
  private body: Buffer = noBody;
  private pos = 0;
  private failed = false;
  private readonly values: unknown[] = new Array<unknown>(tupleValuesMax).fill(undefined);

  /** The message in `body` as checked, or null when msgpackr must decode it. */
  read(body: Buffer): CheckedMessage | null {
    const head = body[0];
    if (head === undefined || (head & 0xf0) !== 0x90) return null;
    const count = head & 0x0f;
    this.body = body;
    this.pos = 1;
    this.failed = false;
    for (let i = 0; i < count && !this.failed; i++) this.values[i] = this.value(0);
    const result = this.failed || this.pos !== body.length ? null : checkPeerTuple(this.values, count);
    // Hold no payload past the call (a loop: Array.prototype.fill is a call into C++).
    for (let i = 0; i < count; i++) this.values[i] = undefined;
    this.body = noBody;
    return result;
  }

  private fail(): undefined {
    this.failed = true;
    return undefined;
  }

  /** Whether `n` more bytes are there; marks the read failed when not. */
  private has(n: number): boolean {
    if (this.pos + n <= this.body.length) return true;
    this.failed = true;
    return false;
  }

  private value(depth: number): unknown {
    if (!this.has(1)) return undefined;
    const token = this.body[this.pos++]!;
    if (token < 0x80) return token;
    if (token >= 0xe0) return token - 0x100;
    if ((token & 0xf0) === 0x90) return this.array(token & 0x0f, depth);
    if ((token & 0xe0) === 0xa0) return this.ascii(token & 0x1f);
    const b = this.body;
    const at = this.pos;
    switch (token) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xc4: return this.has(1) ? this.bin(b[this.pos++]!) : undefined;
      case 0xc5: return this.has(2) ? this.bin(this.skip(2, b.readUInt16BE(at))) : undefined;
      case 0xc6: return this.has(4) ? this.bin(this.skip(4, b.readUInt32BE(at))) : undefined;
      case 0xcb: return this.has(8) ? this.skip(8, b.readDoubleBE(at)) : undefined;
      case 0xcc: return this.has(1) ? this.skip(1, b[at]!) : undefined;
      case 0xcd: return this.has(2) ? this.skip(2, b.readUInt16BE(at)) : undefined;
      case 0xce: return this.has(4) ? this.skip(4, b.readUInt32BE(at)) : undefined;
      case 0xcf: return this.has(8) ? this.skip(8, readUnsignedLong(b, at)) : undefined;
      case 0xd0: return this.has(1) ? this.skip(1, b.readInt8(at)) : undefined;
      case 0xd1: return this.has(2) ? this.skip(2, b.readInt16BE(at)) : undefined;
      case 0xd2: return this.has(4) ? this.skip(4, b.readInt32BE(at)) : undefined;
      case 0xd3: return this.has(8) ? this.skip(8, readLong(b, at)) : undefined;
      case 0xd9: return this.has(1) ? this.ascii(b[this.pos++]!) : undefined;
      case 0xdc: return this.has(2) ? this.array(this.skip(2, b.readUInt16BE(at)), depth) : undefined;
      default: return this.fail();
    }
  }

  /** `value`, after moving past the `n` bytes it was read from. */
  private skip<T>(n: number, value: T): T {
    this.pos += n;
    return value;
  }

  private bin(length: number): Buffer | undefined {
    if (!this.has(length)) return undefined;
    return this.body.subarray(this.pos, (this.pos += length));
  }

  private ascii(length: number): string | undefined {
    if (!this.has(length)) return undefined;
    const start = this.pos;
    for (let i = start; i < start + length; i++) if (this.body[i]! >= 0x80) return this.fail();
    this.pos += length;
    return this.body.toString('latin1', start, start + length);
  }

  private array(length: number, depth: number): unknown[] | undefined {
    // Every value takes a byte at least: a longer claim cannot be true.
    if (depth >= tupleDepthMax || !this.has(length)) return this.fail();
    const items = new Array<unknown>(length);
    for (let i = 0; i < length && !this.failed; i++) items[i] = this.value(depth + 1);
    return items;
  }
}
