import { join } from 'node:path';
import { StorageError } from '../errors.js';
import { FileWindow } from './file-window.js';
import type { StorageFs } from './fs.js';
import { listSegments } from './log-recovery.js';
import { zxidText } from './names.js';
import { RecordRun, scanCachedRecord, scanCachedRun, scanRecord, segmentHeaderBytes } from './txn-record.js';

export interface LogRecord {
  zxid: bigint;
  /** May share memory with a read buffer; copy it to keep it past the next iteration. */
  payload: Buffer;
}

/**
 * The log's records with zxid in [fromZxid, toZxid] as batches of ranges of read buffers,
 * oldest first (see TxnLog.recordBatchesFrom); payload CRCs of records below `checkedFrom`
 * are checked as they are read.
 */
export async function* logRecordBatches(fs: StorageFs, dir: string, fromZxid: bigint, toZxid: bigint, checkedFrom: bigint): AsyncGenerator<RecordBatch> {
  const segments = await listSegments(fs, dir);
  const first = Math.max(0, findLastIndex(segments, (segment) => segment.zxid <= fromZxid));
  for (const segment of segments.slice(first)) {
    if (segment.zxid > toZxid) return;
    const path = join(dir, segment.name);
    for await (const batch of readSegmentBatches(fs, path, fromZxid, checkedFrom)) {
      // Stop at the bound itself: what follows may be a batch still being written.
      let keep = batch.zxids.length;
      while (keep > 0 && batch.zxids[keep - 1]! > toZxid) keep--;
      if (keep > 0) yield keep === batch.zxids.length ? batch : batch.slice(keep);
      if (keep < batch.zxids.length || batch.zxids[keep - 1] === toZxid) return;
    }
  }
}

export interface SegmentRecord extends LogRecord {
  end: number;
}

/**
 * The records of one segment from `fromZxid` on (those before it are checked, not yielded);
 * a bad record is a StorageError (recovery already ran).
 */
export async function* readSegment(fs: StorageFs, path: string, fromZxid = 0n): AsyncGenerator<SegmentRecord> {
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
