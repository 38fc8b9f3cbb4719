import { crc32c } from '@node-rs/crc32';
import { Packr, Unpackr } from 'msgpackr';

/**
 * Snapshot file layout (all integers big-endian):
 *
 *   header, 32 bytes:
 *     0  8 bytes magic 'ZKTSSNAP'   8  u32 version (1)   12 u32 flags (bit 0: frames deflated)
 *     16 u64 zxid                   24 u32 reserved (0)  28 u32 crc32c of bytes 0..28
 *   frames, back to back, each:
 *     0  u32 stored payload length (> 0)
 *     4  u32 record count (> 0)
 *     8  u32 crc32c of bytes 0..8 and the stored payload
 *     12 stored payload: one msgpack array of records, deflateRaw'd when flagged
 *   trailer, 24 bytes:
 *     0  u32 0xffffffff (no frame is that long)   4 u32 reserved (0)
 *     8  u64 record count                         16 u32 crc32c chained over the header CRC
 *                                                    and every frame CRC, in order
 *     20 u32 crc32c of trailer bytes 0..20
 *   and nothing after the trailer.
 *
 * Records are framed in batches rather than one by one: msgpackr's record extension then
 * writes each object shape once per frame instead of repeating every key in every record,
 * and the per-record framing cost disappears.
 */
export const snapshotMagic = Buffer.from('ZKTSSNAP', 'latin1');
export const snapshotVersion = 1;
export const snapshotHeaderBytes = 32;
export const frameHeaderBytes = 12;
export const trailerBytes = 24;
export const trailerTag = 0xffffffff;
export const flagDeflate = 1;

/**
 * bigint ↔ msgpack int64/uint64 exactly (int64AsType), Buffer/Uint8Array ↔ bin (decoded as
 * a Buffer that is a view into its frame: copying each one costs a second per million
 * records, and a loaded tree keeps nearly all of them anyway), objects as msgpackr records.
 * Numbers that are not 32-bit integers go as float64, so they come back as numbers; a
 * bigint outside 64 bits is refused rather than rounded.
 */
const codecOptions = { useRecords: true, int64AsType: 'bigint', mapsAsObjects: true } as const;

export function createPackr(): Packr {
  return new Packr(codecOptions);
}

export function createUnpackr(): Unpackr {
  return new Unpackr(codecOptions);
}

export function encodeSnapshotHeader(zxid: bigint, flags: number): Buffer {
  const header = Buffer.alloc(snapshotHeaderBytes);
  snapshotMagic.copy(header, 0);
  header.writeUInt32BE(snapshotVersion, 8);
  header.writeUInt32BE(flags, 12);
  header.writeBigUInt64BE(zxid, 16);
  header.writeUInt32BE(crc32c(header.subarray(0, 28)), 28);
  return header;
}

export type SnapshotHeaderCheck = { ok: true; zxid: bigint; flags: number; crc: number } | { ok: false; offset: number; reason: string };

export function decodeSnapshotHeader(header: Buffer): SnapshotHeaderCheck {
  if (header.length < snapshotHeaderBytes) return { ok: false, offset: 0, reason: `short header: ${header.length} of ${snapshotHeaderBytes} bytes` };
  if (!header.subarray(0, 8).equals(snapshotMagic)) return { ok: false, offset: 0, reason: 'not a snapshot (bad magic)' };
  const crc = header.readUInt32BE(28);
  if (crc !== crc32c(header.subarray(0, 28))) return { ok: false, offset: 28, reason: 'header CRC mismatch' };
  const version = header.readUInt32BE(8);
  if (version !== snapshotVersion) return { ok: false, offset: 8, reason: `unsupported snapshot version ${version}` };
  const flags = header.readUInt32BE(12);
  if ((flags & ~flagDeflate) !== 0) return { ok: false, offset: 12, reason: `unknown flags ${flags}` };
  return { ok: true, zxid: header.readBigUInt64BE(16), flags, crc };
}

/** The header of a frame whose stored bytes are `parts`, one after another. */
export function encodeFrameHeader(parts: readonly Uint8Array[], recordCount: number): Buffer {
  const header = Buffer.alloc(frameHeaderBytes);
  let length = 0;
  for (const part of parts) length += part.length;
  header.writeUInt32BE(length, 0);
  header.writeUInt32BE(recordCount, 4);
  let crc = crc32c(header.subarray(0, 8));
  for (const part of parts) crc = crc32c(part as Buffer, crc);
  header.writeUInt32BE(crc, 8);
  return header;
}

export function frameCrc(header: Buffer, stored: Uint8Array): number {
  return crc32c(stored, crc32c(header.subarray(0, 8)));
}

/** Folds one frame CRC into the running chain that the trailer records. */
export function chainCrc(chain: number, crc: number): number {
  const bytes = Buffer.allocUnsafe(4);
  bytes.writeUInt32BE(crc, 0);
  return crc32c(bytes, chain);
}

export function encodeTrailer(recordCount: number, chain: number): Buffer {
  const trailer = Buffer.alloc(trailerBytes);
  trailer.writeUInt32BE(trailerTag, 0);
  trailer.writeBigUInt64BE(BigInt(recordCount), 8);
  trailer.writeUInt32BE(chain, 16);
  trailer.writeUInt32BE(crc32c(trailer.subarray(0, 20)), 20);
  return trailer;
}

export type TrailerCheck = { ok: true; recordCount: number; chain: number } | { ok: false; reason: string };

export function decodeTrailer(trailer: Buffer): TrailerCheck {
  if (trailer.length < trailerBytes) return { ok: false, reason: `short trailer: ${trailer.length} of ${trailerBytes} bytes` };
  if (trailer.readUInt32BE(20) !== crc32c(trailer.subarray(0, 20))) return { ok: false, reason: 'trailer CRC mismatch' };
  return { ok: true, recordCount: Number(trailer.readBigUInt64BE(8)), chain: trailer.readUInt32BE(16) };
}
