import { join } from 'node:path';
import { promisify } from 'node:util';
import { deflateRaw, inflateRaw } from 'node:zlib';
import type { Logger } from 'pino';
import { StorageError, invariant } from '../errors.js';
import { nodeFs } from './fs.js';
import type { StorageFile, StorageFs } from './fs.js';
import { snapshotFrameBytesMax, snapshotFrameBytesTarget, snapshotFrameRecordsMax } from './limits.js';
import { loopWork } from '../loop-work.js';
import { snapshotName, snapshotPrefix, tempSuffix, zxidFiles, zxidText } from './names.js';
import {
  chainCrc,
  createPackr,
  createUnpackr,
  decodeSnapshotHeader,
  decodeTrailer,
  encodeFrameHeader,
  encodeSnapshotHeader,
  encodeTrailer,
  flagDeflate,
  frameCrc,
  frameHeaderBytes,
  snapshotHeaderBytes,
  trailerBytes,
  trailerTag,
} from './snapshot-format.js';

const deflate = promisify(deflateRaw);
const inflate = promisify(inflateRaw);

/** zlib's output chunk: one callback per frame instead of one per 16 KiB. */
const zlibChunkBytes = 1024 * 1024;
/**
 * Frames being compressed or written at once. Compressed, one: measured on two cores, three
 * frames deflating in parallel starved the main thread for 40-160 ms at a time, while the
 * total write time stayed the same (deflate is the bottleneck either way). Uncompressed,
 * several: a write costs the main thread nothing, and with one at a time a snapshot taken
 * under load spent most of its time waiting for writes queued behind the txn log's fsyncs
 * (7 s for 700k znodes at 25k creates/s).
 */
const compressedFramesInFlightMax = 1;
const plainFramesInFlightMax = 4;
/** Records up to this size are packed by msgpackr; larger node blocks are written as they are. */
const smallRecordBytesMax = 256;

/** A msgpack array header for `count` elements. */
function msgpackArrayHeader(count: number): Buffer {
  if (count < 16) return Buffer.from([0x90 | count]);
  const header = Buffer.allocUnsafe(5);
  header[0] = 0xdd;
  header.writeUInt32BE(count, 1);
  return header;
}

/** The msgpack bytes of ['n', bin] up to the bin's content: array of 2, 'n', bin32 length. */
function nodeBlockPrefix(length: number): Buffer {
  const prefix = Buffer.allocUnsafe(8);
  prefix[0] = 0x92;
  prefix[1] = 0xa1;
  prefix[2] = 0x6e;
  prefix[3] = 0xc6;
  prefix.writeUInt32BE(length, 4);
  return prefix;
}

export interface SnapshotStoreOptions {
  /** The directory that holds snapshots and epoch files (dataDir). */
  dir: string;
  log: Logger;
  fs?: StorageFs;
  /**
   * deflateRaw every frame. Default false, as in ZooKeeper: for 1M znodes with random
   * 128-byte data it saved 25% (203 → 153 MB) but made writing about 3x and loading about
   * 2.5x slower on two cores; text-like data shrinks far more.
   */
  compress?: boolean;
}

export interface SnapshotInfo {
  zxid: bigint;
  file: string;
  bytes: number;
  recordCount: number;
}

export interface LoadedSnapshot extends SnapshotInfo {
  /**
   * The records in the order they were written. Each iteration reads the file again.
   * Buffers in records are views into the buffer their frame was read or inflated into,
   * which stays alive while any of them does.
   */
  records: AsyncIterable<unknown>;
  /** The same records a frame at a time: the fastest way to feed a large tree. */
  batches: AsyncIterable<unknown[]>;
}

export interface WriteOptions {
  /** Called with each record once its frame is written: its buffers may be reused from then on. */
  written?: (record: unknown) => void;
}

export interface StreamedSnapshot {
  zxid: bigint;
  file: string;
  /** The records a frame at a time, checked as they are read; see streamSnapshots. */
  batches: AsyncIterable<unknown[]>;
}

/** A snapshot file found invalid while it was being read: an older one may still be good. */
export class SnapshotRejected extends StorageError {
  constructor(
    file: string,
    offset: number,
    /** What was wrong, without the file and offset. */
    readonly reason: string,
  ) {
    super(file, offset, reason);
  }
}

export class SnapshotStore {
  private readonly fs: StorageFs;
  private readonly log: Logger;
  private readonly compress: boolean;
  private writing = false;

  private constructor(private readonly options: SnapshotStoreOptions) {
    this.fs = options.fs ?? nodeFs;
    this.log = options.log.child({ component: 'snapshots', dir: options.dir });
    this.compress = options.compress ?? false;
  }

  /** Opens the store, removing temp files left by a snapshot a crash interrupted. */
  static async open(options: SnapshotStoreOptions): Promise<SnapshotStore> {
    const store = new SnapshotStore(options);
    await store.fs.mkdir(options.dir);
    for (const name of await store.fs.readdir(options.dir)) {
      if (!name.startsWith(snapshotPrefix) || !name.endsWith(tempSuffix)) continue;
      store.log.info({ file: join(options.dir, name) }, 'unfinished snapshot removed');
      await store.fs.unlink(join(options.dir, name));
    }
    return store;
  }

  /** Zxids of the snapshot files present, newest first (valid or not). */
  async list(): Promise<bigint[]> {
    return zxidFiles(await this.fs.readdir(this.options.dir), snapshotPrefix)
      .map((file) => file.zxid)
      .reverse();
  }

  /**
   * Writes `snapshot.<zxid>` from `records` (plain msgpack-able values: objects, arrays,
   * strings, numbers, bigints within 64 bits, Buffers, null). The file appears under its
   * final name only once complete and synced. Encoding yields to the event loop every few
   * milliseconds.
   */
  async writeSnapshot(zxid: bigint, records: Iterable<unknown> | AsyncIterable<unknown>, options: WriteOptions = {}): Promise<SnapshotInfo> {
    invariant(!this.writing, 'a snapshot is already being written');
    this.writing = true;
    const finalPath = join(this.options.dir, snapshotName(zxid));
    const tempPath = `${finalPath}${tempSuffix}`;
    const started = performance.now();
    try {
      const file = await this.fs.open(tempPath, 'createTruncate');
      let written: { bytes: number; recordCount: number };
      try {
        written = await new FrameWriter(file, this.compress, options.written).writeAll(zxid, records);
        await file.sync();
      } finally {
        await file.close();
      }
      await this.fs.rename(tempPath, finalPath);
      await this.fs.syncDir(this.options.dir);
      const info = { zxid, file: finalPath, ...written };
      this.log.info({ zxid: zxidText(zxid), file: finalPath, bytes: info.bytes, records: info.recordCount, ms: Math.round(performance.now() - started) }, 'snapshot written');
      return info;
    } catch (error) {
      await this.fs.unlink(tempPath).catch(() => undefined);
      throw error;
    } finally {
      this.writing = false;
    }
  }

  /**
   * The snapshots, newest first, each read as it is decoded: its `batches` check every frame's
   * CRC before handing it out, and the trailer (record count, CRC chain) at the end, and
   * throw a SnapshotRejected naming the file and offset at the first problem, after which
   * the caller drops what it built and takes the next one. Reading ahead while the caller
   * decodes hides the read: loadLatestSnapshot's validation pass first read 139 MB (1M
   * znodes) in ~200 ms before any decoding started.
   */
  async *streamSnapshots(): AsyncGenerator<StreamedSnapshot> {
    for (const zxid of await this.list()) {
      const path = join(this.options.dir, snapshotName(zxid));
      yield { zxid, file: path, batches: { [Symbol.asyncIterator]: () => streamBatches(this.fs, path, zxid) } };
    }
  }

  /**
   * The newest snapshot that validates end to end (header, every frame's CRC, trailer
   * count and CRC chain), with its records. An invalid snapshot is skipped with a warning
   * naming the file and offset. Undefined when there are no snapshots; a StorageError when
   * there are some but none is valid, since starting empty would silently lose data.
   */
  async loadLatestSnapshot(): Promise<LoadedSnapshot | undefined> {
    // Checked by reading it through once, before its records are handed out.
    const found = await this.readNewestValid(async (snapshot) => {
      let recordCount = 0;
      for await (const batch of snapshot.batches) recordCount += batch.length;
      return recordCount;
    });
    if (found === undefined) return undefined;
    const { snapshot, result: recordCount } = found;
    const file = await this.fs.open(snapshot.file, 'read');
    const bytes = await file.size().finally(() => file.close());
    return { zxid: snapshot.zxid, file: snapshot.file, bytes, recordCount, batches: snapshot.batches, records: flatten(snapshot.batches) };
  }

  /**
   * Hands the snapshots, newest first, to `read` (which should read its batches through)
   * until one is read without a SnapshotRejected; each rejected one is skipped with a warning
   * naming the file and offset. Undefined when there are no snapshots; a StorageError when
   * there are some but none is valid, since starting empty would silently lose data. Other
   * errors from `read` are passed on.
   */
  async readNewestValid<T>(read: (snapshot: StreamedSnapshot) => Promise<T>): Promise<{ snapshot: StreamedSnapshot; result: T } | undefined> {
    const rejected: SnapshotRejected[] = [];
    for await (const snapshot of this.streamSnapshots()) {
      try {
        return { snapshot, result: await read(snapshot) };
      } catch (error) {
        if (!(error instanceof SnapshotRejected)) throw error;
        this.log.warn({ file: error.file, offset: error.offset, reason: error.reason }, 'snapshot failed validation; trying an older one');
        rejected.push(error);
      }
    }
    if (rejected.length === 0) return undefined;
    const newest = rejected[0]!;
    throw new StorageError(newest.file, newest.offset, `expected a valid snapshot, but none of the ${rejected.length} snapshot files validates (newest: ${newest.reason})`);
  }
}

/** Encodes records into frames, compresses and writes them, a few frames in flight at once. */
class FrameWriter {
  private readonly packr = createPackr();
  private readonly inFlight: Promise<void>[] = [];
  private writeChain: Promise<void> = Promise.resolve();
  private position = snapshotHeaderBytes;
  private chain = 0;
  private recordCount = 0;
  /** A guess for the first frame (a tree's node blocks are 64 KiB), then sized from the last. */
  private recordsPerFrame = 16;
  private batch: unknown[] = [];

  constructor(
    private readonly file: StorageFile,
    private readonly compress: boolean,
    private readonly written: ((record: unknown) => void) | undefined,
  ) {}

  async writeAll(zxid: bigint, records: Iterable<unknown> | AsyncIterable<unknown>): Promise<{ bytes: number; recordCount: number }> {
    const header = encodeSnapshotHeader(zxid, this.compress ? flagDeflate : 0);
    await this.file.write(header, 0);
    this.chain = header.readUInt32BE(28);
    // A sync iterable is walked without for-await, which would cost a microtask per record.
    if (Symbol.asyncIterator in records) {
      for await (const record of records) await this.add(record);
    } else {
      for (const record of records) await this.add(record);
    }
    if (this.batch.length > 0) await this.addFrame(this.batch.splice(0));
    await Promise.all(this.inFlight.splice(0));
    await this.file.write(encodeTrailer(this.recordCount, this.chain), this.position);
    return { bytes: this.position + trailerBytes, recordCount: this.recordCount };
  }

  private add(record: unknown): Promise<void> | undefined {
    this.batch.push(record);
    // A frame is cut by count, sized from the previous frame; making its records (a tree's
    // node blocks take a fraction of a millisecond each) waits for a turn of loopWork once
    // the slice it was given has run out, without cutting the frame short.
    if (this.batch.length >= this.recordsPerFrame) return this.addFrame(this.batch.splice(0));
    if (loopWork.sliceOver()) return loopWork.slice();
    return undefined;
  }

  private async addFrame(batch: unknown[]): Promise<void> {
    const parts = this.compress ? [Buffer.from(this.packr.pack(batch))] : this.packParts(batch);
    let length = 0;
    for (const part of parts) length += part.length;
    this.recordCount += batch.length;
    this.recordsPerFrame = Math.max(1, Math.min(snapshotFrameRecordsMax, Math.round((snapshotFrameBytesTarget * batch.length) / length)));
    const stored = this.compress ? deflate(parts[0]!, { level: 1, chunkSize: zlibChunkBytes }).then((bytes) => [bytes]) : Promise.resolve(parts);
    const count = batch.length;
    // Compression runs on libuv's pool; writes stay in file order.
    this.writeChain = Promise.all([this.writeChain, stored]).then(async ([, bytes]) => {
      await this.writeFrame(bytes, count);
      if (this.written !== undefined) for (const record of batch) this.written(record);
    });
    const done = this.writeChain;
    done.catch(() => undefined);
    this.inFlight.push(done);
    if (this.inFlight.length >= (this.compress ? compressedFramesInFlightMax : plainFramesInFlightMax)) await this.inFlight.shift();
    await this.yieldIfSliceUsed();
  }

  /**
   * The frame's msgpack bytes (an array of the records) in parts, without copying large
   * binary records: a tree's node blocks (['n', bytes]) are written from the buffers they
   * were made in. Packing the frame whole copied every block twice (msgpackr's buffer, then
   * a buffer of the frame's own), and those copies' garbage, ~3 bytes for each byte written,
   * had V8 run a full GC every few seconds during a snapshot (external memory pressure).
   */
  private packParts(batch: unknown[]): Buffer[] {
    const parts: Buffer[] = [msgpackArrayHeader(batch.length)];
    let small: Buffer[] = [];
    for (const record of batch) {
      if (Array.isArray(record) && record.length === 2 && record[0] === 'n' && record[1] instanceof Uint8Array && record[1].length > smallRecordBytesMax) {
        if (small.length > 0) parts.push(Buffer.concat(small));
        small = [];
        const bytes = record[1];
        parts.push(nodeBlockPrefix(bytes.length), Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      } else {
        // msgpackr packs into a buffer it reuses on the next call: copied.
        small.push(Buffer.from(this.packr.pack(record)));
      }
    }
    if (small.length > 0) parts.push(Buffer.concat(small));
    return parts;
  }

  private async writeFrame(parts: Buffer[], count: number): Promise<void> {
    const header = encodeFrameHeader(parts, count);
    const position = this.position;
    this.position += frameHeaderBytes + header.readUInt32BE(0);
    this.chain = chainCrc(this.chain, header.readUInt32BE(8));
    await this.file.writev([header, ...parts], position);
  }

  private async yieldIfSliceUsed(): Promise<void> {
    if (loopWork.sliceOver()) await loopWork.slice();
  }
}

type FrameRead = { ok: true; stored: Buffer; count: number; crc: number; end: number } | { ok: false; offset: number; reason: string };

/** The frame at `offset`, its CRC checked. */
async function readFrame(window: ReadAhead, offset: number): Promise<FrameRead> {
  const head = await window.view(offset, frameHeaderBytes);
  if (head.length < frameHeaderBytes) return { ok: false, offset, reason: 'short frame header (incomplete snapshot)' };
  const length = head.readUInt32BE(0);
  const count = head.readUInt32BE(4);
  const end = offset + frameHeaderBytes + length;
  if (length === 0 || length > snapshotFrameBytesMax || count === 0) return { ok: false, offset, reason: `implausible frame: ${length} bytes, ${count} records` };
  if (end > window.size) return { ok: false, offset, reason: `frame of ${length} bytes runs past the end of the file (incomplete snapshot)` };
  const stored = await window.view(offset + frameHeaderBytes, length);
  const crc = head.readUInt32BE(8);
  if (crc !== frameCrc(head, stored)) return { ok: false, offset, reason: 'frame CRC mismatch' };
  return { ok: true, stored, count, crc, end };
}

function checkTrailer(trailer: Buffer, offset: number, size: number, recordCount: number, chain: number): { ok: true; recordCount: number } | { ok: false; offset: number; reason: string } {
  const decoded = decodeTrailer(trailer);
  if (!decoded.ok) return { ok: false, offset, reason: decoded.reason };
  if (decoded.recordCount !== recordCount) return { ok: false, offset, reason: `trailer counts ${decoded.recordCount} records, the frames hold ${recordCount}` };
  if (decoded.chain !== chain) return { ok: false, offset, reason: 'trailer CRC chain does not match the frames (frames missing, repeated or reordered)' };
  if (offset + trailerBytes !== size) return { ok: false, offset: offset + trailerBytes, reason: `${size - offset - trailerBytes} bytes after the trailer` };
  return { ok: true, recordCount };
}

/** Streamed reads come in chunks of this size, up to this many ahead of the one being decoded. */
const streamChunkBytes = 8 * 1024 * 1024;
const streamChunksAhead = 2;

/**
 * Sequential reads of a file in large chunks, a few in flight ahead of the reader: the
 * reads (on libuv's pool) overlap with the decoding on the main thread.
 */
class ReadAhead {
  private readonly chunks: { start: number; bytes: Promise<Buffer> }[] = [];
  private nextStart = 0;

  constructor(
    private readonly file: StorageFile,
    readonly size: number,
  ) {}

  private fill(upTo: number): void {
    while (this.nextStart < this.size && (this.nextStart < upTo || this.chunks.length < streamChunksAhead + 1)) {
      const start = this.nextStart;
      const length = Math.min(streamChunkBytes, this.size - start);
      const buffer = Buffer.allocUnsafeSlow(length);
      const bytes = this.file.read(buffer, start).then((read) => buffer.subarray(0, read));
      bytes.catch(() => undefined);
      this.chunks.push({ start, bytes });
      this.nextStart = start + length;
    }
  }

  /** The bytes [offset, offset + length), or fewer at the end of the file; offsets only grow. */
  async view(offset: number, length: number): Promise<Buffer> {
    const end = Math.min(offset + length, this.size);
    this.fill(end);
    // Chunks wholly before `offset` are done with.
    while (this.chunks.length > 1 && this.chunks[1]!.start <= offset) this.chunks.shift();
    const first = this.chunks[0];
    if (first === undefined || offset >= end) return Buffer.alloc(0);
    const bytes = await first.bytes;
    if (end <= first.start + bytes.length) return bytes.subarray(offset - first.start, end - first.start);
    // Across chunks (a frame at a chunk's edge): copied into one buffer.
    const out = Buffer.allocUnsafeSlow(end - offset);
    let copied = 0;
    for (const chunk of this.chunks) {
      if (copied === out.length) break;
      const piece = await chunk.bytes;
      const from = Math.max(offset, chunk.start) - chunk.start;
      const to = Math.min(end, chunk.start + piece.length) - chunk.start;
      if (to > from) copied += piece.copy(out, copied, from, to);
    }
    return out.subarray(0, copied);
  }
}

/** The records of a snapshot a frame at a time, each frame checked before it is decoded. */
async function* streamBatches(fs: StorageFs, path: string, nameZxid: bigint): AsyncGenerator<unknown[]> {
  const file = await fs.open(path, 'read');
  try {
    const reader = new ReadAhead(file, await file.size());
    const reject = (offset: number, reason: string): never => {
      throw new SnapshotRejected(path, offset, reason);
    };
    const header = decodeSnapshotHeader(await reader.view(0, snapshotHeaderBytes));
    if (!header.ok) return reject(header.offset, header.reason);
    if (header.zxid !== nameZxid) return reject(16, `header zxid ${zxidText(header.zxid)} differs from the file name's`);
    const unpackr = createUnpackr();
    let chain = header.crc;
    let recordCount = 0;
    let offset = snapshotHeaderBytes;
    for (;;) {
      const head = await reader.view(offset, frameHeaderBytes);
      if (head.length < 4) return reject(offset, 'expected a frame or the trailer, found the end of the file (incomplete snapshot)');
      if (head.readUInt32BE(0) === trailerTag) {
        const trailer = checkTrailer(await reader.view(offset, trailerBytes), offset, reader.size, recordCount, chain);
        if (!trailer.ok) reject(trailer.offset, trailer.reason);
        return;
      }
      const frame = await readFrame(reader, offset);
      if (!frame.ok) return reject(frame.offset, frame.reason);
      chain = chainCrc(chain, frame.crc);
      recordCount += frame.count;
      const payload = (header.flags & flagDeflate) !== 0 ? await inflate(frame.stored, { chunkSize: zlibChunkBytes }) : frame.stored;
      yield decodeFrame(unpackr, payload, path, { offset, count: frame.count });
      offset = frame.end;
    }
  } finally {
    await file.close();
  }
}

function decodeFrame(unpackr: ReturnType<typeof createUnpackr>, payload: Buffer, path: string, frame: { offset: number; count: number }): unknown[] {
  let records: unknown;
  try {
    records = unpackr.unpack(payload);
  } catch (error) {
    throw new StorageError(path, frame.offset, 'expected a msgpack array of records in the frame', { cause: error });
  }
  if (!Array.isArray(records) || records.length !== frame.count) {
    throw new StorageError(path, frame.offset, `expected ${frame.count} records in the frame, decoded ${Array.isArray(records) ? records.length : typeof records}`);
  }
  return records;
}

/**
 * One record at a time out of batches. Hand-written rather than an async generator, whose
 * per-item resumption costs about a second per million records.
 */
function flatten(batches: AsyncIterable<unknown[]>): AsyncIterable<unknown> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<unknown> {
      const source = batches[Symbol.asyncIterator]();
      let batch: unknown[] = [];
      let index = 0;
      const refill = async (): Promise<IteratorResult<unknown>> => {
        for (;;) {
          const next = await source.next();
          if (next.done === true) return { done: true, value: undefined };
          batch = next.value;
          index = 0;
          if (batch.length > 0) return { done: false, value: batch[index++] };
        }
      };
      return {
        next: () => (index < batch.length ? Promise.resolve({ done: false, value: batch[index++] }) : refill()),
        return: async () => {
          await source.return?.();
          return { done: true, value: undefined };
        },
      };
    },
  };
}
