/**
 * msgpack written straight into a caller's buffer, byte for byte what msgpackr (the peer and
 * txn codecs' settings) would write for the same values, without its intermediate buffer. A
 * subclass lays out its records (TxnWriter, the peer frame writer) and calls `begin`, then
 * the primitives; a write past `limit` marks the encoding failed (grow the buffer, write
 * again), a value no primitive handles marks it unsupported (use msgpackr for that one).
 */
export class MsgpackWriter {
  protected buf: Buffer = noBuffer;
  protected pos = 0;
  protected limit = 0;
  protected failed = false;
  protected unsupported = false;

  protected begin(buf: Buffer, at: number, limit: number): void {
    this.buf = buf;
    this.pos = at;
    this.limit = limit;
    this.failed = false;
    this.unsupported = false;
  }

  /** The end of the bytes, -1 when they did not fit before `limit`, -2 for an unsupported value. */
  protected end(): number {
    const end = this.pos;
    this.buf = noBuffer;
    if (this.unsupported) return -2;
    return this.failed || end > this.limit ? -1 : end;
  }

  /** null, a bigint, a number or a string, as msgpackr writes it; anything else is unsupported. */
  protected value(v: unknown): void {
    if (v === null) this.nil();
    else if (typeof v === 'bigint') this.bigint(v);
    else if (typeof v === 'number') this.number(v);
    else if (typeof v === 'string') this.string(v);
    else this.unsupported = true;
  }

  /** Room for `n` more bytes; marks the encoding failed (and writes nothing) when there is none. */
  protected room(n: number): boolean {
    if (this.pos + n <= this.limit) return true;
    this.failed = true;
    // Keep counting, so that the position says where the end would have been.
    this.pos += n;
    return false;
  }

  protected nil(): void {
    if (this.room(1)) this.buf[this.pos++] = 0xc0;
  }

  protected arrayHeader(n: number): void {
    if (n < 16) {
      if (this.room(1)) this.buf[this.pos++] = 0x90 | n;
    } else if (n < 0x10000) {
      if (this.room(3)) {
        this.buf[this.pos++] = 0xdc;
        this.u16(n);
      }
    } else if (this.room(5)) {
      this.buf[this.pos++] = 0xdd;
      this.u32(n);
    }
  }

  /** As msgpackr writes a number: the smallest integer format, else a float64. */
  protected number(v: number): void {
    const buf = this.buf;
    if (v >>> 0 === v) {
      if (v < 0x80) {
        if (this.room(1)) buf[this.pos++] = v;
      } else if (v < 0x100) {
        if (this.room(2)) {
          buf[this.pos++] = 0xcc;
          buf[this.pos++] = v;
        }
      } else if (v < 0x10000) {
        if (this.room(3)) {
          buf[this.pos++] = 0xcd;
          this.u16(v);
        }
      } else if (this.room(5)) {
        buf[this.pos++] = 0xce;
        this.u32(v);
      }
    } else if (v >> 0 === v) {
      if (v >= -0x20) {
        if (this.room(1)) buf[this.pos++] = 0x100 + v;
      } else if (v >= -0x80) {
        if (this.room(2)) {
          buf[this.pos++] = 0xd0;
          buf[this.pos++] = v + 0x100;
        }
      } else if (v >= -0x8000) {
        if (this.room(3)) {
          buf[this.pos++] = 0xd1;
          this.u16(v & 0xffff);
        }
      } else if (this.room(5)) {
        buf[this.pos++] = 0xd2;
        this.u32(v >>> 0);
      }
    } else if (this.room(9)) {
      buf[this.pos++] = 0xcb;
      float64[0] = v;
      for (let i = 0; i < 8; i++) buf[this.pos++] = float64Bytes[highByte === 7 ? 7 - i : i]!;
    }
  }

  /** As msgpackr writes a bigint: int64 when it fits, else uint64. */
  protected bigint(v: bigint): void {
    let tag: number;
    if (v < 0x8000000000000000n && v >= -0x8000000000000000n) {
      tag = 0xd3;
      int64[0] = v;
    } else if (v < 0x10000000000000000n && v > 0n) {
      tag = 0xcf;
      uint64[0] = v;
    } else {
      this.unsupported = true;
      return;
    }
    if (!this.room(9)) return;
    const buf = this.buf;
    buf[this.pos++] = tag;
    for (let i = 0; i < 8; i++) buf[this.pos++] = int64Bytes[highByte === 7 ? 7 - i : i]!;
  }

  /** UTF-8 with the header msgpackr picks (fixstr, str8, str16, str32 by byte length). */
  protected string(s: string): void {
    const units = s.length;
    // The same count as the loop below writes (a lone surrogate takes 3 bytes either way).
    const length = Buffer.byteLength(s, 'utf8');
    if (!this.room((length < 0x20 ? 1 : length < 0x100 ? 2 : length < 0x10000 ? 3 : 5) + length)) return;
    if (length < 0x20) this.buf[this.pos++] = 0xa0 | length;
    else this.lengthHeader(length, 0xd9);
    const buf = this.buf;
    let p = this.pos;
    for (let i = 0; i < units; i++) {
      let c = s.charCodeAt(i);
      if (c < 0x80) buf[p++] = c;
      else if (c < 0x800) {
        buf[p++] = (c >> 6) | 0xc0;
        buf[p++] = (c & 0x3f) | 0x80;
      } else if ((c & 0xfc00) === 0xd800 && i + 1 < units && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
        c = 0x10000 + ((c & 0x03ff) << 10) + (s.charCodeAt(++i) & 0x03ff);
        buf[p++] = (c >> 18) | 0xf0;
        buf[p++] = ((c >> 12) & 0x3f) | 0x80;
        buf[p++] = ((c >> 6) & 0x3f) | 0x80;
        buf[p++] = (c & 0x3f) | 0x80;
      } else {
        buf[p++] = (c >> 12) | 0xe0;
        buf[p++] = ((c >> 6) & 0x3f) | 0x80;
        buf[p++] = (c & 0x3f) | 0x80;
      }
    }
    this.pos = p;
  }

  protected bytes(data: Uint8Array | null): void {
    if (data === null) return this.nil();
    const length = data.length;
    if (!this.room((length < 0x100 ? 2 : length < 0x10000 ? 3 : 5) + length)) return;
    this.lengthHeader(length, 0xc4);
    this.buf.set(data, this.pos);
    this.pos += length;
  }

  /** A str or bin length: the 8-, 16- or 32-bit form, whose codes follow `code8`. */
  protected lengthHeader(length: number, code8: number): void {
    if (length < 0x100) {
      this.buf[this.pos++] = code8;
      this.buf[this.pos++] = length;
    } else if (length < 0x10000) {
      this.buf[this.pos++] = code8 + 1;
      this.u16(length);
    } else {
      this.buf[this.pos++] = code8 + 2;
      this.u32(length);
    }
  }

  protected u16(v: number): void {
    this.buf[this.pos++] = (v >> 8) & 0xff;
    this.buf[this.pos++] = v & 0xff;
  }

  protected u32(v: number): void {
    this.buf.writeUInt32BE(v >>> 0, this.pos);
    this.pos += 4;
  }

  protected boolean(v: boolean): void {
    if (this.room(1)) this.buf[this.pos++] = v ? 0xc3 : 0xc2;
  }
}

/** Held between calls instead of the caller's buffer. */
const noBuffer = Buffer.alloc(0);
const int64 = new BigInt64Array(1);
const uint64 = new BigUint64Array(int64.buffer);
const int64Bytes = new Uint8Array(int64.buffer);
const float64 = new Float64Array(1);
const float64Bytes = new Uint8Array(float64.buffer);
/** Where the most significant byte of the scratch arrays is: 7 on little-endian machines. */
const highByte = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 7 : 0;
