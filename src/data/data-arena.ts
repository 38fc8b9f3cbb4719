/** Buffer's unchecked codec methods (Node has them on every Buffer; @types/node leaves them out). */
export interface FastBuffer extends Buffer {
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

  /**
   * The ref of `length` bytes (more than 0) at `start` of a buffer adopted at `adoptedRef`:
   * in place when they can stay there, else a copy.
   */
  placeLoaded(source: Buffer, adoptedRef: number, start: number, length: number): number {
    if (start + length <= chunkBytes && length <= arenaValueBytesMax) return adoptedRef + start;
    const ref = this.alloc(length);
    this.fill(ref, source, start, length);
    return ref;
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
