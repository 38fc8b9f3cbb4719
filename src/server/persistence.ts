import type { ServerConfig } from '../config/config.js';
import { DataTree } from '../data/data-tree.js';
import { BlockPool, TreeSnapshotLoader, treeSnapshotRecords } from '../data/tree-snapshot.js';
import { decodeAclAt, decodeTxn, plainCreate, readPlainCreate } from '../data/txn-codec.js';
import { TxnWriter } from '../data/txn-writer.js';
import type { Txn } from '../data/txn.js';
import { ProtocolError, StorageError } from '../errors.js';
import { hex, type Logger } from '../logger.js';
import { openStorage, purge, type Storage } from '../storage/index.js';
import type { RecordEncoder } from '../storage/txn-log.js';
import type { TxnSink } from './committer.js';
import type { EnsembleRecovery, EnsembleStorage } from './ensemble-server.js';

/**
 * Loads the newest valid snapshot into a fresh tree (or returns a fresh tree when there is
 * none). A snapshot found invalid while it is read (a bad CRC, a short file) is dropped with
 * a warning and the next older one is read; when every one is invalid, starting empty
 * would silently lose data, so that is a StorageError.
 */
async function loadSnapshot(storage: Storage, config: ServerConfig, log: Logger): Promise<DataTree> {
  const found = await storage.snapshots.readNewestValid(async (snapshot) => {
    const loader = new TreeSnapshotLoader({ extendedTypesEnabled: config.extendedTypesEnabled });
    try {
      for await (const batch of snapshot.batches) for (const record of batch) loader.add(record);
      return loader.finish();
    } catch (err) {
      if (err instanceof StorageError) throw err;
      throw new StorageError(snapshot.file, 0, `snapshot content does not rebuild a tree: ${(err as Error).message}`, { cause: err });
    }
  });
  if (found === undefined) return new DataTree({ extendedTypesEnabled: config.extendedTypesEnabled });
  const tree = found.result;
  log.info({ file: found.snapshot.file, zxid: hex(found.snapshot.zxid), nodes: tree.nodeCount }, 'snapshot loaded');
  return tree;
}

export interface StandaloneRecovery {
  tree: DataTree;
  storage: Storage;
  replayed: number;
}

/** Standalone start-up: newest snapshot, then every logged txn after it (all were committed). */
export async function recoverStandalone(config: ServerConfig, log: Logger): Promise<StandaloneRecovery> {
  const storage = await openStorage({ dataDir: config.dataDir, dataLogDir: config.dataLogDir, log });
  const tree = await loadSnapshot(storage, config, log);
  let replayed = 0;
  // Most of a log is plain creates: made from the records' bytes without decoding them.
  const create = plainCreate();
  for await (const batch of storage.txnLog.recordBatchesFrom(tree.lastZxid + 1n)) {
    const { zxids, chunks, starts, ends } = batch;
    for (let i = 0; i < zxids.length; i++) {
      const chunk = chunks[i]!;
      if (readPlainCreate(chunk, starts[i]!, ends[i]!, create) && tree.replayPlainCreate(zxids[i]!, chunk, create, decodeAclAt)) continue;
      const txn = decodeTxn(chunk, starts[i]!, ends[i]!);
      txn.zxid = zxids[i]!;
      tree.replay(txn);
    }
    replayed += zxids.length;
  }
  log.info({ zxid: hex(tree.lastZxid), replayed, nodes: tree.nodeCount }, 'state recovered');
  return { tree, storage, replayed };
}

/** Ensemble start-up: the snapshot becomes the tree; logged txns go to the consensus core. */
export async function recoverEnsemble(config: ServerConfig, log: Logger): Promise<{ recovery: EnsembleRecovery; storage: Storage }> {
  const storage = await openStorage({ dataDir: config.dataDir, dataLogDir: config.dataLogDir, log });
  const tree = await loadSnapshot(storage, config, log);
  const entries: { zxid: bigint; payload: Uint8Array }[] = [];
  for await (const batch of storage.txnLog.readBatchesFrom(tree.lastZxid + 1n)) {
    for (const record of batch) entries.push({ zxid: record.zxid, payload: Buffer.from(record.payload) });
  }
  const recovery: EnsembleRecovery = {
    acceptedEpoch: BigInt(storage.epochs.acceptedEpoch),
    currentEpoch: BigInt(storage.epochs.currentEpoch),
    tree,
    log: entries,
  };
  log.info({ snapshotZxid: hex(tree.lastZxid), logged: entries.length, acceptedEpoch: storage.epochs.acceptedEpoch }, 'ensemble state recovered');
  return { recovery, storage };
}

/**
 * Takes a snapshot every snapCount txns (randomised per server, as ZooKeeper does, so an
 * ensemble does not snapshot at once), one at a time, then purges what is no longer needed.
 */
export class Snapshotter {
  private sinceLast = 0;
  private threshold: number;
  private running: Promise<void> | null = null;
  private readonly blocks = new BlockPool();

  constructor(
    private readonly storage: Storage,
    private readonly tree: () => DataTree,
    private readonly config: ServerConfig,
    private readonly log: Logger,
  ) {
    this.threshold = this.nextThreshold();
  }

  private nextThreshold(): number {
    const half = Math.max(1, Math.floor(this.config.snapCount / 2));
    return half + Math.floor(Math.random() * half);
  }

  committed(count = 1): void {
    this.sinceLast += count;
    if (this.sinceLast >= this.threshold && this.running === null) void this.snapshotNow();
  }

  snapshotNow(): Promise<void> {
    if (this.running !== null) return this.running;
    this.sinceLast = 0;
    this.threshold = this.nextThreshold();
    const tree = this.tree();
    const zxid = tree.lastZxid;
    const started = Date.now();
    this.running = this.storage.snapshots
      .writeSnapshot(zxid, treeSnapshotRecords(tree, undefined, this.blocks), { written: (record) => this.blocks.giveRecord(record) })
      .then(
        (info) => this.log.info({ zxid: hex(zxid), ms: Date.now() - started, bytes: info.bytes, records: info.recordCount }, 'snapshot written'),
        (err) => this.log.error({ err, zxid: hex(zxid) }, 'snapshot failed'),
      )
      .finally(() => {
        this.running = null;
      });
    return this.running;
  }

  /** Removes snapshots and log segments beyond autopurge.snapRetainCount. */
  async purge(): Promise<void> {
    const result = await purge(this.config.dataDir, this.config.dataLogDir, this.config.snapRetainCount, { log: this.log });
    this.log.info(result, 'purge done');
  }

  async idle(): Promise<void> {
    await this.running;
  }
}

/** The standalone server's sink: each txn is appended (group commit) before it is applied. */
export class LogSink implements TxnSink {
  constructor(
    private readonly storage: Storage,
    private readonly snapshotter: Snapshotter,
  ) {}

  listen(durable: (zxid: bigint) => void, failed: (err: unknown) => void): void {
    this.storage.txnLog.onDurableBatch((zxid, count) => {
      this.snapshotter.committed(count);
      durable(zxid);
    });
    this.storage.txnLog.onFailure(failed);
  }

  append(txn: Txn): void {
    this.encoder.txn = txn;
    // Encoded straight into the log's buffer.
    if (!this.storage.txnLog.writeEncoded(txn.zxid, this.encoder)) throw new ProtocolError(`txn ${hex(txn.zxid)} cannot be encoded`);
  }

  private readonly encoder = new TxnRecordEncoder();
}

/** A TxnWriter for the txn at hand, in the txn log's RecordEncoder shape. */
class TxnRecordEncoder implements RecordEncoder {
  txn: Txn | null = null;
  private readonly writer = new TxnWriter();

  encode(buf: Buffer, at: number, limit: number): number {
    return this.writer.encode(this.txn!, buf, at, limit);
  }
}

/** An ensemble member's disk: the same stores, in the shape the consensus shell wants. */
export function ensembleStorage(storage: Storage, snapshotter: Snapshotter): EnsembleStorage {
  return {
    appendTxn: (zxid, payload) => storage.txnLog.append(zxid, payload).then(() => snapshotter.committed()),
    truncateAfter: (zxid) => storage.txnLog.truncateAfter(zxid),
    persistAcceptedEpoch: (epoch) => storage.epochs.setAcceptedEpoch(Number(epoch)),
    persistCurrentEpoch: (epoch) => storage.epochs.setCurrentEpoch(Number(epoch)),
    installSnapshot: async (zxid, tree) => {
      await storage.snapshots.writeSnapshot(zxid, treeSnapshotRecords(tree));
      // Everything logged is superseded by the leader's snapshot.
      await storage.txnLog.truncateAfter(0n);
    },
    close: async () => {
      await snapshotter.idle();
      await storage.close();
    },
  };
}
