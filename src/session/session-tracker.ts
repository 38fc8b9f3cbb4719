import { ExpiryQueue } from './expiry-queue.js';

/**
 * Which sessions are due to expire: the leader's (or a standalone server's) local view of
 * when each session was last heard from. The session table itself is replicated state.
 */
export class SessionTracker {
  private readonly queue: ExpiryQueue<bigint>;
  private readonly timeouts = new Map<bigint, number>();
  private readonly closing = new Set<bigint>();

  constructor(tickMs: number, nowMs: number) {
    this.queue = new ExpiryQueue(tickMs, nowMs);
  }

  add(sessionId: bigint, timeoutMs: number, nowMs: number): void {
    this.timeouts.set(sessionId, timeoutMs);
    this.closing.delete(sessionId);
    this.queue.touch(sessionId, timeoutMs, nowMs);
  }

  touch(sessionId: bigint, nowMs: number): boolean {
    const timeout = this.timeouts.get(sessionId);
    if (timeout === undefined || this.closing.has(sessionId)) return false;
    this.queue.touch(sessionId, timeout, nowMs);
    return true;
  }

  /** Sessions whose time ran out; they stay "closing" until removed. */
  expire(nowMs: number): bigint[] {
    const out = this.queue.expire(nowMs);
    for (const id of out) this.closing.add(id);
    return out;
  }

  markClosing(sessionId: bigint): void {
    this.closing.add(sessionId);
    this.queue.remove(sessionId);
  }

  isClosing(sessionId: bigint): boolean {
    return this.closing.has(sessionId);
  }

  remove(sessionId: bigint): void {
    this.timeouts.delete(sessionId);
    this.closing.delete(sessionId);
    this.queue.remove(sessionId);
  }

  has(sessionId: bigint): boolean {
    return this.timeouts.has(sessionId);
  }

  timeoutOf(sessionId: bigint): number | undefined {
    return this.timeouts.get(sessionId);
  }

  get size(): number {
    return this.timeouts.size;
  }

  ids(): bigint[] {
    return [...this.timeouts.keys()];
  }
}
