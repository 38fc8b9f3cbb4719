import { join } from 'node:path';
import type { Logger } from 'pino';
import { StorageError, invariant } from '../errors.js';
import { FileWindow } from './file-window.js';
import { nodeFs } from './fs.js';
import type { StorageFile, StorageFs } from './fs.js';
import { batchBytesMax, loneWriteBytesMax, payloadBytesMax, preallocateBytesDefault, segmentBytesDefault } from './limits.js';
import { listSegments, recoverLog } from './log-recovery.js';
import type { ActiveSegmentState } from './log-recovery.js';
import { logName, zxidText } from './names.js';
import { RecordRun, encodeSegmentHeader, writeRecordHeader, recordHeaderBytes, scanCachedRecord, scanCachedRun, scanRecord, segmentHeaderBytes } from './txn-record.js';

export interface TxnLogOptions {
  /** The directory that holds the segments (dataLogDir). */
  dir: string;
  log: Logger;
  fs?: StorageFs;
  /** Start a new segment once the current one holds this many bytes. */
  segmentBytes?: number;
  /** Zeros written ahead of the write position; 0 turns preallocation off. */
  preallocateBytes?: number;
  /** Called after each group commit (as onDurableBatch's listeners are); must not throw. */
  onDurable?: DurableListener;
  /** Records of segments wholly at or below this zxid are checked when read, not at open. */
  scanFrom?: bigint;
}

export interface LogRecord {
  zxid: bigint;
  /** May share memory with a read buffer; copy it to keep it past the next iteration. */
  payload: Buffer;
}

/**
 * Writes a record's payload into the log's buffer at `at`, stopping at `limit`: returns its
 * end, -1 when it needs more room, -2 when it cannot encode this one.
 */
export interface RecordEncoder {
  encode(buf: Buffer, at: number, limit: number): number;
}

/** An `append` caller waiting for its txn to be durable. */
interface Waiter {
  zxid: bigint;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Records not yet written, encoded (header and payload) back to back in one buffer as they
 * are appended: the payload is copied at once, so the caller's buffer may be reused (a txn
 * encoder packs every txn into the same scratch), and no object is kept per record.
 */
class RecordBuffer {
  bytes = Buffer.allocUnsafeSlow(256 * 1024);
  length = 0;
  readonly zxids: bigint[] = [];
  /** Where each record ends in `bytes`. */
  readonly ends: number[] = [];

  get count(): number {
    return this.zxids.length;
  }

  add(zxid: bigint, payload: Uint8Array): void {
    const needed = this.length + recordHeaderBytes + payload.length;
    if (needed > this.bytes.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(needed, this.bytes.length * 2));
      this.bytes.copy(grown, 0, 0, this.length);
      this.bytes = grown;
    }
    writeRecordHeader(this.bytes, this.length, zxid, payload);
    this.bytes.set(payload, this.length + recordHeaderBytes);
    this.length = needed;
    this.zxids.push(zxid);
    this.ends.push(needed);
  }

  /**
   * Adds a record whose payload `encoder` writes in place; false (nothing added) when the
   * encoder cannot encode it or it would exceed payloadBytesMax.
   */
  addEncoded(zxid: bigint, encoder: RecordEncoder): boolean {
    for (;;) {
      const start = this.length + recordHeaderBytes;
      const end = encoder.encode(this.bytes, start, Math.min(this.bytes.length, start + payloadBytesMax));
      if (end >= 0) {
        const payload = this.bytes.subarray(start, end);
        writeRecordHeader(this.bytes, this.length, zxid, payload);
        this.length = end;
        this.zxids.push(zxid);
        this.ends.push(end);
        return true;
      }
      if (end === -2 || this.bytes.length >= start + payloadBytesMax) return false;
      const grown = Buffer.allocUnsafeSlow(this.bytes.length * 2);
      this.bytes.copy(grown, 0, 0, this.length);
      this.bytes = grown;
    }
  }

  /** Moves the first `count` records to `into` (emptied first), keeping the rest here. */
  moveFirst(count: number, into: RecordBuffer): void {
    into.clear();
    const cut = this.ends[count - 1]!;
    if (cut > into.bytes.length) into.bytes = Buffer.allocUnsafeSlow(Math.max(cut, into.bytes.length * 2));
    this.bytes.copy(into.bytes, 0, 0, cut);
    into.length = cut;
    for (let i = 0; i < count; i++) {
      into.zxids.push(this.zxids[i]!);
      into.ends.push(this.ends[i]!);
    }
    this.bytes.copy(this.bytes, 0, cut, this.length);
    this.length -= cut;
    this.zxids.splice(0, count);
    this.ends.splice(0, count);
    for (let i = 0; i < this.ends.length; i++) this.ends[i]! -= cut;
  }

  clear(): void {
    this.length = 0;
    this.zxids.length = 0;
    this.ends.length = 0;
  }
}

/** After each group commit: the highest zxid now durable and how many txns the batch held. */
export type DurableListener = (zxid: bigint, count: number) => void;

interface ActiveSegment {
  path: string;
  file: StorageFile;
  firstZxid: bigint;
  writeOffset: number;
  /** File size including preallocated zeros. */
  allocatedEnd: number;
  /** The header and this segment's directory entry are not yet durable. */
  fresh: boolean;
}

const zeroChunk = Buffer.alloc(1024 * 1024);

/**
 * The txn log: append-only segments with group commit. `append` resolves once the txn is
 * durable; one durable write (writevDurable: an O_DSYNC writev, as writev then fdatasync)
 * covers every txn appended since the previous one, and only one is in flight at a time.
 */
export class TxnLog {
  private readonly fs: StorageFs;
  private readonly log: Logger;
  private readonly segmentBytes: number;
  private readonly preallocateBytes: number;
  private active: ActiveSegment | undefined;
  /** Appended, not yet written; and the batch being written (the two swap). */
  private pending = new RecordBuffer();
  private writing = new RecordBuffer();
  /** `append` callers, in zxid order. */
  private waiters: Waiter[] = [];
  private appended: bigint;
  private durable: bigint;
  private flushScheduled = false;
  private flushing: Promise<void> | undefined;
  private failure: Error | undefined;
  private closed = false;
  private truncating = false;
  /** Records from this zxid on were CRC-checked at open or written by this log: reads skip the payload CRC. */
  private checkedFrom = 0n;

  private constructor(
    private readonly options: TxnLogOptions,
    lastZxid: bigint,
  ) {
    this.fs = options.fs ?? nodeFs;
    this.log = options.log.child({ component: 'txnlog', dir: options.dir });
    this.segmentBytes = options.segmentBytes ?? segmentBytesDefault;
    this.preallocateBytes = options.preallocateBytes ?? preallocateBytesDefault;
    invariant(this.segmentBytes > segmentHeaderBytes, 'segmentBytes must exceed the segment header');
    invariant(this.preallocateBytes >= 0, 'preallocateBytes must not be negative');
    this.appended = lastZxid;
    this.durable = lastZxid;
    if (options.onDurable !== undefined) this.durableListeners.push(options.onDurable);
  }

  /** Opens (creating if needed) the log in `options.dir`, validating its records (see recoverLog). */
  static async open(options: TxnLogOptions): Promise<TxnLog> {
    const fs = options.fs ?? nodeFs;
    await fs.mkdir(options.dir);
    const recovered = await recoverLog(fs, options.dir, options.log, options.scanFrom ?? 0n);
    const txnLog = new TxnLog(options, recovered.lastZxid);
    txnLog.checkedFrom = recovered.checkedFrom;
    if (recovered.active !== undefined) await txnLog.resume(recovered.active);
    txnLog.log.info({ lastZxid: zxidText(recovered.lastZxid) }, 'txn log opened');
    return txnLog;
  }

  /** The highest zxid appended, durable or not; 0 for an empty log. */
  get lastZxid(): bigint {
    return this.appended;
  }

  /** The highest zxid known durable; 0 for an empty log. */
  get durableZxid(): bigint {
    return this.durable;
  }

  /**
   * Appends a txn; resolves once it is durable. Zxids must strictly increase. `payload` is
   * copied at once. After a failed write or fsync every call rejects: a log whose fsync
   * failed cannot be trusted to know what it holds.
   */
  append(zxid: bigint, payload: Uint8Array): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    this.checkAppend(zxid, payload);
    this.pending.add(zxid, payload);
    this.scheduleFlush();
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ zxid, resolve, reject });
    });
  }

  /**
   * append without a promise, the payload written by `encoder` straight into the log's
   * buffer: the txn's durability is reported only to the batch listeners (onDurableBatch),
   * and a failure to the failure listeners. A server appending tens of thousands of txns a
   * second keeps a promise and its callbacks per txn off the heap. False when the encoder
   * cannot encode it (nothing is appended); after a failure it throws the failure.
   */
  writeEncoded(zxid: bigint, encoder: RecordEncoder): boolean {
    if (this.failure !== undefined) throw this.failure;
    this.checkOpen(zxid);
    if (!this.pending.addEncoded(zxid, encoder)) return false;
    this.appended = zxid;
    this.scheduleFlush();
    return true;
  }

  private checkOpen(zxid: bigint): void {
    invariant(!this.closed, 'append on a closed txn log');
    invariant(!this.truncating, 'append while the txn log is being truncated');
    invariant(zxid > this.appended, () => `zxid ${zxidText(zxid)} appended after ${zxidText(this.appended)}`);
  }

  private checkAppend(zxid: bigint, payload: Uint8Array): void {
    this.checkOpen(zxid);
    invariant(payload.length <= payloadBytesMax, () => `txn payload of ${payload.length} bytes above payloadBytesMax`);
    this.appended = zxid;
  }

  private readonly durableListeners: DurableListener[] = [];
  private readonly failureListeners: ((error: Error) => void)[] = [];

  /** Calls `listener` after each group commit (see DurableListener); it must not throw. */
  onDurableBatch(listener: DurableListener): void {
    this.durableListeners.push(listener);
  }

  /** Calls `listener` once if a write or fsync fails (the log refuses appends from then on). */
  onFailure(listener: (error: Error) => void): void {
    this.failureListeners.push(listener);
  }

  /** Resolves once everything appended so far is durable. */
  async sync(): Promise<void> {
    while (this.pending.count > 0 || this.flushing !== undefined) {
      if (this.failure !== undefined) throw this.failure;
      if (this.flushing === undefined) this.startFlushing();
      await this.flushing;
    }
    if (this.failure !== undefined) throw this.failure;
  }

  /**
   * Records with zxid in [fromZxid, toZxid], oldest first; `toZxid` defaults to the
   * durable zxid when the iteration starts, so a half-written batch is never read.
   */
  async *readFrom(fromZxid: bigint, toZxid: bigint = this.durable): AsyncGenerator<LogRecord> {
    for await (const batch of this.readBatchesFrom(fromZxid, toZxid)) yield* batch;
  }

  /**
   * readFrom, a batch at a time: each batch is the records one read of the file brought in
   * (up to readChunkBytes).
   */
  async *readBatchesFrom(fromZxid: bigint, toZxid: bigint = this.durable): AsyncGenerator<LogRecord[]> {
    for await (const batch of this.recordBatchesFrom(fromZxid, toZxid)) {
      const out: LogRecord[] = [];
      for (let i = 0; i < batch.zxids.length; i++) out.push({ zxid: batch.zxids[i]!, payload: batch.chunks[i]!.subarray(batch.starts[i]!, batch.ends[i]!) });
      yield out;
    }
  }

  /**
   * readBatchesFrom without an object or buffer view per record: each payload is a range of
   * a read buffer (decode it in place, e.g. decodeTxn(chunk, start, end)). Recovery replays
   * hundreds of thousands of txns this way.
   */
  async *recordBatchesFrom(fromZxid: bigint, toZxid: bigint = this.durable): AsyncGenerator<RecordBatch> {
    const segments = await listSegments(this.fs, this.options.dir);
    const first = Math.max(0, findLastIndex(segments, (segment) => segment.zxid <= fromZxid));
    for (const segment of segments.slice(first)) {
      if (segment.zxid > toZxid) return;
      const path = join(this.options.dir, segment.name);
      for await (const batch of readSegmentBatches(this.fs, path, fromZxid, this.checkedFrom)) {
        // Stop at the bound itself: what follows may be a batch still being written.
        let keep = batch.zxids.length;
        while (keep > 0 && batch.zxids[keep - 1]! > toZxid) keep--;
        if (keep > 0) yield keep === batch.zxids.length ? batch : batch.slice(keep);
        if (keep < batch.zxids.length || batch.zxids[keep - 1] === toZxid) return;
      }
    }
  }

  /** The lowest zxid still in the log, or undefined when it is empty. */
  async firstZxid(): Promise<bigint | undefined> {
    const segments = await listSegments(this.fs, this.options.dir);
    return segments[0]?.zxid;
  }

  /**
   * TRUNC: durably drops every txn above `zxid`. Later segments go first (newest first)
   * and the segment holding `zxid` is cut last, so a crash part way leaves a log that is
   * a prefix with extra txns on top, never one with a hole.
   */
  async truncateAfter(zxid: bigint): Promise<void> {
    invariant(!this.truncating, 'truncateAfter while a truncation is running');
    this.truncating = true;
    try {
      await this.dropTxnsAfter(zxid);
    } finally {
      this.truncating = false;
    }
  }

  private async dropTxnsAfter(zxid: bigint): Promise<void> {
    await this.sync();
    await this.closeActive();
    const segments = await listSegments(this.fs, this.options.dir);
    const later = segments.filter((segment) => segment.zxid > zxid).reverse();
    for (const segment of later) await this.fs.unlink(join(this.options.dir, segment.name));
    if (later.length > 0) await this.fs.syncDir(this.options.dir);
    const keep = segments.filter((segment) => segment.zxid <= zxid).at(-1);
    const lastZxid = keep === undefined ? 0n : await this.cutSegment(join(this.options.dir, keep.name), keep.zxid, zxid);
    this.appended = lastZxid;
    this.durable = lastZxid;
    this.log.warn({ truncatedAfter: zxidText(zxid), lastZxid: zxidText(lastZxid), segmentsRemoved: later.length }, 'txn log truncated');
  }

  /** Waits for pending appends, then closes the active segment. */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.sync();
    } finally {
      this.closed = true;
      await this.closeActive();
    }
  }

  private async resume(state: ActiveSegmentState): Promise<void> {
    this.active = {
      path: state.path,
      file: await this.fs.open(state.path, 'readWrite'),
      firstZxid: state.firstZxid,
      writeOffset: state.writeOffset,
      allocatedEnd: state.size,
      fresh: false,
    };
  }

  /** Truncates the segment after the last record at or below `zxid`; returns that record's zxid. */
  private async cutSegment(path: string, firstZxid: bigint, zxid: bigint): Promise<bigint> {
    let cut = segmentHeaderBytes;
    let lastZxid = 0n;
    for await (const record of readSegment(this.fs, path)) {
      if (record.zxid > zxid) break;
      cut = record.end;
      lastZxid = record.zxid;
    }
    const file = await this.fs.open(path, 'readWrite');
    await file.truncate(cut);
    await file.sync();
    this.active = { path, file, firstZxid, writeOffset: cut, allocatedEnd: cut, fresh: false };
    return lastZxid;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.flushing !== undefined) return;
    this.flushScheduled = true;
    // setImmediate rather than a microtask: appends made in the same turn of the event
    // loop (many writers resuming after the previous fsync) join one batch.
    setImmediate(() => {
      this.flushScheduled = false;
      if (this.flushing === undefined && !this.writeLoneTxn()) this.startFlushing();
    });
  }

  /**
   * A lone txn on an idle log (a client writing one request at a time) is written on the loop
   * thread: the thread pool's hand-off and wake-up back cost it more than the loop gains by
   * running on during the write (README, Performance). Once txns arrive faster than the disk
   * syncs them, batches hold more than one and go to the thread pool, so that the loop works
   * while the disk does. Whether it wrote it.
   */
  private writeLoneTxn(): boolean {
    const active = this.active;
    if (this.pending.count !== 1 || this.pending.length > loneWriteBytesMax || this.failure !== undefined || active === undefined || active.fresh) return false;
    const end = active.writeOffset + this.pending.length;
    // A write that starts a segment or extends the preallocation is not a small one.
    if (active.writeOffset >= this.segmentBytes || (this.preallocateBytes > 0 && end > active.allocatedEnd)) return false;
    try {
      if (active.file.writevDurableSync?.([this.pending.bytes.subarray(0, this.pending.length)], active.writeOffset) !== true) return false;
    } catch (error) {
      this.fail(error);
      return true;
    }
    active.writeOffset = end;
    active.allocatedEnd = Math.max(active.allocatedEnd, end);
    this.batchDurable(this.takeBatch());
    return true;
  }

  private startFlushing(): void {
    this.flushing = this.flushLoop().finally(() => {
      this.flushing = undefined;
      // Appends made after the loop saw an empty queue, while this promise settled,
      // found a flush still "in flight" and did not schedule one.
      if (this.pending.count > 0 && this.failure === undefined) this.scheduleFlush();
    });
  }

  /** Writes and syncs batches until no appends are waiting; one fsync in flight at a time. */
  private async flushLoop(): Promise<void> {
    while (this.pending.count > 0 && this.failure === undefined) {
      const batch = this.takeBatch();
      try {
        await this.writeBatch(batch);
      } catch (error) {
        this.fail(error);
        return;
      }
      this.batchDurable(batch);
    }
  }

  /** The batch just written is durable: its waiters and the batch listeners hear it. */
  private batchDurable(batch: RecordBuffer): void {
    this.durable = batch.zxids[batch.count - 1]!;
    let resolved = 0;
    while (resolved < this.waiters.length && this.waiters[resolved]!.zxid <= this.durable) this.waiters[resolved++]!.resolve();
    if (resolved > 0) this.waiters.splice(0, resolved);
    for (const listener of this.durableListeners) listener(this.durable, batch.count);
  }

  /** The records to write next, up to batchBytesMax (at least one): swapped or moved out of `pending`. */
  private takeBatch(): RecordBuffer {
    const pending = this.pending;
    if (pending.length <= batchBytesMax || pending.count === 1) {
      this.pending = this.writing;
      this.pending.clear();
      this.writing = pending;
      return pending;
    }
    let count = 1;
    while (count < pending.count && pending.ends[count]! <= batchBytesMax) count++;
    pending.moveFirst(count, this.writing);
    return this.writing;
  }

  private async writeBatch(batch: RecordBuffer): Promise<void> {
    if (this.active === undefined || this.active.writeOffset >= this.segmentBytes) {
      await this.rollOver(batch.zxids[0]!);
    }
    const active = this.active!;
    const buffers: Uint8Array[] = active.fresh ? [encodeSegmentHeader(active.firstZxid)] : [];
    const position = active.fresh ? 0 : active.writeOffset;
    buffers.push(batch.bytes.subarray(0, batch.length));
    const end = (active.fresh ? segmentHeaderBytes : active.writeOffset) + batch.length;
    const allocatedEnd = this.pushPreallocation(buffers, end, active.allocatedEnd);
    await active.file.writevDurable(buffers, position);
    if (active.fresh) await this.fs.syncDir(this.options.dir);
    active.fresh = false;
    active.writeOffset = end;
    active.allocatedEnd = Math.max(allocatedEnd, end);
  }

  /** Appends zeros after the batch when it would run past the preallocated end. */
  private pushPreallocation(buffers: Uint8Array[], end: number, allocatedEnd: number): number {
    if (this.preallocateBytes === 0 || end <= allocatedEnd) return allocatedEnd;
    for (let remaining = this.preallocateBytes; remaining > 0; remaining -= zeroChunk.length) {
      buffers.push(zeroChunk.subarray(0, Math.min(remaining, zeroChunk.length)));
    }
    return end + this.preallocateBytes;
  }

  private async rollOver(firstZxid: bigint): Promise<void> {
    const previous = this.active;
    if (previous !== undefined) {
      // The preallocated tail of a full segment is of no use; trimming it needs no fsync,
      // since a zero tail that comes back after a crash is valid.
      await previous.file.truncate(previous.writeOffset);
      await this.closeActive();
    }
    const path = join(this.options.dir, logName(firstZxid));
    const file = await this.fs.open(path, 'createExclusive');
    this.active = { path, file, firstZxid, writeOffset: 0, allocatedEnd: 0, fresh: true };
    this.log.info({ file: path, firstZxid: zxidText(firstZxid) }, 'txn log segment started');
  }

  private async closeActive(): Promise<void> {
    const active = this.active;
    this.active = undefined;
    if (active !== undefined) await active.file.close();
  }

  private fail(error: unknown): void {
    const offset = this.active?.writeOffset ?? 0;
    const failure = new StorageError(this.active?.path ?? this.options.dir, offset, 'write or fsync of the txn log failed; the log refuses further appends', { cause: error });
    this.failure = failure;
    this.log.error({ err: error, file: this.active?.path, offset }, 'txn log write failed');
    this.pending.clear();
    for (const waiter of this.waiters.splice(0)) waiter.reject(failure);
    for (const listener of this.failureListeners) listener(failure);
  }
}

interface SegmentRecord extends LogRecord {
  end: number;
}

/**
 * The records of one segment from `fromZxid` on (those before it are checked, not yielded);
 * a bad record is a StorageError (recovery already ran).
 */
async function* readSegment(fs: StorageFs, path: string, fromZxid = 0n): AsyncGenerator<SegmentRecord> {
  const file = await fs.open(path, 'read');
  try {
    const window = new FileWindow(file, await file.size());
    for (let offset = segmentHeaderBytes; ; ) {
      const step = scanCachedRecord(window, offset) ?? (await scanRecord(window, offset));
      if (step.kind === 'end') return;
      if (step.kind === 'bad') throw new StorageError(path, step.offset, `expected a valid record, found ${step.reason}`);
      if (step.zxid >= fromZxid) yield { zxid: step.zxid, payload: step.payload, end: step.end };
      offset = step.end;
    }
  } finally {
    await file.close();
  }
}

/**
 * Records as ranges of read buffers, in zxid order: record i's payload is
 * chunks[i][starts[i], ends[i]).
 */
export class RecordBatch {
  readonly zxids: bigint[] = [];
  readonly chunks: Buffer[] = [];
  readonly starts: number[] = [];
  readonly ends: number[] = [];

  push(zxid: bigint, chunk: Buffer, start: number, end: number): void {
    this.zxids.push(zxid);
    this.chunks.push(chunk);
    this.starts.push(start);
    this.ends.push(end);
  }

  /** The first `count` records. */
  slice(count: number): RecordBatch {
    const out = new RecordBatch();
    for (let i = 0; i < count; i++) out.push(this.zxids[i]!, this.chunks[i]!, this.starts[i]!, this.ends[i]!);
    return out;
  }
}

/**
 * A segment's records from `fromZxid` on, a batch per read of the file; a bad record is a
 * StorageError. Payload CRCs are checked from `fromZxid` up to `checkedFrom` (the log
 * checked those above when it was opened, or wrote them itself); records below `fromZxid`
 * only have their headers checked.
 */
async function* readSegmentBatches(fs: StorageFs, path: string, fromZxid: bigint, checkedFrom: bigint): AsyncGenerator<RecordBatch> {
  const file = await fs.open(path, 'read');
  try {
    const window = new FileWindow(file, await file.size());
    const run = new RecordRun(0n, fromZxid, checkedFrom);
    const fromHi = Number((fromZxid >> 32n) & 0xffffffffn);
    const fromLo = Number(fromZxid & 0xffffffffn);
    let batch = new RecordBatch();
    const take = (chunk: Buffer, start: number, end: number, hi: number, lo: number): void => {
      if (hi > fromHi || (hi === fromHi && lo >= fromLo)) batch.push((BigInt(hi) << 32n) | BigInt(lo), chunk, start, end);
    };
    for (let offset = segmentHeaderBytes; ; ) {
      offset = scanCachedRun(window, offset, run, Infinity, take);
      // The fast path stopped: the end of the cached chunk, of the data, or a bad record.
      if (batch.zxids.length > 0) yield batch;
      batch = new RecordBatch();
      const step = await scanRecord(window, offset);
      if (step.kind === 'end') return;
      if (step.kind === 'bad') throw new StorageError(path, step.offset, `expected a valid record, found ${step.reason}`);
      if (step.zxid <= run.last) throw new StorageError(path, step.offset, `expected a zxid above ${zxidText(run.last)}, found ${zxidText(step.zxid)}`);
      run.restart(step.zxid);
      if (step.zxid >= fromZxid) batch.push(step.zxid, step.payload, 0, step.payload.length);
      offset = step.end;
    }
  } finally {
    await file.close();
  }
}

function findLastIndex<T>(items: readonly T[], test: (item: T) => boolean): number {
  for (let i = items.length - 1; i >= 0; i--) {
    if (test(items[i]!)) return i;
  }
  return -1;
}
