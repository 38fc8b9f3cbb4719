import { invariant } from '../errors.js';
import { EffectBuffer, type QuorumEffect, type Role } from './effects.js';
import { Election, decidedNotification, type ElectionEffect } from './election.js';
import type { QuorumEvent } from './events.js';
import { Journal, type LogEntry } from './journal.js';
import { LeaderRole } from './leader.js';
import { LearnerRole } from './learner.js';
import { validateQuorumLimits, type QuorumLimits } from './limits.js';
import {
  isElectionMessage,
  isLeaderToLearner,
  isLearnerToLeader,
  revalidateMessage,
  pingReplyTouchesMax,
  type NotificationMessage,
  type PeerMessage,
  type SessionEntry,
} from './messages.js';
import { isMember, isVoter, type QuorumView } from './quorum-view.js';
import type { PersistentEpochs, RoleHost } from './role-host.js';
import { SessionLiveness, SessionMode } from './session-liveness.js';
import { acceptAnyPayload, type PayloadValidator } from './state-machine.js';
import { ServerState, type Vote } from './vote.js';
import type { Zxid } from './zxid.js';

export interface QuorumPeerConfig {
  readonly self: number;
  readonly view: QuorumView;
  readonly limits: QuorumLimits;
  /** How the state machine checks peers' txn payloads and snapshots; default: any bytes do. */
  readonly payloads?: PayloadValidator;
}

/** What the shell recovered from disk at start-up: the core rebuilds every role from this. */
export interface RecoveredState {
  readonly acceptedEpoch: bigint;
  readonly currentEpoch: bigint;
  /** Zxid of the snapshot the state machine was restored from (0n when none). */
  readonly snapshotZxid: Zxid;
  /** Logged txns after the snapshot, in zxid order; all durable. */
  readonly log: readonly LogEntry[];
}

export const emptyRecoveredState: RecoveredState = Object.freeze({
  acceptedEpoch: 0n,
  currentEpoch: 0n,
  snapshotZxid: 0n,
  log: Object.freeze([]) as readonly LogEntry[],
});

/** Step-downs chained within one event; more means roles are fighting, which is a bug. */
const stepDownRoundsMax = 8;

type ActiveRole =
  | { readonly kind: 'looking'; readonly election: Election }
  | { readonly kind: 'leading'; readonly leader: LeaderRole; readonly vote: Vote }
  | { readonly kind: 'learning'; readonly learner: LearnerRole; readonly vote: Vote };

/**
 * One server's consensus core: `step(event)` returns the effects to perform, in order.
 * It owns the election and the current ZAB role and swaps them on decisions and step-downs;
 * it reads no clock and does no I/O.
 */
export class QuorumPeer {
  private readonly journal: Journal;
  private readonly epochs: PersistentEpochs;
  private readonly limits: QuorumLimits;
  private role: ActiveRole;
  private electionEpoch = 0n;
  private readonly out = new EffectBuffer();
  private stepDownReason: string | null = null;
  private readonly host: RoleHost;
  /** Session liveness outlives roles: the table is replicated state every member mirrors. */
  readonly sessions: SessionLiveness;
  private started = false;

  constructor(
    readonly config: QuorumPeerConfig,
    recovered: RecoveredState = emptyRecoveredState,
  ) {
    invariant(isMember(config.view, config.self), `sid ${config.self} is not in the quorum view`);
    invariant(recovered.currentEpoch <= recovered.acceptedEpoch, 'currentEpoch above acceptedEpoch');
    this.limits = validateQuorumLimits(config.limits);
    this.journal = new Journal(this.limits.committedLogWindowMax, recovered.snapshotZxid, recovered.log);
    this.epochs = { acceptedEpoch: recovered.acceptedEpoch, currentEpoch: recovered.currentEpoch };
    this.sessions = new SessionLiveness(this.limits.tickMs, this.limits.sessionBucketTicks);
    const peer = this;
    this.host = {
      self: config.self,
      view: config.view,
      limits: this.limits,
      journal: this.journal,
      epochs: this.epochs,
      payloads: config.payloads ?? acceptAnyPayload,
      sessions: this.sessions,
      get out() { return peer.out; },
      stepDown(reason: string) { if (peer.stepDownReason === null) peer.stepDownReason = reason; },
    };
    this.role = { kind: 'looking', election: this.newElection() };
  }

  // ---- introspection (for the shell's logs, the 4lw `stat`, and the simulator) ----------------

  get self(): number { return this.config.self; }
  get roleName(): Role {
    if (this.role.kind === 'looking') return 'looking';
    if (this.role.kind === 'leading') return 'leading';
    return this.role.learner.observer ? 'observing' : 'following';
  }
  get isServing(): boolean {
    if (this.role.kind === 'leading') return this.role.leader.isServing;
    if (this.role.kind === 'learning') return this.role.learner.isServing;
    return false;
  }
  get leaderSid(): number | null { return this.role.kind === 'looking' ? null : this.role.vote.leader; }
  get epoch(): bigint {
    if (this.role.kind === 'leading') return this.role.leader.currentEpoch;
    if (this.role.kind === 'learning') return this.role.learner.currentEpoch;
    return -1n;
  }
  get acceptedEpoch(): bigint { return this.epochs.acceptedEpoch; }
  get currentEpoch(): bigint { return this.epochs.currentEpoch; }
  get lastLoggedZxid(): Zxid { return this.journal.lastLoggedZxid; }
  get durableZxid(): Zxid { return this.journal.durableZxid; }
  get appliedZxid(): Zxid { return this.journal.appliedZxid; }
  get leaderRole(): LeaderRole | null { return this.role.kind === 'leading' ? this.role.leader : null; }
  get learnerRole(): LearnerRole | null { return this.role.kind === 'learning' ? this.role.learner : null; }
  get lastStepDownReason(): string | null { return this.lastReason; }
  private lastReason: string | null = null;

  /**
   * Ticks until a tick may have any effect (1: the next one may). Every tick before that is
   * idle: it produces no effects, so the shell may sleep through them and deliver them late,
   * in a batch, as long as they come before the next event. The simulator checks this.
   */
  ticksUntilDue(): number {
    if (!this.started) return Number.POSITIVE_INFINITY;
    const sessions = this.sessions.ticksUntilDue();
    switch (this.role.kind) {
      case 'looking': return Math.min(sessions, this.role.election.ticksUntilDue());
      case 'leading': return Math.min(sessions, this.role.leader.ticksUntilDue());
      case 'learning': return Math.min(sessions, this.role.learner.ticksUntilDue());
    }
  }

  // ---- the one entry point ------------------------------------------------------------------

  step(event: QuorumEvent): QuorumEffect[] {
    this.out.clear();
    this.stepDownReason = null;
    this.dispatch(event);
    // A new role may give up at once (say, a learner refused by a non-leader); loop, boundedly.
    for (let rounds = 0; this.stepDownReason !== null; rounds++) {
      invariant(rounds < stepDownRoundsMax, 'roles keep stepping down within one event');
      const reason = this.stepDownReason;
      this.stepDownReason = null;
      this.goLooking(reason);
    }
    this.sessions.setMode(this.sessionMode(), this.out);
    if (event.kind === 'tick' && this.started) this.sessions.expireDue(this.out);
    return this.out.take();
  }

  private dispatch(event: QuorumEvent): void {
    switch (event.kind) {
      case 'start': return this.onStart();
      case 'tick': return this.onTick();
      case 'message': return this.onMessage(event.from, event.msg);
      case 'disconnected': return this.onDisconnected(event.peer);
      case 'durable': return this.onDurable(event.zxid);
      case 'snapshotTaken': return this.role.kind === 'leading' ? this.role.leader.onSnapshotTaken(event.zxid, event.data) : undefined;
      case 'clientWrite': return this.onClientWrite(event.requestId, event.payload);
      case 'clientSync': return this.onClientSync(event.requestId);
      case 'sessionCreated': return this.sessions.created(event.sessionId, event.timeoutMs);
      case 'sessionClosed': return this.sessions.closed(event.sessionId);
      case 'sessionTable': return this.sessions.replaceTable(event.sessions);
      case 'sessionTouches': return this.onSessionTouches(event.touches);
      case 'revalidateSession': return this.onRevalidateSession(event.sessionId, event.timeoutMs);
    }
  }

  private onStart(): void {
    invariant(!this.started, 'start delivered twice');
    this.started = true;
    if (this.role.kind === 'looking') this.runElection(this.role.election.start());
  }

  private onTick(): void {
    if (!this.started) return;
    this.sessions.advance(1);
    switch (this.role.kind) {
      case 'looking': return this.runElection(this.role.election.tick());
      case 'leading': return this.role.leader.tick();
      case 'learning': return this.role.learner.tick();
    }
  }

  private onMessage(from: number, msg: PeerMessage): void {
    // Bad input from the network is dropped, never trusted: unknown senders and our own sid.
    if (!this.started || from === this.self || !isMember(this.config.view, from)) return;
    if (isElectionMessage(msg)) return this.onNotification(from, msg);
    if (this.role.kind === 'leading' && isLearnerToLeader(msg)) return this.role.leader.receive(from, msg);
    if (this.role.kind === 'learning' && isLeaderToLearner(msg)) return this.role.learner.receive(from, msg);
    if (msg.type === 'followerInfo' || msg.type === 'observerInfo') {
      // A learner may decide a moment before its leader does. While we are still LOOKING we
      // keep its hello and hand it to our leader role if we win; refusing it would send the
      // learner into a new election round that the leader's answers no longer count for.
      if (this.role.kind === 'looking') {
        this.earlyLearners.set(from, msg);
        return;
      }
      // We follow someone else: refuse the link so the learner looks again instead of waiting initLimit.
      this.out.push({ kind: 'disconnect', peer: from, reason: `${msg.type} while ${this.roleName}: we do not lead` });
    }
  }

  /** Learner hellos that arrived while we were LOOKING, by sender. */
  private readonly earlyLearners = new Map<number, PeerMessage>();

  /** On deciding: the leader role takes the early hellos; any other role refuses them. */
  private settleEarlyLearners(): void {
    const early = [...this.earlyLearners];
    this.earlyLearners.clear();
    for (const [from, msg] of early) {
      if (this.role.kind === 'leading' && isLearnerToLeader(msg)) this.role.leader.receive(from, msg);
      else this.out.push({ kind: 'disconnect', peer: from, reason: `${msg.type} from a learner, but we decided to be ${this.roleName}` });
    }
  }

  private onNotification(from: number, msg: NotificationMessage): void {
    if (this.role.kind === 'looking') return this.runElection(this.role.election.receive(from, msg));
    // Decided servers answer LOOKING peers with their vote so they can join us.
    if (msg.state !== ServerState.looking) return;
    const state = this.role.kind === 'leading'
      ? ServerState.leading
      : this.role.learner.observer ? ServerState.observing : ServerState.following;
    // Report the epoch we actually serve in, not the one from our election: servers that
    // joined at different times otherwise disagree on peerEpoch and a newcomer never sees a
    // quorum agreeing (ZooKeeper's QuorumPeer.updateElectionVote fixes the same stall).
    const epoch = this.epoch;
    const vote = epoch >= 0n ? { ...this.role.vote, peerEpoch: epoch } : this.role.vote;
    const reply = decidedNotification(state, vote, this.electionEpoch);
    this.out.push({ kind: 'send', to: from, msg: reply });
  }

  private onDisconnected(peer: number): void {
    this.earlyLearners.delete(peer);
    if (this.role.kind === 'leading') this.role.leader.disconnected(peer);
    else if (this.role.kind === 'learning') this.role.learner.disconnected(peer);
  }

  /** Durability is tracked in every role: a LOOKING server's fsyncs still complete. */
  private onDurable(zxid: Zxid): void {
    this.journal.markDurable(zxid);
    if (this.role.kind === 'leading') this.role.leader.onDurable();
    else if (this.role.kind === 'learning') this.role.learner.onDurable();
  }

  private onClientWrite(requestId: number, payload: Uint8Array): void {
    if (this.role.kind === 'leading') return this.role.leader.clientWrite(requestId, payload);
    if (this.role.kind === 'learning') return this.role.learner.clientWrite(requestId, payload);
    this.out.push({ kind: 'requestRejected', requestId, reason: 'notReady' });
  }

  private onClientSync(requestId: number): void {
    if (this.role.kind === 'leading') return this.role.leader.clientSync(requestId);
    if (this.role.kind === 'learning') return this.role.learner.clientSync(requestId);
    this.out.push({ kind: 'requestRejected', requestId, reason: 'notReady' });
  }

  private onSessionTouches(touches: readonly SessionEntry[]): void {
    this.sessions.touched(touches);
    // A full batch goes at once rather than wait for the next PING.
    if (this.role.kind === 'learning' && this.sessions.batchSize >= pingReplyTouchesMax) this.role.learner.sendTouches();
  }

  /** Decided here when this server decides, asked of the leader when it follows, unknown otherwise. */
  private onRevalidateSession(sessionId: bigint, timeoutMs: number): void {
    if (this.sessions.mode === SessionMode.decide) {
      this.out.push({ kind: 'sessionRevalidated', sessionId, answer: this.sessions.renew(sessionId, timeoutMs, this.self) ? 'valid' : 'invalid' });
    } else if (this.sessions.mode === SessionMode.follow && this.role.kind === 'learning') {
      if (this.sessions.ask(sessionId)) this.out.push({ kind: 'send', to: this.role.learner.leader, msg: revalidateMessage(sessionId, timeoutMs) });
    } else {
      this.out.push({ kind: 'sessionRevalidated', sessionId, answer: 'unknown' });
    }
  }

  private sessionMode(): SessionMode {
    if (this.role.kind === 'leading') return this.role.leader.isServing ? SessionMode.decide : SessionMode.none;
    if (this.role.kind === 'learning') return this.role.learner.isServing ? SessionMode.follow : SessionMode.sync;
    return SessionMode.none;
  }

  // ---- role transitions ---------------------------------------------------------------------

  private newElection(): Election {
    return new Election(
      { self: this.self, view: this.config.view, limits: this.limits },
      { lastLoggedZxid: this.journal.lastLoggedZxid, currentEpoch: this.epochs.currentEpoch },
      this.electionEpoch,
    );
  }

  private runElection(effects: ElectionEffect[]): void {
    for (const effect of effects) {
      if (effect.kind === 'sendNotification') {
        this.out.push({ kind: 'send', to: effect.to, msg: effect.msg });
      } else {
        this.electionEpoch = effect.electionEpoch;
        this.becomeDecided(effect.role, effect.vote);
      }
    }
    if (this.role.kind === 'looking') this.electionEpoch = this.role.election.electionEpoch;
  }

  private becomeDecided(role: 'leading' | 'following' | 'observing', vote: Vote): void {
    // Announce first: the new role may already emit effects (even its own serving change).
    this.out.push({ kind: 'roleChanged', role, leader: vote.leader, epoch: -1n, serving: false });
    if (role === 'leading') {
      invariant(isVoter(this.config.view, this.self), 'an observer cannot lead');
      this.role = { kind: 'leading', leader: new LeaderRole(this.host), vote };
    } else {
      this.role = { kind: 'learning', learner: new LearnerRole(this.host, vote.leader, role === 'observing'), vote };
    }
    this.settleEarlyLearners();
  }

  private goLooking(reason: string): void {
    this.lastReason = reason;
    if (this.role.kind === 'leading') this.role.leader.shutdown(reason);
    else if (this.role.kind === 'learning') this.role.learner.shutdown(reason);
    else return;
    this.out.push({ kind: 'roleChanged', role: 'looking', leader: null, epoch: -1n, serving: false });
    const election = this.newElection();
    this.role = { kind: 'looking', election };
    this.runElection(election.start());
  }
}
