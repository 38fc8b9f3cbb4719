import { Packr } from 'msgpackr';
import { ProtocolError } from '../errors.js';
import { ErrorCode, OpCode } from '../protocol/constants.js';
import type { ACL, Id, MultiOp } from '../protocol/records.js';
import type { Txn, TxnOp } from './txn.js';
import { noAuthIds, readCommonTxn } from './txn-reader.js';
import { TxnWriter } from './txn-writer.js';

/**
 * Txns travel (peer PROPOSALs) and rest (the txn log) as msgpack bytes: written by TxnWriter
 * (txn-writer.ts; byte for byte what msgpackr would write), read by msgpackr. Longs are
 * bigint on both sides: int64AsType keeps zxids and session ids exact, never floats.
 *
 * A txn is packed as a flat array, fields by position, not as a map: decoding keyed maps was
 * most of the time of replaying a log (about 2.5 us of 10 per txn; a restart replays up to
 * snapCount txns), and positions are smaller on disk.
 *   [txnFormat, zxid, time, sessionId, cxid, [scheme, id, ...], opType, ...op fields]
 * op fields by type:
 *   create, create2, createContainer, createTTL   path, data, [perms, scheme, id, ...] | null, flags, ttl | null
 *   delete, check                                  path, version
 *   deleteContainer                                path
 *   setData                                        path, data, version
 *   setACL                                         path, [perms, scheme, id, ...] | null, version
 *   multi                                          [[opType, ...op fields], ...]
 *   createSession                                  timeout
 *   closeSession                                   (none)
 *   error                                          err
 * A payload that decodes to a map is a txn written by an earlier zkts (field names as keys).
 */
const packr = new Packr({ useRecords: false, int64AsType: 'bigint', mapsAsObjects: true, moreTypes: false });

const txnFormat = 1;

/**
 * A committed txn's field that is not what its writer writes. Decoding is total: such a txn
 * still applies, as an error txn every member reads the same way (see decodeTxn).
 */
class BadField extends Error {}

function bad(what: string): never {
  throw new BadField(what);
}

/**
 * The ACL list packed flat; a scheme or id may be null (a request's nulls, which the tree
 * refuses with INVALIDACL when it applies the txn, as when the txn was first applied).
 */
function aclOf(flat: unknown): ACL[] | null {
  if (flat === null) return null;
  if (!Array.isArray(flat) || flat.length % 3 !== 0) bad('ACL is not a list of (perms, scheme, id)');
  const acl: ACL[] = [];
  for (let i = 0; i < flat.length; i += 3) {
    acl.push({ perms: int(flat[i], 'ACL perms'), id: { scheme: strOrNull(flat[i + 1], 'ACL scheme') as string, id: strOrNull(flat[i + 2], 'ACL id') as string } });
  }
  return acl;
}

function str(v: unknown, what: string): string {
  if (typeof v !== 'string') bad(`${what} is not a string`);
  return v;
}

function strOrNull(v: unknown, what: string): string | null {
  return v === null ? null : str(v, what);
}

/** A jute int: an integer in int32 range. */
function int(v: unknown, what: string): number {
  if (typeof v !== 'number' || (v | 0) !== v) bad(`${what} is not an int32`);
  return v;
}

const int64Max = 0x7fff_ffff_ffff_ffffn;

/** A jute long as msgpack carries it (bigint, or a number when small). */
function long(v: unknown, what: string): bigint {
  // msgpackr's int64 is in range already; only a uint64 above it wraps (asIntN allocates).
  if (typeof v === 'bigint') return v <= int64Max ? v : BigInt.asIntN(64, v);
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
  bad(`${what} is not a long`);
}

function bytes(v: unknown): Buffer | null {
  if (v === null) return null;
  if (!(v instanceof Uint8Array)) bad('data is not bytes');
  return Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

/** Ops a multi may hold (as the request decoder allows them). */
const multiOpTypes: ReadonlySet<number> = new Set([OpCode.create, OpCode.create2, OpCode.createContainer, OpCode.createTTL, OpCode.delete, OpCode.check, OpCode.setData]);

/** The op whose fields start at a[i]; a field of the wrong type throws BadField. */
function unpackOp(a: unknown[], i: number, inMulti = false): TxnOp {
  const type = a[i];
  if (inMulti && !multiOpTypes.has(type as number)) bad(`multi holds op type ${String(type)}`);
  switch (type) {
    case OpCode.create:
    case OpCode.create2:
    case OpCode.createContainer:
    case OpCode.createTTL: {
      const request: { path: string; data: Buffer | null; acl: ACL[] | null; flags: number; ttl?: bigint } = {
        path: str(a[i + 1], 'path'), data: bytes(a[i + 2]), acl: aclOf(a[i + 3]), flags: int(a[i + 4], 'flags'),
      };
      const ttl = a[i + 5];
      if (ttl !== null && ttl !== undefined) request.ttl = long(ttl, 'ttl');
      return { type, request } as TxnOp;
    }
    case OpCode.delete:
    case OpCode.check:
      return { type, request: { path: str(a[i + 1], 'path'), version: int(a[i + 2], 'version') } } as TxnOp;
    case OpCode.deleteContainer:
      return { type, request: { path: str(a[i + 1], 'path') } };
    case OpCode.setData:
      return { type, request: { path: str(a[i + 1], 'path'), data: bytes(a[i + 2]), version: int(a[i + 3], 'version') } };
    case OpCode.setACL:
      return { type, request: { path: str(a[i + 1], 'path'), acl: aclOf(a[i + 2]), version: int(a[i + 3], 'version') } };
    case OpCode.multi: {
      if (inMulti) bad('multi inside a multi');
      const ops = a[i + 1];
      if (!Array.isArray(ops)) bad('multi without an op list');
      return { type, ops: ops.map((o) => (Array.isArray(o) ? unpackOp(o, 0, true) : bad('multi op is not a field list'))) as MultiOp[] };
    }
    case OpCode.createSession:
      return { type, timeout: int(a[i + 1], 'timeout') };
    case OpCode.closeSession:
      return { type };
    case OpCode.error:
      return { type, err: int(a[i + 1], 'err') };
    default:
      bad(`unknown op type ${String(type)}`);
  }
}

/**
 * The op of a txn written by an earlier zkts as a map (field names as keys), checked field by
 * field as the flat form is: laid out flat and read by unpackOp.
 */
function unpackLegacyOp(op: unknown, inMulti = false): TxnOp {
  if (op === null || typeof op !== 'object') bad('op is not a record');
  const o = op as Record<string, any>;
  const r = (o.request ?? {}) as Record<string, unknown>;
  const flatAcl = (acl: unknown) =>
    Array.isArray(acl) ? acl.flatMap((e: any) => (e !== null && typeof e === 'object' && e.id !== null && typeof e.id === 'object' ? [e.perms, e.id.scheme, e.id.id] : bad('ACL entry is not a record'))) : acl;
  switch (o.type) {
    case OpCode.create:
    case OpCode.create2:
    case OpCode.createContainer:
    case OpCode.createTTL:
      return unpackOp([o.type, r.path, r.data, flatAcl(r.acl), r.flags, r.ttl ?? null], 0, inMulti);
    case OpCode.delete:
    case OpCode.check:
      return unpackOp([o.type, r.path, r.version], 0, inMulti);
    case OpCode.deleteContainer:
      return unpackOp([o.type, r.path], 0, inMulti);
    case OpCode.setData:
      return unpackOp([o.type, r.path, r.data, r.version], 0, inMulti);
    case OpCode.setACL:
      return unpackOp([o.type, r.path, flatAcl(r.acl), r.version], 0, inMulti);
    case OpCode.multi:
      if (inMulti || !Array.isArray(o.ops)) bad('multi without an op list');
      return { type: OpCode.multi, ops: (o.ops as unknown[]).map((sub) => unpackLegacyOp(sub, true)) as MultiOp[] };
    default:
      return unpackOp([o.type, o.timeout ?? o.err], 0, inMulti);
  }
}

const writer = new TxnWriter();

/**
 * Txns are encoded one after another into a slab (as Buffer.allocUnsafe's pool does, without
 * reserving a guess of the size): one view per txn. Payloads are never written after encoding.
 */
const slabBytes = 64 * 1024;
let slab = Buffer.allocUnsafe(slabBytes);
let slabAt = 0;

/** A txn's bytes in a range no other txn uses (TxnWriter's encoding: what msgpackr would write). */
export function encodeTxn(txn: Txn): Uint8Array {
  let end = writer.encode(txn, slab, slabAt, slab.length);
  if (end === -1 && slabAt > 0) {
    slab = Buffer.allocUnsafe(slabBytes);
    slabAt = 0;
    end = writer.encode(txn, slab, 0, slab.length);
  }
  if (end < 0) return encodeAlone(txn);
  const bytes = slab.subarray(slabAt, end);
  slabAt = (end + 7) & ~7;
  return bytes;
}

/** A txn larger than a slab (or one the writer refuses), in a buffer of its own. */
function encodeAlone(txn: Txn): Uint8Array {
  let buf = Buffer.allocUnsafe(slabBytes * 4);
  for (;;) {
    const end = writer.encode(txn, buf, 0, buf.length);
    if (end >= 0) return buf.subarray(0, end);
    if (end === -2) throw new ProtocolError(`txn ${txn.zxid} holds a value a txn cannot carry`);
    buf = Buffer.allocUnsafe(buf.length * 4);
  }
}

const marshallingError: TxnOp = Object.freeze({ type: OpCode.error, err: ErrorCode.MARSHALLINGERROR });

/**
 * The txn in `bytes` (from `start` to `end`: a range of a larger read buffer decodes in place).
 * Total: it never throws. A committed txn is applied by every member from the same bytes, so
 * a payload that does not decode, or a field of the wrong type, becomes an error txn
 * (MARSHALLINGERROR, ZooKeeper's code for a request it cannot read), the same on every
 * member: it takes its zxid and changes nothing. The header fields read before the fault are
 * kept (the writer's session hears the error). `problem` hears what was wrong, for the log.
 */
export function decodeTxn(bytes: Uint8Array, start = 0, end = bytes.length, problem?: (reason: string) => void): Txn {
  const common = Buffer.isBuffer(bytes) ? readCommonTxn(bytes, start, end) : null;
  return common ?? decodeTxnChecked(bytes, start, end, problem);
}

/** decodeTxn by msgpackr, every field checked: for all txns the common reader leaves. */
export function decodeTxnChecked(bytes: Uint8Array, start: number, end: number, problem?: (reason: string) => void): Txn {
  const txn: Txn = { zxid: 0n, time: 0, sessionId: 0n, cxid: 0, authIds: noAuthIds, op: marshallingError };
  let value: unknown;
  try {
    value = unpackRange(bytes, start, end);
  } catch (err) {
    problem?.(`payload does not decode: ${(err as Error).message}`);
    return txn;
  }
  try {
    if (Array.isArray(value)) {
      if (value[0] !== txnFormat) bad(`unknown format ${String(value[0])}`);
      if (value.length < 7) bad(`${value.length} fields`);
      txn.zxid = long(value[1], 'zxid');
      txn.time = time(value[2]);
      txn.sessionId = long(value[3], 'session id');
      txn.cxid = int(value[4], 'cxid');
      txn.authIds = authIdsOf(value[5]);
      txn.op = unpackOp(value, 6);
      return txn;
    }
    // Written by an earlier zkts: the txn object with its field names.
    if (value === null || typeof value !== 'object') bad('not a txn record');
    const legacy = value as Record<string, any>;
    txn.zxid = long(legacy.zxid, 'zxid');
    txn.time = time(legacy.time);
    txn.sessionId = long(legacy.sessionId, 'session id');
    txn.cxid = int(legacy.cxid, 'cxid');
    txn.authIds = Array.isArray(legacy.authIds) ? authIdsOf(legacy.authIds.flatMap((id: any) => [id?.scheme, id?.id])) : bad('auth ids are not a list');
    txn.op = unpackLegacyOp(legacy.op);
    return txn;
  } catch (err) {
    if (!(err instanceof BadField) && !(err instanceof RangeError) && !(err instanceof TypeError)) throw err;
    problem?.(err.message);
    txn.op = marshallingError;
    return txn;
  }
}

/**
 * msgpackr caches a DataView on the buffer it reads (a property added to it): a new one for
 * every payload view. Reading each payload as a range of one view over its whole read buffer
 * costs that once per read buffer, not once per txn.
 */
let wholeView: Buffer = Buffer.alloc(0);
const range = { start: 0, end: 0 };

function unpackRange(bytes: Uint8Array, start: number, end: number): unknown {
  if (wholeView.buffer !== bytes.buffer) wholeView = Buffer.from(bytes.buffer);
  range.start = bytes.byteOffset + start;
  range.end = bytes.byteOffset + end;
  return packr.unpack(wholeView, range);
}

/** Leader wall-clock milliseconds: a safe integer (it becomes ctime and mtime). */
function time(v: unknown): number {
  const t = typeof v === 'bigint' && v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v;
  if (typeof t !== 'number' || !Number.isSafeInteger(t)) bad('time is not an integer');
  return t;
}

function authIdsOf(flat: unknown): readonly Id[] {
  if (!Array.isArray(flat) || flat.length % 2 !== 0) bad('auth ids are not a list of (scheme, id)');
  if (flat.length === 0) return noAuthIds;
  const ids: Id[] = [];
  for (let i = 0; i < flat.length; i += 2) ids.push({ scheme: str(flat[i], 'auth scheme'), id: str(flat[i + 1], 'auth id') });
  return ids;
}

/** A write as an origin server hands it to the leader: everything but the zxid. */
export type TxnRequest = Omit<Txn, 'zxid'>;

export function encodeTxnRequest(request: TxnRequest): Uint8Array {
  return encodeTxn({ ...request, zxid: 0n });
}

/**
 * Where the fields of a plain create are in a txn record (a persistent, non-sequential create
 * or create2 without a TTL, TxnWriter's layout): what replay needs to make the node straight
 * from the record's bytes (DataTree.replayPlainCreate), without decoding it into values.
 */
export interface PlainCreate {
  time: number;
  /** Offset of the session id's 8 bytes. */
  sessionAt: number;
  authStart: number;
  authEnd: number;
  pathStart: number;
  pathEnd: number;
  /** -1 when the data is null. */
  dataStart: number;
  dataEnd: number;
  aclStart: number;
  aclEnd: number;
}

/**
 * The ACL list packed at bytes[start, end) (a flat [perms, scheme, id, ...] array), or
 * undefined when it does not decode (the caller then decodes the whole txn, which is total).
 */
export function decodeAclAt(bytes: Buffer, start: number, end: number): ACL[] | null | undefined {
  try {
    return aclOf(packr.unpack(bytes, { start, end }));
  } catch {
    return undefined;
  }
}

export function plainCreate(): PlainCreate {
  return { time: 0, sessionAt: 0, authStart: 0, authEnd: 0, pathStart: 0, pathEnd: 0, dataStart: 0, dataEnd: 0, aclStart: 0, aclEnd: 0 };
}

/**
 * Fills `out` when bytes[start, end) is a plain create in TxnWriter's layout; false for any
 * other txn (or any byte it does not expect), which is then decoded in full.
 */
export function readPlainCreate(b: Buffer, start: number, end: number, out: PlainCreate): boolean {
  // [1, zxid, time, sessionId, cxid, [ids], type, path, data, acl, flags, ttl]: 12 fields.
  if (end - start < 40 || b[start] !== 0x9c || b[start + 1] !== txnFormat || b[start + 2] !== 0xd3) return false;
  let p = start + 11;
  const tag = b[p]!;
  if (tag < 0x80) {
    out.time = tag;
    p += 1;
  } else if (tag === 0xcb) {
    out.time = b.readDoubleBE(p + 1);
    // decodeTxn refuses a time that is not an integer: so must this path, to agree with it.
    if (!Number.isSafeInteger(out.time)) return false;
    p += 9;
  } else if (tag === 0xce) {
    out.time = b.readUInt32BE(p + 1);
    p += 5;
  } else return false;
  if (p + 9 > end || b[p] !== 0xd3) return false;
  out.sessionAt = p + 1;
  p += 9;
  p = skipInt(b, p);
  if (p < 0) return false;
  // Auth ids: a short flat array of strings.
  const ids = b[p]!;
  if ((ids & 0xf0) !== 0x90) return false;
  out.authStart = p;
  p += 1;
  for (let i = ids & 0x0f; i > 0; i--) {
    p = skipString(b, p);
    if (p < 0) return false;
  }
  out.authEnd = p;
  if (p + 4 > end || (b[p] !== OpCode.create && b[p] !== OpCode.create2)) return false;
  p += 1;
  const pathLength = stringLength(b, p);
  if (pathLength < 0) return false;
  p += stringHeaderBytes(b[p]!);
  out.pathStart = p;
  out.pathEnd = p += pathLength;
  if (p + 5 > end) return false;
  if (b[p] === 0xc0) {
    out.dataStart = -1;
    out.dataEnd = -1;
    p += 1;
  } else if (b[p] === 0xc4) {
    out.dataStart = p + 2;
    out.dataEnd = p = p + 2 + b[p + 1]!;
  } else if (b[p] === 0xc5) {
    out.dataStart = p + 3;
    out.dataEnd = p = p + 3 + b.readUInt16BE(p + 1);
  } else if (b[p] === 0xc6) {
    out.dataStart = p + 5;
    out.dataEnd = p = p + 5 + b.readUInt32BE(p + 1);
  } else return false;
  if (p + 3 > end) return false;
  // The ACL: [perms, scheme, id, ...] in a fixarray; its bytes are the key of a cache.
  const acl = b[p]!;
  if ((acl & 0xf0) !== 0x90 || (acl & 0x0f) === 0 || (acl & 0x0f) % 3 !== 0) return false;
  out.aclStart = p;
  p += 1;
  for (let i = (acl & 0x0f) / 3; i > 0; i--) {
    p = skipInt(b, p);
    if (p < 0) return false;
    p = skipString(b, p);
    if (p < 0) return false;
    p = skipString(b, p);
    if (p < 0) return false;
  }
  out.aclEnd = p;
  // flags 0 (persistent), ttl nil, and nothing after.
  return p + 2 === end && b[p] === 0 && b[p + 1] === 0xc0;
}

function skipInt(b: Buffer, p: number): number {
  const tag = b[p]!;
  if (tag < 0x80 || tag >= 0xe0) return p + 1;
  if (tag === 0xcc || tag === 0xd0) return p + 2;
  if (tag === 0xcd || tag === 0xd1) return p + 3;
  if (tag === 0xce || tag === 0xd2) return p + 5;
  return -1;
}

function stringLength(b: Buffer, p: number): number {
  const tag = b[p]!;
  if ((tag & 0xe0) === 0xa0) return tag & 0x1f;
  if (tag === 0xd9) return b[p + 1]!;
  if (tag === 0xda) return b.readUInt16BE(p + 1);
  return -1;
}

function stringHeaderBytes(tag: number): number {
  return (tag & 0xe0) === 0xa0 ? 1 : tag === 0xd9 ? 2 : 3;
}

function skipString(b: Buffer, p: number): number {
  const length = stringLength(b, p);
  return length < 0 ? -1 : p + stringHeaderBytes(b[p]!) + length;
}
