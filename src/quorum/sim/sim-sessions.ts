// Clients with sessions for the simulator: they open sessions (as writes), touch them at their
// member, go silent, close them, and reconnect elsewhere (revalidation). The properties of session
// liveness are checked as the cores' effects are performed.
import type { QuorumEvent } from '../events.js';
import type { PeerMessage } from '../messages.js';
import type { Revalidation } from '../effects.js';
import { SessionMode } from '../session-liveness.js';
import { sessionKeyBase, sessionSlots, simSessionId, simSessionKey } from './hash-chain.js';
import type { Prng } from './prng.js';

/** Ticks a touch may take to reach the leader: PING interval and two slow messages, with room. */
export const touchDeliveryTicks = 15;
/** Sessions one run opens at most. */
const sessionsPerRun = 12;
/** Ticks a reconnecting client waits for an answer before it tries another member. */
const answerWaitTicks = 30;

/** What the clients need of the simulator (implemented by Simulation). */
export interface SessionSimHost {
  readonly prng: Prng;
  readonly tickCount: number;
  readonly tickMs: number;
  members(): readonly SessionSimMember[];
  member(sid: number): SessionSimMember;
  feed(sid: number, event: QuorumEvent): void;
  /** A client write of key := value on `sid`; returns its write id. `afterStep`: from inside an effect. */
  write(sid: number, key: number, value: number, afterStep?: boolean): number;
  writeStatus(writeId: number): 'pending' | 'acked' | 'rejected' | 'unknown';
  violation(message: string): never;
  log(line: string): void;
}

export interface SessionSimMember {
  readonly sid: number;
  readonly up: boolean;
  readonly paused: boolean;
  readonly serving: boolean;
  readonly leading: boolean;
  readonly leader: number | null;
  readonly epoch: bigint;
  readonly sessionMode: SessionMode;
  isOpen(sessionId: bigint): boolean;
}

type ClientState = 'creating' | 'active' | 'reconnecting' | 'silent' | 'closing' | 'dead';

interface Client {
  readonly sessionId: bigint;
  readonly timeoutMs: number;
  readonly timeoutTicks: number;
  member: number;
  state: ClientState;
  readonly writeId: number;
  /** Touches every `gap` ticks while active. */
  readonly gap: number;
  /** Since when the client has not touched its session (silent, closing or dead), or -1. */
  silentSince: number;
  /** Ticks its member has not been serving. */
  troubleTicks: number;
  askedAt: number;
  /** Closing: the tick at which the old holder of a session closed by takeover reconnects, or -1. */
  reconnectAt: number;
  /** Recent touches: [tick, member]. */
  readonly touches: [number, number][];
}

export interface SessionStats {
  sessionsOpened: number;
  sessionsExpired: number;
  revalidationsValid: number;
  revalidationsInvalid: number;
  revalidationsUnknown: number;
}

export class SimSessions {
  private readonly clients = new Map<bigint, Client>();
  /** Since when each member's role, leader, epoch and link health have held (no fault since). */
  private readonly stableSince = new Map<number, number>();
  /** Sessions each member expired, or proposed a close of, in its current term as leader. */
  private readonly closingInTerm = new Map<number, Set<bigint>>();
  /** Sessions whose close was submitted as a write anywhere (an expiry or the client's own). */
  private readonly closeSubmitted = new Set<bigint>();
  /** Revalidations asked and not yet answered, by member: session ids. */
  private readonly asked = new Map<number, Set<bigint>>();
  /** Sessions some deciding leader answered invalid: only these may a learner relay as invalid. */
  private readonly decidedInvalid = new Set<bigint>();
  /** Sessions whose close was applied anywhere: committed, never valid again. */
  private readonly closedInCanon = new Set<bigint>();
  readonly stats: SessionStats = { sessionsOpened: 0, sessionsExpired: 0, revalidationsValid: 0, revalidationsInvalid: 0, revalidationsUnknown: 0 };

  constructor(private readonly host: SessionSimHost) {}

  /** Something happened to these members (a fault, a role change): their stable stretch restarts. */
  unsettle(sids: Iterable<number>): void {
    for (const sid of sids) this.stableSince.set(sid, this.host.tickCount);
  }

  roleChanged(sid: number): void {
    this.unsettle([sid]);
    this.closingInTerm.delete(sid);
  }

  /** A crashed member's questions die with it. */
  crashed(sid: number): void {
    this.unsettle([sid]);
    this.asked.delete(sid);
  }

  /** A session write joined the canonical applied sequence. */
  canonApplied(key: number, value: number): void {
    if (key >= sessionKeyBase && value === 0) this.closedInCanon.add(simSessionId(key - sessionKeyBase));
  }

  // ---- the clients' turn, every tick -----------------------------------------------------------

  onTick(chaos: boolean): void {
    const host = this.host;
    this.checkAsked();
    if (chaos && this.clients.size < Math.min(sessionsPerRun, sessionSlots) && host.prng.chance(0.05)) this.open();
    for (const client of this.clients.values()) {
      switch (client.state) {
        case 'creating': this.created(client); break;
        case 'active': this.activeTurn(client, chaos); break;
        case 'reconnecting':
          if (host.tickCount - client.askedAt > answerWaitTicks) this.reconnect(client);
          break;
        case 'closing':
          if (client.reconnectAt === host.tickCount) this.reconnect(client);
          break;
        case 'silent':
        case 'dead':
          break;
      }
    }
  }

  private open(): void {
    const host = this.host;
    const slot = this.clients.size;
    const sessionId = simSessionId(slot);
    const timeoutTicks = host.prng.range(40, 100);
    const timeoutMs = timeoutTicks * host.tickMs;
    const member = host.prng.pick(host.members()).sid;
    const writeId = host.write(member, simSessionKey(sessionId), timeoutMs);
    const gap = host.prng.range(1, Math.floor(timeoutTicks / 4));
    this.clients.set(sessionId, {
      sessionId, timeoutMs, timeoutTicks, member, state: 'creating', writeId, gap, silentSince: -1, troubleTicks: 0, askedAt: 0, reconnectAt: -1, touches: [],
    });
    this.stats.sessionsOpened++;
    host.log(`session ${sessionId} opens at ${member}, timeout ${timeoutTicks} ticks, touches every ${gap}`);
  }

  private created(client: Client): void {
    const status = this.host.writeStatus(client.writeId);
    if (status === 'pending') return;
    // A create whose outcome is unknown may still apply: its session then has no client.
    if (status === 'acked' && !this.host.prng.chance(0.15)) client.state = 'active';
    else this.silence(client);
  }

  private activeTurn(client: Client, chaos: boolean): void {
    const host = this.host;
    if (chaos && host.prng.chance(0.003)) return this.silence(client);
    if (chaos && host.prng.chance(0.002)) return this.close(client);
    const member = host.member(client.member);
    client.troubleTicks = member.up && member.serving ? 0 : client.troubleTicks + 1;
    if (client.troubleTicks > 5 || (chaos && host.prng.chance(0.01))) return this.reconnect(client);
    if (host.tickCount % client.gap !== 0) return;
    host.feed(client.member, { kind: 'sessionTouches', touches: [{ sessionId: client.sessionId, timeoutMs: client.timeoutMs }] });
    client.touches.push([host.tickCount, client.member]);
    while (client.touches.length > 0 && client.touches[0]![0] < host.tickCount - client.timeoutTicks - touchDeliveryTicks) client.touches.shift();
  }

  private silence(client: Client): void {
    client.state = 'silent';
    client.silentSince = this.host.tickCount;
  }

  /**
   * The session is closed (a write at the client's member; if the write is lost, the session
   * expires). Half the time by a takeover, as Curator's KillSession does: the old holder,
   * disconnected, reconnects elsewhere a few ticks later, maybe before the close commits.
   */
  private close(client: Client): void {
    const host = this.host;
    client.state = 'closing';
    client.silentSince = host.tickCount;
    client.reconnectAt = host.prng.chance(0.5) ? host.tickCount + host.prng.range(1, 8) : -1;
    this.closeSubmitted.add(client.sessionId);
    host.write(client.member, simSessionKey(client.sessionId), 0);
    host.log(`session ${client.sessionId} closes at ${client.member}${client.reconnectAt < 0 ? '' : `; its old holder reconnects at t${client.reconnectAt}`}`);
  }

  /** The client's connection is gone: it tries another member, which revalidates its session. */
  private reconnect(client: Client): void {
    const host = this.host;
    const others = host.members().filter((m) => m.sid !== client.member);
    client.member = host.prng.pick(others.length > 0 ? others : host.members()).sid;
    client.state = 'reconnecting';
    client.askedAt = host.tickCount;
    client.troubleTicks = 0;
    if (host.member(client.member).up) {
      let asked = this.asked.get(client.member);
      if (asked === undefined) this.asked.set(client.member, (asked = new Set()));
      asked.add(client.sessionId);
    }
    host.feed(client.member, { kind: 'revalidateSession', sessionId: client.sessionId, timeoutMs: client.timeoutMs });
  }

  /** A member that is not serving has answered every revalidation asked of it (unknown). */
  private checkAsked(): void {
    for (const [sid, sessions] of this.asked) {
      const member = this.host.member(sid);
      if (sessions.size > 0 && member.up && !member.paused && !member.serving) {
        this.host.violation(`${sid} is not serving but left revalidations of ${[...sessions].join(', ')} unanswered`);
      }
    }
  }

  // ---- effects -----------------------------------------------------------------------------

  /** (a) only a serving leader expires, a session of its table; (b) never one kept alive in time. */
  expired(sid: number, sessionId: bigint): void {
    const host = this.host;
    const leader = host.member(sid);
    if (!leader.leading || !leader.serving) host.violation(`${sid} expired session ${sessionId} while not the serving leader`);
    if (!leader.isOpen(sessionId)) host.violation(`${sid} expired session ${sessionId}, which is not in its table`);
    this.stats.sessionsExpired++;
    this.markClosing(sid, sessionId);
    host.log(`${sid} expires session ${sessionId}`);
    const client = this.clients.get(sessionId);
    if (client !== undefined) this.checkKeptAlive(leader, client);
    this.closeSubmitted.add(sessionId);
    host.write(sid, simSessionKey(sessionId), 0, true);
  }

  /** A leader logged a write of its own proposing: a session close makes the session closing there for the term. */
  proposed(sid: number, key: number, value: number): void {
    if (key >= sessionKeyBase && value === 0 && this.host.member(sid).leading) this.markClosing(sid, simSessionId(key - sessionKeyBase));
  }

  private markClosing(sid: number, sessionId: bigint): void {
    let term = this.closingInTerm.get(sid);
    if (term === undefined) this.closingInTerm.set(sid, (term = new Set()));
    term.add(sessionId);
  }

  /**
   * A touch at tick t1 reaches a leader that served throughout within touchDeliveryTicks when
   * the touched member stayed serving under it (no fault, no role change) from t1 on; then the
   * leader heard from the session after now - timeout and must not expire it yet.
   */
  private checkKeptAlive(leader: SessionSimMember, client: Client): void {
    const now = this.host.tickCount;
    const leaderSince = this.stableSince.get(leader.sid) ?? 0;
    for (const [t1, sid] of client.touches) {
      if (t1 <= now - client.timeoutTicks || t1 > now - touchDeliveryTicks || leaderSince > t1) continue;
      const member = this.host.member(sid);
      const underLeader = sid === leader.sid || (member.serving && member.leader === leader.sid && member.epoch === leader.epoch);
      if (underLeader && (this.stableSince.get(sid) ?? 0) <= t1 && member.up && !member.paused) {
        this.host.violation(`${leader.sid} expired session ${client.sessionId} at t${now}, touched at ${sid} at t${t1} (timeout ${client.timeoutTicks} ticks), both stable`);
      }
    }
  }

  /** (d) a valid answer comes from the deciding leader, for an open session it is not expiring or closing. */
  answeredValid(sid: number, sessionId: bigint): void {
    const member = this.host.member(sid);
    if (member.sessionMode !== SessionMode.decide) this.host.violation(`${sid} decided session ${sessionId} valid without deciding`);
    if (!member.isOpen(sessionId)) this.host.violation(`${sid} revalidated session ${sessionId}, which is not in its table`);
    if (this.closedInCanon.has(sessionId)) this.host.violation(`${sid} revalidated session ${sessionId} after its close was applied`);
    if (this.closingInTerm.get(sid)?.has(sessionId) === true) this.host.violation(`${sid} revalidated session ${sessionId}, which it is expiring or closing`);
  }

  /**
   * (e) an invalid answer is a deciding leader's, for a session not in its table, expiring, or
   * with a close submitted (the leader may accept it before it proposes it):
   * a client told so stops for good, so a member that cannot ask a leader must say 'unknown'.
   */
  private answeredInvalid(sid: number, sessionId: bigint): void {
    const member = this.host.member(sid);
    if (member.sessionMode !== SessionMode.decide) {
      this.host.violation(`${sid} decided session ${sessionId} invalid without deciding`);
    } else if (member.isOpen(sessionId) && this.closingInTerm.get(sid)?.has(sessionId) !== true && !this.closeSubmitted.has(sessionId)) {
      this.host.violation(`${sid} decided session ${sessionId} invalid, which is open and not expiring`);
    }
    this.decidedInvalid.add(sessionId);
  }

  /** A leader's answer to a learner. */
  sent(sid: number, msg: PeerMessage): void {
    if (msg.type !== 'revalidateReply') return;
    if (msg.valid) this.answeredValid(sid, msg.sessionId);
    else this.answeredInvalid(sid, msg.sessionId);
  }

  /** A `sessionRevalidated` effect: the answer to a reconnecting client. */
  revalidated(sid: number, sessionId: bigint, answer: Revalidation): void {
    this.asked.get(sid)?.delete(sessionId);
    const deciding = this.host.member(sid).sessionMode === SessionMode.decide;
    if (answer === 'valid') {
      this.stats.revalidationsValid++;
      if (deciding) this.answeredValid(sid, sessionId);
    } else if (answer === 'invalid') {
      this.stats.revalidationsInvalid++;
      if (deciding) this.answeredInvalid(sid, sessionId);
      else if (!this.decidedInvalid.has(sessionId)) this.host.violation(`${sid} told a client session ${sessionId} is invalid, which no leader decided`);
    } else {
      this.stats.revalidationsUnknown++;
    }
    const client = this.clients.get(sessionId);
    if (client === undefined || client.state !== 'reconnecting' || client.member !== sid) return;
    if (answer === 'valid') {
      client.state = 'active';
    } else if (answer === 'invalid') {
      // What a real client does when told its session expired: it stops.
      client.state = 'dead';
      client.silentSince = this.host.tickCount;
    } else {
      // Asked a member that could not answer (not serving): try again after a while.
      client.askedAt = this.host.tickCount - answerWaitTicks + 5;
    }
  }

  // ---- liveness -----------------------------------------------------------------------------

  /** Some touching clients go silent, for (c); returns the longest timeout, in ticks. */
  silenceSome(): number {
    let longest = 0;
    for (const client of this.clients.values()) {
      if (client.state === 'active' && this.host.prng.chance(0.5)) this.silence(client);
      longest = Math.max(longest, client.timeoutTicks);
    }
    return longest;
  }

  /** (c) every session without a touching client is closed on every member. */
  silentSessionsClosed(): boolean {
    for (const client of this.clients.values()) {
      if (client.state !== 'silent' && client.state !== 'closing' && client.state !== 'dead') continue;
      for (const member of this.host.members()) if (member.isOpen(client.sessionId)) return false;
    }
    return true;
  }

  /** The silent sessions still open somewhere, for a failure report. */
  silentOpen(): string {
    return [...this.clients.values()].filter((c) => (c.state === 'silent' || c.state === 'closing' || c.state === 'dead') && this.host.members().some((m) => m.isOpen(c.sessionId)))
      .map((c) => `${c.sessionId} (silent since t${c.silentSince}, timeout ${c.timeoutTicks})`).join(', ');
  }
}
