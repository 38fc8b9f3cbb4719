import type { ReplicatedSessions } from '../../src/session/session-authority.js';

/** The replicated session table as a plain map of id → timeout, for tests of the session authorities. */
export class SessionTable implements ReplicatedSessions {
  readonly sessions = new Map<bigint, number>();
  lastZxid = 0n;
  has(id: bigint): boolean {
    return this.sessions.has(id);
  }
  timeouts(): Iterable<[bigint, number]> {
    return this.sessions.entries();
  }
}
