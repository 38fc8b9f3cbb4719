import { readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvariantError, StorageError } from '../../src/errors.js';
import { FaultFs } from '../../src/storage/fault-fs.js';
import { TxnLog } from '../../src/storage/txn-log.js';
import type { TxnLogOptions } from '../../src/storage/txn-log.js';
import { encodeRecordHeader, encodeSegmentHeader, recordHeaderBytes, segmentHeaderBytes } from '../../src/storage/txn-record.js';
import { waitFor } from '../../src/testing/wait.js';
import { captureLogger, payloadFor, tempDir, zxidOf } from './helpers.js';

async function openLog(dir: string, extra: Partial<TxnLogOptions> = {}): Promise<{ txnLog: TxnLog; warnings: () => unknown[] }> {
  const { log, warnings } = captureLogger();
  const txnLog = await TxnLog.open({ dir, log, preallocateBytes: 4096, ...extra });
  return { txnLog, warnings };
}

async function readAll(txnLog: TxnLog, from = 0n): Promise<Array<{ zxid: bigint; payload: Buffer }>> {
  const records = [];
  for await (const record of txnLog.readFrom(from)) records.push({ zxid: record.zxid, payload: Buffer.from(record.payload) });
  return records;
}

async function appendRange(txnLog: TxnLog, first: number, last: number, bytes = 32): Promise<void> {
  for (let counter = first; counter <= last; counter++) await txnLog.append(zxidOf(1, counter), payloadFor(zxidOf(1, counter), bytes));
}

async function segmentFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((name) => name.startsWith('log.')).sort();
}

describe('TxnLog', () => {
  it('appends, survives a reopen, and reads from a zxid', async () => {
    const dir = await tempDir();
    const { txnLog } = await openLog(dir);
    await appendRange(txnLog, 1, 20);
    expect(txnLog.durableZxid).toBe(zxidOf(1, 20));
    await txnLog.close();

    const reopened = (await openLog(dir)).txnLog;
    expect(reopened.lastZxid).toBe(zxidOf(1, 20));
    const records = await readAll(reopened, zxidOf(1, 15));
    expect(records.map((record) => record.zxid)).toEqual([15, 16, 17, 18, 19, 20].map((counter) => zxidOf(1, counter)));
    expect(records[0]!.payload).toEqual(payloadFor(zxidOf(1, 15)));
    expect(await segmentFiles(dir)).toEqual(['log.0000000100000001']);
    await reopened.close();
  });

  it('refuses a zxid that does not increase', async () => {
    const dir = await tempDir();
    const { txnLog } = await openLog(dir);
    await txnLog.append(zxidOf(1, 5), payloadFor(1n));
    expect(() => txnLog.append(zxidOf(1, 5), payloadFor(1n))).toThrow(InvariantError);
    expect(() => txnLog.append(zxidOf(1, 4), payloadFor(1n))).toThrow(InvariantError);
    await txnLog.close();
  });

  it('starts a new segment, named by its first zxid, once a segment is full', async () => {
    const dir = await tempDir();
    const { txnLog } = await openLog(dir, { segmentBytes: 1000 });
    await appendRange(txnLog, 1, 40, 100);
    await txnLog.close();
    const segments = await segmentFiles(dir);
    expect(segments.length).toBeGreaterThan(3);
    const reopened = (await openLog(dir, { segmentBytes: 1000 })).txnLog;
    const records = await readAll(reopened);
    expect(records.map((record) => record.zxid)).toEqual(Array.from({ length: 40 }, (_, i) => zxidOf(1, i + 1)));
    // Every segment's name is the zxid of its first record.
    for (const name of segments) {
      const first = await readAll(reopened, BigInt(`0x${name.slice(4)}`));
      expect(first[0]!.zxid).toBe(BigInt(`0x${name.slice(4)}`));
    }
    await reopened.close();
  });

  it('group commit: many concurrent appends share few fdatasyncs, each resolved only when durable', async () => {
    const dir = await tempDir();
    const faults = new FaultFs();
    const durable: bigint[] = [];
    const { log } = captureLogger();
    const txnLog = await TxnLog.open({ dir, log, fs: faults, onDurable: (zxid) => durable.push(zxid) });
    const appends = 500;
    const results = Array.from({ length: appends }, (_, i) =>
      txnLog.append(zxidOf(1, i + 1), payloadFor(BigInt(i))).then(() => {
        // When an append resolves, its bytes are synced: nothing of it is pending.
        expect(txnLog.durableZxid >= zxidOf(1, i + 1)).toBe(true);
      }),
    );
    await Promise.all(results);
    expect(faults.counts.datasync).toBeGreaterThan(0);
    expect(faults.counts.datasync).toBeLessThan(appends / 10);
    expect(durable.at(-1)).toBe(zxidOf(1, appends));
    expect([...durable].sort((a, b) => (a < b ? -1 : 1))).toEqual(durable);
    await txnLog.close();
  });

  it('appends made while an fsync runs go to the next batch', async () => {
    const dir = await tempDir();
    const faults = new FaultFs();
    const { log } = captureLogger();
    const batches: bigint[] = [];
    const txnLog = await TxnLog.open({ dir, log, fs: faults, onDurable: (zxid) => batches.push(zxid) });
    const first = txnLog.append(zxidOf(1, 1), payloadFor(1n));
    // Wait until the first batch is being synced, then append two more.
    await waitFor('one writev', () => faults.counts.writev === 1);
    const second = txnLog.append(zxidOf(1, 2), payloadFor(2n));
    const third = txnLog.append(zxidOf(1, 3), payloadFor(3n));
    await Promise.all([first, second, third]);
    expect(batches).toEqual([zxidOf(1, 1), zxidOf(1, 3)]);
    expect(faults.counts.datasync).toBe(2);
    await txnLog.close();
  });

  it('a small batch on an idle log is durable within the turn it is flushed in; a larger one waits for the thread pool', async () => {
    const dir = await tempDir();
    const { txnLog } = await openLog(dir, { preallocateBytes: 256 * 1024 });
    // The segment's first write (its header, its directory entry) always goes through the pool.
    await txnLog.append(zxidOf(1, 1), payloadFor(1n));
    const durableAtNextImmediate = (): Promise<bigint> => new Promise((resolve) => setImmediate(() => resolve(txnLog.durableZxid)));
    await durableAtNextImmediate(); // the first flush has settled: the log is idle
    const lone = txnLog.append(zxidOf(1, 2), payloadFor(2n));
    expect(await durableAtNextImmediate()).toBe(zxidOf(1, 2));
    await lone;
    const three = [3, 4, 5].map((counter) => txnLog.append(zxidOf(1, counter), payloadFor(BigInt(counter))));
    expect(await durableAtNextImmediate()).toBe(zxidOf(1, 5));
    await Promise.all(three);
    // Above loopWriteBytesMax (64 KiB): the loop would hold still for the copy to the disk.
    const large = [txnLog.append(zxidOf(1, 6), payloadFor(6n, 40_000)), txnLog.append(zxidOf(1, 7), payloadFor(7n, 40_000))];
    expect(await durableAtNextImmediate()).toBe(zxidOf(1, 5));
    await Promise.all(large);
    expect(txnLog.durableZxid).toBe(zxidOf(1, 7));
    await txnLog.close();
    const reopened = (await openLog(dir)).txnLog;
    expect((await readAll(reopened)).map((record) => record.zxid)).toEqual([1, 2, 3, 4, 5, 6, 7].map((counter) => zxidOf(1, counter)));
    expect((await readAll(reopened, zxidOf(1, 7)))[0]!.payload).toEqual(payloadFor(7n, 40_000));
    await reopened.close();
  });

  it('after a loop-thread write slower than loopWriteSlowMs, batches go to the thread pool, and a warning says so', async () => {
    const dir = await tempDir();
    // Every write is "slow" at 0 ms: the first on the loop trips the back-off.
    const { txnLog, warnings } = await openLog(dir, { preallocateBytes: 64 * 1024, loopWriteSlowMs: 0 });
    await txnLog.append(zxidOf(1, 1), payloadFor(1n));
    const durableAtNextImmediate = (): Promise<bigint> => new Promise((resolve) => setImmediate(() => resolve(txnLog.durableZxid)));
    await durableAtNextImmediate();
    const onLoop = txnLog.append(zxidOf(1, 2), payloadFor(2n));
    expect(await durableAtNextImmediate()).toBe(zxidOf(1, 2));
    await onLoop;
    expect(warnings()).toEqual([expect.objectContaining({ msg: expect.stringContaining('held the event loop'), txns: 1 })]);
    const inPool = txnLog.append(zxidOf(1, 3), payloadFor(3n));
    expect(await durableAtNextImmediate()).toBe(zxidOf(1, 2));
    await inPool;
    expect(txnLog.durableZxid).toBe(zxidOf(1, 3));
    expect(warnings()).toHaveLength(1);
    await txnLog.close();
  });

  it('writeEncoded: no promise per txn; batch listeners hear each group commit and its size, failure listeners a failed fsync', async () => {
    const dir = await tempDir();
    const faults = new FaultFs();
    const { log } = captureLogger();
    const txnLog = await TxnLog.open({ dir, log, fs: faults });
    const batches: [bigint, number][] = [];
    const failures: Error[] = [];
    txnLog.onDurableBatch((zxid, count) => batches.push([zxid, count]));
    txnLog.onFailure((error) => failures.push(error));
    const write = (zxid: bigint, payload: Buffer): boolean =>
      txnLog.writeEncoded(zxid, { encode: (buf, at, limit) => (at + payload.length > limit ? -1 : at + payload.copy(buf, at)) });
    for (let i = 1; i <= 300; i++) expect(write(zxidOf(1, i), payloadFor(BigInt(i)))).toBe(true);
    await waitFor('the batch up to the 300th txn', () => batches.length > 0 && batches.at(-1)![0] === zxidOf(1, 300));
    expect(batches.reduce((sum, [, count]) => sum + count, 0)).toBe(300);
    expect(batches.length).toBeLessThan(30);
    expect(txnLog.durableZxid).toBe(zxidOf(1, 300));
    expect((await readAll(txnLog, zxidOf(1, 299))).map((r) => r.payload)).toEqual([payloadFor(299n), payloadFor(300n)]);
    faults.failNext('datasync');
    write(zxidOf(1, 301), payloadFor(301n));
    await waitFor('the failure to be reported', () => failures.length === 1);
    expect(failures[0]).toBeInstanceOf(StorageError);
    expect(() => write(zxidOf(1, 302), payloadFor(302n))).toThrow(StorageError);
    expect(batches.at(-1)![0]).toBe(zxidOf(1, 300));
    await expect(txnLog.close()).rejects.toBeInstanceOf(StorageError);
  });

  it('writeEncoded: payloads written in place by an encoder, growing the buffer as needed, read back as written', async () => {
    const dir = await tempDir();
    const { txnLog } = await openLog(dir);
    // An encoder that writes payloadFor(zxid, size), asking for room when it lacks it.
    let size = 0;
    let zxid = 0n;
    const encoder = {
      encode: (buf: Buffer, at: number, limit: number): number => {
        if (at + size > limit) return -1;
        payloadFor(zxid, size).copy(buf, at);
        return at + size;
      },
    };
    const sizes = [10, 200_000, 5, 600_000, 1];
    for (let i = 0; i < sizes.length; i++) {
      size = sizes[i]!;
      zxid = zxidOf(1, i + 1);
      expect(txnLog.writeEncoded(zxid, encoder)).toBe(true);
    }
    expect(txnLog.writeEncoded(zxidOf(1, 9), { encode: () => -2 })).toBe(false);
    await txnLog.sync();
    expect(txnLog.lastZxid).toBe(zxidOf(1, sizes.length));
    await txnLog.close();
    const reopened = (await openLog(dir)).txnLog;
    const records = await readAll(reopened);
    expect(records.map((r) => r.zxid)).toEqual(sizes.map((_, i) => zxidOf(1, i + 1)));
    records.forEach((r, i) => expect(r.payload.equals(payloadFor(r.zxid, sizes[i]!)), `record ${i}`).toBe(true));
    await reopened.close();
  });

  it('opens and reads a log whose records are larger than a read buffer or cross its edge', async () => {
    const dir = await tempDir();
    const { txnLog } = await openLog(dir);
    // Records larger than a read, and many that straddle the edge of one (the open scan reuses its read buffer).
    const sizes = [100, 5 * 1024 * 1024, 300, 9 * 1024 * 1024 + 7, 1, ...Array.from({ length: 40 }, (_, i) => 300_000 + i * 7_919)];
    for (let i = 0; i < sizes.length; i++) await txnLog.append(zxidOf(1, i + 1), payloadFor(zxidOf(1, i + 1), sizes[i]!));
    await txnLog.close();
    const { txnLog: reopened, warnings } = await openLog(dir);
    expect(warnings()).toEqual([]);
    expect(reopened.lastZxid).toBe(zxidOf(1, sizes.length));
    const records = await readAll(reopened);
    records.forEach((r, i) => expect(r.payload.equals(payloadFor(r.zxid, sizes[i]!)), `record ${i}`).toBe(true));
    await reopened.close();
  });

  it('a failed fdatasync fails the batch and every later append', async () => {
    const dir = await tempDir();
    const faults = new FaultFs();
    const { log } = captureLogger();
    const txnLog = await TxnLog.open({ dir, log, fs: faults });
    await txnLog.append(zxidOf(1, 1), payloadFor(1n));
    faults.failNext('datasync');
    await expect(txnLog.append(zxidOf(1, 2), payloadFor(2n))).rejects.toBeInstanceOf(StorageError);
    await expect(txnLog.append(zxidOf(1, 3), payloadFor(3n))).rejects.toBeInstanceOf(StorageError);
    expect(txnLog.durableZxid).toBe(zxidOf(1, 1));
    await expect(txnLog.close()).rejects.toBeInstanceOf(StorageError);
  });

  it('a crash loses only appends that were not yet durable', async () => {
    const dir = await tempDir();
    const faults = new FaultFs();
    const { log } = captureLogger();
    const txnLog = await TxnLog.open({ dir, log, fs: faults, preallocateBytes: 0 });
    await appendRange(txnLog, 1, 10);
    // These never get their fdatasync: the crash happens first.
    faults.failNext('datasync');
    const lost = [11, 12, 13].map((counter) => txnLog.append(zxidOf(1, counter), payloadFor(zxidOf(1, counter))).catch(() => 'failed'));
    await waitFor('unsynced bytes in the first segment', () => faults.unsyncedBytes(join(dir, 'log.0000000100000001')) > 0);
    await faults.crash();
    expect(await Promise.all(lost)).toEqual(['failed', 'failed', 'failed']);
    await txnLog.close().catch(() => undefined);

    const { txnLog: reopened, warnings } = await openLog(dir);
    expect(reopened.lastZxid).toBe(zxidOf(1, 10));
    expect((await readAll(reopened)).length).toBe(10);
    expect(warnings()).toEqual([]);
    await reopened.close();
  });

  it.each([
    ['a short record header', 7],
    ['a short payload', 30],
    ['the payload without its last byte', 51],
  ])('a crash that keeps %s truncates the torn record with a warning naming file and offset', async (_name, keepBytes) => {
    const dir = await tempDir();
    const faults = new FaultFs();
    const { log } = captureLogger();
    const txnLog = await TxnLog.open({ dir, log, fs: faults, preallocateBytes: 0 });
    await appendRange(txnLog, 1, 5);
    const segment = join(dir, 'log.0000000100000001');
    const endOfDurable = (await stat(segment)).size;
    faults.failNext('datasync');
    const lost = txnLog.append(zxidOf(1, 6), payloadFor(zxidOf(1, 6))).catch(() => 'failed');
    await waitFor('unsynced bytes in the segment', () => faults.unsyncedBytes(segment) > 0);
    await faults.crash({ keepUnsyncedBytes: () => keepBytes });
    expect(await lost).toBe('failed');
    await txnLog.close().catch(() => undefined);
    expect((await stat(segment)).size).toBe(endOfDurable + keepBytes);

    const { txnLog: reopened, warnings } = await openLog(dir);
    expect(reopened.lastZxid).toBe(zxidOf(1, 5));
    expect(warnings()).toMatchObject([{ msg: 'torn txn log tail truncated', file: segment, offset: endOfDurable }]);
    expect((await stat(segment)).size).toBe(endOfDurable);
    // The log goes on from where the durable data ended.
    await reopened.append(zxidOf(1, 6), payloadFor(7n));
    await reopened.close();
    const again = (await openLog(dir)).txnLog;
    expect((await readAll(again)).map((record) => record.zxid).at(-1)).toBe(zxidOf(1, 6));
    await again.close();
  });

  it.each([0, 10, 30])('a crash while starting a segment (%i bytes of it kept) removes that segment with a warning', async (keepBytes) => {
    const dir = await tempDir();
    const faults = new FaultFs();
    const { log } = captureLogger();
    const txnLog = await TxnLog.open({ dir, log, fs: faults, segmentBytes: 300, preallocateBytes: 0 });
    // 24 + 5 * 60 bytes fill the first segment; zxid 6 starts the next one.
    await appendRange(txnLog, 1, 5, 40);
    const segmentsBefore = await segmentFiles(dir);
    expect(segmentsBefore).toEqual(['log.0000000100000001']);
    faults.failNext('datasync');
    const lost = txnLog.append(zxidOf(1, 6), payloadFor(6n, 40)).catch(() => 'failed');
    await waitFor('six writevs', () => faults.counts.writev === 6);
    await faults.crash({ keepUnsyncedBytes: () => keepBytes, keepUnsyncedDirOps: true });
    expect(await lost).toBe('failed');
    await txnLog.close().catch(() => undefined);
    const newest = join(dir, 'log.0000000100000006');
    expect((await stat(newest)).size).toBe(keepBytes);

    const { txnLog: reopened, warnings } = await openLog(dir);
    expect(reopened.lastZxid).toBe(zxidOf(1, 5));
    expect(await segmentFiles(dir)).toEqual(segmentsBefore);
    // A torn header is one warning; a whole header with a torn record is two (cut, then removed).
    expect(warnings().length).toBe(keepBytes >= 24 ? 2 : 1);
    expect(warnings().every((line) => (line as { file?: string }).file === newest)).toBe(true);
    await reopened.close();
  });

  it('a last record with a flipped payload byte and nothing valid after it is a torn tail', async () => {
    const dir = await tempDir();
    const { txnLog } = await openLog(dir, { preallocateBytes: 0 });
    await appendRange(txnLog, 1, 3);
    await txnLog.close();
    const segment = join(dir, 'log.0000000100000001');
    const size = (await stat(segment)).size;
    await new FaultFs().flipByte(segment, size - 1);
    const { txnLog: reopened, warnings } = await openLog(dir);
    expect(reopened.lastZxid).toBe(zxidOf(1, 2));
    expect(warnings()).toMatchObject([{ msg: 'torn txn log tail truncated', file: segment, offset: size - 52 }]);
    await reopened.close();
  });

  it('a preallocated zero tail is the normal end of data', async () => {
    const dir = await tempDir();
    const { txnLog } = await openLog(dir, { preallocateBytes: 64 * 1024 });
    await appendRange(txnLog, 1, 3);
    await txnLog.close();
    const segment = join(dir, 'log.0000000100000001');
    expect((await stat(segment)).size).toBeGreaterThan(64 * 1024);
    const { txnLog: reopened, warnings } = await openLog(dir, { preallocateBytes: 64 * 1024 });
    expect(reopened.lastZxid).toBe(zxidOf(1, 3));
    await appendRange(reopened, 4, 6);
    await reopened.close();
    const again = await openLog(dir);
    expect((await readAll(again.txnLog)).map((record) => record.zxid)).toEqual([1, 2, 3, 4, 5, 6].map((c) => zxidOf(1, c)));
    expect([...warnings(), ...again.warnings()]).toEqual([]);
    await again.txnLog.close();
  });

  it('a corrupted record followed by valid ones refuses to open, naming file, offset and what was expected', async () => {
    const dir = await tempDir();
    const { txnLog } = await openLog(dir);
    await appendRange(txnLog, 1, 10);
    await txnLog.close();
    const segment = join(dir, 'log.0000000100000001');
    // Record 4 starts at 24 + 3 * 52; flip a payload byte in it.
    const offset = 24 + 3 * 52;
    await new FaultFs().flipByte(segment, offset + 30);
    const error = await openLog(dir).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(StorageError);
    expect(error).toMatchObject({ file: segment, offset });
    expect((error as Error).message).toMatch(/expected a valid record after zxid 0x100000003, found payload CRC mismatch, yet a valid record \(zxid 0x100000005\) follows/);
  });

  it('corruption in a segment that is not the newest refuses to open', async () => {
    const dir = await tempDir();
    const { txnLog } = await openLog(dir, { segmentBytes: 500 });
    await appendRange(txnLog, 1, 30);
    await txnLog.close();
    const [oldest] = await segmentFiles(dir);
    const path = join(dir, oldest!);
    const size = (await stat(path)).size;
    await new FaultFs().flipByte(path, size - 1);
    await expect(openLog(dir)).rejects.toMatchObject({ name: 'StorageError', file: path, message: expect.stringMatching(/not the newest/) });
  });

  it('a segment wholly covered by the newest snapshot is checked when read, not at open', async () => {
    const dir = await tempDir();
    const { txnLog } = await openLog(dir, { segmentBytes: 500 });
    await appendRange(txnLog, 1, 30);
    await txnLog.close();
    const segments = await segmentFiles(dir);
    expect(segments.length).toBeGreaterThanOrEqual(3);
    const path = join(dir, segments[0]!);
    const size = (await stat(path)).size;
    await new FaultFs().flipByte(path, size - 1);
    // The snapshot covers everything up to the third segment's first zxid: recovery never
    // reads the first segment, so it opens; a reader that does go there gets the error.
    const third = BigInt('0x' + segments[2]!.slice('log.'.length));
    const { txnLog: reopened } = await openLog(dir, { scanFrom: third - 1n });
    expect(reopened.lastZxid).toBe(zxidOf(1, 30));
    expect((await readAll(reopened, third)).map((r) => r.zxid)[0]).toBe(third);
    await expect(readAll(reopened, 0n)).rejects.toMatchObject({ name: 'StorageError', file: path });
    await reopened.close();
    await expect(openLog(dir)).rejects.toMatchObject({ name: 'StorageError', file: path });
  });

  it('a payload at or below the snapshot in the newest segment is checked when read, not at open', async () => {
    const dir = await tempDir();
    const { txnLog } = await openLog(dir);
    await appendRange(txnLog, 1, 20, 64);
    await txnLog.close();
    const [segment] = await segmentFiles(dir);
    const path = join(dir, segment!);
    // Ten bytes into the third record's payload.
    const offset = segmentHeaderBytes + 2 * (recordHeaderBytes + 64) + recordHeaderBytes + 10;
    await new FaultFs().flipByte(path, offset);
    const { txnLog: reopened } = await openLog(dir, { scanFrom: zxidOf(1, 10) });
    expect(reopened.lastZxid).toBe(zxidOf(1, 20));
    expect((await readAll(reopened, zxidOf(1, 11))).map((r) => r.zxid)).toHaveLength(10);
    await expect(readAll(reopened, 0n)).rejects.toMatchObject({ name: 'StorageError', file: path });
    await reopened.close();
    // Without a snapshot above it the same damage refuses to open.
    await expect(openLog(dir)).rejects.toMatchObject({ name: 'StorageError', file: path });
  });

  it('reads records as ranges of its read buffers, across segments and read-buffer edges', async () => {
    const dir = await tempDir();
    const { txnLog } = await openLog(dir, { segmentBytes: 4.5 * 1024 * 1024 });
    // 8 KB payloads: 5.6 MB in all: the first segment is read in two reads (4 MiB each), a record straddles them.
    for (let counter = 1; counter <= 700; counter += 50) {
      await Promise.all(Array.from({ length: 50 }, (_, i) => txnLog.append(zxidOf(1, counter + i), payloadFor(zxidOf(1, counter + i), 8000))));
    }
    await txnLog.close();
    const reopened = (await openLog(dir, { segmentBytes: 4.5 * 1024 * 1024 })).txnLog;
    expect(await segmentFiles(dir)).toHaveLength(2);
    const zxids: bigint[] = [];
    let batches = 0;
    for await (const batch of reopened.recordBatchesFrom(zxidOf(1, 5), zxidOf(1, 690))) {
      batches++;
      for (let i = 0; i < batch.zxids.length; i++) {
        const zxid = batch.zxids[i]!;
        expect(batch.chunks[i]!.subarray(batch.starts[i]!, batch.ends[i]!).equals(payloadFor(zxid, 8000)), `payload of ${zxid}`).toBe(true);
        zxids.push(zxid);
      }
    }
    expect(zxids).toEqual(Array.from({ length: 686 }, (_, i) => zxidOf(1, 5 + i)));
    expect(batches).toBeGreaterThan(2);
    const viaReadFrom = await readAll(reopened, zxidOf(1, 690));
    expect(viaReadFrom.map((r) => r.zxid)).toEqual(Array.from({ length: 11 }, (_, i) => zxidOf(1, 690 + i)));
    await reopened.close();
  });

  it('a zxid going backwards refuses to open', async () => {
    const dir = await tempDir();
    const records = [1, 2, 3, 2].map((counter) => {
      const payload = payloadFor(zxidOf(1, counter));
      return Buffer.concat([encodeRecordHeader(zxidOf(1, counter), payload), payload]);
    });
    const segment = join(dir, 'log.0000000100000001');
    await writeFile(segment, Buffer.concat([encodeSegmentHeader(zxidOf(1, 1)), ...records]));
    await expect(openLog(dir)).rejects.toMatchObject({
      name: 'StorageError',
      file: segment,
      offset: 24 + 3 * 52,
      message: expect.stringMatching(/expected a zxid above 0x100000003, found 0x100000002/),
    });
  });

  it('TRUNC drops every txn above a zxid durably, across segments', async () => {
    const dir = await tempDir();
    const { txnLog } = await openLog(dir, { segmentBytes: 400 });
    await appendRange(txnLog, 1, 30);
    expect((await segmentFiles(dir)).length).toBeGreaterThan(3);
    await txnLog.truncateAfter(zxidOf(1, 9));
    expect(txnLog.lastZxid).toBe(zxidOf(1, 9));
    expect(txnLog.durableZxid).toBe(zxidOf(1, 9));
    // Appending continues right after the cut.
    await txnLog.append(zxidOf(2, 1), payloadFor(99n));
    await txnLog.close();
    const { txnLog: reopened, warnings } = await openLog(dir, { segmentBytes: 400 });
    const zxids = (await readAll(reopened)).map((record) => record.zxid);
    expect(zxids).toEqual([...Array.from({ length: 9 }, (_, i) => zxidOf(1, i + 1)), zxidOf(2, 1)]);
    expect(warnings()).toEqual([]);
    await reopened.close();
  });

  it('TRUNC below the first zxid empties the log', async () => {
    const dir = await tempDir();
    const { txnLog } = await openLog(dir);
    await appendRange(txnLog, 5, 9);
    await txnLog.truncateAfter(zxidOf(1, 2));
    expect(txnLog.lastZxid).toBe(0n);
    expect(await segmentFiles(dir)).toEqual([]);
    await txnLog.close();
  });

  it('TRUNC survives a crash right after it returns', async () => {
    const dir = await tempDir();
    const faults = new FaultFs();
    const { log } = captureLogger();
    const txnLog = await TxnLog.open({ dir, log, fs: faults, segmentBytes: 400 });
    await appendRange(txnLog, 1, 30);
    await txnLog.truncateAfter(zxidOf(1, 12));
    await faults.crash();
    await txnLog.close().catch(() => undefined);
    const { txnLog: reopened } = await openLog(dir);
    expect(reopened.lastZxid).toBe(zxidOf(1, 12));
    await reopened.close();
  });

  it('readFrom does not read past the durable zxid', async () => {
    const dir = await tempDir();
    const faults = new FaultFs();
    const { log } = captureLogger();
    const txnLog = await TxnLog.open({ dir, log, fs: faults });
    await appendRange(txnLog, 1, 5);
    faults.failNext('datasync');
    const lost = txnLog.append(zxidOf(1, 6), payloadFor(6n)).catch(() => 'failed');
    await waitFor('six fdatasyncs', () => faults.counts.datasync === 6);
    expect((await readAll(txnLog)).map((record) => record.zxid).at(-1)).toBe(zxidOf(1, 5));
    expect(await lost).toBe('failed');
    await txnLog.close().catch(() => undefined);
  });
});
