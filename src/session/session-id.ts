/**
 * Session ids: server id in the top byte, then 40 bits of the clock in ms when the
 * tracker started, then a 16-bit counter that carries upward (docs/protocol.md 11.4).
 */
export class SessionIdGenerator {
  private next: bigint;

  constructor(serverId: number, nowMs: number) {
    const time = (BigInt(Math.floor(nowMs)) << 24n) >> 8n; // keep 40 bits, then shift into place
    let start = BigInt.asIntN(64, (time & 0x00ffffffffff0000n) | (BigInt(serverId) << 56n));
    if (start === -0x8000000000000000n) start += 1n;
    this.next = start;
  }

  nextId(): bigint {
    this.next = BigInt.asIntN(64, this.next + 1n);
    return this.next;
  }
}
