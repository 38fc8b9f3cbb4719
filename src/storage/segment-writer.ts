import { join } from 'node:path';
import type { Logger } from 'pino';
import type { StorageFile, StorageFs } from './fs.js';
import { listSegments } from './log-recovery.js';
import type { ActiveSegmentState } from './log-recovery.js';
import { readSegment } from './log-reader.js';
import { logName, zxidText } from './names.js';
import type { RecordBuffer } from './record-buffer.js';
import { encodeSegmentHeader, segmentHeaderBytes } from './txn-record.js';

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
 * The txn log's files: the segment being appended to, started anew once it holds
 * `segmentBytes`, with zeros preallocated ahead of the write position; and TRUNC's cut.
 */
export class SegmentWriter {
  private active: ActiveSegment | undefined;

  constructor(
    private readonly fs: StorageFs,
    private readonly dir: string,
    private readonly log: Logger,
    private readonly segmentBytes: number,
    private readonly preallocateBytes: number,
  ) {}

  /** The file being written (the directory when none is) and its write offset, for errors. */
  get place(): { path: string | undefined; offset: number } {
    return { path: this.active?.path, offset: this.active?.writeOffset ?? 0 };
  }

  /** Goes on appending to the segment recovery found newest. */
  async resume(state: ActiveSegmentState): Promise<void> {
    this.active = {
      path: state.path,
      file: await this.fs.open(state.path, 'readWrite'),
      firstZxid: state.firstZxid,
      writeOffset: state.writeOffset,
      allocatedEnd: state.size,
      fresh: false,
    };
  }

  /**
   * Writes `bytes` durably on the loop thread when that is a small write: into a segment
   * already on disk, neither starting a new one nor extending the preallocation, on a file
   * that can write synchronously. Whether it wrote them; a failed write throws.
   */
  writeSmallSync(bytes: Buffer): boolean {
    const active = this.active;
    if (active === undefined || active.fresh) return false;
    const end = active.writeOffset + bytes.length;
    if (active.writeOffset >= this.segmentBytes || (this.preallocateBytes > 0 && end > active.allocatedEnd)) return false;
    if (active.file.writevDurableSync?.([bytes], active.writeOffset) !== true) return false;
    active.writeOffset = end;
    active.allocatedEnd = Math.max(active.allocatedEnd, end);
    return true;
  }

  /** Writes a batch durably (one writev), starting a new segment first when this one is full. */
  async write(batch: RecordBuffer): Promise<void> {
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
    if (active.fresh) await this.fs.syncDir(this.dir);
    active.fresh = false;
    active.writeOffset = end;
    active.allocatedEnd = Math.max(allocatedEnd, end);
  }

  /** The files' part of TxnLog.truncateAfter (which says why in this order); returns the zxid now last. */
  async truncateAfter(zxid: bigint): Promise<{ lastZxid: bigint; segmentsRemoved: number }> {
    await this.close();
    const segments = await listSegments(this.fs, this.dir);
    const later = segments.filter((segment) => segment.zxid > zxid).reverse();
    for (const segment of later) await this.fs.unlink(join(this.dir, segment.name));
    if (later.length > 0) await this.fs.syncDir(this.dir);
    const keep = segments.filter((segment) => segment.zxid <= zxid).at(-1);
    const lastZxid = keep === undefined ? 0n : await this.cutSegment(join(this.dir, keep.name), keep.zxid, zxid);
    return { lastZxid, segmentsRemoved: later.length };
  }

  /** Closes the segment being written; the next write starts a new one. */
  async close(): Promise<void> {
    const active = this.active;
    this.active = undefined;
    if (active !== undefined) await active.file.close();
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
      await this.close();
    }
    const path = join(this.dir, logName(firstZxid));
    const file = await this.fs.open(path, 'createExclusive');
    this.active = { path, file, firstZxid, writeOffset: 0, allocatedEnd: 0, fresh: true };
    this.log.info({ file: path, firstZxid: zxidText(firstZxid) }, 'txn log segment started');
  }
}
