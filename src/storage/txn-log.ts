import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { StorageError, invariant } from '../errors.js';
import { nodeFs } from './fs.js';
import type { StorageFs } from './fs.js';
import { batchBytesMax, loopWriteBackoffMs, loopWriteBytesMax, loopWriteSlowMsDefault, payloadBytesMax, preallocateBytesDefault, segmentBytesDefault } from './limits.js';
import { logRecordBatches } from './log-reader.js';
import type { LogRecord, RecordBatch } from './log-reader.js';
import { recoverLog, listSegments } from './log-recovery.js';
import { zxidText } from './names.js';
import { RecordBuffer } from './record-buffer.js';
import type { RecordEncoder } from './record-buffer.js';
import { SegmentWriter } from './segment-writer.js';
import { segmentHeaderBytes } from './txn-record.js';

export type { RecordEncoder } from './record-buffer.js';

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
  /** A write on the loop thread slower than this sends writes to the thread pool for a while (loopWriteSlowMsDefault). */
  loopWriteSlowMs?: number;
}

/** An `append` caller waiting for its txn to be durable. */
interface Waiter {
  zxid: bigint;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** After each group commit: the highest zxid now durable and how many txns the batch held. */
export type DurableListener = (zxid: bigint, count: number) => void;

/**
 * The txn log: append-only segments with group commit. `append` resolves once the txn is
 * durable; one durable write (writevDurable: an O_DSYNC writev, as writev then fdatasync)
 * covers every txn appended since the previous one, and only one is in flight at a time.
 */
export class TxnLog {
  private readonly fs: StorageFs;
  private readonly log: Logger;
  private readonly segments: SegmentWriter;
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
  /** Until this performance.now(), batches go to the thread pool: a loop-thread write was slow. */
  private poolOnlyUntil = 0;

  private constructor(
    private readonly options: TxnLogOptions,
    lastZxid: bigint,
  ) {
    this.fs = options.fs ?? nodeFs;
    this.log = options.log.child({ component: 'txnlog', dir: options.dir });
    const segmentBytes = options.segmentBytes ?? segmentBytesDefault;
    const preallocateBytes = options.preallocateBytes ?? preallocateBytesDefault;
    invariant(segmentBytes > segmentHeaderBytes, 'segmentBytes must exceed the segment header');
    invariant(preallocateBytes >= 0, 'preallocateBytes must not be negative');
    this.segments = new SegmentWriter(this.fs, options.dir, this.log, segmentBytes, preallocateBytes);
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
    if (recovered.active !== undefined) await txnLog.segments.resume(recovered.active);
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
    yield* logRecordBatches(this.fs, this.options.dir, fromZxid, toZxid, this.checkedFrom);
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
    const { lastZxid, segmentsRemoved } = await this.segments.truncateAfter(zxid);
    this.appended = lastZxid;
    this.durable = lastZxid;
    this.log.warn({ truncatedAfter: zxidText(zxid), lastZxid: zxidText(lastZxid), segmentsRemoved }, 'txn log truncated');
  }

  /** Waits for pending appends, then closes the active segment. */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.sync();
    } finally {
      this.closed = true;
      await this.segments.close();
    }
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.flushing !== undefined) return;
    this.flushScheduled = true;
    // setImmediate rather than a microtask: appends made in the same turn of the event
    // loop (many writers resuming after the previous fsync) join one batch.
    setImmediate(() => {
      this.flushScheduled = false;
      if (this.flushing === undefined && this.pending.count > 0 && !this.writeOnLoop()) this.startFlushing();
    });
  }

  /**
   * A small batch on an idle log is written on the loop thread, with one O_DSYNC write: the
   * thread pool's hand-off and wake-up back cost more CPU than the loop gains by running on
   * during the write, and what arrives meanwhile joins the next batch (docs/performance.md).
   * A write slower than loopWriteSlowMs (a stalling disk) sends batches to the pool for
   * loopWriteBackoffMs, so that the loop keeps serving reads and pings. Whether it wrote it.
   */
  private writeOnLoop(): boolean {
    if (this.pending.length > loopWriteBytesMax || this.failure !== undefined) return false;
    const start = performance.now();
    if (start < this.poolOnlyUntil) return false;
    try {
      if (!this.segments.writeSmallSync(this.pending.bytes.subarray(0, this.pending.length))) return false;
    } catch (error) {
      this.fail(error);
      return true;
    }
    const tookMs = performance.now() - start;
    if (tookMs > (this.options.loopWriteSlowMs ?? loopWriteSlowMsDefault)) {
      this.poolOnlyUntil = start + tookMs + loopWriteBackoffMs;
      this.log.warn({ tookMs: Math.round(tookMs), txns: this.pending.count, poolOnlyMs: loopWriteBackoffMs }, 'a log write held the event loop: writing through the thread pool for a while');
    }
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
        await this.segments.write(batch);
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

  private fail(error: unknown): void {
    const { path, offset } = this.segments.place;
    const failure = new StorageError(path ?? this.options.dir, offset, 'write or fsync of the txn log failed; the log refuses further appends', { cause: error });
    this.failure = failure;
    this.log.error({ err: error, file: path, offset }, 'txn log write failed');
    this.pending.clear();
    for (const waiter of this.waiters.splice(0)) waiter.reject(failure);
    for (const listener of this.failureListeners) listener(failure);
  }
}
