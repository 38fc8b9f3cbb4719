import type { StorageFile } from './fs.js';
import { readChunkBytes } from './limits.js';

/**
 * A sliding read window over a file for sequential scans. Every refill reads into a fresh
 * buffer, so views handed out earlier stay valid after later calls, unless `reuse`: then one
 * buffer is read into again and again (a scan that keeps no views; fresh memory costs a page
 * fault every 4 KiB, ~70 ms for the 90 MB of log a restart scans).
 */
export class FileWindow {
  private buffer: Buffer = Buffer.alloc(0);
  private start = 0;
  private spare: Buffer | null = null;

  constructor(
    readonly file: StorageFile | null,
    readonly size: number,
    private readonly chunkBytes = readChunkBytes,
    private readonly reuse = false,
  ) {}

  /** The chunk the window holds now (a tight scan loop reads it directly), and its file offset. */
  get chunk(): Buffer {
    return this.buffer;
  }

  get chunkStart(): number {
    return this.start;
  }

  /**
   * The bytes [offset, offset + length) when the window already holds all of them, without
   * a read: sequential scans go through the cached chunk without a promise per record.
   */
  cached(offset: number, length: number): Buffer | undefined {
    const end = offset + length;
    if (offset < this.start || end > this.start + this.buffer.length || end > this.size) return undefined;
    return this.buffer.subarray(offset - this.start, end - this.start);
  }

  /** The bytes [offset, offset + length), or fewer if the file ends first. */
  async view(offset: number, length: number): Promise<Buffer> {
    const end = Math.min(offset + length, this.size);
    if (offset >= this.start && end <= this.start + this.buffer.length) {
      return this.buffer.subarray(offset - this.start, end - this.start);
    }
    const want = Math.min(Math.max(length, this.chunkBytes), this.size - offset);
    if (this.file === null) return Buffer.alloc(0);
    let buffer: Buffer;
    if (this.reuse) {
      if (this.spare === null || this.spare.length < want) this.spare = Buffer.allocUnsafeSlow(Math.max(want, this.chunkBytes));
      buffer = this.spare.subarray(0, Math.max(want, 0));
    } else {
      buffer = Buffer.allocUnsafe(Math.max(want, 0));
    }
    const read = await this.file.read(buffer, offset);
    this.buffer = buffer.subarray(0, read);
    this.start = offset;
    return this.buffer.subarray(0, Math.min(end - offset, read));
  }

  /** True when every byte in [offset, size) is zero. */
  async isZeroFrom(offset: number): Promise<boolean> {
    for (let at = offset; at < this.size; ) {
      const chunk = await this.view(at, this.chunkBytes);
      if (chunk.length === 0) return true;
      if (!isAllZero(chunk)) return false;
      at += chunk.length;
    }
    return true;
  }
}

export function isAllZero(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] !== 0) return false;
  }
  return true;
}
