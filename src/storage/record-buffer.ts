import { payloadBytesMax } from './limits.js';
import { recordHeaderBytes, writeRecordHeader } from './txn-record.js';

/**
 * Writes a record's payload into the log's buffer at `at`, stopping at `limit`: returns its
 * end, -1 when it needs more room, -2 when it cannot encode this one.
 */
export interface RecordEncoder {
  encode(buf: Buffer, at: number, limit: number): number;
}

/**
 * Records not yet written, encoded (header and payload) back to back in one buffer as they
 * are appended: the payload is copied at once, so the caller's buffer may be reused (a txn
 * encoder packs every txn into the same scratch), and no object is kept per record.
 */
export class RecordBuffer {
  bytes = Buffer.allocUnsafeSlow(256 * 1024);
  length = 0;
  readonly zxids: bigint[] = [];
  /** Where each record ends in `bytes`. */
  readonly ends: number[] = [];

  get count(): number {
    return this.zxids.length;
  }

  add(zxid: bigint, payload: Uint8Array): void {
    const needed = this.length + recordHeaderBytes + payload.length;
    if (needed > this.bytes.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(needed, this.bytes.length * 2));
      this.bytes.copy(grown, 0, 0, this.length);
      this.bytes = grown;
    }
    writeRecordHeader(this.bytes, this.length, zxid, payload);
    this.bytes.set(payload, this.length + recordHeaderBytes);
    this.length = needed;
    this.zxids.push(zxid);
    this.ends.push(needed);
  }

  /**
   * Adds a record whose payload `encoder` writes in place; false (nothing added) when the
   * encoder cannot encode it or it would exceed payloadBytesMax.
   */
  addEncoded(zxid: bigint, encoder: RecordEncoder): boolean {
    for (;;) {
      const start = this.length + recordHeaderBytes;
      const end = encoder.encode(this.bytes, start, Math.min(this.bytes.length, start + payloadBytesMax));
      if (end >= 0) {
        const payload = this.bytes.subarray(start, end);
        writeRecordHeader(this.bytes, this.length, zxid, payload);
        this.length = end;
        this.zxids.push(zxid);
        this.ends.push(end);
        return true;
      }
      if (end === -2 || this.bytes.length >= start + payloadBytesMax) return false;
      const grown = Buffer.allocUnsafeSlow(this.bytes.length * 2);
      this.bytes.copy(grown, 0, 0, this.length);
      this.bytes = grown;
    }
  }

  /** Moves the first `count` records to `into` (emptied first), keeping the rest here. */
  moveFirst(count: number, into: RecordBuffer): void {
    into.clear();
    const cut = this.ends[count - 1]!;
    if (cut > into.bytes.length) into.bytes = Buffer.allocUnsafeSlow(Math.max(cut, into.bytes.length * 2));
    this.bytes.copy(into.bytes, 0, 0, cut);
    into.length = cut;
    for (let i = 0; i < count; i++) {
      into.zxids.push(this.zxids[i]!);
      into.ends.push(this.ends[i]!);
    }
    this.bytes.copy(this.bytes, 0, cut, this.length);
    this.length -= cut;
    this.zxids.splice(0, count);
    this.ends.splice(0, count);
    for (let i = 0; i < this.ends.length; i++) this.ends[i]! -= cut;
  }

  clear(): void {
    this.length = 0;
    this.zxids.length = 0;
    this.ends.length = 0;
  }
}
