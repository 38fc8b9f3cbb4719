import { invariant } from '../errors.js';
import { AclTable } from './acl-table.js';
import { ChildIndex } from './child-index.js';
import { DataArena } from './data-arena.js';
import { hashOfName, NodeBytes } from './node-bytes.js';
import { freeSlot, noParent, noSlot, NodeColumns, rootSlot } from './node-columns.js';

/**
 * The znodes of a tree, composed of parts with one job each: NodeColumns holds every field by
 * slot, a DataArena the name and data bytes (NodeBytes reads and writes them), ChildIndex
 * finds a child by name, AclTable interns the ACL lists. This class gives out slots and
 * keeps the parts consistent as nodes are added, linked and freed.
 *
 * Measured with 1M znodes of 128 bytes (1000 parents x 1000 children): see the README's
 * performance section. A snapshot is a dump of the used slots, so loading one is mostly
 * copying, and its node blocks become arena space as they are.
 */
export class NodeStore {
  readonly columns = new NodeColumns();
  readonly arena = new DataArena();
  readonly bytes = new NodeBytes(this.columns, this.arena);
  readonly acls = new AclTable();
  private readonly index = new ChildIndex(this.columns, this.bytes);
  /** Slots in use. */
  size = 0;
  /** Every slot ever used is below this. */
  high = 0;
  /** Free slots below `high`, a stack: the last freed is reused first. */
  private readonly free: number[] = [];
  /** Bumped whenever a slot is freed: lookups cached before then may be stale. */
  generation = 0;

  // ---- slots ----------------------------------------------------------------------------

  inUse(slot: number): boolean {
    return slot >= 0 && slot < this.high && this.columns.parent[slot]! !== freeSlot;
  }

  /** The slot the next `take` returns, without taking it. */
  nextSlot(): number {
    return this.free.length > 0 ? this.free[this.free.length - 1]! : this.high;
  }

  /** Takes the slot nextSlot() named; the caller fills every field. */
  take(): number {
    const slot = this.free.length > 0 ? this.free.pop()! : this.high++;
    const columns = this.columns;
    if (slot >= columns.capacity) columns.grow(slot + 1);
    columns.firstChild[slot] = noSlot;
    columns.numChildren[slot] = 0;
    this.size++;
    return slot;
  }

  /** Takes a specific slot (a snapshot being loaded names them; children may be linked already). */
  takeExact(slot: number): void {
    invariant(!this.inUse(slot), () => `slot ${slot} is in use`);
    if (slot >= this.columns.capacity) this.columns.grow(slot + 1);
    if (slot >= this.high) this.high = slot + 1;
    this.size++;
  }

  /** Makes room for slots below `slots` at once (a loader knows how many are coming). */
  reserve(slots: number): void {
    // Room for the log's creates to come: pages not yet written cost address space, not
    // memory, and growing a loaded tree copies its columns and leaves the old ones as garbage.
    if (slots > this.columns.capacity) this.columns.grow(slots * 2, true);
  }

  /** Makes the free list exactly the unused slots below `high` (after takeExact calls). */
  rebuildFreeList(): void {
    const parent = this.columns.parent;
    this.free.length = 0;
    for (let slot = this.high - 1; slot >= 0; slot--) if (parent[slot]! === freeSlot) this.free.push(slot);
  }

  /** Frees a slot (already unlinked from its parent, without children); `revive` undoes it. */
  release(slot: number): void {
    this.bytes.setData(slot, null);
    this.bytes.setName(slot, null, 0, 0);
    this.columns.parent[slot] = freeSlot;
    this.columns.setOwner(slot, 0n);
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

  // ---- paths and children ---------------------------------------------------------------

  /** The child of `parent` whose name is `length` bytes of `bytes` from `start` with hash `nameHash` (hashOfName), or -1. */
  findChildBytes(parent: number, bytes: Uint8Array, start: number, length: number, nameHash: number): number {
    return this.index.find(parent, bytes, start, length, nameHash);
  }

  /** The child of `parent` named `name`, or -1. */
  findChild(parent: number, name: string): number {
    const b = this.bytes;
    b.encodeName(name);
    return this.index.find(parent, b.encoded, 0, b.encodedLength, b.encodedHash);
  }

  /** The slot at an absolute path, or -1. Any string is accepted; invalid paths match nothing. */
  lookup(path: string): number {
    if (path === '/') return rootSlot;
    if (path.charCodeAt(0) !== 47) return noSlot;
    const b = this.bytes;
    let slot = rootSlot;
    let start = 1;
    for (;;) {
      let end = path.indexOf('/', start);
      const last = end < 0;
      if (last) end = path.length;
      b.encodeText(path, start, end);
      slot = this.index.find(slot, b.encoded, 0, b.encodedLength, b.encodedHash);
      if (slot < 0 || last) return slot;
      start = end + 1;
    }
  }

  /**
   * The slot at the absolute path in bytes[start, end) (UTF-8, as a txn record holds it), or
   * -1. The path must be valid (replay checks it first).
   */
  lookupBytes(bytes: Uint8Array, start: number, end: number): number {
    if (end - start === 1) return bytes[start] === 47 ? rootSlot : noSlot;
    let slot = rootSlot;
    let from = start + 1;
    for (let i = from; i <= end; i++) {
      if (i < end && bytes[i] !== 47) continue;
      slot = this.index.find(slot, bytes, from, i - from, hashOfName(bytes, from, i));
      if (slot < 0) return noSlot;
      from = i + 1;
    }
    return slot;
  }

  /** addChild with the name as bytes[start, start + length) and its hash (hashOfName). */
  addChildBytes(parent: number, slot: number, bytes: Uint8Array, start: number, length: number, nameHash: number): void {
    this.columns.parent[slot] = parent;
    this.bytes.setName(slot, bytes, start, length, nameHash);
    this.linkChild(slot);
  }

  /** Names a new slot and makes it the last child of `parent`. */
  addChild(parent: number, slot: number, name: string): void {
    const b = this.bytes;
    b.encodeName(name);
    this.columns.parent[slot] = parent;
    b.setName(slot, b.encoded, 0, b.encodedLength, b.encodedHash);
    this.linkChild(slot);
  }

  /**
   * Makes a slot, whose parent and name are set, the last child of its parent. A loader
   * passes `indexed` false for every node and then builds the index at once (indexAll).
   */
  linkChild(slot: number, indexed = true): void {
    const { firstChild, nextSibling, prevSibling, numChildren } = this.columns;
    const parent = this.columns.parent[slot]!;
    const first = firstChild[parent]!;
    if (first === noSlot) {
      firstChild[parent] = slot;
      prevSibling[slot] = slot;
    } else {
      const last = prevSibling[first]!;
      nextSibling[last] = slot;
      prevSibling[slot] = last;
      prevSibling[first] = slot;
    }
    nextSibling[slot] = noSlot;
    numChildren[parent]!++;
    if (indexed) this.index.insert(slot);
  }

  /** Builds the child index from every slot in use but the root (see ChildIndex.rebuild). */
  indexAll(): number {
    return this.index.rebuild(this.size, this.high);
  }

  /** Takes a slot out of its parent's children (its parent and name stay set). */
  unlinkChild(slot: number): void {
    const { firstChild, nextSibling, prevSibling, numChildren } = this.columns;
    const parent = this.columns.parent[slot]!;
    const first = firstChild[parent]!;
    const prev = prevSibling[slot]!;
    const next = nextSibling[slot]!;
    if (slot === first) {
      firstChild[parent] = next;
      if (next !== noSlot) prevSibling[next] = prev;
    } else {
      nextSibling[prev] = next;
      if (next !== noSlot) prevSibling[next] = prev;
      else prevSibling[first] = prev;
    }
    numChildren[parent]!--;
    this.index.remove(slot);
  }

  /** The children's names, in list order. */
  childNames(slot: number): string[] {
    const { firstChild, nextSibling } = this.columns;
    const names: string[] = [];
    for (let c = firstChild[slot]!; c !== noSlot; c = nextSibling[c]!) names.push(this.bytes.nameOf(c));
    return names;
  }

  /** The absolute path of a slot in use. */
  pathOf(slot: number): string {
    if (slot === rootSlot) return '/';
    const parent = this.columns.parent;
    let path = '';
    for (let s = slot; s !== rootSlot && s !== noParent; s = parent[s]!) path = '/' + this.bytes.nameOf(s) + path;
    return path;
  }
}
