import { invariant } from '../errors.js';
import type { Origin } from './messages.js';
import { zxidToHex, type Zxid } from './zxid.js';

/** One logged txn. The payload is opaque to the core; the server's state machine reads it. */
export interface LogEntry {
  readonly zxid: Zxid;
  readonly payload: Uint8Array;
  readonly origin: Origin | null;
}

/**
 * The core's in-memory view of the local txn log, shared by every role of one server:
 *
 *   baseZxid ≤ appliedZxid ≤ lastLoggedZxid, durableZxid ≤ lastLoggedZxid
 *
 * Txns ≤ baseZxid live only in the snapshot. Txns above appliedZxid are always kept (they
 * may be needed to sync a learner or to apply later); at most `windowMax` applied txns are
 * kept, which is the leader's committed-log window for DIFF. The journal only records what
 * the role decided; the role emits the matching persist effects.
 */
export class Journal {
  private entries: LogEntry[] = [];
  private start = 0;
  private base: Zxid;
  private lastLogged: Zxid;
  private durable: Zxid;
  private applied: Zxid;

  constructor(
    private readonly windowMax: number,
    snapshotZxid: Zxid,
    recovered: readonly LogEntry[],
  ) {
    this.base = snapshotZxid;
    this.lastLogged = snapshotZxid;
    this.applied = snapshotZxid;
    for (const entry of recovered) if (entry.zxid > snapshotZxid) this.append(entry);
    // Everything recovered from disk is durable by definition.
    this.durable = this.lastLogged;
  }

  get baseZxid(): Zxid { return this.base; }
  get lastLoggedZxid(): Zxid { return this.lastLogged; }
  get durableZxid(): Zxid { return this.durable; }
  get appliedZxid(): Zxid { return this.applied; }
  get size(): number { return this.entries.length - this.start; }

  append(entry: LogEntry): void {
    invariant(entry.zxid > this.lastLogged, () => `log zxids must increase: ${zxidToHex(entry.zxid)} after ${zxidToHex(this.lastLogged)}`);
    this.entries.push(entry);
    this.lastLogged = entry.zxid;
  }

  /**
   * A `durable` event. A report can be stale: an fsync that finished before a TRUNC was
   * processed names zxids that are gone now. Only the txns still logged at or below it
   * count, so durability is never claimed for what the disk does not hold.
   */
  markDurable(zxid: Zxid): void {
    const bounded = this.floor(zxid < this.lastLogged ? zxid : this.lastLogged);
    if (bounded > this.durable) this.durable = bounded;
  }

  /** Drops the uncommitted tail above `zxid`; applied txns are committed and can never go. */
  truncate(zxid: Zxid): void {
    invariant(zxid >= this.applied, `truncate below applied: ${zxidToHex(zxid)} < ${zxidToHex(this.applied)}`);
    invariant(zxid === this.base || this.indexOf(zxid) >= 0, `truncate to a zxid not in the log: ${zxidToHex(zxid)}`);
    while (this.size > 0 && this.entries[this.entries.length - 1]!.zxid > zxid) this.entries.pop();
    this.lastLogged = zxid;
    if (this.durable > zxid) this.durable = zxid;
  }

  /** A snapshot replaced the whole state: the log restarts after it. */
  resetToSnapshot(zxid: Zxid): void {
    invariant(zxid >= this.applied, `snapshot ${zxidToHex(zxid)} older than applied ${zxidToHex(this.applied)}`);
    this.entries = [];
    this.start = 0;
    this.base = zxid;
    this.lastLogged = zxid;
    this.durable = zxid;
    this.applied = zxid;
  }

  /** Marks txns up to `zxid` applied and returns them in order; trims the window. */
  applyUpTo(zxid: Zxid): LogEntry[] {
    invariant(zxid <= this.lastLogged, () => `apply beyond the log: ${zxidToHex(zxid)} > ${zxidToHex(this.lastLogged)}`);
    if (zxid <= this.applied) return [];
    const from = this.firstIndexAbove(this.applied);
    let to = from;
    while (to < this.entries.length && this.entries[to]!.zxid <= zxid) to++;
    // A slice is sized to fit; a pushed-to array reserves 16 slots, and this runs for every COMMIT.
    const out = this.entries.slice(from, to);
    this.applied = zxid;
    this.trimWindow();
    return out;
  }

  /** The largest logged zxid ≤ `zxid`, or -1n when `zxid` falls below what memory holds. */
  floor(zxid: Zxid): Zxid {
    if (zxid < this.base) return -1n;
    const i = this.firstIndexAbove(zxid) - 1;
    return i >= this.start ? this.entries[i]!.zxid : this.base;
  }

  /** Whether `zxid` is the base or a logged entry. */
  contains(zxid: Zxid): boolean {
    return zxid === this.base || this.indexOf(zxid) >= 0;
  }

  entry(zxid: Zxid): LogEntry | undefined {
    const i = this.indexOf(zxid);
    return i >= 0 ? this.entries[i] : undefined;
  }

  /** Entries with after < zxid ≤ upTo, in order. */
  entriesBetween(after: Zxid, upTo: Zxid): LogEntry[] {
    const out: LogEntry[] = [];
    for (let i = this.firstIndexAbove(after); i < this.entries.length && this.entries[i]!.zxid <= upTo; i++) {
      out.push(this.entries[i]!);
    }
    return out;
  }

  private indexOf(zxid: Zxid): number {
    const i = this.firstIndexAbove(zxid) - 1;
    return i >= this.start && this.entries[i]!.zxid === zxid ? i : -1;
  }

  /** Binary search: index of the first entry with zxid > `zxid`. */
  private firstIndexAbove(zxid: Zxid): number {
    let lo = this.start;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.entries[mid]!.zxid <= zxid) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private trimWindow(): void {
    const appliedCount = this.firstIndexAbove(this.applied) - this.start;
    const excess = appliedCount - this.windowMax;
    if (excess <= 0) return;
    this.base = this.entries[this.start + excess - 1]!.zxid;
    this.start += excess;
    // Compact now and then so the array does not grow without bound.
    if (this.start > 1024 && this.start * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.start);
      this.start = 0;
    }
  }
}
