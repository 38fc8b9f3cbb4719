import type { QuorumEffect, Revalidation } from '../quorum/effects.js';
import { sessionEntry, type SessionEntry } from '../quorum/messages.js';
import { SessionLiveness, SessionMode } from '../quorum/session-liveness.js';
import type { ReplicatedSessions, SessionAuthority } from '../session/session-authority.js';

/** The replicated table as session entries (what the liveness machine is given whole). */
export function sessionTable(replicated: ReplicatedSessions): SessionEntry[] {
  const out: SessionEntry[] = [];
  for (const [sessionId, timeoutMs] of replicated.timeouts()) out.push(sessionEntry(sessionId, timeoutMs));
  return out;
}

/** Every session lives on the one member there is: ownership never refuses a write here. */
const standaloneMember = 0;

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
    this.machine.renew(sessionId, timeoutMs, standaloneMember);
  }

  revalidate(sessionId: bigint, timeoutMs: number, done: (answer: Revalidation) => void): void {
    this.advance(this.now());
    done(this.machine.renew(sessionId, timeoutMs, standaloneMember) ? 'valid' : 'invalid');
  }

  isExpiring(sessionId: bigint): boolean {
    return this.machine.isExpiring(sessionId);
  }

  closeRequested(sessionId: bigint): void {
    this.machine.closeAccepted(sessionId);
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
