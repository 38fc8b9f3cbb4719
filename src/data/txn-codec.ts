import { Packr } from 'msgpackr';
import { ProtocolError } from '../errors.js';
import { OpCode } from '../protocol/constants.js';
import type { ACL, Id, MultiOp } from '../protocol/records.js';
import type { Txn, TxnOp } from './txn.js';
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

function aclOf(flat: unknown): ACL[] | null {
  if (flat === null) return null;
  if (!Array.isArray(flat) || flat.length % 3 !== 0) throw new ProtocolError('txn ACL is not a list of (perms, scheme, id)');
  const acl: ACL[] = [];
  for (let i = 0; i < flat.length; i += 3) acl.push({ perms: int(flat[i], 'ACL perms'), id: { scheme: str(flat[i + 1], 'ACL scheme'), id: flat[i + 2] as string } });
  return acl;
}

function str(v: unknown, what: string): string {
  if (typeof v !== 'string') throw new ProtocolError(`txn ${what} is not a string`);
  return v;
}

function int(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new ProtocolError(`txn ${what} is not an integer`);
  return v;
}

function bytes(v: unknown): Buffer | null {
  if (v === null) return null;
  if (!(v instanceof Uint8Array)) throw new ProtocolError('txn data is not bytes');
  return Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

/** The op whose fields start at a[i]; fields of the wrong type are refused, never applied. */
function unpackOp(a: unknown[], i: number): TxnOp {
  const type = a[i] as number;
  switch (type) {
    case OpCode.create:
    case OpCode.create2:
    case OpCode.createContainer:
    case OpCode.createTTL: {
      const request: { path: string; data: Buffer | null; acl: ACL[] | null; flags: number; ttl?: bigint } = {
        path: str(a[i + 1], 'path'), data: bytes(a[i + 2]), acl: aclOf(a[i + 3]), flags: int(a[i + 4], 'flags'),
      };
      const ttl = a[i + 5];
      if (ttl !== null && ttl !== undefined) {
        if (typeof ttl !== 'bigint' && typeof ttl !== 'number') throw new ProtocolError('txn ttl is not a number');
        request.ttl = BigInt(ttl);
      }
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
      const ops = a[i + 1];
      if (!Array.isArray(ops)) throw new ProtocolError('multi txn without an op list');
      return { type, ops: ops.map((o) => (Array.isArray(o) ? unpackOp(o, 0) : badOp())) as MultiOp[] };
    }
    case OpCode.createSession:
      return { type, timeout: int(a[i + 1], 'timeout') };
    case OpCode.closeSession:
      return { type };
    case OpCode.error:
      return { type, err: int(a[i + 1], 'err') };
    default:
      throw new ProtocolError(`txn has unknown op type ${String(type)}`);
  }
}

function badOp(): never {
  throw new ProtocolError('multi txn op is not a field list');
}

const writer = new TxnWriter();

/** A txn's bytes in a buffer of their own (TxnWriter's encoding: what msgpackr would write). */
export function encodeTxn(txn: Txn): Uint8Array {
  let buf = Buffer.allocUnsafe(512);
  for (;;) {
    const end = writer.encode(txn, buf, 0, buf.length);
    if (end >= 0) return buf.subarray(0, end);
    if (end === -2) throw new ProtocolError(`txn ${txn.zxid} holds a value a txn cannot carry`);
    buf = Buffer.allocUnsafe(buf.length * 4);
  }
}

/** The txn in `bytes` (from `start` to `end`: a range of a larger read buffer decodes in place). */
export function decodeTxn(bytes: Uint8Array, start = 0, end = bytes.length): Txn {
  let value: unknown;
  try {
    value = start === 0 && end === bytes.length ? packr.unpack(bytes) : packr.unpack(bytes, { start, end });
  } catch (err) {
    throw new ProtocolError(`txn payload does not decode: ${(err as Error).message}`, { cause: err });
  }
  if (Array.isArray(value)) {
    if (value[0] !== txnFormat) throw new ProtocolError(`txn payload has unknown format ${String(value[0])}`);
    if (value.length < 7) throw new ProtocolError(`txn payload is not a txn record: ${value.length} fields`);
    const flatIds = value[5];
    if (typeof value[1] !== 'bigint' || !Array.isArray(flatIds) || flatIds.length % 2 !== 0) throw new ProtocolError('txn payload is not a txn record');
    const authIds: Id[] = [];
    for (let i = 0; i < flatIds.length; i += 2) authIds.push({ scheme: str(flatIds[i], 'auth scheme'), id: flatIds[i + 1] as string });
    if ((typeof value[2] !== 'number' && typeof value[2] !== 'bigint') || (typeof value[3] !== 'bigint' && typeof value[3] !== 'number')) {
      throw new ProtocolError('txn time or session id is not a number');
    }
    return {
      zxid: value[1],
      time: Number(value[2]),
      sessionId: BigInt(value[3]),
      cxid: int(value[4], 'cxid'),
      authIds,
      op: unpackOp(value, 6),
    };
  }
  // Written by an earlier zkts: the txn object with its field names.
  const txn = value as Txn;
  if (txn === null || typeof txn !== 'object' || typeof txn.zxid !== 'bigint' || typeof txn.op !== 'object') {
    throw new ProtocolError('txn payload is not a txn record');
  }
  return txn;
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

/** The ACL list packed at bytes[start, end) (a flat [perms, scheme, id, ...] array). */
export function decodeAclAt(bytes: Buffer, start: number, end: number): ACL[] | null {
  let flat: unknown;
  try {
    flat = packr.unpack(bytes, { start, end });
  } catch (err) {
    throw new ProtocolError(`txn ACL does not decode: ${(err as Error).message}`, { cause: err });
  }
  return aclOf(flat);
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
