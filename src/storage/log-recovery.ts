import { join } from 'node:path';
import type { Logger } from 'pino';
import { StorageError } from '../errors.js';
import { FileWindow } from './file-window.js';
import type { StorageFs } from './fs.js';
import { logPrefix, zxidFiles, zxidText } from './names.js';
import type { NamedFile } from './names.js';
import { RecordRun, decodeSegmentHeader, findValidRecord, scanCachedRecordAtOpen, scanCachedRun, scanRecord, segmentHeaderBytes } from './txn-record.js';

/** What recovery learned about the newest segment, which the log keeps appending to. */
export interface ActiveSegmentState {
  path: string;
  firstZxid: bigint;
  /** End of the last valid record: where the next record goes. */
  writeOffset: number;
  /** File size; bytes in [writeOffset, size) are zeros. */
  size: number;
}

export interface RecoveredLog {
  lastZxid: bigint;
  /** Every record from this zxid on had its payload CRC checked (earlier segments: header only). */
  checkedFrom: bigint;
  active: ActiveSegmentState | undefined;
}

interface SegmentScan {
  lastZxid: bigint;
  records: number;
  end: number;
  size: number;
  /** Set when the segment ends in a torn record: the offset it starts at and why it is bad. */
  torn?: { offset: number; reason: string };
}

export async function listSegments(fs: StorageFs, dir: string): Promise<NamedFile[]> {
  return zxidFiles(await fs.readdir(dir), logPrefix);
}

/**
 * Validates every record above `scanFrom` (the newest snapshot's zxid: recovery reads nothing
 * older) and the framing of the records below it in the same segments; segments wholly below
 * it get their header checked; their records are checked when read (a learner's DIFF),
 * as ZooKeeper does. A torn tail of the newest segment is cut off with a warning; anything
 * else that is wrong refuses to open with a StorageError.
 */
export async function recoverLog(fs: StorageFs, dir: string, log: Logger, scanFrom = 0n): Promise<RecoveredLog> {
  const segments = await listSegments(fs, dir);
  let lastZxid = 0n;
  let active: ActiveSegmentState | undefined;
  let skipped: { index: number } | undefined;
  // Records at or below the snapshot get their header checked here and their payload when read.
  const checkedFrom = scanFrom > 0n ? scanFrom + 1n : 0n;
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    const path = join(dir, segment.name);
    const isNewest = i === segments.length - 1;
    const next = segments[i + 1];
    if (next !== undefined && next.zxid <= scanFrom + 1n) {
      await checkHeaderOnly(fs, path, segment.zxid);
      skipped = { index: i };
      lastZxid = next.zxid - 1n;
      continue;
    }
    const scan = await scanSegmentOrTornHeader(fs, path, segment.zxid, lastZxid, isNewest, scanFrom);
    if (scan instanceof TornHeader) {
      log.warn({ file: path, offset: 0, reason: scan.message }, 'txn log segment with a torn header removed');
      await fs.unlink(path);
      await fs.syncDir(dir);
      // The segment before it becomes the newest: if it was not scanned, scan it now.
      if (isNewest && skipped?.index === i - 1) return recoverLog(fs, dir, log, 0n);
      continue;
    }
    if (isNewest) {
      active = await settleNewestSegment(fs, dir, path, segment.zxid, scan, log);
      if (active === undefined && skipped?.index === i - 1) return recoverLog(fs, dir, log, 0n);
    }
    if (scan.records > 0) lastZxid = scan.lastZxid;
  }
  return { lastZxid, active, checkedFrom };
}

async function checkHeaderOnly(fs: StorageFs, path: string, nameZxid: bigint): Promise<void> {
  const file = await fs.open(path, 'read');
  try {
    await checkSegmentHeader(new FileWindow(file, await file.size()), path, nameZxid, 0n, false);
  } finally {
    await file.close();
  }
}

async function scanSegment(fs: StorageFs, path: string, nameZxid: bigint, previousZxid: bigint, isNewest: boolean, headerOnlyTo: bigint): Promise<SegmentScan> {
  const file = await fs.open(path, 'read');
  try {
    // The scan keeps no views of what it reads: one read buffer serves the whole segment.
    const window = new FileWindow(file, await file.size(), undefined, true);
    await checkSegmentHeader(window, path, nameZxid, previousZxid, isNewest);
    return await scanRecords(window, path, nameZxid, previousZxid, isNewest, headerOnlyTo);
  } finally {
    await file.close();
  }
}

async function checkSegmentHeader(window: FileWindow, path: string, nameZxid: bigint, previousZxid: bigint, isNewest: boolean): Promise<void> {
  const header = decodeSegmentHeader(await window.view(0, segmentHeaderBytes));
  if (header.ok) {
    if (header.firstZxid !== nameZxid) {
      throw new StorageError(path, 8, `segment header says first zxid ${zxidText(header.firstZxid)}, the file name says ${zxidText(nameZxid)}`);
    }
    return;
  }
  // A segment is created, given its header and first batch, then synced; a crash in
  // between can leave a torn header on the newest segment, but then nothing valid after.
  const follower = isNewest ? await findValidRecord(window, 0, previousZxid) : undefined;
  if (!isNewest || follower !== undefined) {
    throw new StorageError(path, 0, `expected a valid segment header: ${header.reason}`);
  }
  throw new TornHeader(header.reason);
}

/** Internal signal: the newest segment's header is torn and nothing valid follows it. */
class TornHeader extends Error {}

async function scanRecords(window: FileWindow, path: string, nameZxid: bigint, previousZxid: bigint, isNewest: boolean, headerOnlyTo: bigint): Promise<SegmentScan> {
  let offset = segmentHeaderBytes;
  let lastZxid = previousZxid;
  let records = 0;
  const run = new RecordRun(previousZxid, headerOnlyTo + 1n);
  for (;;) {
    if (records > 0) {
      // Plainly valid records in bulk; the first (it must carry the file name's zxid) and
      // whatever the fast path stops at go through the full checks below.
      run.restart(lastZxid);
      offset = scanCachedRun(window, offset, run);
      if (run.count > 0) {
        records += run.count;
        lastZxid = run.last;
      }
    }
    const step = scanCachedRecordAtOpen(window, offset, headerOnlyTo) ?? (await scanRecord(window, offset));
    if (step.kind === 'end') return { lastZxid, records, end: step.offset, size: window.size };
    if (step.kind === 'bad') {
      const torn = await classifyBadRecord(window, path, step.offset, step.reason, lastZxid, isNewest);
      return { lastZxid, records, end: step.offset, size: window.size, torn };
    }
    if (step.zxid <= lastZxid) {
      throw new StorageError(path, step.offset, `expected a zxid above ${zxidText(lastZxid)}, found ${zxidText(step.zxid)}`);
    }
    if (records === 0 && step.zxid !== nameZxid) {
      throw new StorageError(path, step.offset, `expected the first record to have zxid ${zxidText(nameZxid)} (the file name), found ${zxidText(step.zxid)}`);
    }
    lastZxid = step.zxid;
    records += 1;
    offset = step.end;
  }
}

/** A bad record is a torn tail only in the newest segment and only if nothing valid follows. */
async function classifyBadRecord(
  window: FileWindow,
  path: string,
  offset: number,
  reason: string,
  lastZxid: bigint,
  isNewest: boolean,
): Promise<{ offset: number; reason: string }> {
  const expected = `expected a valid record after zxid ${zxidText(lastZxid)}, found ${reason}`;
  if (!isNewest) throw new StorageError(path, offset, `${expected}, in a segment that is not the newest`);
  const follower = await findValidRecord(window, offset + 1, lastZxid);
  if (follower !== undefined) {
    throw new StorageError(path, offset, `${expected}, yet a valid record (zxid ${zxidText(follower.zxid)}) follows at offset ${follower.offset}`);
  }
  return { offset, reason };
}

/** Cuts a torn tail, drops a segment with no records, and describes what is left. */
async function settleNewestSegment(
  fs: StorageFs,
  dir: string,
  path: string,
  firstZxid: bigint,
  scan: SegmentScan,
  log: Logger,
): Promise<ActiveSegmentState | undefined> {
  if (scan.torn !== undefined) {
    log.warn({ file: path, offset: scan.torn.offset, reason: scan.torn.reason, droppedBytes: scan.size - scan.torn.offset }, 'torn txn log tail truncated');
    await truncateDurably(fs, path, scan.torn.offset);
  }
  if (scan.records === 0) {
    log.warn({ file: path }, 'txn log segment without records removed');
    await fs.unlink(path);
    await fs.syncDir(dir);
    return undefined;
  }
  const size = scan.torn !== undefined ? scan.torn.offset : scan.size;
  return { path, firstZxid, writeOffset: scan.end, size };
}

export async function truncateDurably(fs: StorageFs, path: string, length: number): Promise<void> {
  const file = await fs.open(path, 'readWrite');
  try {
    await file.truncate(length);
    await file.sync();
  } finally {
    await file.close();
  }
}

async function scanSegmentOrTornHeader(
  fs: StorageFs,
  path: string,
  nameZxid: bigint,
  previousZxid: bigint,
  isNewest: boolean,
  headerOnlyTo: bigint,
): Promise<SegmentScan | TornHeader> {
  try {
    return await scanSegment(fs, path, nameZxid, previousZxid, isNewest, headerOnlyTo);
  } catch (error) {
    if (error instanceof TornHeader) return error;
    throw error;
  }
}
