import { invariant } from '../errors.js';
import type { ACL } from '../protocol/records.js';

/**
 * The znodes of a tree, column by column. Each znode has a slot number; its fields live in
 * typed arrays indexed by slot, and its name and data in an arena of large buffers: outside
 * the JS heap, with no object or string per znode for the garbage collector to trace or
 * copy. Children are a list per parent through the columns (first child, next and previous
 * sibling) plus one hash index from (parent slot, name) to slot, so a path is found by
 * walking from the root and there is no map of every path.
 *
 * Measured with 1M znodes of 128 bytes (1000 parents x 1000 children): see the README's
 * performance section. A snapshot is a dump of the used slots, so loading one is mostly
 * copying, and its node blocks become arena space as they are.
 *
 * Zxids are 64-bit: BigInt64Array columns, also viewed as int32 pairs (little
 * endian: low word first) so snapshots encode them without BigInt arithmetic.
 */
/** Buffer's unchecked codec methods (Node has them on every Buffer; @types/node leaves them out). */
interface FastBuffer extends Buffer {
  utf8Write(string: string, offset: number, length: number): number;
  utf8Slice(start: number, end: number): string;
}

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

  /** True when the value holds exactly `length` bytes of `bytes` from `start`. */
  equals(ref: number, bytes: Uint8Array, start: number, length: number): boolean {
    const chunk = this.locate(ref);
    const offset = this.located;
    for (let i = 0; i < length; i++) if (chunk[offset + i] !== bytes[start + i]) return false;
    return true;
  }

  /** Copies the value into `target` at `at`. */
  copyOut(ref: number, length: number, target: Buffer, at: number): void {
    const chunk = this.locate(ref);
    const offset = this.located;
    if (length <= 64) {
      for (let i = 0; i < length; i++) target[at + i] = chunk[offset + i]!;
    } else {
      chunk.copy(target, at, offset, offset + length);
    }
  }

  /** The length in UTF-16 units of the value read as UTF-8 (without decoding it). */
  utf16Length(ref: number, length: number): number {
    const chunk = this.locate(ref);
    const offset = this.located;
    let units = 0;
    for (let i = offset; i < offset + length; i++) {
      const b = chunk[i]!;
      if ((b & 0xc0) !== 0x80) units += b >= 0xf0 ? 2 : 1;
    }
    return units;
  }

  /** The buffer holding a ref; its offset there is left in `located`. */
  private locate(ref: number): Buffer {
    if (ref < 0) {
      this.located = 0;
      return this.large.get(-ref)!;
    }
    const offset = ref % chunkBytes;
    this.located = offset;
    return this.chunks[(ref - offset) / chunkBytes]!;
  }

  private located = 0;

  /** The value decoded as UTF-8. */
  text(ref: number, length: number): string {
    if (ref < 0) return (this.large.get(-ref)! as FastBuffer).utf8Slice(0, length);
    const offset = ref % chunkBytes;
    return (this.chunks[(ref - offset) / chunkBytes]! as FastBuffer).utf8Slice(offset, offset + length);
  }

  /** Copies `length` bytes of `source` from `start` into the value. */
  fill(ref: number, source: Uint8Array, start: number, length: number): void {
    if (ref < 0) {
      this.large.get(-ref)!.set(source.subarray(start, start + length));
      return;
    }
    const offset = ref % chunkBytes;
    const chunk = this.chunks[(ref - offset) / chunkBytes]!;
    if (start === 0 && length === source.length) {
      // TypedArray#set is a memcpy.
      chunk.set(source, offset);
    } else if (length <= 64) {
      // A name out of a scratch buffer: a view for set would cost more than the copy.
      for (let i = 0; i < length; i++) chunk[offset + i] = source[start + i]!;
    } else {
      chunk.set(source.subarray(start, start + length), offset);
    }
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
  /** UTF-8 bytes: a copy (empty for a live image: see `live`). */
  name: Uint8Array;
  /** Null is distinct from empty. A copy (null for a live image: see `live`). */
  data: Uint8Array | null;
  /**
   * A live image (readLive) leaves name and data in the store: copy them out with
   * copyName / copyData. A snapshot walks a million nodes this way without making two
   * views of the arena for each.
   */
  live: boolean;
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
    slot: 0, parent: 0, name: new Uint8Array(0), data: null, live: false, acl: 0, czxidHi: 0, czxidLo: 0, mzxidHi: 0, mzxidLo: 0, pzxidHi: 0, pzxidLo: 0,
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

/** FNV-1a over a name's UTF-8 bytes. */
const fnvOffset = 0x811c9dc5 | 0;
const fnvPrime = 0x01000193;

/** The hash the store keeps for a name of these bytes (for findChildBytes, addChildBytes). */
export function hashOfName(bytes: Uint8Array, start: number, end: number): number {
  return hashBytes(bytes, start, end);
}

function hashBytes(bytes: Uint8Array, start: number, end: number): number {
  let h = fnvOffset;
  for (let i = start; i < end; i++) h = Math.imul(h ^ bytes[i]!, fnvPrime);
  return h;
}

/** The child index's key for a name under a parent: both mixed, so siblings spread out. */
function keyHash(parent: number, nameHash: number): number {
  let h = Math.imul(parent ^ 0x5bd1e995, 0x9e3779b1) ^ nameHash;
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  return h;
}

/** The child index starts with this many buckets (a power of two). */
const bucketsMin = 1024;
const none = -1;

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
  /** Each node's name: UTF-8 bytes in the arena (the root's is empty), and their hash. */
  nameRef = new Float64Array(capacityMin);
  nameLength = new Int32Array(capacityMin);
  nameHash = new Int32Array(capacityMin);
  /**
   * Children, as a list per parent in creation order: the first child, each child's next
   * sibling, and its previous one (the first child's previous is the last child), all -1
   * for none.
   */
  firstChild = new Int32Array(capacityMin).fill(none);
  nextSibling = new Int32Array(capacityMin);
  prevSibling = new Int32Array(capacityMin);
  numChildren = new Int32Array(capacityMin);
  /** The next slot in the same child-index bucket. */
  private hashNext = new Int32Array(capacityMin);
  readonly arena = new DataArena();
  /** Free slots below `high`, a stack: the last freed is reused first. */
  private readonly free: number[] = [];
  /** Bumped whenever a slot is freed: lookups cached before then may be stale. */
  generation = 0;

  /**
   * The child index, (parent, name) to slot, by linear hashing: chains through hashNext, and
   * the table grows a bucket at a time (each insert splits at most one), so no insert ever
   * rehashes the whole index. Buckets in use: roundBuckets + splitNext.
   */
  private buckets = new Int32Array(bucketsMin * 2).fill(none);
  private roundBuckets = bucketsMin;
  private splitNext = 0;
  private indexed = 0;

  /** A name being looked up, as UTF-8 (see encodeName). */
  private scratch = Buffer.allocUnsafe(256);
  private scratchLength = 0;
  private scratchHash = 0;
  /** The string last encoded into scratch. */
  private scratchName: string | null = null;

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
    this.firstChild[slot] = none;
    this.numChildren[slot] = 0;
    this.size++;
    return slot;
  }

  /** Takes a specific slot (a snapshot being loaded names them; children may be linked already). */
  takeExact(slot: number): void {
    invariant(!this.inUse(slot), () => `slot ${slot} is in use`);
    if (slot >= this.capacity) this.grow(slot + 1);
    if (slot >= this.high) this.high = slot + 1;
    this.size++;
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

  /** Frees a slot (already unlinked from its parent, without children); `revive` undoes it. */
  release(slot: number): void {
    this.setData(slot, null);
    this.setName(slot, null, 0, 0);
    this.parent[slot] = freeSlot;
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
    this.nameRef = grown(this.nameRef, capacity, float64, resizable);
    this.nameLength = grown(this.nameLength, capacity, int32, resizable);
    this.nameHash = grown(this.nameHash, capacity, int32, resizable);
    this.firstChild = grown(this.firstChild, capacity, int32, resizable);
    this.firstChild.fill(none, this.capacity);
    this.nextSibling = grown(this.nextSibling, capacity, int32, resizable);
    this.prevSibling = grown(this.prevSibling, capacity, int32, resizable);
    this.numChildren = grown(this.numChildren, capacity, int32, resizable);
    this.hashNext = grown(this.hashNext, capacity, int32, resizable);
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

  /** Copies the slot's name into `target` at `at`; returns its length. */
  copyName(slot: number, target: Buffer, at: number): number {
    const length = this.nameLength[slot]!;
    if (length > 0) this.arena.copyOut(this.nameRef[slot]!, length, target, at);
    return length;
  }

  /** Copies the slot's data into `target` at `at` (nothing for null or empty data). */
  copyData(slot: number, target: Buffer, at: number): void {
    const length = this.dataLength[slot]!;
    if (length > 0) this.arena.copyOut(this.dataRef[slot]!, length, target, at);
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
    this.dataRef[slot] = this.adoptedOrCopied(source, adoptedRef, start, length);
  }

  private adoptedOrCopied(source: Buffer, adoptedRef: number, start: number, length: number): number {
    if (DataArena.canAdopt(start, length)) return adoptedRef + start;
    const ref = this.arena.alloc(length);
    this.arena.fill(ref, source, start, length);
    return ref;
  }

  // ---- names and children -------------------------------------------------------------

  /** The slot's name (the root's is ''). */
  nameOf(slot: number): string {
    const length = this.nameLength[slot]!;
    return length === 0 ? '' : this.arena.text(this.nameRef[slot]!, length);
  }

  /** The name's length in UTF-16 units. */
  nameUnits(slot: number): number {
    const length = this.nameLength[slot]!;
    return length === 0 || !this.nonAsciiNames ? length : this.arena.utf16Length(this.nameRef[slot]!, length);
  }

  /**
   * Set once any name has a byte above 0x7f; until then a name's UTF-16 length is its byte
   * length (nameUnits is asked for every node when a snapshot has been loaded).
   */
  private nonAsciiNames = false;

  /** The name's UTF-8 bytes, as a view valid until the slot is freed. */
  nameView(slot: number): Buffer {
    const length = this.nameLength[slot]!;
    return length === 0 ? Buffer.alloc(0) : this.arena.view(this.nameRef[slot]!, length);
  }

  /** Replaces a slot's name with `length` bytes of `bytes` from `start` (null: none); `hash` if known. */
  private setName(slot: number, bytes: Uint8Array | null, start: number, length: number, hash?: number): void {
    const old = this.nameLength[slot]!;
    if (old > 0) this.arena.release(this.nameRef[slot]!, old);
    this.nameLength[slot] = length;
    this.nameHash[slot] = bytes === null ? 0 : hash ?? hashBytes(bytes, start, start + length);
    if (hash === undefined && bytes !== null) {
      for (let i = start; i < start + length; i++) if (bytes[i]! >= 0x80) this.nonAsciiNames = true;
    }
    if (length === 0) return;
    const ref = this.arena.alloc(length);
    this.arena.fill(ref, bytes!, start, length);
    this.nameRef[slot] = ref;
  }

  /** Sets a new slot's name to bytes of a buffer adopted at `adoptedRef`, as loadData does. */
  loadName(slot: number, source: Buffer, adoptedRef: number, start: number, length: number): void {
    this.nameLength[slot] = length;
    let h = fnvOffset;
    let high = 0;
    for (let i = start; i < start + length; i++) {
      const b = source[i]!;
      high |= b;
      h = Math.imul(h ^ b, fnvPrime);
    }
    this.nameHash[slot] = h;
    if (high >= 0x80) this.nonAsciiNames = true;
    if (length > 0) this.nameRef[slot] = this.adoptedOrCopied(source, adoptedRef, start, length);
  }

  /** Encodes `text` from `start` to `end` as UTF-8 into scratch, with its hash. */
  private encodeName(text: string, start: number, end: number): void {
    const count = end - start;
    if (this.scratch.length < count * 3) this.scratch = Buffer.allocUnsafe(count * 3);
    const buf = this.scratch;
    let h = fnvOffset;
    let i = 0;
    for (; i < count; i++) {
      const c = text.charCodeAt(start + i);
      if (c >= 128) break;
      buf[i] = c;
      h = Math.imul(h ^ c, fnvPrime);
    }
    if (i < count) {
      // Not ASCII: let the UTF-8 encoder do it.
      this.nonAsciiNames = true;
      const length = (buf as FastBuffer).utf8Write(text.slice(start, end), 0, buf.length);
      this.scratchLength = length;
      this.scratchHash = hashBytes(buf, 0, length);
      return;
    }
    this.scratchLength = count;
    this.scratchHash = h;
  }

  /** The child of `parent` whose name is `length` bytes of `bytes` from `start` with hash `nameHash`, or -1. */
  findChildBytes(parent: number, bytes: Uint8Array, start: number, length: number, nameHash: number): number {
    const nameHashes = this.nameHash;
    const parents = this.parent;
    const lengths = this.nameLength;
    const next = this.hashNext;
    for (let s = this.buckets[this.bucketOf(keyHash(parent, nameHash))]!; s !== none; s = next[s]!) {
      if (nameHashes[s] === nameHash && parents[s] === parent && lengths[s] === length && this.arena.equals(this.nameRef[s]!, bytes, start, length)) return s;
    }
    return none;
  }

  /** The child of `parent` named `name`, or -1. */
  findChild(parent: number, name: string): number {
    this.encodeName(name, 0, name.length);
    this.scratchName = name;
    return this.findChildBytes(parent, this.scratch, 0, this.scratchLength, this.scratchHash);
  }

  /** The slot at an absolute path, or -1. Any string is accepted; invalid paths match nothing. */
  lookup(path: string): number {
    if (path === '/') return rootSlot;
    if (path.charCodeAt(0) !== 47) return none;
    let slot = rootSlot;
    let start = 1;
    for (;;) {
      let end = path.indexOf('/', start);
      const last = end < 0;
      if (last) end = path.length;
      this.encodeName(path, start, end);
      slot = this.findChildBytes(slot, this.scratch, 0, this.scratchLength, this.scratchHash);
      if (slot < 0 || last) return slot;
      start = end + 1;
    }
  }

  /**
   * The slot at the absolute path in bytes[start, end) (UTF-8, as a txn record holds it), or
   * -1. The path must be valid (replay checks it first).
   */
  lookupBytes(bytes: Uint8Array, start: number, end: number): number {
    if (end - start === 1) return bytes[start] === 47 ? rootSlot : none;
    let slot = rootSlot;
    let from = start + 1;
    for (let i = from; i <= end; i++) {
      if (i < end && bytes[i] !== 47) continue;
      slot = this.findChildBytes(slot, bytes, from, i - from, hashBytes(bytes, from, i));
      if (slot < 0) return none;
      from = i + 1;
    }
    return slot;
  }

  /** addChild with the name as bytes[start, start + length) and its hash (hashOfName). */
  addChildBytes(parent: number, slot: number, bytes: Uint8Array, start: number, length: number, nameHash: number): void {
    this.parent[slot] = parent;
    this.setName(slot, bytes, start, length, nameHash);
    this.linkChild(slot);
  }

  /** Names a new slot and makes it the last child of `parent`. */
  addChild(parent: number, slot: number, name: string): void {
    if (this.scratchName !== name) {
      this.encodeName(name, 0, name.length);
      this.scratchName = name;
    }
    this.parent[slot] = parent;
    this.setName(slot, this.scratch, 0, this.scratchLength, this.scratchHash);
    this.linkChild(slot);
  }

  /**
   * Makes a slot, whose parent and name are set, the last child of its parent. A loader
   * passes `indexed` false for every node and then builds the index at once (indexAll).
   */
  linkChild(slot: number, indexed = true): void {
    const parent = this.parent[slot]!;
    const first = this.firstChild[parent]!;
    if (first === none) {
      this.firstChild[parent] = slot;
      this.prevSibling[slot] = slot;
    } else {
      const last = this.prevSibling[first]!;
      this.nextSibling[last] = slot;
      this.prevSibling[slot] = last;
      this.prevSibling[first] = slot;
    }
    this.nextSibling[slot] = none;
    this.numChildren[parent]!++;
    if (indexed) this.indexInsert(slot);
  }

  /**
   * Builds the child index from every slot in use but the root, sized for them (a loader
   * links its nodes unindexed: one pass in slot order here costs a fraction of inserting them
   * one by one, splitting buckets as the index grows). Returns a slot whose (parent, name) an
   * earlier slot has too, or -1.
   */
  indexAll(): number {
    let round = bucketsMin;
    while (round < this.size) round *= 2;
    const buckets = new Int32Array(round * 2).fill(none);
    const mask = round - 1;
    const { parent: parents, nameHash: nameHashes, hashNext: next } = this;
    let indexed = 0;
    for (let slot = 0; slot < this.high; slot++) {
      const parent = parents[slot]!;
      if (parent < 0) continue;
      const nameHash = nameHashes[slot]!;
      const bucket = keyHash(parent, nameHash) & mask;
      for (let s = buckets[bucket]!; s !== none; s = next[s]!) {
        if (nameHashes[s] === nameHash && parents[s] === parent && this.nameView(s).equals(this.nameView(slot))) return slot;
      }
      next[slot] = buckets[bucket]!;
      buckets[bucket] = slot;
      indexed++;
    }
    this.buckets = buckets;
    this.roundBuckets = round;
    this.splitNext = 0;
    this.indexed = indexed;
    return none;
  }

  /** Takes a slot out of its parent's children (its parent and name stay set). */
  unlinkChild(slot: number): void {
    const parent = this.parent[slot]!;
    const first = this.firstChild[parent]!;
    const prev = this.prevSibling[slot]!;
    const next = this.nextSibling[slot]!;
    if (slot === first) {
      this.firstChild[parent] = next;
      if (next !== none) this.prevSibling[next] = prev;
    } else {
      this.nextSibling[prev] = next;
      if (next !== none) this.prevSibling[next] = prev;
      else this.prevSibling[first] = prev;
    }
    this.numChildren[parent]!--;
    this.indexRemove(slot);
  }

  childCount(slot: number): number {
    return this.numChildren[slot]!;
  }

  /** The children's names, in list order. */
  childNames(slot: number): string[] {
    const names: string[] = [];
    for (let c = this.firstChild[slot]!; c !== none; c = this.nextSibling[c]!) names.push(this.nameOf(c));
    return names;
  }

  /** The absolute path of a slot in use. */
  pathOf(slot: number): string {
    if (slot === rootSlot) return '/';
    let path = '';
    for (let s = slot; s !== rootSlot && s !== noParent; s = this.parent[s]!) path = '/' + this.nameOf(s) + path;
    return path;
  }

  private bucketOf(key: number): number {
    const low = key & (this.roundBuckets - 1);
    return low < this.splitNext ? key & (this.roundBuckets * 2 - 1) : low;
  }

  private indexInsert(slot: number): void {
    const bucket = this.bucketOf(keyHash(this.parent[slot]!, this.nameHash[slot]!));
    this.hashNext[slot] = this.buckets[bucket]!;
    this.buckets[bucket] = slot;
    if (++this.indexed > this.roundBuckets + this.splitNext) this.splitBucket();
  }

  private indexRemove(slot: number): void {
    const bucket = this.bucketOf(keyHash(this.parent[slot]!, this.nameHash[slot]!));
    const next = this.hashNext;
    let s = this.buckets[bucket]!;
    if (s === slot) this.buckets[bucket] = next[slot]!;
    else {
      while (s !== none && next[s] !== slot) s = next[s]!;
      invariant(s !== none, () => `slot ${slot} is not in the child index`);
      next[s] = next[slot]!;
    }
    this.indexed--;
  }

  /** Splits bucket splitNext between itself and its image in the next round's table. */
  private splitBucket(): void {
    const round = this.roundBuckets;
    const from = this.splitNext;
    const next = this.hashNext;
    let s = this.buckets[from]!;
    let low = none;
    let high = none;
    while (s !== none) {
      const after = next[s]!;
      if ((keyHash(this.parent[s]!, this.nameHash[s]!) & round) === 0) {
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
    const buckets = new Int32Array(round * 4).fill(none);
    buckets.set(this.buckets);
    this.buckets = buckets;
  }

  // ---- whole-node reads and writes -----------------------------------------------------

  /** Copies a slot's fields, name and data included, into `into` (the slot must be in use). */
  read(slot: number, into: NodeImage): NodeImage {
    this.readLive(slot, into);
    into.name = Buffer.from(this.nameView(slot));
    into.data = this.dataCopy(slot);
    into.live = false;
    return into;
  }

  /** read without the name and data (a live image; see NodeImage.live). */
  readLive(slot: number, into: NodeImage): NodeImage {
    const i = slot * 2;
    into.slot = slot;
    into.live = true;
    into.parent = this.parent[slot]!;
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

  /** Sets every field of `image.slot` from the image; it is not linked to its parent here. */
  write(image: NodeImage): void {
    const slot = image.slot;
    const i = slot * 2;
    this.parent[slot] = image.parent;
    this.setName(slot, image.name, 0, image.name.length);
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
}
