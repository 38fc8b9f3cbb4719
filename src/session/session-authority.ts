import { SessionTracker } from './session-tracker.js';

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
 * ensemble (a learner reports what it hears and asks about reconnecting sessions). The
 * session table is replicated state; liveness is not, it is the authority's view of when
 * each session was last heard from.
 */
export interface SessionAuthority {
  /** Whether this server expires sessions and reaps containers now (standalone, or the serving leader). */
  readonly decides: boolean;
  /** A packet arrived on an established session. */
  touch(sessionId: bigint, timeoutMs: number): void;
  /** A session reconnects: valid (and renewed) or not. The answer may come later (a learner asks its leader). */
  revalidate(sessionId: bigint, timeoutMs: number, done: (valid: boolean) => void): void;
  /** True once the session's time ran out here and its close is on the way. */
  isExpiring(sessionId: bigint): boolean;
  /** Sessions whose time ran out that this server must close now (none unless it decides). */
  expired(nowMs: number): bigint[];
  /** The replicated state gained a session. */
  created(sessionId: bigint, timeoutMs: number): void;
  /** The replicated state lost a session. */
  closed(sessionId: bigint): void;
  /** The replicated state was replaced wholesale (a snapshot from the leader). */
  reset(): void;
}

/**
 * Liveness decided here, from one tracker in tick buckets: a standalone server's authority,
 * and what an ensemble's leader decides with.
 */
export class LocalSessionAuthority implements SessionAuthority {
  readonly decides = true;
  private readonly tracker: SessionTracker;

  constructor(
    tickMs: number,
    private readonly replicated: ReplicatedSessions,
    private readonly now: () => number,
  ) {
    this.tracker = new SessionTracker(tickMs, now());
    this.reset();
  }

  touch(sessionId: bigint): void {
    this.tracker.touch(sessionId, this.now());
  }

  revalidate(sessionId: bigint, timeoutMs: number, done: (valid: boolean) => void): void {
    done(this.renew(sessionId, timeoutMs));
  }

  /** Valid when replicated and not expiring; a valid session gets a full timeout from now. */
  renew(sessionId: bigint, timeoutMs: number): boolean {
    if (!this.replicated.has(sessionId) || this.tracker.isClosing(sessionId)) return false;
    this.tracker.add(sessionId, timeoutMs, this.now());
    return true;
  }

  /** A session a learner heard from: touched, or tracked again if the table holds it. */
  touchReported(sessionId: bigint, timeoutMs: number): void {
    if (!this.tracker.touch(sessionId, this.now()) && this.replicated.has(sessionId)) this.tracker.add(sessionId, timeoutMs, this.now());
  }

  isExpiring(sessionId: bigint): boolean {
    return this.tracker.isClosing(sessionId);
  }

  expired(nowMs: number): bigint[] {
    const out: bigint[] = [];
    for (const sessionId of this.tracker.expire(nowMs)) {
      if (this.replicated.has(sessionId)) out.push(sessionId);
      else this.tracker.remove(sessionId);
    }
    return out;
  }

  created(sessionId: bigint, timeoutMs: number): void {
    this.tracker.add(sessionId, timeoutMs, this.now());
  }

  closed(sessionId: bigint): void {
    this.tracker.remove(sessionId);
  }

  /** Tracks exactly the replicated sessions, each with a full timeout from now. */
  reset(): void {
    for (const id of this.tracker.ids()) this.tracker.remove(id);
    this.renewAll();
  }

  /** Every replicated session gets a full timeout from now (a new leader has heard from nobody yet). */
  renewAll(): void {
    const now = this.now();
    for (const [id, timeoutMs] of this.replicated.timeouts()) this.tracker.add(id, timeoutMs, now);
  }
}
