/**
 * Durable storage: the txn log, snapshots and ZAB's epoch files. It knows neither the txn
 * structure nor the tree: a txn is (zxid, payload bytes), a snapshot is (zxid, a stream of
 * msgpack-able records).
 *
 *   const storage = await openStorage({ dataDir, dataLogDir, log });
 *   // start-up
 *   const snapshot = await storage.snapshots.loadLatestSnapshot();   // undefined: none yet
 *   for await (const record of snapshot?.records ?? []) tree.load(record);  // or .batches
 *   for await (const { zxid, payload } of storage.txnLog.readFrom((snapshot?.zxid ?? 0n) + 1n)) tree.replay(zxid, payload);
 *   // each write, before replying or ACKing
 *   await storage.txnLog.append(zxid, bytes);                         // resolves once durable
 *   // every snapCount txns
 *   await storage.snapshots.writeSnapshot(zxid, tree.snapshotRecords());
 *   await purge(dataDir, dataLogDir, retainCount);
 *   // ZAB
 *   storage.epochs.acceptedEpoch; await storage.epochs.setAcceptedEpoch(e);
 *   storage.epochs.currentEpoch;  await storage.epochs.setCurrentEpoch(e);
 *   await storage.txnLog.truncateAfter(zxid);                          // TRUNC from the leader
 *
 * TxnLog
 *   static open({ dir, log, fs?, segmentBytes?, preallocateBytes?, onDurable? }): Promise<TxnLog>
 *   append(zxid: bigint, payload: Uint8Array): Promise<void>   zxids strictly increase; group commit
 *   sync(): Promise<void>                                      everything appended so far is durable
 *   readFrom(fromZxid: bigint, toZxid = durableZxid): AsyncGenerator<{ zxid, payload }>
 *   truncateAfter(zxid: bigint): Promise<void>
 *   firstZxid(): Promise<bigint | undefined>
 *   lastZxid, durableZxid: bigint                              0n when empty
 *   close(): Promise<void>
 * SnapshotStore
 *   static open({ dir, log, fs?, compress? }): Promise<SnapshotStore>
 *   writeSnapshot(zxid, records: Iterable<unknown> | AsyncIterable<unknown>): Promise<SnapshotInfo>
 *   loadLatestSnapshot(): Promise<LoadedSnapshot | undefined>
 *     LoadedSnapshot: { zxid, file, bytes, recordCount, records: AsyncIterable<unknown>, batches: AsyncIterable<unknown[]> }
 *     (both can be iterated more than once; each iteration reads the file again)
 *   list(): Promise<bigint[]>                                  snapshot zxids, newest first
 * EpochStore
 *   static open({ dir, log, fs?, missingEpoch? }): Promise<EpochStore>
 *   acceptedEpoch, currentEpoch: number; setAcceptedEpoch(n), setCurrentEpoch(n): Promise<void>
 * purge(dataDir, dataLogDir, retainCount >= 3, { fs?, log? }): Promise<{ snapshotsRemoved, segmentsRemoved }>
 *
 * Errors: a file that cannot be trusted is a StorageError naming the file and byte offset;
 * misuse (a zxid that does not increase) is an InvariantError. File formats are described
 * in txn-record.ts and snapshot-format.ts; tests inject faults through fault-fs.ts.
 */
import type { Logger } from 'pino';
import { EpochStore } from './epoch-store.js';
import type { StorageFs } from './fs.js';
import { SnapshotStore } from './snapshot-store.js';
import { TxnLog } from './txn-log.js';

export { EpochStore } from './epoch-store.js';
export type { EpochStoreOptions } from './epoch-store.js';
export { NodeFs, nodeFs } from './fs.js';
export type { OpenMode, StorageFile, StorageFs } from './fs.js';
export { purge } from './purge.js';
export type { PurgeOptions, PurgeResult } from './purge.js';
export { SnapshotRejected, SnapshotStore } from './snapshot-store.js';
export type { LoadedSnapshot, SnapshotInfo, SnapshotStoreOptions, StreamedSnapshot, WriteOptions } from './snapshot-store.js';
export { TxnLog } from './txn-log.js';
export type { LogRecord } from './log-reader.js';
export type { TxnLogOptions } from './txn-log.js';

export interface OpenStorageOptions {
  dataDir: string;
  dataLogDir: string;
  log: Logger;
  fs?: StorageFs;
  segmentBytes?: number;
  preallocateBytes?: number;
  compressSnapshots?: boolean;
  onDurable?: (zxid: bigint) => void;
}

export interface Storage {
  txnLog: TxnLog;
  snapshots: SnapshotStore;
  epochs: EpochStore;
  close(): Promise<void>;
}

/** Opens all three stores; the txn log is recovered (validated, torn tail cut) on the way. */
export async function openStorage(options: OpenStorageOptions): Promise<Storage> {
  const { dataDir, dataLogDir, log, fs } = options;
  const snapshots = await SnapshotStore.open({ dir: dataDir, log, fs, compress: options.compressSnapshots });
  const epochs = await EpochStore.open({ dir: dataDir, log, fs });
  // Recovery reads the log from the newest snapshot on (an older one only if that is bad,
  // and then reading checks each record as well).
  const newestSnapshot = (await snapshots.list())[0] ?? 0n;
  const txnLog = await TxnLog.open({
    dir: dataLogDir,
    scanFrom: newestSnapshot,
    log,
    fs,
    segmentBytes: options.segmentBytes,
    preallocateBytes: options.preallocateBytes,
    onDurable: options.onDurable,
  });
  return { txnLog, snapshots, epochs, close: () => txnLog.close() };
}
