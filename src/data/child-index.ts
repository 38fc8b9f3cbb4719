import { invariant } from '../errors.js';
import type { NodeBytes } from './node-bytes.js';
import { noSlot, type NodeColumns } from './node-columns.js';

/** The index's key for a name under a parent: both mixed, so siblings spread out. */
function keyHash(parent: number, nameHash: number): number {
  let h = Math.imul(parent ^ 0x5bd1e995, 0x9e3779b1) ^ nameHash;
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  return h;
}

/** The index starts with this many buckets (a power of two). */
const bucketsMin = 1024;

/**
 * The child index, (parent slot, name) to slot, so a path is found by walking from the root
 * and there is no map of every path. Linear hashing: chains through the hashNext column,
 * and the table grows a bucket at a time (each insert splits at most one), so no insert ever
 * rehashes the whole index. Buckets in use: roundBuckets + splitNext. A slot's parent and
 * name hash must stay as they were indexed until it is removed.
 */
export class ChildIndex {
  private buckets = new Int32Array(bucketsMin * 2).fill(noSlot);
  private roundBuckets = bucketsMin;
  private splitNext = 0;
  private indexed = 0;

  constructor(
    private readonly columns: NodeColumns,
    private readonly bytes: NodeBytes,
  ) {}

  /** The child of `parent` whose name is `length` bytes of `bytes` from `start` with hash `nameHash`, or -1. */
  find(parent: number, bytes: Uint8Array, start: number, length: number, nameHash: number): number {
    const { nameHash: nameHashes, parent: parents, hashNext: next } = this.columns;
    for (let s = this.buckets[this.bucketOf(keyHash(parent, nameHash))]!; s !== noSlot; s = next[s]!) {
      if (nameHashes[s] === nameHash && parents[s] === parent && this.bytes.nameEquals(s, bytes, start, length)) return s;
    }
    return noSlot;
  }

  insert(slot: number): void {
    const { parent, nameHash, hashNext } = this.columns;
    const bucket = this.bucketOf(keyHash(parent[slot]!, nameHash[slot]!));
    hashNext[slot] = this.buckets[bucket]!;
    this.buckets[bucket] = slot;
    if (++this.indexed > this.roundBuckets + this.splitNext) this.splitBucket();
  }

  remove(slot: number): void {
    const { parent, nameHash, hashNext: next } = this.columns;
    const bucket = this.bucketOf(keyHash(parent[slot]!, nameHash[slot]!));
    let s = this.buckets[bucket]!;
    if (s === slot) this.buckets[bucket] = next[slot]!;
    else {
      while (s !== noSlot && next[s] !== slot) s = next[s]!;
      invariant(s !== noSlot, () => `slot ${slot} is not in the child index`);
      next[s] = next[slot]!;
    }
    this.indexed--;
  }

  /**
   * Rebuilds the index from every slot below `high` with a parent, sized for `size` of them
   * (a loader links its nodes unindexed: one pass in slot order here costs a fraction of
   * inserting them one by one, splitting buckets as the index grows). Returns a slot whose
   * (parent, name) an earlier slot has too, or -1.
   */
  rebuild(size: number, high: number): number {
    let round = bucketsMin;
    while (round < size) round *= 2;
    const buckets = new Int32Array(round * 2).fill(noSlot);
    const mask = round - 1;
    const { parent: parents, nameHash: nameHashes, hashNext: next } = this.columns;
    let indexed = 0;
    for (let slot = 0; slot < high; slot++) {
      const parent = parents[slot]!;
      if (parent < 0) continue;
      const nameHash = nameHashes[slot]!;
      const bucket = keyHash(parent, nameHash) & mask;
      for (let s = buckets[bucket]!; s !== noSlot; s = next[s]!) {
        if (nameHashes[s] === nameHash && parents[s] === parent && this.bytes.nameView(s).equals(this.bytes.nameView(slot))) return slot;
      }
      next[slot] = buckets[bucket]!;
      buckets[bucket] = slot;
      indexed++;
    }
    this.buckets = buckets;
    this.roundBuckets = round;
    this.splitNext = 0;
    this.indexed = indexed;
    return noSlot;
  }

  private bucketOf(key: number): number {
    const low = key & (this.roundBuckets - 1);
    return low < this.splitNext ? key & (this.roundBuckets * 2 - 1) : low;
  }

  /** Splits bucket splitNext between itself and its image in the next round's table. */
  private splitBucket(): void {
    const round = this.roundBuckets;
    const from = this.splitNext;
    const { parent, nameHash, hashNext: next } = this.columns;
    let s = this.buckets[from]!;
    let low = noSlot;
    let high = noSlot;
    while (s !== noSlot) {
      const after = next[s]!;
      if ((keyHash(parent[s]!, nameHash[s]!) & round) === 0) {
        next[s] = low;
        low = s;
      } else {
        next[s] = high;
        high = s;
      }
      s = after;
    }
    this.buckets[from] = low;
    this.buckets[from + round] = high;
    if (++this.splitNext < round) return;
    // Every bucket of this round is split: the next round has twice as many.
    this.roundBuckets = round * 2;
    this.splitNext = 0;
    const buckets = new Int32Array(round * 4).fill(noSlot);
    buckets.set(this.buckets);
    this.buckets = buckets;
  }
}
