import { crc32c } from '@node-rs/crc32';
import { writeLong } from '../protocol/jute.js';
import { FileWindow, isAllZero } from './file-window.js';
import { payloadBytesMax } from './limits.js';

/**
 * Txn log segment layout (all integers big-endian):
 *
 *   segment header, 24 bytes:
 *     0  u32 magic 'ZKTL'   4  u32 version (1)   8  u64 first zxid   16 u32 crc32c of bytes 0..16
 *     20 u32 reserved (0)
 *   then records, back to back:
 *     0  u32 header crc32c, over bytes 4..20
 *     4  u32 payload length
 *     8  u64 zxid
 *     16 u32 payload crc32c
 *     20 payload
 *   then, with preallocation, zeros to the end of the file. A record header that is all
 *   zeros marks the end of the data (a real record has a zxid above 0).
 *
 * The header has its own CRC so that recovery can cheaply test every byte offset after a
 * bad record for a valid one (which tells corruption apart from a torn tail).
 */
export const segmentMagic = 0x5a4b544c; // 'ZKTL'
export const segmentVersion = 1;
export const segmentHeaderBytes = 24;
export const recordHeaderBytes = 20;

export function encodeSegmentHeader(firstZxid: bigint): Buffer {
  const header = Buffer.alloc(segmentHeaderBytes);
  header.writeUInt32BE(segmentMagic, 0);
  header.writeUInt32BE(segmentVersion, 4);
  header.writeBigUInt64BE(firstZxid, 8);
  header.writeUInt32BE(crc32c(header.subarray(0, 16)), 16);
  return header;
}

export type SegmentHeaderCheck = { ok: true; firstZxid: bigint } | { ok: false; reason: string };

export function decodeSegmentHeader(header: Buffer): SegmentHeaderCheck {
  if (header.length < segmentHeaderBytes) return { ok: false, reason: `short segment header: ${header.length} bytes` };
  if (header.readUInt32BE(16) !== crc32c(header.subarray(0, 16))) return { ok: false, reason: 'segment header CRC mismatch' };
  if (header.readUInt32BE(0) !== segmentMagic) return { ok: false, reason: 'not a txn log segment (bad magic)' };
  const version = header.readUInt32BE(4);
  if (version !== segmentVersion) return { ok: false, reason: `unsupported segment version ${version}` };
  return { ok: true, firstZxid: header.readBigUInt64BE(8) };
}

export function encodeRecordHeader(zxid: bigint, payload: Uint8Array): Buffer {
  const header = Buffer.allocUnsafe(recordHeaderBytes);
  writeRecordHeader(header, 0, zxid, payload);
  return header;
}

/** Writes the header of a record holding `payload` at `at` of `out`. */
export function writeRecordHeader(out: Buffer, at: number, zxid: bigint, payload: Uint8Array): void {
  out.writeUInt32BE(payload.length, at + 4);
  // writeBigUInt64BE (or splitting the zxid in halves) makes bigints; writeLong none.
  writeLong(out, at + 8, zxid);
  out.writeUInt32BE(crc32c(payload), at + 16);
  out.writeUInt32BE(crc32cOfRange(out, at + 4, at + 20), at);
}

const crc32cTable = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/**
 * crc32c of bytes [start, end), in JavaScript: for the 16 bytes of a record header this is
 * several times cheaper than the native call (measured: two native CRCs per record were most
 * of the time of opening a 1M-txn log).
 */
export function crc32cOfRange(bytes: Uint8Array, start: number, end: number): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = crc32cTable[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** True when the 20 bytes at `offset` form a record header whose CRC matches. */
export function headerCrcMatches(bytes: Buffer, offset: number): boolean {
  return bytes.readUInt32BE(offset) === crc32cOfRange(bytes, offset + 4, offset + recordHeaderBytes);
}

export type ScanStep =
  | { kind: 'record'; offset: number; end: number; zxid: bigint; payload: Buffer }
  /** Clean end of data: EOF at a record boundary, or an all-zero (preallocated) tail. */
  | { kind: 'end'; offset: number; zeroTail: boolean }
  | { kind: 'bad'; offset: number; reason: string };

/**
 * The record at `offset` when it is valid and wholly inside the window's cached chunk;
 * undefined sends the caller to scanRecord, which reads and explains (end, zeros, damage).
 */
export function scanCachedRecord(window: FileWindow, offset: number): ScanStep | undefined {
  const header = window.cached(offset, recordHeaderBytes);
  if (header === undefined || !headerCrcMatches(header, 0)) return undefined;
  const length = header.readUInt32BE(4);
  if (length > payloadBytesMax) return undefined;
  const payload = window.cached(offset + recordHeaderBytes, length);
  if (payload === undefined) return undefined;
  const zxid = header.readBigUInt64BE(8);
  if (crc32c(payload) !== header.readUInt32BE(16)) return undefined;
  return { kind: 'record', offset, end: offset + recordHeaderBytes + length, zxid, payload };
}

/**
 * scanCachedRecord for opening a log: the payload CRC of a record at or below `headerOnlyTo`
 * (the newest snapshot's zxid: recovery will not read it) is left for whoever reads it.
 */
export function scanCachedRecordAtOpen(window: FileWindow, offset: number, headerOnlyTo: bigint): ScanStep | undefined {
  const header = window.cached(offset, recordHeaderBytes);
  if (header === undefined || !headerCrcMatches(header, 0)) return undefined;
  const length = header.readUInt32BE(4);
  if (length > payloadBytesMax) return undefined;
  const zxid = header.readBigUInt64BE(8);
  if (zxid > headerOnlyTo || window.cached(offset + recordHeaderBytes, length) === undefined) return scanCachedRecord(window, offset);
  return { kind: 'record', offset, end: offset + recordHeaderBytes + length, zxid, payload: header.subarray(0, 0) };
}

function hiWord(zxid: bigint): number {
  return Number((zxid >> 32n) & 0xffffffffn);
}

function loWord(zxid: bigint): number {
  return Number(zxid & 0xffffffffn);
}

function u32(bytes: Buffer, at: number): number {
  return ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
}

/** Where a sequential scan is (see scanCachedRun); zxids as unsigned 32-bit halves, no BigInts. */
export class RecordRun {
  lastHi = 0;
  lastLo = 0;
  /** Records taken so far. */
  count = 0;
  private readonly fromHi: number;
  private readonly fromLo: number;
  private readonly toHi: number;
  private readonly toLo: number;

  /**
   * Payload CRCs are checked for zxids in [checkFrom, checkTo) (checkTo undefined: no upper
   * bound); records must have zxids above `last`, increasing.
   */
  constructor(last: bigint, checkFrom: bigint, checkTo?: bigint) {
    this.restart(last);
    this.fromHi = hiWord(checkFrom);
    this.fromLo = loWord(checkFrom);
    // 2^32 is above any high word: no bound.
    this.toHi = checkTo === undefined ? 2 ** 32 : hiWord(checkTo);
    this.toLo = checkTo === undefined ? 0 : loWord(checkTo);
  }

  checksPayload(hi: number, lo: number): boolean {
    return (hi > this.fromHi || (hi === this.fromHi && lo >= this.fromLo)) && (hi < this.toHi || (hi === this.toHi && lo < this.toLo));
  }

  /** Starts counting again, from records above `last`. */
  restart(last: bigint): void {
    this.lastHi = hiWord(last);
    this.lastLo = loWord(last);
    this.count = 0;
  }

  get last(): bigint {
    return (BigInt(this.lastHi) << 32n) | BigInt(this.lastLo);
  }
}

/**
 * The fast path of a sequential scan: walks the records wholly inside the window's cached
 * chunk from `offset` that are plainly valid (header CRC, length, zxid above run.last,
 * payload CRC where the run checks it), at most `limit` of them, and returns the offset of
 * the first record it did not take. Nothing is allocated per record; whatever it stops at,
 * scanRecord looks at again and explains. `visit` gets each record's payload range.
 */
export function scanCachedRun(
  window: FileWindow,
  offset: number,
  run: RecordRun,
  limit = Infinity,
  visit?: (chunk: Buffer, payloadStart: number, payloadEnd: number, hi: number, lo: number) => void,
): number {
  const chunk = window.chunk;
  const base = window.chunkStart;
  const end = Math.min(chunk.length, window.size - base);
  let at = offset - base;
  if (at < 0) return offset;
  let lastHi = run.lastHi;
  let lastLo = run.lastLo;
  let taken = 0;
  while (taken < limit && at + recordHeaderBytes <= end) {
    const length = u32(chunk, at + 4);
    const payloadStart = at + recordHeaderBytes;
    const payloadEnd = payloadStart + length;
    if (length > payloadBytesMax || payloadEnd > end) break;
    if (u32(chunk, at) !== crc32cOfRange(chunk, at + 4, payloadStart)) break;
    const hi = u32(chunk, at + 8);
    const lo = u32(chunk, at + 12);
    if (hi < lastHi || (hi === lastHi && lo <= lastLo)) break;
    if (run.checksPayload(hi, lo) && crc32c(chunk.subarray(payloadStart, payloadEnd)) !== u32(chunk, at + 16)) break;
    visit?.(chunk, payloadStart, payloadEnd, hi, lo);
    lastHi = hi;
    lastLo = lo;
    taken++;
    at = payloadEnd;
  }
  run.lastHi = lastHi;
  run.lastLo = lastLo;
  run.count += taken;
  return at + base;
}

/** Reads the record at `offset`, or says why there is none. */
export async function scanRecord(window: FileWindow, offset: number): Promise<ScanStep> {
  const size = window.size;
  if (offset >= size) return { kind: 'end', offset, zeroTail: false };
  const header = await window.view(offset, recordHeaderBytes);
  if (isAllZero(header)) return scanZeroHeader(window, offset);
  if (header.length < recordHeaderBytes) return { kind: 'bad', offset, reason: `short record header: ${header.length} of ${recordHeaderBytes} bytes` };
  if (!headerCrcMatches(header, 0)) return { kind: 'bad', offset, reason: 'record header CRC mismatch' };
  const length = header.readUInt32BE(4);
  const zxid = header.readBigUInt64BE(8);
  if (length > payloadBytesMax) return { kind: 'bad', offset, reason: `payload length ${length} above payloadBytesMax ${payloadBytesMax}` };
  const end = offset + recordHeaderBytes + length;
  if (end > size) return { kind: 'bad', offset, reason: `short payload: ${length} bytes expected, ${size - offset - recordHeaderBytes} in the file` };
  // Read before the next view: a window that reuses its buffer may overwrite the header's bytes.
  const payloadCrc = header.readUInt32BE(16);
  const payload = await window.view(offset + recordHeaderBytes, length);
  if (crc32c(payload) !== payloadCrc) return { kind: 'bad', offset, reason: 'payload CRC mismatch' };
  return { kind: 'record', offset, end, zxid, payload };
}

async function scanZeroHeader(window: FileWindow, offset: number): Promise<ScanStep> {
  if (await window.isZeroFrom(offset)) return { kind: 'end', offset, zeroTail: true };
  return { kind: 'bad', offset, reason: 'an all-zero record header followed by non-zero bytes' };
}

export interface FoundRecord {
  offset: number;
  zxid: bigint;
}

/**
 * The first complete, CRC-valid record with a zxid above `zxidAbove` that starts at or
 * after `from`, testing every byte offset. Used only after a bad record, to decide between
 * a torn tail (nothing valid follows) and corruption (valid data follows).
 */
export async function findValidRecord(window: FileWindow, from: number, zxidAbove: bigint): Promise<FoundRecord | undefined> {
  const bytes = await window.view(from, window.size - from);
  for (let at = 0; at + recordHeaderBytes <= bytes.length; at++) {
    if (bytes.readUInt32BE(at) === 0 && bytes.readUInt32BE(at + 4) === 0) continue;
    const length = bytes.readUInt32BE(at + 4);
    if (length > payloadBytesMax || at + recordHeaderBytes + length > bytes.length) continue;
    if (!headerCrcMatches(bytes, at)) continue;
    const zxid = bytes.readBigUInt64BE(at + 8);
    if (zxid <= zxidAbove) continue;
    const payload = bytes.subarray(at + recordHeaderBytes, at + recordHeaderBytes + length);
    if (crc32c(payload) === bytes.readUInt32BE(at + 16)) return { offset: from + at, zxid };
  }
  return undefined;
}
