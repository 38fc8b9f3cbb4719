import type { Revalidation } from '../quorum/effects.js';

/** The sessions in the replicated state (the tree's session table), as the authority reads them. */
export interface ReplicatedSessions {
  has(sessionId: bigint): boolean;
  /** Every session with its negotiated timeout, in ms. */
  timeouts(): Iterable<[bigint, number]>;
  /** The zxid of the last txn applied here. */
  readonly lastZxid: bigint;
}

/**
 * Who decides whether a session lives: the server itself when standalone, the leader in an
 * ensemble. Either way the decision is the pure session-liveness machine's (quorum/), and an
 * authority is the shell around it (server/). The session table is replicated state; liveness is not.
 */
export interface SessionAuthority {
  /** Whether this server expires sessions and reaps containers now (standalone, or the serving leader). */
  readonly decides: boolean;
  /** A packet arrived on an established session. */
  touch(sessionId: bigint, timeoutMs: number): void;
  /** A session reconnects: valid (and renewed), invalid, or unknown here. The answer may come later (a learner asks its leader). */
  revalidate(sessionId: bigint, timeoutMs: number, done: (answer: Revalidation) => void): void;
  /** True once the session's time ran out here, or its client asked to close it, and the close is on the way. */
  isExpiring(sessionId: bigint): boolean;
  /** The session's client asked to close it; from now on it is not renewed or revalidated. */
  closeRequested(sessionId: bigint): void;
  /** Where sessions whose time ran out go (the session service proposes their close). */
  expireTo(expire: (sessionId: bigint) => void): void;
  /** The session clock's beat, every tickTime: standalone expires what is due; an ensemble member runs on its core's clock instead. */
  clock(nowMs: number): void;
  /** The replicated state gained a session. */
  created(sessionId: bigint, timeoutMs: number): void;
  /** The replicated state lost a session. */
  closed(sessionId: bigint): void;
  /** The replicated state was replaced wholesale (a snapshot). */
  reset(): void;
}
