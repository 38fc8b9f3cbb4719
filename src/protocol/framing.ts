import { ProtocolError } from '../errors.js';

/**
 * Splits a TCP byte stream into length-prefixed frames (int32 length, then that many bytes),
 * whatever way the stream was cut into reads. A declared length < 0 or > maxFrameBytes is
 * refused: the caller closes the connection.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
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
    for (;;) {
      if (this.buffered < 4) break;
      const head = this.peek(4);
      const len = head.readInt32BE(0);
      if (len < 0 || len > this.frameBytesMax) {
        throw new ProtocolError(`frame length ${len} is outside 0..${this.frameBytesMax} (jute.maxbuffer)`);
      }
      if (this.buffered < 4 + len) break;
      const all = this.take(4 + len);
      frames.push(all.subarray(4));
    }
    return frames;
  }

  /** The first n buffered bytes, without consuming them. */
  peek(n: number): Buffer {
    if (this.chunks[0]!.length >= n) return this.chunks[0]!.subarray(0, n);
    const joined = Buffer.concat(this.chunks);
    this.chunks = [joined];
    return joined.subarray(0, n);
  }

  private take(n: number): Buffer {
    const first = this.chunks[0]!;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      const joined = Buffer.concat(this.chunks);
      out = joined.subarray(0, n);
      this.chunks = joined.length > n ? [joined.subarray(n)] : [];
    }
    this.buffered -= n;
    return out;
  }
}

/** Prefixes a body with its int32 length. */
export function frame(body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeInt32BE(body.length, 0);
  out.set(body, 4);
  return out;
}
