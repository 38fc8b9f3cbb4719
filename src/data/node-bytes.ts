import type { DataArena, FastBuffer } from './data-arena.js';
import type { NodeColumns } from './node-columns.js';

/** FNV-1a over a name's UTF-8 bytes. */
const fnvOffset = 0x811c9dc5 | 0;
const fnvPrime = 0x01000193;

/** The hash the store keeps for a name of bytes[start, end) (ChildIndex keys on it). */
export function hashOfName(bytes: Uint8Array, start: number, end: number): number {
  let h = fnvOffset;
  for (let i = start; i < end; i++) h = Math.imul(h ^ bytes[i]!, fnvPrime);
  return h;
}

/**
 * Each slot's name and data: bytes in the arena, their refs and lengths in the columns. Also
 * the scratch a name being looked up is encoded into, so a lookup allocates nothing.
 */
export class NodeBytes {
  /** The name last encoded (encodeName, encodeText), as UTF-8, its length and its hash. */
  encoded = Buffer.allocUnsafe(256);
  encodedLength = 0;
  encodedHash = 0;
  /** The whole name encodeName last encoded (null after encodeText). */
  private encodedName: string | null = null;
  /**
   * Set once any name has a byte above 0x7f; until then a name's UTF-16 length is its byte
   * length (nameUnits is asked for every node when a snapshot has been loaded).
   */
  private nonAsciiNames = false;

  constructor(
    private readonly columns: NodeColumns,
    private readonly arena: DataArena,
  ) {}

  // ---- names ----------------------------------------------------------------------------

  /** The slot's name (the root's is ''). */
  nameOf(slot: number): string {
    const length = this.columns.nameLength[slot]!;
    return length === 0 ? '' : this.arena.text(this.columns.nameRef[slot]!, length);
  }

  /** The name's length in UTF-16 units. */
  nameUnits(slot: number): number {
    const length = this.columns.nameLength[slot]!;
    return length === 0 || !this.nonAsciiNames ? length : this.arena.utf16Length(this.columns.nameRef[slot]!, length);
  }

  /** The name's UTF-8 bytes, as a view valid until the slot is freed. */
  nameView(slot: number): Buffer {
    const length = this.columns.nameLength[slot]!;
    return length === 0 ? Buffer.alloc(0) : this.arena.view(this.columns.nameRef[slot]!, length);
  }

  /** True when the slot's name is `length` bytes of `bytes` from `start` (its length checked first). */
  nameEquals(slot: number, bytes: Uint8Array, start: number, length: number): boolean {
    return this.columns.nameLength[slot] === length && this.arena.equals(this.columns.nameRef[slot]!, bytes, start, length);
  }

  /** Copies the slot's name into `target` at `at`; returns its length. */
  copyName(slot: number, target: Buffer, at: number): number {
    const length = this.columns.nameLength[slot]!;
    if (length > 0) this.arena.copyOut(this.columns.nameRef[slot]!, length, target, at);
    return length;
  }

  /** Replaces a slot's name with `length` bytes of `bytes` from `start` (null: none); `hash` if known. */
  setName(slot: number, bytes: Uint8Array | null, start: number, length: number, hash?: number): void {
    const columns = this.columns;
    const old = columns.nameLength[slot]!;
    if (old > 0) this.arena.release(columns.nameRef[slot]!, old);
    columns.nameLength[slot] = length;
    columns.nameHash[slot] = bytes === null ? 0 : hash ?? hashOfName(bytes, start, start + length);
    if (hash === undefined && bytes !== null) {
      for (let i = start; i < start + length; i++) if (bytes[i]! >= 0x80) this.nonAsciiNames = true;
    }
    if (length === 0) return;
    const ref = this.arena.alloc(length);
    this.arena.fill(ref, bytes!, start, length);
    columns.nameRef[slot] = ref;
  }

  /** Sets a new slot's name to bytes of a buffer adopted at `adoptedRef`, as loadData does. */
  loadName(slot: number, source: Buffer, adoptedRef: number, start: number, length: number): void {
    const columns = this.columns;
    columns.nameLength[slot] = length;
    let h = fnvOffset;
    let high = 0;
    for (let i = start; i < start + length; i++) {
      const b = source[i]!;
      high |= b;
      h = Math.imul(h ^ b, fnvPrime);
    }
    columns.nameHash[slot] = h;
    if (high >= 0x80) this.nonAsciiNames = true;
    if (length > 0) columns.nameRef[slot] = this.arena.placeLoaded(source, adoptedRef, start, length);
  }

  /** Encodes a whole name into `encoded`, unless it is the one encodeName last encoded. */
  encodeName(name: string): void {
    if (this.encodedName === name) return;
    this.encodeText(name, 0, name.length);
    this.encodedName = name;
  }

  /** Encodes `text` from `start` to `end` as UTF-8 into `encoded`, with its hash. */
  encodeText(text: string, start: number, end: number): void {
    this.encodedName = null;
    const count = end - start;
    if (this.encoded.length < count * 3) this.encoded = Buffer.allocUnsafe(count * 3);
    const buf = this.encoded;
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
      this.encodedLength = length;
      this.encodedHash = hashOfName(buf, 0, length);
      return;
    }
    this.encodedLength = count;
    this.encodedHash = h;
  }

  // ---- data -----------------------------------------------------------------------------

  /** Copies the slot's data into `target` at `at` (nothing for null or empty data). */
  copyData(slot: number, target: Buffer, at: number): void {
    const length = this.columns.dataLength[slot]!;
    if (length > 0) this.arena.copyOut(this.columns.dataRef[slot]!, length, target, at);
  }

  /** The data as a view into the arena, valid until the node changes; null for null. */
  dataView(slot: number): Buffer | null {
    const length = this.columns.dataLength[slot]!;
    return length < 0 ? null : length === 0 ? Buffer.alloc(0) : this.arena.view(this.columns.dataRef[slot]!, length);
  }

  /** The data as a Buffer of its own. */
  dataCopy(slot: number): Buffer | null {
    const view = this.dataView(slot);
    return view === null ? null : Buffer.from(view);
  }

  /** Data length, 0 for null. */
  dataBytes(slot: number): number {
    return Math.max(0, this.columns.dataLength[slot]!);
  }

  /** Replaces a slot's data with a copy of `data`. */
  setData(slot: number, data: Uint8Array | null): void {
    const columns = this.columns;
    const old = columns.dataLength[slot]!;
    if (old > 0) this.arena.release(columns.dataRef[slot]!, old);
    if (data === null || data.length === 0) {
      columns.dataLength[slot] = data === null ? -1 : 0;
      return;
    }
    const ref = this.arena.alloc(data.length);
    this.arena.fill(ref, data, 0, data.length);
    columns.dataRef[slot] = ref;
    columns.dataLength[slot] = data.length;
  }

  /**
   * Sets a new slot's data to `length` bytes (-1: null) at `start` of a buffer adopted at
   * `adoptedRef` (see DataArena.adopt), copying it out only when it cannot stay there.
   */
  loadData(slot: number, source: Buffer, adoptedRef: number, start: number, length: number): void {
    this.columns.dataLength[slot] = length;
    if (length > 0) this.columns.dataRef[slot] = this.arena.placeLoaded(source, adoptedRef, start, length);
  }
}
