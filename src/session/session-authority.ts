import { SessionLiveness, SessionMode } from '../quorum/session-liveness.js';
import { sessionEntry, type SessionEntry } from '../quorum/messages.js';
import type { QuorumEffect } from '../quorum/effects.js';

/** The sessions in the replicated state (the tree's session table), as the authority reads them. */
export interface ReplicatedSessions {
  has(sessionId: bigint): boolean;
  /** Every session with its negotiated timeout, in ms. */
  timeouts(): Iterable<[bigint, number]>;
  /** The zxid of the last txn applied here. */
  readonly lastZxid: bigint;
}

/** The replicated table as session entries (what the liveness machine is given whole). */
export function sessionTable(replicated: ReplicatedSessions): SessionEntry[] {
  const out: SessionEntry[] = [];
  for (const [sessionId, timeoutMs] of replicated.timeouts()) out.push(sessionEntry(sessionId, timeoutMs));
  return out;
}

/**
 * Who decides whether a session lives: the server itself when standalone, the leader in an
 * ensemble. Either way the decision is the pure `SessionLiveness` machine's; this is the
 * shell around it. The session table is replicated state; liveness is not.
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

/**
 * A standalone server's authority: the liveness machine as a one-member leader, on a clock
 * of 1 ms ticks with buckets of tickTime, advanced from `now()` whenever it is used.
 */
export class LocalSessionAuthority implements SessionAuthority {
  readonly decides = true;
  private readonly machine: SessionLiveness;
  private readonly effects: QuorumEffect[] = [];
  private last: number;
  private expire: (sessionId: bigint) => void = () => {};

  constructor(
    tickMs: number,
    private readonly replicated: ReplicatedSessions,
    private readonly now: () => number,
  ) {
    this.machine = new SessionLiveness(1, tickMs);
    this.last = now();
    this.machine.setMode(SessionMode.decide, this.effects);
    this.reset();
  }

  touch(sessionId: bigint, timeoutMs: number): void {
    this.advance(this.now());
    this.machine.renew(sessionId, timeoutMs);
  }

  revalidate(sessionId: bigint, timeoutMs: number, done: (valid: boolean) => void): void {
    this.advance(this.now());
    done(this.machine.renew(sessionId, timeoutMs));
  }

  isExpiring(sessionId: bigint): boolean {
    return this.machine.isExpiring(sessionId);
  }

  expireTo(expire: (sessionId: bigint) => void): void {
    this.expire = expire;
  }

  clock(nowMs: number): void {
    this.advance(nowMs);
    this.machine.expireDue(this.effects);
    const effects = this.effects.splice(0);
    for (const effect of effects) if (effect.kind === 'expireSession') this.expire(effect.sessionId);
  }

  created(sessionId: bigint, timeoutMs: number): void {
    this.advance(this.now());
    this.machine.created(sessionId, timeoutMs);
  }

  closed(sessionId: bigint): void {
    this.machine.closed(sessionId);
  }

  reset(): void {
    this.advance(this.now());
    this.machine.replaceTable(sessionTable(this.replicated));
  }

  private advance(nowMs: number): void {
    if (nowMs <= this.last) return;
    this.machine.advance(nowMs - this.last);
    this.last = nowMs;
  }
}
