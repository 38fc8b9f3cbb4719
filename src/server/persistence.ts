import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ServerConfig } from '../config/config.js';
import { DataTree } from '../data/data-tree.js';
import { BlockPool, TreeSnapshotLoader, treeSnapshotRecords } from '../data/tree-snapshot.js';
import { decodeAclAt, decodeTxn, plainCreate, readPlainCreate } from '../data/txn-codec.js';
import { TxnWriter } from '../data/txn-writer.js';
import type { Txn } from '../data/txn.js';
import { ProtocolError, StartupError, StorageError } from '../errors.js';
import { hex, type Logger } from '../logger.js';
import { openStorage, purge, type Storage } from '../storage/index.js';
import type { RecordEncoder } from '../storage/txn-log.js';
import type { SinkListener, TxnSink } from './committer.js';

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

/** What an ensemble member recovered from disk before starting. */
export interface EnsembleRecovery {
  acceptedEpoch: bigint;
  currentEpoch: bigint;
  /** The tree as of the snapshot (or a fresh tree), not yet including the log. */
  tree: DataTree;
  log: { zxid: bigint; payload: Uint8Array }[];
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

/**
 * The txn log as the commit pipeline's sink, for both modes: each txn is appended (a standalone
 * server's encoded straight into the log's buffer, a proposal's payload copied there), one
 * fsync covers a batch, and the listener hears the batch's last zxid. No promise per txn.
 */
export class LogSink implements TxnSink {
  private readonly txnEncoder = new TxnRecordEncoder();
  private readonly payloadEncoder = new PayloadRecordEncoder();

  constructor(
    private readonly storage: Storage,
    private readonly snapshotter: Snapshotter,
  ) {}

  listen(listener: SinkListener): void {
    this.storage.txnLog.onDurableBatch((zxid, count) => {
      this.snapshotter.committed(count);
      listener.durable(zxid, count);
    });
    this.storage.txnLog.onFailure((err) => listener.failed(err));
  }

  append(txn: Txn): void {
    this.txnEncoder.txn = txn;
    if (!this.storage.txnLog.writeEncoded(txn.zxid, this.txnEncoder)) throw new ProtocolError(`txn ${hex(txn.zxid)} cannot be encoded`);
  }

  appendPayload(zxid: bigint, payload: Uint8Array): void {
    this.payloadEncoder.payload = payload;
    this.storage.txnLog.writeEncoded(zxid, this.payloadEncoder);
  }
}

/** A TxnWriter for the txn at hand, in the txn log's RecordEncoder shape. */
class TxnRecordEncoder implements RecordEncoder {
  txn: Txn | null = null;
  private readonly writer = new TxnWriter();

  encode(buf: Buffer, at: number, limit: number): number {
    return this.writer.encode(this.txn!, buf, at, limit);
  }
}

/** Copies an encoded payload into the txn log's buffer. */
class PayloadRecordEncoder implements RecordEncoder {
  payload: Uint8Array = new Uint8Array(0);

  encode(buf: Buffer, at: number, limit: number): number {
    const end = at + this.payload.length;
    if (end > limit) return -1;
    buf.set(this.payload, at);
    return end;
  }
}

/** What an ensemble member keeps on disk, in the shape the consensus driver wants. */
export interface MemberStorage {
  /** The txn log, appended through the commit pipeline. */
  readonly sink: TxnSink;
  /** Barrier: drops every logged txn above `zxid` (pending appends are synced first). */
  truncateAfter(zxid: bigint): Promise<void>;
  persistAcceptedEpoch(epoch: bigint): Promise<void>;
  persistCurrentEpoch(epoch: bigint): Promise<void>;
  /** Persists a snapshot received from the leader and drops the whole log. */
  installSnapshot(zxid: bigint, tree: DataTree): Promise<void>;
  close(): Promise<void>;
}

/** An ensemble member's disk: the same stores a standalone server uses. */
export function memberStorage(storage: Storage, snapshotter: Snapshotter): MemberStorage {
  return {
    sink: new LogSink(storage, snapshotter),
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

/**
 * Refuses, before anything is opened, a dataDir or dataLogDir that cannot hold the server's
 * files: one that is a file, sits under a file, or is not writable. Created when missing.
 */
export async function checkDataDirectories(config: ServerConfig): Promise<void> {
  await checkDirectory('dataDir', config.dataDir);
  if (config.dataLogDir !== config.dataDir) await checkDirectory('dataLogDir', config.dataLogDir);
}

async function checkDirectory(key: string, dir: string): Promise<void> {
  const refuse = (what: string, err: NodeJS.ErrnoException) => new StartupError(key, dir, `${what} (${err.code ?? err.message})`, { cause: err });
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EEXIST') throw refuse('is a file, not a directory', e);
    if (e.code === 'ENOTDIR') throw refuse('a part of the path is a file, not a directory', e);
    throw refuse('cannot be created', e);
  }
  const probe = join(dir, `.zkts-write-check-${process.pid}`);
  try {
    await writeFile(probe, '', { flag: 'wx' });
    await rm(probe, { force: true });
  } catch (err) {
    throw refuse('is not writable', err as NodeJS.ErrnoException);
  }
}
