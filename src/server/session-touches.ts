import { sessionEntry, type SessionEntry } from '../quorum/messages.js';
import type { QuorumEvent } from '../quorum/index.js';

/**
 * Sessions heard from since the core last got them, with their timeouts: a Map set per packet,
 * handed to the core as one event, at the end of the turn (`onTurnEnd`) or sooner (a learner's
 * PING reply carries them).
 */
export class SessionTouches {
  private readonly touched = new Map<bigint, number>();
  private scheduled = false;

  constructor(private readonly onTurnEnd: () => void) {}

  add(sessionId: bigint, timeoutMs: number): void {
    this.touched.set(sessionId, timeoutMs);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.touched.size > 0) this.onTurnEnd();
    });
  }

  /** The touches so far as one core event; null when there are none. */
  take(): QuorumEvent | null {
    if (this.touched.size === 0) return null;
    const touches: SessionEntry[] = [];
    for (const [sessionId, timeoutMs] of this.touched) touches.push(sessionEntry(sessionId, timeoutMs));
    this.touched.clear();
    return { kind: 'sessionTouches', touches };
  }
}
