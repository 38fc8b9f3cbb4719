import type { DataTree } from '../../src/data/data-tree.js';
import { encodeTreeSnapshot } from '../../src/data/tree-snapshot.js';
import type { EnsembleStorage } from '../../src/server/ensemble-server.js';

/** An in-memory stand-in for an ensemble member's disk, for in-process wiring tests. */
export class MemoryEnsembleStorage implements EnsembleStorage {
  log: { zxid: bigint; payload: Uint8Array }[] = [];
  acceptedEpoch = 0n;
  currentEpoch = 0n;
  snapshot: { zxid: bigint; data: Uint8Array } | null = null;

  async appendTxn(zxid: bigint, payload: Uint8Array): Promise<void> {
    this.log.push({ zxid, payload });
  }
  async truncateAfter(zxid: bigint): Promise<void> {
    this.log = this.log.filter((e) => e.zxid <= zxid);
  }
  async persistAcceptedEpoch(epoch: bigint): Promise<void> {
    this.acceptedEpoch = epoch;
  }
  async persistCurrentEpoch(epoch: bigint): Promise<void> {
    this.currentEpoch = epoch;
  }
  async installSnapshot(zxid: bigint, tree: DataTree): Promise<void> {
    this.snapshot = { zxid, data: encodeTreeSnapshot(tree) };
    this.log = [];
  }
  async close(): Promise<void> {}
}
