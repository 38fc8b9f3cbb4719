import { ProtocolError } from '../errors.js';

/**
 * Splits a TCP byte stream into length-prefixed frames (int32 length, then that many bytes),
 * whatever way the stream was cut into reads. A declared length < 0 or > maxFrameBytes is
 * refused: the caller closes the connection.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  /** Bytes of chunks[0] already returned: kept as an offset, not re-sliced, so a frame costs one view. */
  private offset = 0;
  private buffered = 0;

  constructor(private readonly frameBytesMax: number) {}

  /** Bytes received but not yet returned as a frame. */
  get pendingBytes(): number {
    return this.buffered;
  }

  /** Adds bytes; returns every frame body now complete, in order. */
  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const frames: Buffer[] = [];
    while (this.buffered >= 4) {
      if (this.chunks[0]!.length - this.offset < 4) this.join();
      const len = this.chunks[0]!.readInt32BE(this.offset);
      if (len < 0 || len > this.frameBytesMax) {
        throw new ProtocolError(`frame length ${len} is outside 0..${this.frameBytesMax} (jute.maxbuffer)`);
      }
      if (this.buffered < 4 + len) break;
      frames.push(this.takeBody(len));
    }
    return frames;
  }

  /** The next frame's body (`len` bytes after its 4-byte length), consumed. */
  private takeBody(len: number): Buffer {
    if (this.chunks[0]!.length - this.offset < 4 + len) this.join();
    const first = this.chunks[0]!;
    const body = first.subarray(this.offset + 4, this.offset + 4 + len);
    this.offset += 4 + len;
    this.buffered -= 4 + len;
    if (this.offset === first.length) {
      this.chunks.shift();
      this.offset = 0;
    }
    return body;
  }

  /** Joins what is buffered into one chunk (a frame, or its length, spans reads). */
  private join(): void {
    const first = this.chunks[0]!;
    if (this.offset > 0) this.chunks[0] = first.subarray(this.offset);
    this.chunks = [Buffer.concat(this.chunks)];
    this.offset = 0;
  }
}

/** Prefixes a body with its int32 length. */
export function frame(body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeInt32BE(body.length, 0);
  out.set(body, 4);
  return out;
}
