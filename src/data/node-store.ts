import { invariant } from '../errors.js';
import type { ACL } from '../protocol/records.js';

/**
 * The znodes of a tree, column by column. Each znode has a slot number; its stat fields live
 * in typed arrays indexed by slot (outside the JS heap, no object per node), its data, name
 * and child map in plain arrays. A child map goes from name to slot, so a path is found by
 * walking from the root and there is no map of every path.
 *
 * Measured with 1M znodes of 128 bytes (1000 parents x 1000 children): 288 bytes a znode
 * (221 on the heap, 68 in the columns) against 434 for one object per znode in a map of
 * paths; and the garbage collector has one string per znode to trace instead of five
 * objects. A snapshot is a dump of the used slots, so loading one is mostly copying.
 *
 * Zxids and owners are 64-bit: BigInt64Array columns, also viewed as int32 pairs (little
 * endian: low word first) so snapshots encode them without BigInt arithmetic.
 */

export const rootSlot = 0;
/** The parent column's value for the root. */
export const noParent = -1;
/** The parent column's value for a free slot. */
const freeSlot = -2;
const capacityMin = 1024;

/** One znode's fields as plain values: a snapshot's view of a node, an undo record. */
export interface NodeImage {
  slot: number;
  parent: number;
  name: string;
  /** latin1, one char per byte; null is distinct from empty. */
  data: string | null;
  acl: number;
  czxidHi: number;
  czxidLo: number;
  mzxidHi: number;
  mzxidLo: number;
  pzxidHi: number;
  pzxidLo: number;
  ctime: number;
  mtime: number;
  version: number;
  cversion: number;
  aversion: number;
  ownerHi: number;
  ownerLo: number;
}

export function emptyImage(): NodeImage {
  return {
    slot: 0, parent: 0, name: '', data: null, acl: 0, czxidHi: 0, czxidLo: 0, mzxidHi: 0, mzxidLo: 0, pzxidHi: 0, pzxidLo: 0,
    ctime: 0, mtime: 0, version: 0, cversion: 0, aversion: 0, ownerHi: 0, ownerLo: 0,
  };
}

/** A 64-bit column and its int32 view (word 2i is the low half of entry i, 2i+1 the high). */
class LongColumn {
  values: BigInt64Array;
  words: Int32Array;
  constructor(capacity: number) {
    this.values = new BigInt64Array(capacity);
    this.words = new Int32Array(this.values.buffer);
  }
  grow(capacity: number): void {
    const values = new BigInt64Array(capacity);
    values.set(this.values);
    this.values = values;
    this.words = new Int32Array(values.buffer);
  }
}

function growInt32(old: Int32Array<ArrayBuffer>, capacity: number): Int32Array<ArrayBuffer> {
  const next = new Int32Array(capacity);
  next.set(old);
  return next;
}

function growFloat64(old: Float64Array<ArrayBuffer>, capacity: number): Float64Array<ArrayBuffer> {
  const next = new Float64Array(capacity);
  next.set(old);
  return next;
}

export class NodeStore {
  capacity = capacityMin;
  /** Slots in use. */
  size = 0;
  /** Every slot ever used is below this. */
  high = 0;
  readonly czxid = new LongColumn(capacityMin);
  readonly mzxid = new LongColumn(capacityMin);
  readonly pzxid = new LongColumn(capacityMin);
  readonly owner = new LongColumn(capacityMin);
  ctime = new Float64Array(capacityMin);
  mtime = new Float64Array(capacityMin);
  version = new Int32Array(capacityMin);
  cversion = new Int32Array(capacityMin);
  aversion = new Int32Array(capacityMin);
  acl = new Int32Array(capacityMin);
  parent = new Int32Array(capacityMin).fill(freeSlot);
  readonly data: (string | null)[] = [];
  readonly names: string[] = [];
  readonly children: (Map<string, number> | null)[] = [];
  /** Free slots below `high`, a stack: the last freed is reused first. */
  private readonly free: number[] = [];
  /** Bumped whenever a slot is freed: lookups cached before then may be stale. */
  generation = 0;

  /** The distinct ACL lists, each once; nodes hold an index. Never shrinks. */
  readonly acls: (readonly ACL[])[] = [];
  private readonly aclIndex = new Map<string, number>();

  inUse(slot: number): boolean {
    return slot >= 0 && slot < this.high && this.parent[slot]! !== freeSlot;
  }

  /** The slot the next `take` returns, without taking it. */
  nextSlot(): number {
    return this.free.length > 0 ? this.free[this.free.length - 1]! : this.high;
  }

  /** Takes the slot nextSlot() named; the caller fills every field. */
  take(): number {
    const slot = this.free.length > 0 ? this.free.pop()! : this.high++;
    if (slot >= this.capacity) this.grow(slot + 1);
    if (slot >= this.data.length) this.extendArrays();
    this.size++;
    return slot;
  }

  /** Takes a specific slot (a snapshot being loaded names them). */
  takeExact(slot: number): void {
    invariant(!this.inUse(slot), `slot ${slot} is in use`);
    if (slot >= this.capacity) this.grow(slot + 1);
    if (slot >= this.high) this.high = slot + 1;
    if (slot >= this.data.length) this.extendArrays();
    this.size++;
  }

  /** Keeps the plain arrays as long as `high` and without holes (holey arrays are slower). */
  private extendArrays(): void {
    while (this.data.length < this.high) {
      this.data.push(null);
      this.names.push('');
      this.children.push(null);
    }
  }

  /** Makes the free list exactly the unused slots below `high` (after takeExact calls). */
  rebuildFreeList(): void {
    this.free.length = 0;
    for (let slot = this.high - 1; slot >= 0; slot--) if (this.parent[slot]! === freeSlot) this.free.push(slot);
  }

  /** Frees a slot; if `revive` is to undo this, it must be the next slot operation. */
  release(slot: number): void {
    this.parent[slot] = freeSlot;
    this.data[slot] = null;
    this.names[slot] = '';
    this.children[slot] = null;
    this.free.push(slot);
    this.size--;
    this.generation++;
  }

  /** Undoes the last release (multi rollback runs its undo log in reverse). */
  revive(slot: number): void {
    invariant(this.free[this.free.length - 1] === slot, `slot ${slot} was not the last freed`);
    this.free.pop();
    this.size++;
  }

  /** Undoes the last take. */
  untake(slot: number): void {
    this.parent[slot] = freeSlot;
    this.data[slot] = null;
    this.names[slot] = '';
    this.children[slot] = null;
    this.free.push(slot);
    this.size--;
    this.generation++;
  }

  private grow(needed: number): void {
    let capacity = this.capacity;
    while (capacity < needed) capacity = Math.ceil(capacity * 1.5);
    for (const column of [this.czxid, this.mzxid, this.pzxid, this.owner]) column.grow(capacity);
    this.ctime = growFloat64(this.ctime, capacity);
    this.mtime = growFloat64(this.mtime, capacity);
    this.version = growInt32(this.version, capacity);
    this.cversion = growInt32(this.cversion, capacity);
    this.aversion = growInt32(this.aversion, capacity);
    this.acl = growInt32(this.acl, capacity);
    const parent = growInt32(this.parent, capacity);
    parent.fill(freeSlot, this.capacity);
    this.parent = parent;
    this.capacity = capacity;
  }

  /** The index of an ACL list, adding it once. */
  internAcl(acl: readonly ACL[]): number {
    const key = acl.map((a) => `${a.perms},${a.id.scheme},${a.id.id}`).join(';');
    let index = this.aclIndex.get(key);
    if (index === undefined) {
      index = this.acls.length;
      this.acls.push(Object.freeze(acl.map((a) => Object.freeze({ perms: a.perms, id: Object.freeze({ ...a.id }) }))));
      this.aclIndex.set(key, index);
    }
    return index;
  }

  /** Copies a slot's fields into `into` (the slot must be in use). */
  read(slot: number, into: NodeImage): NodeImage {
    const i = slot * 2;
    into.slot = slot;
    into.parent = this.parent[slot]!;
    into.name = this.names[slot]!;
    into.data = this.data[slot]!;
    into.acl = this.acl[slot]!;
    into.czxidLo = this.czxid.words[i]!;
    into.czxidHi = this.czxid.words[i + 1]!;
    into.mzxidLo = this.mzxid.words[i]!;
    into.mzxidHi = this.mzxid.words[i + 1]!;
    into.pzxidLo = this.pzxid.words[i]!;
    into.pzxidHi = this.pzxid.words[i + 1]!;
    into.ctime = this.ctime[slot]!;
    into.mtime = this.mtime[slot]!;
    into.version = this.version[slot]!;
    into.cversion = this.cversion[slot]!;
    into.aversion = this.aversion[slot]!;
    into.ownerLo = this.owner.words[i]!;
    into.ownerHi = this.owner.words[i + 1]!;
    return into;
  }

  /** Sets every field of `image.slot` from the image (children maps are not touched). */
  write(image: NodeImage): void {
    const slot = image.slot;
    const i = slot * 2;
    this.parent[slot] = image.parent;
    this.names[slot] = image.name;
    this.data[slot] = image.data;
    this.acl[slot] = image.acl;
    this.czxid.words[i] = image.czxidLo;
    this.czxid.words[i + 1] = image.czxidHi;
    this.mzxid.words[i] = image.mzxidLo;
    this.mzxid.words[i + 1] = image.mzxidHi;
    this.pzxid.words[i] = image.pzxidLo;
    this.pzxid.words[i + 1] = image.pzxidHi;
    this.ctime[slot] = image.ctime;
    this.mtime[slot] = image.mtime;
    this.version[slot] = image.version;
    this.cversion[slot] = image.cversion;
    this.aversion[slot] = image.aversion;
    this.owner.words[i] = image.ownerLo;
    this.owner.words[i + 1] = image.ownerHi;
  }

  /** The slot's children by name (created on first use). */
  childMap(slot: number): Map<string, number> {
    let map = this.children[slot];
    if (map === null || map === undefined) this.children[slot] = map = new Map();
    return map;
  }

  childCount(slot: number): number {
    const map = this.children[slot];
    return map === null || map === undefined ? 0 : map.size;
  }

  /** The absolute path of a slot in use. */
  pathOf(slot: number): string {
    if (slot === rootSlot) return '/';
    let path = '';
    for (let s = slot; s !== rootSlot && s !== noParent; s = this.parent[s]!) path = '/' + this.names[s]! + path;
    return path;
  }
}
