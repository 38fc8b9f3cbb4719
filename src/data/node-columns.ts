/**
 * The znodes' fields, column by column: each znode has a slot number, and each field a typed
 * array indexed by slot, outside the JS heap, with no object per znode for the garbage
 * collector to trace or copy. Names and data live in a DataArena; these columns hold where.
 *
 * Zxids are 64-bit: BigInt64Array columns, also viewed as int32 pairs (little
 * endian: low word first) so snapshots encode them without BigInt arithmetic.
 */

export const rootSlot = 0;
/** The parent column's value for the root. */
export const noParent = -1;
/** The parent column's value for a free slot. */
export const freeSlot = -2;
/** No slot: an empty child list or index chain, a name not found. */
export const noSlot = -1;
const capacityMin = 1024;

/**
 * A tree growing past resizableFromSlots moves its columns to resizable ArrayBuffers that
 * reserve room for slotsReserved and grow in place: growing a million-slot tree by copying
 * stalled the event loop ~30 ms and left the old columns (~50 MB) as garbage until the next
 * full GC. Element access on them is 10-25% slower, so a loaded snapshot, whose size is
 * known, gets plain buffers; small trees (tests hold thousands) too.
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
export class LongColumn {
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

const int32 = (b: ArrayBuffer): Int32Array<ArrayBuffer> => new Int32Array(b);
const float64 = (b: ArrayBuffer): Float64Array<ArrayBuffer> => new Float64Array(b);

/**
 * Every column of the store. Growth may replace a typed array, never this object: hold the
 * object, not its arrays, across anything that takes a slot.
 */
export class NodeColumns {
  capacity = capacityMin;
  readonly czxid = new LongColumn(capacityMin);
  readonly mzxid = new LongColumn(capacityMin);
  readonly pzxid = new LongColumn(capacityMin);
  ctime = new Float64Array(capacityMin);
  mtime = new Float64Array(capacityMin);
  version = new Int32Array(capacityMin);
  cversion = new Int32Array(capacityMin);
  aversion = new Int32Array(capacityMin);
  /** An index into the store's AclTable. */
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
  firstChild = new Int32Array(capacityMin).fill(noSlot);
  nextSibling = new Int32Array(capacityMin);
  prevSibling = new Int32Array(capacityMin);
  numChildren = new Int32Array(capacityMin);
  /** The next slot in the same child-index bucket (see ChildIndex). */
  hashNext = new Int32Array(capacityMin);
  /** ephemeralOwner where it is not 0 (most znodes have none: a map, not a column). */
  private readonly owners = new Map<number, bigint>();

  /** Room for `needed` slots; `exact`: a loader's known size, in plain buffers (faster access). */
  grow(needed: number, exact = false): void {
    let capacity = this.capacity;
    while (capacity < needed) capacity = Math.ceil(capacity * 1.5);
    const resizable = !exact;
    for (const column of [this.czxid, this.mzxid, this.pzxid]) column.grow(capacity, resizable);
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
    this.firstChild.fill(noSlot, this.capacity);
    this.nextSibling = grown(this.nextSibling, capacity, int32, resizable);
    this.prevSibling = grown(this.prevSibling, capacity, int32, resizable);
    this.numChildren = grown(this.numChildren, capacity, int32, resizable);
    this.hashNext = grown(this.hashNext, capacity, int32, resizable);
    this.capacity = capacity;
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
