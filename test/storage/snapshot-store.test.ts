import { readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { StorageError } from '../../src/errors.js';
import { FaultFs } from '../../src/storage/fault-fs.js';
import { SnapshotStore } from '../../src/storage/snapshot-store.js';
import type { LoadedSnapshot } from '../../src/storage/snapshot-store.js';
import { captureLogger, tempDir, zxidOf } from './helpers.js';

function znode(i: number): Record<string, unknown> {
  return {
    path: `/p${i % 7}/c${i}`,
    data: Buffer.from(`data-${i}`),
    acl: i % 3,
    czxid: zxidOf(1, i),
    mzxid: zxidOf(2, i),
    ctime: 1_700_000_000_000 + i,
    mtime: 1_700_000_000_000 + i * 2,
    version: i,
    cversion: 0,
    aversion: 0,
    ephemeralOwner: i % 2 === 0 ? 0n : 0x1234_5678_9abc_def0n,
    pzxid: zxidOf(1, i),
  };
}

async function collect(snapshot: LoadedSnapshot | undefined): Promise<unknown[]> {
  const records: unknown[] = [];
  for await (const record of snapshot?.records ?? []) records.push(record);
  return records;
}

async function openStore(dir: string, compress = true): Promise<{ store: SnapshotStore; warnings: () => Array<Record<string, unknown>> }> {
  const { log, warnings } = captureLogger();
  return { store: await SnapshotStore.open({ dir, log, compress }), warnings };
}

describe('SnapshotStore', () => {
  it.each([true, false])('round-trips bigints, Buffers, null and nested values exactly (compress: %s)', async (compress) => {
    const dir = await tempDir();
    const { store } = await openStore(dir, compress);
    const edge = {
      zero: 0n,
      small: 7n,
      negative: -5n,
      int64Max: (1n << 63n) - 1n,
      int64Min: -(1n << 63n),
      uint64Max: (1n << 64n) - 1n,
      bigNumber: 2 ** 40 + 1,
      float: 1.25,
      nothing: null,
      empty: Buffer.alloc(0),
      bytes: Buffer.from([0, 255, 1]),
      text: 'héllo',
      list: [1n, 'two', { three: Buffer.from('3') }],
    };
    const records = [edge, ...Array.from({ length: 5000 }, (_, i) => znode(i)), null, 'a string record'];
    const info = await store.writeSnapshot(zxidOf(3, 9), records);
    expect(info).toMatchObject({ zxid: zxidOf(3, 9), recordCount: records.length });
    const loaded = await (await openStore(dir)).store.loadLatestSnapshot();
    expect(loaded?.zxid).toBe(zxidOf(3, 9));
    const back = await collect(loaded);
    expect(back).toEqual(records);
    const first = back[0] as typeof edge;
    expect(typeof first.small).toBe('bigint');
    expect(typeof first.bigNumber).toBe('number');
    expect(Buffer.isBuffer(first.bytes)).toBe(true);
    expect(typeof (back[1] as { czxid: unknown }).czxid).toBe('bigint');
    // The same records again, a frame at a time; frames are bounded in size.
    const batches: unknown[][] = [];
    for await (const batch of loaded!.batches) batches.push(batch);
    expect(batches.length).toBeGreaterThan(1);
    expect(batches.flat()).toEqual(records);
  });

  it('refuses a bigint that does not fit in 64 bits instead of rounding it', async () => {
    const dir = await tempDir();
    const { store } = await openStore(dir);
    await expect(store.writeSnapshot(5n, [{ tooBig: 1n << 64n }])).rejects.toThrow(/64-bit/);
    expect(await readdir(dir)).toEqual([]);
  });

  it('takes records from an async iterable, and an empty snapshot is valid', async () => {
    const dir = await tempDir();
    const { store } = await openStore(dir);
    async function* generate(): AsyncGenerator<unknown> {
      for (let i = 0; i < 3000; i++) yield znode(i);
    }
    await store.writeSnapshot(1n, []);
    await store.writeSnapshot(2n, generate());
    const loaded = await store.loadLatestSnapshot();
    expect(loaded?.zxid).toBe(2n);
    expect((await collect(loaded)).length).toBe(3000);
    expect(await store.list()).toEqual([2n, 1n]);
  });

  it('returns undefined when there is no snapshot at all', async () => {
    const dir = await tempDir();
    expect(await (await openStore(dir)).store.loadLatestSnapshot()).toBeUndefined();
  });

  it.each([
    ['a flipped byte inside a frame', async (path: string, size: number) => new FaultFs().flipByte(path, Math.floor(size / 2)), 'frame CRC mismatch'],
    ['a missing trailer (torn write)', async (path: string, size: number) => truncateTo(path, size - 24), 'incomplete snapshot'],
    ['a file cut mid-frame', async (path: string, size: number) => truncateTo(path, Math.floor(size / 2)), 'incomplete snapshot'],
    ['a flipped header byte', async (path: string) => new FaultFs().flipByte(path, 20), 'header CRC mismatch'],
    ['bytes after the trailer', async (path: string, size: number) => appendBytes(path, size), 'after the trailer'],
  ])('a newest snapshot with %s is skipped with a warning; the older one is loaded', async (_name, damage, reason) => {
    const dir = await tempDir();
    const { store } = await openStore(dir);
    const older = Array.from({ length: 2000 }, (_, i) => znode(i));
    const newer = Array.from({ length: 3000 }, (_, i) => znode(i + 1));
    await store.writeSnapshot(zxidOf(1, 10), older);
    const written = await store.writeSnapshot(zxidOf(1, 20), newer);
    await damage(written.file, written.bytes);

    const { store: reopened, warnings } = await openStore(dir);
    const loaded = await reopened.loadLatestSnapshot();
    expect(loaded?.zxid).toBe(zxidOf(1, 10));
    expect(await collect(loaded)).toEqual(older);
    expect(warnings()).toMatchObject([{ msg: 'snapshot failed validation; trying an older one', file: written.file, offset: expect.any(Number), reason: expect.stringContaining(reason) }]);
  });

  it('refuses to start empty when snapshots exist but none is valid', async () => {
    const dir = await tempDir();
    const { store } = await openStore(dir);
    const written = await store.writeSnapshot(9n, [znode(1)]);
    await new FaultFs().flipByte(written.file, written.bytes - 30);
    await expect(store.loadLatestSnapshot()).rejects.toBeInstanceOf(StorageError);
  });

  it('a crash while writing leaves no snapshot under the final name, and the temp file is removed on open', async () => {
    const dir = await tempDir();
    const faults = new FaultFs();
    const { log } = captureLogger();
    const store = await SnapshotStore.open({ dir, log, fs: faults });
    await store.writeSnapshot(1n, [znode(1)]);
    faults.failNext('sync');
    await expect(store.writeSnapshot(2n, Array.from({ length: 5000 }, (_, i) => znode(i)))).rejects.toThrow(/injected sync/);
    await faults.crash();
    expect((await readdir(dir)).sort()).toEqual(['snapshot.0000000000000001']);

    const { store: reopened } = await openStore(dir);
    expect((await reopened.loadLatestSnapshot())?.zxid).toBe(1n);
  });

  it('a crash after the rename but before the directory fsync loses the new snapshot, not the old', async () => {
    const dir = await tempDir();
    const faults = new FaultFs();
    const { log } = captureLogger();
    const store = await SnapshotStore.open({ dir, log, fs: faults });
    await store.writeSnapshot(1n, [znode(1)]);
    faults.failNext('syncDir');
    await expect(store.writeSnapshot(2n, [znode(2)])).rejects.toThrow(/injected syncDir/);
    await faults.crash();
    const { store: reopened } = await openStore(dir);
    const loaded = await reopened.loadLatestSnapshot();
    expect(loaded?.zxid).toBe(1n);
    expect(await collect(loaded)).toEqual([znode(1)]);
  });

  it('keeps the event loop responsive while writing', async () => {
    const dir = await tempDir();
    const { store } = await openStore(dir, false);
    const records = Array.from({ length: 60_000 }, (_, i) => znode(i));
    // Between two turns of the event loop, the CPU time the process used (all its threads):
    // what the writer did without yielding. Wall time would also count the time a loaded
    // machine did not run us at all, which no yielding can prevent.
    let maxGapCpuMs = 0;
    let maxGapWallMs = 0;
    let last = { wall: performance.now(), cpu: process.cpuUsage() };
    const timer = setInterval(() => {
      const now = { wall: performance.now(), cpu: process.cpuUsage() };
      const cpuMs = (now.cpu.user - last.cpu.user + now.cpu.system - last.cpu.system) / 1000;
      maxGapCpuMs = Math.max(maxGapCpuMs, cpuMs);
      maxGapWallMs = Math.max(maxGapWallMs, now.wall - last.wall);
      last = now;
    }, 1);
    await store.writeSnapshot(1n, records);
    clearInterval(timer);
    // Without yielding this takes hundreds of ms of CPU in one go.
    expect(maxGapCpuMs, `longest gap between event-loop turns: ${maxGapCpuMs.toFixed(1)} ms CPU, ${maxGapWallMs.toFixed(1)} ms wall`).toBeLessThan(100);
    const snapshotBytes = (await stat(join(dir, 'snapshot.0000000000000001'))).size;
    expect(snapshotBytes).toBeGreaterThan(0);
  });
});

async function truncateTo(path: string, length: number): Promise<void> {
  const { truncate } = await import('node:fs/promises');
  await truncate(path, length);
}

async function appendBytes(path: string, _size: number): Promise<void> {
  await writeFile(path, Buffer.from([1, 2, 3]), { flag: 'a' });
}
