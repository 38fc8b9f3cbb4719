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
 * Zxids are 64-bit: BigInt64Array columns, also viewed as int32 pairs (little
 * endian: low word first) so snapshots encode them without BigInt arithmetic.
 */

/** Arena chunks: values are packed into these, rounded up to 16 bytes. */
const chunkBytes = 4 * 1024 * 1024;
const classBytesLog2 = 4;
/** Values above this get a Buffer of their own instead of arena space. */
const arenaValueBytesMax = 16 * 1024;

/**
 * Znode data outside the JS heap: values packed into 4 MiB chunks, each rounded up to a
 * multiple of 16 bytes, with a free list per rounded size; large values get a Buffer of
 * their own. A value is named by a ref (chunk * chunkBytes + offset, or -id for a large one)
 * and its length. A million 128-byte values cost 128 MB here and nothing for the garbage
 * collector to trace; as strings they cost 144 MB of heap, 1M objects to trace, and the
 * copying of each one out of the young generation.
 */
export class DataArena {
  private readonly chunks: Buffer[] = [];
  /** Chunks taken over from a loaded snapshot: their values are not padded to 16 bytes. */
  private readonly adopted: boolean[] = [];
  private bumpChunk = -1;
  private bumpOffset = chunkBytes;
  private readonly free: number[][] = [];
  private readonly large = new Map<number, Buffer>();
  private nextLarge = 1;

  /** Space for `length` bytes (more than 0); the bytes are not initialised. */
  alloc(length: number): number {
    if (length > arenaValueBytesMax) {
      const id = this.nextLarge++;
      this.large.set(id, Buffer.allocUnsafeSlow(length));
      return -id;
    }
    const sizeClass = (length + (1 << classBytesLog2) - 1) >>> classBytesLog2;
    const list = this.free[sizeClass];
    if (list !== undefined && list.length > 0) return list.pop()!;
    const size = sizeClass << classBytesLog2;
    if (this.bumpOffset + size > chunkBytes) {
      this.bumpChunk = this.chunks.length;
      this.chunks.push(Buffer.allocUnsafeSlow(chunkBytes));
      this.adopted.push(false);
      this.bumpOffset = 0;
    }
    const ref = this.bumpChunk * chunkBytes + this.bumpOffset;
    this.bumpOffset += size;
    return ref;
  }

  /**
   * Takes `bytes` (which nobody else may write to) as a chunk, so that values already in it
   * need not be copied: returns the ref of its first byte. Only the first chunkBytes count.
   */
  adopt(bytes: Buffer): number {
    this.chunks.push(bytes.length <= chunkBytes ? bytes : bytes.subarray(0, chunkBytes));
    this.adopted.push(true);
    return (this.chunks.length - 1) * chunkBytes;
  }

  /** True when a value of this length at `offset` of an adopted buffer can stay there. */
  static canAdopt(offset: number, length: number): boolean {
    return offset + length <= chunkBytes && length <= arenaValueBytesMax;
  }

  release(ref: number, length: number): void {
    if (ref < 0) {
      this.large.delete(-ref);
      return;
    }
    const offset = ref % chunkBytes;
    // The space a value had: padded to 16 bytes, except in an adopted chunk.
    const capacity = this.adopted[(ref - offset) / chunkBytes]! ? length : ((length + (1 << classBytesLog2) - 1) >>> classBytesLog2) << classBytesLog2;
    const sizeClass = capacity >>> classBytesLog2;
    if (sizeClass > 0) (this.free[sizeClass] ??= []).push(ref);
  }

  /** The bytes, as a view valid until the value is released. */
  view(ref: number, length: number): Buffer {
    if (ref < 0) return this.large.get(-ref)!.subarray(0, length);
    const offset = ref % chunkBytes;
    return this.chunks[(ref - offset) / chunkBytes]!.subarray(offset, offset + length);
  }

  /** Copies `length` bytes of `source` from `start` into the value. */
  fill(ref: number, source: Uint8Array, start: number, length: number): void {
    if (ref < 0) {
      this.large.get(-ref)!.set(source.subarray(start, start + length));
      return;
    }
    const offset = ref % chunkBytes;
    // TypedArray#set is a memcpy; making a view for it costs more than copying 128 bytes.
    this.chunks[(ref - offset) / chunkBytes]!.set(start === 0 && length === source.length ? source : source.subarray(start, start + length), offset);
  }
}

function sameAcl(a: readonly ACL[], b: readonly ACL[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.perms !== y.perms || x.id.scheme !== y.id.scheme || x.id.id !== y.id.id) return false;
  }
  return true;
}

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
  /** Null is distinct from empty. A view into the arena for a live read; a copy otherwise. */
  data: Uint8Array | null;
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
/**
 * Column storage. A tree growing past resizableFromSlots moves its columns to resizable
 * ArrayBuffers that reserve room for slotsReserved and grow in place: growing a million-slot
 * tree by copying stalled the event loop ~30 ms and left the old columns (~50 MB) as garbage
 * until the next full GC. Element access on them is 10-25% slower, so a loaded snapshot,
 * whose size is known, gets plain buffers; small trees (tests hold thousands) too.
 */
const resizableFromSlots = 64 * 1024;
const slotsReserved = 1 << 26;

interface ResizableBuffer extends ArrayBuffer {
  readonly resizable: boolean;
  readonly maxByteLength: number;
  resize(byteLength: number): void;
}

type Column = Int32Array<ArrayBuffer> | Float64Array<ArrayBuffer> | BigInt64Array<ArrayBuffer>;

/** The column with room for `capacity` elements: the same object when it grew in place. */
function grown<T extends Column>(old: T, capacity: number, make: (buffer: ArrayBuffer) => T, resizable: boolean): T {
  const bytes = capacity * old.BYTES_PER_ELEMENT;
  const buffer = old.buffer as ResizableBuffer;
  if (buffer.resizable && bytes <= buffer.maxByteLength) {
    buffer.resize(bytes);
    return old;
  }
  const next = make(newBuffer(bytes, resizable && capacity >= resizableFromSlots, old.BYTES_PER_ELEMENT));
  (next as unknown as { set(a: T): void }).set(old);
  return next;
}

function newBuffer(bytes: number, resizable: boolean, elementBytes: number): ArrayBuffer {
  if (!resizable) return new ArrayBuffer(bytes);
  const ArrayBufferWithMax = ArrayBuffer as unknown as new (length: number, options: { maxByteLength: number }) => ArrayBuffer;
  try {
    return new ArrayBufferWithMax(bytes, { maxByteLength: Math.max(bytes, slotsReserved * elementBytes) });
  } catch {
    // No address space to reserve (a ulimit -v): a plain buffer, copied on growth.
    return new ArrayBuffer(bytes);
  }
}

/** A 64-bit column and its int32 view (word 2i is the low half of entry i, 2i+1 the high). */
class LongColumn {
  values: BigInt64Array<ArrayBuffer>;
  words: Int32Array<ArrayBuffer>;
  constructor(capacity: number) {
    this.values = new BigInt64Array(capacity);
    this.words = new Int32Array(this.values.buffer);
  }
  grow(capacity: number, resizable: boolean): void {
    const values = grown(this.values, capacity, (b) => new BigInt64Array(b), resizable);
    if (values === this.values) return;
    this.values = values;
    this.words = new Int32Array(values.buffer);
  }
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
  /** ephemeralOwner where it is not 0 (most znodes have none: a map, not a column). */
  private readonly owners = new Map<number, bigint>();
  ctime = new Float64Array(capacityMin);
  mtime = new Float64Array(capacityMin);
  version = new Int32Array(capacityMin);
  cversion = new Int32Array(capacityMin);
  aversion = new Int32Array(capacityMin);
  acl = new Int32Array(capacityMin);
  parent = new Int32Array(capacityMin).fill(freeSlot);
  /** Where each node's data is in the arena, and its length (-1: null). */
  dataRef = new Float64Array(capacityMin);
  dataLength = new Int32Array(capacityMin).fill(-1);
  readonly arena = new DataArena();
  readonly names: string[] = [];
  /** Child maps (name to slot) of the slots that have had children: only parents pay for one. */
  readonly children = new Map<number, Map<string, number>>();
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
    if (slot >= this.names.length) this.extendArrays();
    this.size++;
    return slot;
  }

  /** Takes a specific slot (a snapshot being loaded names them). */
  takeExact(slot: number): void {
    invariant(!this.inUse(slot), () => `slot ${slot} is in use`);
    if (slot >= this.capacity) this.grow(slot + 1);
    if (slot >= this.high) this.high = slot + 1;
    if (slot >= this.names.length) this.extendArrays();
    this.size++;
  }

  /** Keeps the plain arrays as long as `high` and without holes (holey arrays are slower). */
  private extendArrays(): void {
    while (this.names.length < this.high) {
      this.names.push('');
    }
  }

  /** Makes room for slots below `slots` at once (a loader knows how many are coming). */
  reserve(slots: number): void {
    // Room for the log's creates to come: pages not yet written cost address space, not
    // memory, and growing a loaded tree copies its columns and leaves the old ones as garbage.
    if (slots > this.capacity) this.grow(slots * 2, true);
  }

  /** Makes the free list exactly the unused slots below `high` (after takeExact calls). */
  rebuildFreeList(): void {
    this.free.length = 0;
    for (let slot = this.high - 1; slot >= 0; slot--) if (this.parent[slot]! === freeSlot) this.free.push(slot);
  }

  /** Frees a slot; if `revive` is to undo this, it must be the next slot operation. */
  release(slot: number): void {
    this.setData(slot, null);
    this.parent[slot] = freeSlot;
    this.names[slot] = '';
    this.children.delete(slot);
    this.owners.delete(slot);
    this.free.push(slot);
    this.size--;
    this.generation++;
  }

  /** Undoes the last release (multi rollback runs its undo log in reverse). */
  revive(slot: number): void {
    invariant(this.free[this.free.length - 1] === slot, () => `slot ${slot} was not the last freed`);
    this.free.pop();
    this.size++;
  }

  /** Undoes the last take (the same as releasing it). */
  untake(slot: number): void {
    this.release(slot);
  }

  /** Room for `needed` slots; `exact`: a loader's known size, in plain buffers (faster access). */
  private grow(needed: number, exact = false): void {
    let capacity = this.capacity;
    while (capacity < needed) capacity = Math.ceil(capacity * 1.5);
    const resizable = !exact;
    for (const column of [this.czxid, this.mzxid, this.pzxid]) column.grow(capacity, resizable);
    const int32 = (b: ArrayBuffer) => new Int32Array(b);
    const float64 = (b: ArrayBuffer) => new Float64Array(b);
    this.ctime = grown(this.ctime, capacity, float64, resizable);
    this.mtime = grown(this.mtime, capacity, float64, resizable);
    this.version = grown(this.version, capacity, int32, resizable);
    this.cversion = grown(this.cversion, capacity, int32, resizable);
    this.aversion = grown(this.aversion, capacity, int32, resizable);
    this.acl = grown(this.acl, capacity, int32, resizable);
    this.dataRef = grown(this.dataRef, capacity, float64, resizable);
    this.dataLength = grown(this.dataLength, capacity, int32, resizable);
    this.dataLength.fill(-1, this.capacity);
    this.parent = grown(this.parent, capacity, int32, resizable);
    this.parent.fill(freeSlot, this.capacity);
    this.capacity = capacity;
  }

  /** The index of an ACL list, adding it once. */
  internAcl(acl: readonly ACL[]): number {
    // Most creates carry the same ACL as the previous one (a fresh array from the wire).
    if (this.lastAcl >= 0 && sameAcl(acl, this.acls[this.lastAcl]!)) return this.lastAcl;
    this.lastAcl = this.internAclByKey(acl);
    return this.lastAcl;
  }

  private lastAcl = -1;

  private internAclByKey(acl: readonly ACL[]): number {
    let key = '';
    for (const a of acl) key += `${a.perms},${a.id.scheme},${a.id.id};`;
    let index = this.aclIndex.get(key);
    if (index === undefined) {
      index = this.acls.length;
      this.acls.push(Object.freeze(acl.map((a) => Object.freeze({ perms: a.perms, id: Object.freeze({ ...a.id }) }))));
      this.aclIndex.set(key, index);
    }
    return index;
  }

  /** The data as a view into the arena, valid until the node changes; null for null. */
  dataView(slot: number): Buffer | null {
    const length = this.dataLength[slot]!;
    return length < 0 ? null : length === 0 ? Buffer.alloc(0) : this.arena.view(this.dataRef[slot]!, length);
  }

  /** The data as a Buffer of its own. */
  dataCopy(slot: number): Buffer | null {
    const view = this.dataView(slot);
    return view === null ? null : Buffer.from(view);
  }

  /** Data length, 0 for null. */
  dataBytes(slot: number): number {
    return Math.max(0, this.dataLength[slot]!);
  }

  /** Replaces a slot's data with a copy of `data`. */
  setData(slot: number, data: Uint8Array | null): void {
    const old = this.dataLength[slot]!;
    if (old > 0) this.arena.release(this.dataRef[slot]!, old);
    if (data === null || data.length === 0) {
      this.dataLength[slot] = data === null ? -1 : 0;
      return;
    }
    const ref = this.arena.alloc(data.length);
    this.arena.fill(ref, data, 0, data.length);
    this.dataRef[slot] = ref;
    this.dataLength[slot] = data.length;
  }

  /**
   * Sets a new slot's data to `length` bytes (-1: null) at `start` of a buffer adopted at
   * `adoptedRef` (see DataArena.adopt), copying it out only when it cannot stay there.
   */
  loadData(slot: number, source: Buffer, adoptedRef: number, start: number, length: number): void {
    this.dataLength[slot] = length;
    if (length <= 0) return;
    if (DataArena.canAdopt(start, length)) {
      this.dataRef[slot] = adoptedRef + start;
      return;
    }
    const ref = this.arena.alloc(length);
    this.arena.fill(ref, source, start, length);
    this.dataRef[slot] = ref;
  }

  /**
   * Copies a slot's fields into `into` (the slot must be in use). The data is a view into
   * the arena unless `copyData`.
   */
  read(slot: number, into: NodeImage, copyData = false): NodeImage {
    const i = slot * 2;
    into.slot = slot;
    into.parent = this.parent[slot]!;
    into.name = this.names[slot]!;
    into.data = copyData ? this.dataCopy(slot) : this.dataView(slot);
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
    const owner = this.ownerOf(slot);
    into.ownerLo = owner === 0n ? 0 : Number(BigInt.asIntN(32, owner));
    into.ownerHi = owner === 0n ? 0 : Number(owner >> 32n);
    return into;
  }

  /** Sets every field of `image.slot` from the image (children maps are not touched). */
  write(image: NodeImage): void {
    const slot = image.slot;
    const i = slot * 2;
    this.parent[slot] = image.parent;
    this.names[slot] = image.name;
    this.setData(slot, image.data);
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
    this.setOwnerWords(slot, image.ownerHi, image.ownerLo);
  }

  ownerOf(slot: number): bigint {
    return this.owners.get(slot) ?? 0n;
  }

  /** The slots with an owner, and their owners. */
  ownerEntries(): IterableIterator<[number, bigint]> {
    return this.owners.entries();
  }

  setOwner(slot: number, owner: bigint): void {
    if (owner === 0n) this.owners.delete(slot);
    else this.owners.set(slot, owner);
  }

  /** setOwner from the signed high and low 32-bit words. */
  setOwnerWords(slot: number, hi: number, lo: number): void {
    this.setOwner(slot, hi === 0 && lo === 0 ? 0n : (BigInt(hi) << 32n) | BigInt(lo >>> 0));
  }

  /** The slot's children by name (created on first use). */
  childMap(slot: number): Map<string, number> {
    let map = this.children.get(slot);
    if (map === undefined) this.children.set(slot, (map = new Map()));
    return map;
  }

  childCount(slot: number): number {
    const map = this.children.get(slot);
    return map === undefined ? 0 : map.size;
  }

  /** The absolute path of a slot in use. */
  pathOf(slot: number): string {
    if (slot === rootSlot) return '/';
    let path = '';
    for (let s = slot; s !== rootSlot && s !== noParent; s = this.parent[s]!) path = '/' + this.names[s]! + path;
    return path;
  }
}
