import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { purge } from '../../src/storage/purge.js';
import { SnapshotStore } from '../../src/storage/snapshot-store.js';
import { TxnLog } from '../../src/storage/txn-log.js';
import { captureLogger, payloadFor, tempDir, zxidOf } from './helpers.js';

describe('purge', () => {
  it('keeps the N newest snapshots and every segment that may hold a zxid above the oldest kept one', async () => {
    const dataDir = await tempDir();
    const dataLogDir = join(dataDir, 'log');
    const { log } = captureLogger();
    const txnLog = await TxnLog.open({ dir: dataLogDir, log, segmentBytes: 200, preallocateBytes: 0 });
    const snapshots = await SnapshotStore.open({ dir: dataDir, log });
    for (let counter = 1; counter <= 60; counter++) {
      await txnLog.append(zxidOf(1, counter), payloadFor(BigInt(counter), 40));
      if (counter % 10 === 0) await snapshots.writeSnapshot(zxidOf(1, counter), [{ counter }]);
    }
    const segmentsBefore = (await readdir(dataLogDir)).sort();
    const result = await purge(dataDir, dataLogDir, 3, { log });

    expect(result.snapshotsRemoved).toEqual(['snapshot.000000010000000a', 'snapshot.0000000100000014', 'snapshot.000000010000001e']);
    expect((await readdir(dataDir)).filter((name) => name.startsWith('snapshot.')).sort()).toEqual([
      'snapshot.0000000100000028',
      'snapshot.0000000100000032',
      'snapshot.000000010000003c',
    ]);
    expect(result.segmentsRemoved.length).toBeGreaterThan(0);
    // Replaying from the oldest kept snapshot still finds every txn after it.
    const replayed: bigint[] = [];
    for await (const record of txnLog.readFrom(zxidOf(1, 41))) replayed.push(record.zxid);
    expect(replayed).toEqual(Array.from({ length: 20 }, (_, i) => zxidOf(1, 41 + i)));
    // And nothing that could hold zxid 41 or later was removed, while all removed ones end before it.
    const remaining = (await readdir(dataLogDir)).sort();
    expect([...remaining, ...result.segmentsRemoved].sort()).toEqual(segmentsBefore);
    const firstKept = BigInt(`0x${remaining[0]!.slice(4)}`);
    expect(firstKept <= zxidOf(1, 41)).toBe(true);
    const reopened = await TxnLog.open({ dir: dataLogDir, log });
    expect(reopened.lastZxid).toBe(zxidOf(1, 60));
    await reopened.close();
    await txnLog.close();
  });

  it('does nothing with N or fewer snapshots, and refuses N below 3', async () => {
    const dataDir = await tempDir();
    const { log } = captureLogger();
    const snapshots = await SnapshotStore.open({ dir: dataDir, log });
    for (const zxid of [1n, 2n, 3n]) await snapshots.writeSnapshot(zxid, []);
    expect(await purge(dataDir, dataDir, 3)).toEqual({ snapshotsRemoved: [], segmentsRemoved: [] });
    await expect(purge(dataDir, dataDir, 2)).rejects.toBeInstanceOf(ConfigError);
  });
});
