import { ProtocolError } from '../errors.js';

/**
 * Jute binary encoding (BinaryOutputArchive): big-endian ints and longs, length-prefixed
 * strings and buffers (-1 = null), count-prefixed vectors. Longs are bigint so that
 * zxids and session ids never lose bits.
 */
/** A long's bytes by way of a typed array (wrapping to 64 bits as BigInt.asIntN does). */
const longScratch = new BigInt64Array(1);
const longScratchBytes = new Uint8Array(longScratch.buffer);
/** Where the most significant byte of longScratch is: 7 on little-endian machines. */
const longHighByte = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 7 : 0;
const ulongScratch = new BigUint64Array(longScratch.buffer);

/**
 * The big-endian int64 at buf[at..at+8), by way of the scratch array: one bigint, where
 * readBigInt64BE makes four (zxids in every PROPOSAL, COMMIT and ACK). The caller checks bounds.
 */
export function readLong(buf: Uint8Array, at: number): bigint {
  for (let i = 0; i < 8; i++) longScratchBytes[longHighByte === 7 ? 7 - i : i] = buf[at + i]!;
  return longScratch[0]!;
}

/** Writes `v` big-endian at buf[at..at+8), wrapped to 64 bits, making no bigint. */
export function writeLong(buf: Uint8Array, at: number, v: bigint): void {
  longScratch[0] = v;
  for (let i = 0; i < 8; i++) buf[at + i] = longScratchBytes[longHighByte === 7 ? 7 - i : i]!;
}

/** readLong, unsigned (msgpack's uint64). */
export function readUnsignedLong(buf: Uint8Array, at: number): bigint {
  readLong(buf, at);
  return ulongScratch[0]!;
}

export class JuteWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(initialBytes = 256) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  get length(): number {
    return this.pos;
  }

  /** Bytes it can hold before it grows. */
  get capacity(): number {
    return this.buf.length;
  }

  /** Empties it for the next record, keeping its buffer. */
  reset(): void {
    this.pos = 0;
  }

  private ensure(extra: number): void {
    const need = this.pos + extra;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  byte(v: number): this {
    this.ensure(1);
    this.buf.writeInt8(v, this.pos);
    this.pos += 1;
    return this;
  }

  bool(v: boolean): this {
    this.ensure(1);
    this.buf[this.pos++] = v ? 1 : 0;
    return this;
  }

  int(v: number): this {
    this.ensure(4);
    this.buf.writeInt32BE(v, this.pos);
    this.pos += 4;
    return this;
  }

  long(v: bigint): this {
    this.ensure(8);
    // writeBigInt64BE makes several BigInts per call, and every reply carries a zxid and
    // often a stat of six longs.
    writeLong(this.buf, this.pos, v);
    this.pos += 8;
    return this;
  }

  /** A ustring; null is written as length -1. */
  string(v: string | null): this {
    if (v === null) return this.int(-1);
    const bytes = Buffer.byteLength(v, 'utf8');
    this.ensure(4 + bytes);
    this.buf.writeInt32BE(bytes, this.pos);
    this.buf.write(v, this.pos + 4, 'utf8');
    this.pos += 4 + bytes;
    return this;
  }

  /** A buffer; null is written as length -1 (distinct from empty). */
  buffer(v: Uint8Array | null): this {
    if (v === null) return this.int(-1);
    this.ensure(4 + v.length);
    this.buf.writeInt32BE(v.length, this.pos);
    this.buf.set(v, this.pos + 4);
    this.pos += 4 + v.length;
    return this;
  }

  raw(v: Uint8Array): this {
    this.ensure(v.length);
    this.buf.set(v, this.pos);
    this.pos += v.length;
    return this;
  }

  vector<T>(items: readonly T[] | null, write: (w: JuteWriter, item: T) => void): this {
    if (items === null) return this.int(-1);
    this.int(items.length);
    for (const item of items) write(this, item);
    return this;
  }

  stringVector(items: readonly string[] | null): this {
    return this.vector(items, (w, s) => w.string(s));
  }

  /** The bytes written so far (a copy-free view). */
  bytes(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  /** The bytes written so far, preceded by their int32 length: one client-port frame. */
  frame(): Buffer {
    const out = Buffer.allocUnsafe(4 + this.pos);
    out.writeInt32BE(this.pos, 0);
    this.buf.copy(out, 4, 0, this.pos);
    return out;
  }
}

/** Reads jute records from one packet body; every read is bounds-checked. */
export class JuteReader {
  private pos: number;

  constructor(
    private readonly buf: Buffer,
    offset = 0,
    /** Largest length accepted for one string or buffer field. */
    private readonly fieldBytesMax = 2 * 0xfffff,
  ) {
    this.pos = offset;
  }

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  private need(n: number, what: string): void {
    if (this.pos + n > this.buf.length) {
      throw new ProtocolError(`truncated record: ${what} needs ${n} bytes at offset ${this.pos}, ${this.remaining} left`);
    }
  }

  byte(): number {
    this.need(1, 'byte');
    return this.buf.readInt8(this.pos++);
  }

  bool(): boolean {
    this.need(1, 'boolean');
    return this.buf[this.pos++] !== 0;
  }

  int(): number {
    this.need(4, 'int');
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  long(): bigint {
    this.need(8, 'long');
    const v = readLong(this.buf, this.pos);
    this.pos += 8;
    return v;
  }

  private length(what: string): number {
    const len = this.int();
    if (len < -1) throw new ProtocolError(`negative ${what} length ${len} at offset ${this.pos - 4}`);
    if (len > this.fieldBytesMax) {
      throw new ProtocolError(`${what} length ${len} at offset ${this.pos - 4} exceeds the limit of ${this.fieldBytesMax}`);
    }
    return len;
  }

  stringOrNull(): string | null {
    const len = this.length('string');
    if (len === -1) return null;
    this.need(len, 'string');
    const s = this.buf.toString('utf8', this.pos, this.pos + len);
    this.pos += len;
    return s;
  }

  /** A ustring where null is not meaningful; null reads as the empty string's absence marker. */
  string(): string {
    const s = this.stringOrNull();
    if (s === null) throw new ProtocolError(`null string at offset ${this.pos - 4} where a value is required`);
    return s;
  }

  buffer(): Buffer | null {
    const len = this.length('buffer');
    if (len === -1) return null;
    this.need(len, 'buffer');
    // Copy so that the record does not pin the whole receive buffer.
    const out = Buffer.from(this.buf.subarray(this.pos, this.pos + len));
    this.pos += len;
    return out;
  }

  vector<T>(read: (r: JuteReader) => T): T[] | null {
    const count = this.int();
    if (count === -1) return null;
    if (count < 0) throw new ProtocolError(`negative vector count ${count} at offset ${this.pos - 4}`);
    // Every element takes at least one byte, so a count beyond the bytes left is a lie.
    if (count > this.remaining) {
      throw new ProtocolError(`vector count ${count} at offset ${this.pos - 4} exceeds the ${this.remaining} bytes left`);
    }
    const out: T[] = new Array(count);
    for (let i = 0; i < count; i++) out[i] = read(this);
    return out;
  }

  stringVector(): string[] | null {
    return this.vector((r) => r.string());
  }

  rest(): Buffer {
    const out = this.buf.subarray(this.pos);
    this.pos = this.buf.length;
    return out;
  }

  expectEnd(what: string): void {
    if (this.remaining !== 0) {
      throw new ProtocolError(`${this.remaining} unexpected trailing bytes after ${what}`);
    }
  }
}
