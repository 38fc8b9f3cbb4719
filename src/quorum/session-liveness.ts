// Ensemble session liveness as a pure machine on the core's ticks (DESIGN.md: the session
// tracker is a state machine like the roles). Time is ticks; session timeouts arrive in ms.
import type { EffectSink, Revalidation } from './effects.js';
import { sessionEntry, type SessionEntry } from './messages.js';
import { ExpiryQueue } from './expiry-queue.js';

/** What this member does about sessions, from its role and readiness. */
export const SessionMode = {
  /** The serving leader (or a standalone server): decides who lives and expires the rest. */
  decide: 'decide',
  /** A serving learner: reports touches to its leader and asks it about reconnecting sessions. */
  follow: 'follow',
  /** A learner still syncing: keeps touches for its leader, answers no revalidation. */
  sync: 'sync',
  /** Looking, or a leader not yet established. */
  none: 'none',
} as const;
export type SessionMode = (typeof SessionMode)[keyof typeof SessionMode];

/**
 * Every member mirrors the replicated session table (the shell reports session txns as they
 * apply). Deciding, each session has a deadline bucket, renewed when the session is heard
 * from directly, through a learner's PING reply, or by a valid revalidation; a session whose
 * deadline passes is expired once, and it (or one whose close a client asked for) is
 * "closing" until its close applies. Following, the
 * sessions heard from since the last PING reply are batched for the leader.
 */
export class SessionLiveness {
  private now = 0;
  private current: SessionMode = SessionMode.none;
  /** The replicated session table: negotiated timeout (ms) by session id. */
  private readonly table = new Map<bigint, number>();
  private readonly deadlines: ExpiryQueue<bigint>;
  /** Deciding: sessions expired here, or whose close was accepted, with the close on the way. */
  private readonly closing = new Set<bigint>();
  /** Learning: sessions heard from since the last PING reply, with their timeouts. */
  private readonly batch = new Map<bigint, number>();
  /** Following: reconnecting sessions the leader was asked about. */
  private readonly asked = new Set<bigint>();
  /**
   * Deciding: the member each session's writes must come from, set by its first write or a
   * valid revalidation (ZooKeeper's session owner). Soft state: a new leader starts without.
   */
  private readonly owners = new Map<bigint, number>();

  /** `tickMs`: the ms one tick stands for; `bucketTicks`: expiry granularity (tickTime). */
  constructor(
    private readonly tickMs: number,
    bucketTicks: number,
  ) {
    this.deadlines = new ExpiryQueue(bucketTicks);
  }

  get mode(): SessionMode { return this.current; }
  get sessionCount(): number { return this.table.size; }
  get batchSize(): number { return this.batch.size; }
  /** True once the session's time ran out here, or its close was accepted, and the close is on the way. */
  isExpiring(sessionId: bigint): boolean { return this.closing.has(sessionId); }

  // ---- the replicated table, as the shell applies it -----------------------------------------

  created(sessionId: bigint, timeoutMs: number): void {
    this.table.set(sessionId, timeoutMs);
    if (this.current === SessionMode.decide) this.heard(sessionId, timeoutMs);
  }

  closed(sessionId: bigint): void {
    this.table.delete(sessionId);
    this.owners.delete(sessionId);
    this.closing.delete(sessionId);
    this.deadlines.remove(sessionId);
  }

  /** The whole table (at start, or after a snapshot replaced the state): full timeouts from now. */
  replaceTable(sessions: readonly SessionEntry[]): void {
    this.table.clear();
    this.closing.clear();
    this.owners.clear();
    this.deadlines.clear();
    for (const s of sessions) this.table.set(s.sessionId, s.timeoutMs);
    if (this.current === SessionMode.decide) this.renewAll();
  }

  // ---- time and role ---------------------------------------------------------------------------

  advance(ticks: number): void {
    this.now += ticks;
  }

  /** Deciding: expires every session whose deadline has passed. */
  expireDue(out: EffectSink): void {
    if (this.current !== SessionMode.decide) return;
    for (const sessionId of this.deadlines.expire(this.now)) {
      if (!this.table.has(sessionId)) continue;
      this.closing.add(sessionId);
      out.push({ kind: 'expireSession', sessionId });
    }
  }

  /** Ticks until expireDue may act (1: after the next tick). */
  ticksUntilDue(): number {
    if (this.current !== SessionMode.decide) return Number.POSITIVE_INFINITY;
    return Math.max(1, this.deadlines.nextDeadline() - this.now);
  }

  setMode(mode: SessionMode, out: EffectSink): void {
    if (mode === this.current) return;
    const was = this.current;
    this.current = mode;
    if (was === SessionMode.decide) {
      this.deadlines.clear();
      this.closing.clear();
      this.owners.clear();
    }
    // A new leader has heard from nobody yet: every session gets a full timeout from now.
    if (mode === SessionMode.decide) this.renewAll();
    if (mode !== SessionMode.follow) this.answerAsked('unknown', out);
    if (mode === SessionMode.decide || mode === SessionMode.none) this.batch.clear();
  }

  // ---- clients -------------------------------------------------------------------------------

  /** Sessions this member's clients were heard from: renewed when deciding, batched when learning. */
  touched(touches: readonly SessionEntry[]): void {
    if (this.current === SessionMode.decide) return this.reported(touches);
    if (this.current === SessionMode.none) return;
    for (const t of touches) this.batch.set(t.sessionId, t.timeoutMs);
  }

  /** Deciding: touches a learner reported on a PING reply. */
  reported(touches: readonly SessionEntry[]): void {
    if (this.current !== SessionMode.decide) return;
    for (const t of touches) this.heard(t.sessionId, t.timeoutMs);
  }

  /** The batch for the next PING reply, emptied. */
  takeBatch(): SessionEntry[] {
    const out: SessionEntry[] = [];
    for (const [sessionId, timeoutMs] of this.batch) out.push(sessionEntry(sessionId, timeoutMs));
    this.batch.clear();
    return out;
  }

  /**
   * Deciding: a close of the session was accepted for proposal. From now on it is as good as
   * expired: no renewal, no valid revalidation, before the close commits (ZooKeeper marks it
   * closing when the close request is prepared).
   */
  closeAccepted(sessionId: bigint): void {
    if (this.current !== SessionMode.decide || !this.table.has(sessionId)) return;
    this.closing.add(sessionId);
    this.deadlines.remove(sessionId);
  }

  /**
   * Deciding: valid when in the table and not expiring; a valid session gets a full timeout
   * from now, and member `by` (where it reconnected) becomes its owner.
   */
  renew(sessionId: bigint, timeoutMs: number, by: number): boolean {
    if (this.current !== SessionMode.decide || !this.table.has(sessionId) || this.closing.has(sessionId)) return false;
    this.heard(sessionId, timeoutMs);
    this.owners.set(sessionId, by);
    return true;
  }

  /**
   * Deciding: whether a write of the session may come from member `from`: not once the session
   * was resumed through another member. A write held up on a connection its client has left
   * (a partition healing, say) would otherwise apply after the client's later writes. The
   * first write of a session with no owner yet makes `from` its owner.
   */
  mayWrite(sessionId: bigint, from: number): boolean {
    if (this.current !== SessionMode.decide || !this.table.has(sessionId)) return true;
    const owner = this.owners.get(sessionId);
    if (owner === undefined) this.owners.set(sessionId, from);
    return owner === undefined || owner === from;
  }

  /** Following: records a question for the leader; false when one is already on the way. */
  ask(sessionId: bigint): boolean {
    if (this.asked.has(sessionId)) return false;
    this.asked.add(sessionId);
    return true;
  }

  /** Following: the leader's answer; one nobody asked for is dropped. */
  answered(sessionId: bigint, valid: boolean, out: EffectSink): void {
    if (this.asked.delete(sessionId)) out.push({ kind: 'sessionRevalidated', sessionId, answer: valid ? 'valid' : 'invalid' });
  }

  private answerAsked(answer: Revalidation, out: EffectSink): void {
    for (const sessionId of this.asked) out.push({ kind: 'sessionRevalidated', sessionId, answer });
    this.asked.clear();
  }

  private heard(sessionId: bigint, timeoutMs: number): void {
    if (!this.table.has(sessionId) || this.closing.has(sessionId)) return;
    this.deadlines.touch(sessionId, Math.ceil(timeoutMs / this.tickMs), this.now);
  }

  private renewAll(): void {
    for (const [sessionId, timeoutMs] of this.table) this.heard(sessionId, timeoutMs);
  }
}
