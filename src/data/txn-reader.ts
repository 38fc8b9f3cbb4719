import { OpCode } from '../protocol/constants.js';
import { readLong } from '../protocol/jute.js';
import type { ACL, Id } from '../protocol/records.js';
import type { Txn, TxnOp } from './txn.js';

/**
 * The common txns (create, delete and setData with ASCII strings, in TxnWriter's layout) read
 * straight from their bytes into a Txn, without msgpackr's value array and DataView: every
 * member decodes every write once. Anything else, or any byte out of the expected forms,
 * answers null and decodeTxn reads it with msgpackr and checks it field by field; the two
 * agree on every txn this reader takes (txn-reader.test.ts).
 */
let b: Buffer;
let p = 0;
let end = 0;
let ok = true;

/** Shared by every txn without auth ids, and by error txns (nothing changes either). */
export const noAuthIds: readonly Id[] = Object.freeze([]);

export function readCommonTxn(bytes: Buffer, start: number, stop: number): Txn | null {
  b = bytes;
  p = start;
  end = stop;
  ok = true;
  const head = stop - start > 30 ? bytes[p++]! : 0;
  if ((head & 0xf0) !== 0x90 || bytes[p++] !== 1) return done(null);
  const zxid = int64();
  const time = timeMs();
  const sessionId = int64();
  const cxid = int32();
  const authIds = ids();
  const op = ok ? opOf(head & 0x0f) : null;
  return done(ok && op !== null && p === end ? { zxid, time, sessionId, cxid, authIds, op } : null);
}

/**
 * The session id in a txn's header, read without the rest ([format, zxid, time, sessionId,
 * ...]); null when the header is not in TxnWriter's forms (decodeTxn then says).
 */
export function readTxnSessionId(bytes: Buffer, start: number, stop: number): bigint | null {
  b = bytes;
  p = start;
  end = stop;
  ok = true;
  const head = p < end ? bytes[p++]! : 0;
  if ((head & 0xf0) !== 0x90 || bytes[p++] !== 1) ok = false;
  if (ok) int64();
  if (ok) timeMs();
  const sessionId = ok ? int64() : 0n;
  done(null);
  return ok ? sessionId : null;
}

/** Drops the reference to the caller's bytes. */
function done(txn: Txn | null): Txn | null {
  b = undefined as unknown as Buffer;
  return txn;
}

function fail(): 0 {
  ok = false;
  return 0;
}

/** The op and its fields: `count` is the txn's field count (6 header fields, then the op's). */
function opOf(count: number): TxnOp | null {
  const type = b[p++];
  if (type === OpCode.setData && count === 10) {
    return { type, request: { path: ascii(), data: bin(), version: int32() } };
  }
  if (type === OpCode.delete && count === 9) {
    return { type, request: { path: ascii(), version: int32() } };
  }
  if ((type === OpCode.create || type === OpCode.create2) && count === 12) {
    const request: { path: string; data: Buffer | null; acl: ACL[] | null; flags: number; ttl?: bigint } = {
      path: ascii(), data: bin(), acl: acl(), flags: int32(),
    };
    if (b[p] === 0xc0) p++;
    else request.ttl = int64();
    return { type, request };
  }
  return null;
}

function int64(): bigint {
  if (p + 9 > end || b[p] !== 0xd3) return (fail(), 0n);
  p += 9;
  return readLong(b, p - 8);
}

/** A jute int; a uint32 above int32's range is left to the checked path. */
function int32(): number {
  if (p >= end) return fail();
  const tag = b[p++]!;
  if (tag < 0x80) return tag;
  if (tag >= 0xe0) return tag - 0x100;
  const size = tag === 0xcc || tag === 0xd0 ? 1 : tag === 0xcd || tag === 0xd1 ? 2 : tag === 0xce || tag === 0xd2 ? 4 : 0;
  if (size === 0 || p + size > end) return fail();
  const v = tag < 0xd0 ? b.readUIntBE(p, size) : b.readIntBE(p, size);
  p += size;
  return (v | 0) === v ? v : fail();
}

/** Leader milliseconds as TxnWriter writes them (a double above uint32); a safe integer. */
function timeMs(): number {
  if (p + 9 > end) return fail();
  const tag = b[p++]!;
  if (tag < 0x80) return tag;
  if (tag === 0xce) return (p += 4), b.readUInt32BE(p - 4);
  if (tag !== 0xcb) return fail();
  const v = b.readDoubleBE(p);
  p += 8;
  return Number.isSafeInteger(v) ? v : fail();
}

/** A string of ASCII bytes only (msgpackr's reading of other UTF-8 is left to it). */
function ascii(): string {
  if (p >= end) return (fail(), '');
  const tag = b[p++]!;
  let length: number;
  if ((tag & 0xe0) === 0xa0) length = tag & 0x1f;
  else if (tag === 0xd9 && p < end) length = b[p++]!;
  else if (tag === 0xda && p + 2 <= end) (length = b.readUInt16BE(p)), (p += 2);
  else return (fail(), '');
  const stop = p + length;
  if (stop > end) return (fail(), '');
  for (let i = p; i < stop; i++) if (b[i]! >= 0x80) return (fail(), '');
  const s = b.toString('latin1', p, stop);
  p = stop;
  return s;
}

/** Bytes or nil; the bytes are a view of the payload, as msgpackr returns them. */
function bin(): Buffer | null {
  if (p >= end) return (fail(), null);
  const tag = b[p++]!;
  let length: number;
  if (tag === 0xc0) return null;
  if (tag === 0xc4 && p < end) length = b[p++]!;
  else if (tag === 0xc5 && p + 2 <= end) (length = b.readUInt16BE(p)), (p += 2);
  else if (tag === 0xc6 && p + 4 <= end) (length = b.readUInt32BE(p)), (p += 4);
  else return (fail(), null);
  if (p + length > end) return (fail(), null);
  return b.subarray(p, (p += length));
}

/**
 * The value last read from some bytes, kept with a copy of them: a connection's writes all
 * carry the same auth ids, and most creates the same ACL. The value is frozen and shared.
 */
class LastRead<T> {
  private bytes: Buffer = Buffer.alloc(0);
  value: T | null = null;

  /** Whether b[p..] starts with the bytes last read; if so p moves past them. */
  matches(): boolean {
    const n = this.bytes.length;
    if (n === 0 || p + n > end) return false;
    for (let i = 0; i < n; i++) if (b[p + i] !== this.bytes[i]) return false;
    p += n;
    return true;
  }

  keep(start: number, value: T): T {
    if (!ok) return value;
    this.bytes = Buffer.from(b.subarray(start, p));
    this.value = deepFreeze(value);
    return value;
  }
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') for (const v of Object.values(value)) deepFreeze(v);
  return Object.freeze(value);
}

const lastIds = new LastRead<readonly Id[]>();
const lastAcl = new LastRead<ACL[]>();

/** The caller's auth ids: a flat fixarray [scheme, id, ...]. */
function ids(): readonly Id[] {
  if (lastIds.matches()) return lastIds.value!;
  const start = p;
  const head = p < end ? b[p++]! : 0;
  if ((head & 0xf0) !== 0x90 || (head & 1) !== 0) return (fail(), noAuthIds);
  if (head === 0x90) return noAuthIds;
  const out: Id[] = new Array((head & 0x0f) / 2);
  for (let i = 0; i < out.length; i++) out[i] = { scheme: ascii(), id: ascii() };
  return lastIds.keep(start, out);
}

/** A create's ACL: a flat fixarray [perms, scheme, id, ...] of strings (nil is left to the checked path). */
function acl(): ACL[] | null {
  if (lastAcl.matches()) return lastAcl.value!;
  const start = p;
  const head = p < end ? b[p++]! : 0;
  if ((head & 0xf0) !== 0x90 || (head & 0x0f) % 3 !== 0) return (fail(), null);
  const out: ACL[] = new Array((head & 0x0f) / 3);
  for (let i = 0; i < out.length; i++) out[i] = { perms: int32(), id: { scheme: ascii(), id: ascii() } };
  return lastAcl.keep(start, out);
}
