import type { LogEntry } from '../journal.js';
import type { RecoveredState } from '../peer.js';
import type { Zxid } from '../zxid.js';

/**
 * One server's disk: epoch files and snapshots are written atomically (barriers), the txn
 * log is appended and made durable by an fsync that covers everything appended before it
 * started (group commit). A crash keeps the synced part and a random prefix of the rest,
 * as a real page cache may have flushed some of it.
 */
export class VirtualDisk {
  acceptedEpoch = 0n;
  currentEpoch = 0n;
  snapshot: { zxid: Zxid; data: Uint8Array } | null = null;
  entries: LogEntry[] = [];
  synced = 0;
  private fsyncTarget = 0;
  fsyncInFlight = false;

  append(entries: readonly LogEntry[]): void {
    for (const entry of entries) this.entries.push(entry);
  }

  startFsync(): void {
    this.fsyncTarget = this.entries.length;
    this.fsyncInFlight = true;
  }

  /** Completes the fsync in flight; returns the zxid now durable, if any. */
  completeFsync(): Zxid | null {
    this.fsyncInFlight = false;
    const target = Math.min(this.fsyncTarget, this.entries.length);
    if (target > this.synced) this.synced = target;
    return this.synced > 0 ? this.entries[this.synced - 1]!.zxid : null;
  }

  get hasUnsynced(): boolean {
    return this.entries.length > this.synced;
  }

  truncate(zxid: Zxid): void {
    let keep = this.entries.length;
    while (keep > 0 && this.entries[keep - 1]!.zxid > zxid) keep--;
    this.entries.length = keep;
    if (this.synced > keep) this.synced = keep;
    if (this.fsyncTarget > keep) this.fsyncTarget = keep;
  }

  installSnapshot(zxid: Zxid, data: Uint8Array): void {
    this.snapshot = { zxid, data };
    this.entries = [];
    this.synced = 0;
    this.fsyncTarget = 0;
  }

  /** `keptOfUnsynced(n)` says how many of the n unsynced entries happened to reach the platter. */
  crash(keptOfUnsynced: (unsynced: number) => number): void {
    const unsynced = this.entries.length - this.synced;
    const keep = this.synced + Math.max(0, Math.min(unsynced, keptOfUnsynced(unsynced)));
    this.entries.length = keep;
    this.synced = keep;
    this.fsyncTarget = keep;
    this.fsyncInFlight = false;
  }

  recover(): RecoveredState {
    return {
      acceptedEpoch: this.acceptedEpoch,
      currentEpoch: this.currentEpoch,
      snapshotZxid: this.snapshot?.zxid ?? 0n,
      log: [...this.entries],
    };
  }

  get lastZxid(): Zxid {
    return this.entries.length > 0 ? this.entries[this.entries.length - 1]!.zxid : (this.snapshot?.zxid ?? 0n);
  }

  get durableZxid(): Zxid {
    return this.synced > 0 ? this.entries[this.synced - 1]!.zxid : (this.snapshot?.zxid ?? 0n);
  }

  /** Whether `zxid` survives any crash from now on: in the snapshot or the synced log. */
  holdsDurably(zxid: Zxid): boolean {
    if (this.snapshot !== null && this.snapshot.zxid >= zxid) return true;
    let lo = 0;
    let hi = this.synced;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const z = this.entries[mid]!.zxid;
      if (z === zxid) return true;
      if (z < zxid) lo = mid + 1;
      else hi = mid;
    }
    return false;
  }
}
