import { describe, expect, it } from 'vitest';
import { buildConfig, type ServerConfig } from '../../src/config/config.js';
import { DataTree } from '../../src/data/data-tree.js';
import { openAclUnsafe } from '../../src/data/acl.js';
import { BlockPool, treeSnapshotRecords } from '../../src/data/tree-snapshot.js';
import { StorageError } from '../../src/errors.js';
import { OpCode } from '../../src/protocol/constants.js';
import { recoverStandalone } from '../../src/server/persistence.js';
import { FaultFs } from '../../src/storage/fault-fs.js';
import { SnapshotRejected, SnapshotStore } from '../../src/storage/snapshot-store.js';
import type { Logger } from 'pino';
import { captureLogger, tempDir, type LogLine } from './helpers.js';

/** A tree of `count` znodes with `bytes` of data each. */
function treeOf(count: number, bytes: number): DataTree {
  const tree = new DataTree({ extendedTypesEnabled: false });
  let zxid = 0n;
  const apply = (path: string, data: Buffer | null) =>
    tree.apply({ zxid: ++zxid, sessionId: 0n, cxid: 0, time: 1, authIds: [], op: { type: OpCode.create, request: { path, data, acl: [...openAclUnsafe], flags: 0 } } });
  apply('/p', null);
  for (let i = 0; i < count; i++) apply(`/p/n${i}`, Buffer.alloc(bytes, i % 251));
  return tree;
}

function configFor(dir: string): ServerConfig {
  const { config } = buildConfig(new Map([['dataDir', dir], ['clientPort', '2181']]), null);
  return config as ServerConfig;
}

/** A snapshot store in a fresh directory, with a logger whose warnings the test can read. */
async function freshStore(): Promise<{ dir: string; log: Logger; warnings: () => LogLine[]; store: SnapshotStore }> {
  const dir = await tempDir();
  const { log, warnings } = captureLogger();
  return { dir, log, warnings, store: await SnapshotStore.open({ dir, log }) };
}

describe('snapshots read as they are decoded', () => {
  it('reads a snapshot larger than its read chunks, frames straddling them, into the same tree', async () => {
    const { dir, log, store } = await freshStore();
    // 2000 znodes of 10 KB: a 20 MB file, read in 8 MiB chunks.
    const tree = treeOf(2000, 10_000);
    const info = await store.writeSnapshot(tree.lastZxid, treeSnapshotRecords(tree));
    expect(info.bytes).toBeGreaterThan(16 * 1024 * 1024);
    const { tree: loaded, storage } = await recoverStandalone(configFor(dir), log);
    await storage.close();
    expect(loaded.nodeCount).toBe(tree.nodeCount);
    expect(loaded.lastZxid).toBe(tree.lastZxid);
    for (const i of [0, 777, 1999]) expect(loaded.getNode(`/p/n${i}`)!.data).toEqual(Buffer.alloc(10_000, i % 251));
  });

  it('reuses node block buffers once written, and the snapshots stay exact', async () => {
    const { dir, log, store } = await freshStore();
    const pool = new BlockPool();
    const tree = treeOf(3000, 1000);
    let given = 0;
    const written = (record: unknown): void => {
      given++;
      pool.giveRecord(record);
    };
    await store.writeSnapshot(tree.lastZxid, treeSnapshotRecords(tree, undefined, pool), { written });
    expect(given).toBeGreaterThan(40);
    // Change every other node, then snapshot again from the recycled buffers.
    let zxid = tree.lastZxid;
    for (let i = 0; i < 3000; i += 2) {
      tree.apply({ zxid: ++zxid, sessionId: 0n, cxid: 0, time: 2, authIds: [], op: { type: OpCode.setData, request: { path: `/p/n${i}`, data: Buffer.alloc(500, 9), version: -1 } } });
    }
    await store.writeSnapshot(tree.lastZxid, treeSnapshotRecords(tree, undefined, pool), { written });
    const { tree: loaded, storage } = await recoverStandalone(configFor(dir), log);
    await storage.close();
    expect(loaded.lastZxid).toBe(tree.lastZxid);
    for (const i of [0, 1, 1500, 2999]) expect(loaded.getNode(`/p/n${i}`)!.data, `n${i}`).toEqual(i % 2 === 0 ? Buffer.alloc(500, 9) : Buffer.alloc(1000, i % 251));
  });

  it.each([
    ['a flipped byte inside a frame', (size: number) => Math.floor(size / 2), 'frame CRC mismatch'],
    ['a flipped byte in the trailer', (size: number) => size - 10, 'trailer'],
  ])('a newest snapshot with %s is rejected while read; recovery loads the older one and says so', async (_name, at, reason) => {
    const { dir, log, warnings, store } = await freshStore();
    const older = treeOf(300, 10_000);
    const newer = treeOf(900, 10_000);
    await store.writeSnapshot(older.lastZxid, treeSnapshotRecords(older));
    const written = await store.writeSnapshot(newer.lastZxid, treeSnapshotRecords(newer));
    await new FaultFs().flipByte(written.file, at(written.bytes));

    const candidates = store.streamSnapshots();
    const newest = (await candidates.next()).value!;
    expect(newest.file).toBe(written.file);
    const read = async (): Promise<void> => {
      for await (const batch of newest.batches) expect(batch.length).toBeGreaterThan(0);
    };
    await expect(read()).rejects.toBeInstanceOf(SnapshotRejected);

    const { tree, storage } = await recoverStandalone(configFor(dir), log);
    await storage.close();
    expect(tree.nodeCount).toBe(older.nodeCount);
    expect(tree.lastZxid).toBe(older.lastZxid);
    expect(warnings()).toMatchObject([{ msg: 'snapshot failed validation; trying an older one', file: written.file, reason: expect.stringContaining(reason) }]);
  });

  it('refuses to start empty when every snapshot is rejected', async () => {
    const { dir, log, store } = await freshStore();
    const tree = treeOf(50, 100);
    const written = await store.writeSnapshot(tree.lastZxid, treeSnapshotRecords(tree));
    await new FaultFs().flipByte(written.file, written.bytes - 30);
    await expect(recoverStandalone(configFor(dir), log)).rejects.toThrow(StorageError);
    await expect(recoverStandalone(configFor(dir), log)).rejects.toThrow(/none of the 1 snapshot files validates/);
  });
});
