import type { ACL, MultiOp } from '../protocol/records.js';
import { OpCode } from '../protocol/constants.js';
import type { Txn, TxnOp } from './txn.js';

/**
 * Writes a txn's msgpack bytes straight into a caller's buffer: the same bytes as
 * encodeTxn (msgpackr), field for field (txn-codec.ts describes the layout), without the
 * intermediate arrays, views and buffers. The standalone server encodes every write this
 * way into the txn log's record buffer: building the field arrays and packing them was a
 * quarter of the garbage a create left for the collector.
 *
 * `encode` returns the end of the bytes, -1 when they do not fit before `limit` (grow the
 * buffer and call again), or -2 when the txn holds a value this writer does not handle
 * (encode that one with msgpackr).
 */
export class TxnWriter {
  private buf: Buffer = noBuffer;
  private pos = 0;
  private limit = 0;
  private failed = false;
  private unsupported = false;

  encode(txn: Txn, buf: Buffer, at: number, limit: number): number {
    this.buf = buf;
    this.pos = at;
    this.limit = limit;
    this.failed = false;
    this.unsupported = false;
    this.arrayHeader(6 + opFieldCount(txn.op));
    this.number(1);
    this.bigint(txn.zxid);
    this.number(txn.time);
    this.bigint(txn.sessionId);
    this.number(txn.cxid);
    this.arrayHeader(txn.authIds.length * 2);
    for (const id of txn.authIds) {
      this.value(id.scheme);
      this.value(id.id);
    }
    this.op(txn.op);
    const end = this.pos;
    this.buf = noBuffer;
    if (this.unsupported) return -2;
    return this.failed || end > limit ? -1 : end;
  }

  private op(op: TxnOp | MultiOp): void {
    this.number(op.type);
    switch (op.type) {
      case OpCode.create:
      case OpCode.create2:
      case OpCode.createContainer:
      case OpCode.createTTL: {
        const r = op.request;
        this.string(r.path);
        this.bytes(r.data);
        this.acl(r.acl);
        this.number(r.flags);
        this.value(r.ttl ?? null);
        return;
      }
      case OpCode.delete:
      case OpCode.check:
        this.string(op.request.path);
        this.number(op.request.version);
        return;
      case OpCode.deleteContainer:
        this.string(op.request.path);
        return;
      case OpCode.setData:
        this.string(op.request.path);
        this.bytes(op.request.data);
        this.number(op.request.version);
        return;
      case OpCode.setACL:
        this.string(op.request.path);
        this.acl(op.request.acl);
        this.number(op.request.version);
        return;
      case OpCode.multi:
        this.arrayHeader(op.ops.length);
        for (const o of op.ops) {
          this.arrayHeader(opFieldCount(o));
          this.op(o);
        }
        return;
      case OpCode.createSession:
        this.number(op.timeout);
        return;
      case OpCode.closeSession:
        return;
      case OpCode.error:
        this.number(op.err);
        return;
      default:
        this.unsupported = true;
    }
  }

  private acl(acl: readonly ACL[] | null): void {
    if (acl === null) return this.nil();
    this.arrayHeader(acl.length * 3);
    for (const a of acl) {
      // Ids straight from the wire may hold nulls (the txn then fails in the tree, logged as it came).
      this.value(a.perms);
      this.value(a.id.scheme);
      this.value(a.id.id);
    }
  }

  private value(v: unknown): void {
    if (v === null) this.nil();
    else if (typeof v === 'bigint') this.bigint(v);
    else if (typeof v === 'number') this.number(v);
    else if (typeof v === 'string') this.string(v);
    else this.unsupported = true;
  }

  /** Room for `n` more bytes; marks the encoding failed (and writes nothing) when there is none. */
  private room(n: number): boolean {
    if (this.pos + n <= this.limit) return true;
    this.failed = true;
    // Keep counting so that `encode` reports where the end would have been.
    this.pos += n;
    return false;
  }

  private nil(): void {
    if (this.room(1)) this.buf[this.pos++] = 0xc0;
  }

  private arrayHeader(n: number): void {
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
  private number(v: number): void {
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
  private bigint(v: bigint): void {
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
  private string(s: string): void {
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

  private bytes(data: Uint8Array | null): void {
    if (data === null) return this.nil();
    const length = data.length;
    if (!this.room((length < 0x100 ? 2 : length < 0x10000 ? 3 : 5) + length)) return;
    this.lengthHeader(length, 0xc4);
    this.buf.set(data, this.pos);
    this.pos += length;
  }

  /** A str or bin length: the 8-, 16- or 32-bit form, whose codes follow `code8`. */
  private lengthHeader(length: number, code8: number): void {
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

  private u16(v: number): void {
    this.buf[this.pos++] = (v >> 8) & 0xff;
    this.buf[this.pos++] = v & 0xff;
  }

  private u32(v: number): void {
    this.buf.writeUInt32BE(v >>> 0, this.pos);
    this.pos += 4;
  }
}

/** The values an op packs, its type included (see txn-codec.ts). */
function opFieldCount(op: TxnOp | MultiOp): number {
  switch (op.type) {
    case OpCode.create:
    case OpCode.create2:
    case OpCode.createContainer:
    case OpCode.createTTL:
      return 6;
    case OpCode.setData:
    case OpCode.setACL:
      return 4;
    case OpCode.delete:
    case OpCode.check:
      return 3;
    case OpCode.closeSession:
      return 1;
    default:
      return 2;
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
