import type { Revalidation } from '../quorum/effects.js';
import type { QuorumEvent } from '../quorum/events.js';
import type { SessionLiveness } from '../quorum/session-liveness.js';
import type { ReplicatedSessions, SessionAuthority } from '../session/session-authority.js';
import { sessionTable } from './local-sessions.js';

/** The session events the shell gives an ensemble member's core. */
export type SessionEvent = Extract<QuorumEvent, { kind: 'sessionCreated' | 'sessionClosed' | 'sessionTable' | 'revalidateSession' }>;

/** What the ensemble authority needs of the consensus driver. */
export interface SessionLink {
  sessionEvent(event: SessionEvent): void;
  /** A packet on an established session: batched by the driver, one core event per turn. */
  touchSession(sessionId: bigint, timeoutMs: number): void;
  /** The core's session liveness, read here only. */
  readonly sessionLiveness: SessionLiveness;
}

/** Where the consensus driver delivers the core's session effects. */
export interface SessionEffects {
  expired(sessionId: bigint): void;
  revalidated(sessionId: bigint, answer: Revalidation): void;
  /** The driver stopped: nothing more will be answered. */
  stopped(): void;
}

/**
 * An ensemble member's session authority: the shell around the core's session liveness. It
 * reports the replicated table and client activity to the core and hands the core's answers
 * back (revalidations to the handshakes waiting, expiries to the session service).
 */
export class EnsembleSessionAuthority implements SessionAuthority, SessionEffects {
  private readonly waitingAnswers = new Map<bigint, ((answer: Revalidation) => void)[]>();
  private expire: (sessionId: bigint) => void = () => {};
  private isStopped = false;

  constructor(
    private readonly replicated: ReplicatedSessions,
    private readonly link: SessionLink,
  ) {
    this.reset();
  }

  get decides(): boolean {
    return this.link.sessionLiveness.mode === 'decide';
  }

  touch(sessionId: bigint, timeoutMs: number): void {
    if (sessionId !== 0n) this.link.touchSession(sessionId, timeoutMs);
  }

  revalidate(sessionId: bigint, timeoutMs: number, done: (answer: Revalidation) => void): void {
    if (this.isStopped) return done('unknown');
    const waiting = this.waitingAnswers.get(sessionId);
    if (waiting !== undefined) waiting.push(done);
    else this.waitingAnswers.set(sessionId, [done]);
    this.link.sessionEvent({ kind: 'revalidateSession', sessionId, timeoutMs });
  }

  isExpiring(sessionId: bigint): boolean {
    return this.link.sessionLiveness.isExpiring(sessionId);
  }

  /** The leader's core marks the session when it accepts the close, from whichever member the write came. */
  closeRequested(): void {}

  expireTo(expire: (sessionId: bigint) => void): void {
    this.expire = expire;
  }

  /** The core's ticks are the clock here. */
  clock(): void {}

  created(sessionId: bigint, timeoutMs: number): void {
    this.link.sessionEvent({ kind: 'sessionCreated', sessionId, timeoutMs });
  }

  closed(sessionId: bigint): void {
    this.link.sessionEvent({ kind: 'sessionClosed', sessionId });
  }

  reset(): void {
    this.link.sessionEvent({ kind: 'sessionTable', sessions: sessionTable(this.replicated) });
  }

  // ---- SessionEffects ---------------------------------------------------------------------

  expired(sessionId: bigint): void {
    this.expire(sessionId);
  }

  revalidated(sessionId: bigint, answer: Revalidation): void {
    const waiting = this.waitingAnswers.get(sessionId) ?? [];
    this.waitingAnswers.delete(sessionId);
    for (const done of waiting) done(answer);
  }

  stopped(): void {
    this.isStopped = true;
    const waiting = [...this.waitingAnswers.values()];
    this.waitingAnswers.clear();
    for (const list of waiting) for (const done of list) done('unknown');
  }
}
