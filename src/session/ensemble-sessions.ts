import { Packr } from 'msgpackr';
import { LocalSessionAuthority, type ReplicatedSessions, type SessionAuthority } from './session-authority.js';

/**
 * The consensus side of an ensemble's sessions: the consensus driver carries these as core
 * events today. When the core gets a session machine of its own, this is the seam it
 * replaces (touches and revalidations become core events, expiry a core effect).
 */
export interface SessionLink {
  /** Learner: hand the leader the sessions heard from (on the next PING reply). */
  sendTouches(data: Uint8Array): void;
  /** Learner: ask the leader whether a session may resume; the answer comes to `revalidated`. */
  askRevalidate(sessionId: bigint, timeoutMs: number): void;
  /** Leader: the answer to a learner's question. */
  answerRevalidate(to: number, sessionId: bigint, valid: boolean): void;
}

/** Where the consensus driver delivers what the core says about sessions. */
export interface SessionEffects {
  /** Leader: touch batches learners sent. */
  touchesReported(touches: readonly Uint8Array[]): void;
  /** Leader: a learner (or this server) asks about a reconnecting session. */
  revalidateRequested(from: number, sessionId: bigint, timeoutMs: number): void;
  /** Learner: the leader's answer. */
  revalidated(sessionId: bigint, valid: boolean): void;
  /** Before a PING reaches the core: a learner hands over what it heard since the last. */
  flush(): void;
  roleChanged(leading: boolean, serving: boolean): void;
}

const packr = new Packr({ useRecords: false, int64AsType: 'bigint', mapsAsObjects: true, moreTypes: false });

/**
 * An ensemble member's session authority. Leading and serving, it decides as a standalone
 * server does (the `LocalSessionAuthority` it holds). Learning, it batches the sessions it
 * hears from for the leader and asks the leader about sessions that reconnect here.
 */
export class EnsembleSessionAuthority implements SessionAuthority, SessionEffects {
  private readonly leader: LocalSessionAuthority;
  /** Sessions heard from since the last flush, with their timeouts (learners only). */
  private readonly touched = new Map<bigint, number>();
  private readonly waitingAnswers = new Map<bigint, ((valid: boolean) => void)[]>();
  private leading = false;
  private serving = false;

  constructor(
    tickMs: number,
    replicated: ReplicatedSessions,
    private readonly link: SessionLink,
    now: () => number,
  ) {
    this.leader = new LocalSessionAuthority(tickMs, replicated, now);
  }

  get decides(): boolean {
    return this.leading && this.serving;
  }

  touch(sessionId: bigint, timeoutMs: number): void {
    if (this.leading) this.leader.touch(sessionId);
    else if (sessionId !== 0n) this.touched.set(sessionId, timeoutMs);
  }

  revalidate(sessionId: bigint, timeoutMs: number, done: (valid: boolean) => void): void {
    if (!this.serving) return done(false);
    if (this.leading) return done(this.leader.renew(sessionId, timeoutMs));
    const waiting = this.waitingAnswers.get(sessionId);
    if (waiting !== undefined) waiting.push(done);
    else this.waitingAnswers.set(sessionId, [done]);
    this.link.askRevalidate(sessionId, timeoutMs);
  }

  isExpiring(sessionId: bigint): boolean {
    return this.leader.isExpiring(sessionId);
  }

  expired(nowMs: number): bigint[] {
    return this.decides ? this.leader.expired(nowMs) : [];
  }

  created(sessionId: bigint, timeoutMs: number): void {
    this.leader.created(sessionId, timeoutMs);
  }

  closed(sessionId: bigint): void {
    this.leader.closed(sessionId);
  }

  reset(): void {
    this.leader.reset();
  }

  // ---- SessionEffects ---------------------------------------------------------------------

  touchesReported(touches: readonly Uint8Array[]): void {
    for (const bytes of touches) {
      for (const [sessionId, timeoutMs] of decodeTouches(bytes)) this.leader.touchReported(sessionId, timeoutMs);
    }
  }

  revalidateRequested(from: number, sessionId: bigint, timeoutMs: number): void {
    this.link.answerRevalidate(from, sessionId, this.leader.renew(sessionId, timeoutMs));
  }

  revalidated(sessionId: bigint, valid: boolean): void {
    const waiting = this.waitingAnswers.get(sessionId) ?? [];
    this.waitingAnswers.delete(sessionId);
    for (const done of waiting) done(valid);
  }

  flush(): void {
    if (this.touched.size === 0 || this.leading) return;
    const data = packr.pack([...this.touched]);
    this.touched.clear();
    this.link.sendTouches(data);
  }

  roleChanged(leading: boolean, serving: boolean): void {
    // A new leader has heard from nobody yet: every session gets a full timeout from now.
    if (leading && serving && !this.decides) this.leader.renewAll();
    if (this.serving && !serving) this.answerAll(false);
    this.leading = leading;
    this.serving = serving;
  }

  private answerAll(valid: boolean): void {
    const waiting = [...this.waitingAnswers.values()];
    this.waitingAnswers.clear();
    for (const list of waiting) for (const done of list) done(valid);
  }
}

/** A learner's touch batch; bytes from the network that are not one yield nothing. */
function decodeTouches(bytes: Uint8Array): [bigint, number][] {
  let pairs: unknown;
  try {
    pairs = packr.unpack(bytes);
  } catch {
    return [];
  }
  if (!Array.isArray(pairs)) return [];
  return pairs.filter((p): p is [bigint, number] => Array.isArray(p) && typeof p[0] === 'bigint' && Number.isSafeInteger(p[1]) && p[1] > 0);
}
