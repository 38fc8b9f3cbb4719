import type { LogEntry } from './journal.js';
import {
  commitMessage,
  diffMessage,
  informMessage,
  leaderInfoMessage,
  newLeaderMessage,
  pingMessage,
  proposalMessage,
  requestRejectedMessage,
  revalidateReplyMessage,
  snapChunkMessage,
  snapMessage,
  syncMessage,
  truncMessage,
  upToDateMessage,
  type AckEpochMessage,
  type AckMessage,
  type AckNewLeaderMessage,
  type FollowerInfoMessage,
  type LearnerToLeaderMessage,
  type ObserverInfoMessage,
  type Origin,
  type PeerMessage,
  type PingReplyMessage,
  type RejectReason,
  type RequestMessage,
  type RevalidateMessage,
  type SyncRequestMessage,
} from './messages.js';
import { isObserver, isQuorum, isVoter, quorumSize } from './quorum-view.js';
import { emit, persistAcceptedEpoch, persistCurrentEpoch, type RoleHost } from './role-host.js';
import { makeZxid, zxidCounterMax, zxidEpochMax, zxidEpochStart, zxidToHex, type Zxid } from './zxid.js';

/** Where the leader is in establishing its epoch (Zab.tla's discovery → synchronization → broadcast). */
export const LeaderPhase = {
  /** Waiting for FOLLOWERINFO from a quorum to pick an epoch above every accepted one. */
  discovery: 'discovery',
  /** LEADERINFO sent; waiting for ACKEPOCH from a quorum. */
  awaitingEpochAcks: 'awaitingEpochAcks',
  /** Learners synced; waiting for a quorum to ack NEWLEADER (history durable at a quorum). */
  awaitingNewLeaderAcks: 'awaitingNewLeaderAcks',
  /** Established: proposing, committing, serving. */
  broadcast: 'broadcast',
} as const;
export type LeaderPhase = (typeof LeaderPhase)[keyof typeof LeaderPhase];

/** One learner connection as the leader sees it (ZooKeeper's LearnerHandler, minus the thread). */
export const LearnerPhase = {
  connected: 'connected',
  epochSent: 'epochSent',
  /** ACKEPOCH in; an observer waits here until the leader is established. */
  epochAcked: 'epochAcked',
  awaitingSnapshot: 'awaitingSnapshot',
  /** Sync packets and NEWLEADER sent: proposals and commits are forwarded from here on. */
  synced: 'synced',
  newLeaderAcked: 'newLeaderAcked',
  upToDate: 'upToDate',
} as const;
export type LearnerPhase = (typeof LearnerPhase)[keyof typeof LearnerPhase];

interface LearnerHandle {
  readonly sid: number;
  readonly observer: boolean;
  phase: LearnerPhase;
  acceptedEpoch: bigint;
  lastZxid: Zxid;
  currentEpoch: bigint;
  /** Whether this learner's ACKEPOCH counts toward the epoch quorum. */
  epochVote: boolean;
  /** Highest zxid this follower reported durable (cumulative ACK). */
  ackedZxid: Zxid;
  lastHeard: number;
}

interface PendingSync {
  readonly zxid: Zxid;
  readonly origin: Origin;
}

interface BacklogWrite {
  readonly origin: Origin;
  readonly payload: Uint8Array;
}

/** Phases in which a learner's link carries forwarded proposals, commits and informs. */
function isForwarding(h: LearnerHandle): boolean {
  return h.phase === LearnerPhase.synced || h.phase === LearnerPhase.newLeaderAcked || h.phase === LearnerPhase.upToDate;
}

/** Phases in which a follower's ACKs may count: it has stored currentEpoch = our epoch. */
function countsForCommit(h: LearnerHandle): boolean {
  return !h.observer && (h.phase === LearnerPhase.newLeaderAcked || h.phase === LearnerPhase.upToDate);
}

/**
 * The leader role: a value holding per-learner state, driven one event at a time.
 * Handler names follow Zab.tla / LearnerHandler (leaderProcessFollowerInfo, ...).
 */
export class LeaderRole {
  private phase: LeaderPhase = LeaderPhase.discovery;
  private epoch = -1n;
  private readonly learners = new Map<number, LearnerHandle>();
  private now = 0;
  private readonly establishDeadline: number;
  private nextCounter = 1n;
  private lastProposed: Zxid = 0n;
  private committed: Zxid;
  /** End of the history this leader brought into its epoch; committed once established. */
  private initialHistoryEnd: Zxid = 0n;
  private snapshotRequested = false;
  private readonly pendingSyncs: PendingSync[] = [];
  private readonly backlog: BacklogWrite[] = [];

  constructor(private readonly host: RoleHost) {
    this.committed = host.journal.appliedZxid;
    this.establishDeadline = host.limits.initLimitTicks;
    this.checkDiscoveryQuorum();
  }

  get currentPhase(): LeaderPhase { return this.phase; }
  get currentEpoch(): bigint { return this.epoch; }
  get committedZxid(): Zxid { return this.committed; }
  get lastProposedZxid(): Zxid { return this.lastProposed; }
  get isServing(): boolean { return this.phase === LeaderPhase.broadcast; }
  learnerPhase(sid: number): LearnerPhase | undefined { return this.learners.get(sid)?.phase; }

  // ---- events ------------------------------------------------------------------------------

  receive(from: number, msg: LearnerToLeaderMessage): void {
    const handle = this.learners.get(from);
    if (handle !== undefined) handle.lastHeard = this.now;
    switch (msg.type) {
      case 'followerInfo':
      case 'observerInfo':
        return this.leaderProcessFollowerInfo(from, msg);
      case 'ackEpoch':
        return this.withHandle(from, (h) => this.leaderProcessAckEpoch(h, msg));
      case 'ackNewLeader':
        return this.withHandle(from, (h) => this.leaderProcessAckNewLeader(h, msg));
      case 'ack':
        return this.withHandle(from, (h) => this.leaderProcessAck(h, msg));
      case 'pingReply':
        return this.withHandle(from, (h) => this.leaderProcessPingReply(h, msg));
      case 'request':
        return this.withHandle(from, (h) => this.leaderProcessRequest(h, msg));
      case 'syncRequest':
        return this.withHandle(from, (h) => this.leaderProcessSyncRequest(h, msg));
      case 'revalidate':
        return this.withHandle(from, (h) => this.leaderProcessRevalidate(h, msg));
    }
  }

  tick(): void {
    this.now++;
    if (this.phase !== LeaderPhase.broadcast && this.now > this.establishDeadline) {
      return this.host.stepDown('epoch not established within initLimit');
    }
    this.dropSilentLearners();
    if (this.phase === LeaderPhase.broadcast && !this.hasSyncedQuorum()) {
      // A leader cut off from its quorum must stop at once: another may already lead.
      return this.host.stepDown('no quorum heard within syncLimit');
    }
    if (this.now % this.host.limits.pingIntervalTicks === 0) this.sendPings();
  }

  /**
   * Ticks until tick() may act: the next PING, the establishment deadline, or the first
   * learner whose silence would drop it or cost the leader its quorum.
   */
  ticksUntilDue(): number {
    const limits = this.host.limits;
    if (this.phase === LeaderPhase.broadcast && !this.hasSyncedQuorum()) return 1;
    let at = (Math.floor(this.now / limits.pingIntervalTicks) + 1) * limits.pingIntervalTicks;
    if (this.phase !== LeaderPhase.broadcast) at = Math.min(at, this.establishDeadline + 1);
    for (const h of this.learners.values()) {
      at = Math.min(at, h.lastHeard + this.silenceLimit(h) + 1);
      if (countsForCommit(h)) at = Math.min(at, h.lastHeard + limits.syncLimitTicks + 1);
    }
    return Math.max(1, at - this.now);
  }

  disconnected(peer: number): void {
    this.learners.delete(peer);
  }

  onDurable(): void {
    if (this.phase === LeaderPhase.awaitingNewLeaderAcks) this.checkNewLeaderQuorum();
    else if (this.phase === LeaderPhase.broadcast) this.tryCommit();
  }

  clientWrite(requestId: number, payload: Uint8Array): void {
    this.acceptWrite({ sid: this.host.self, requestId }, payload);
  }

  clientSync(requestId: number): void {
    if (this.phase !== LeaderPhase.broadcast) return this.reject({ sid: this.host.self, requestId }, 'notReady');
    this.acceptSync({ sid: this.host.self, requestId });
  }

  revalidateAnswer(to: number, sessionId: bigint, valid: boolean): void {
    if (to === this.host.self) return emit(this.host, { kind: 'sessionRevalidated', sessionId, valid });
    const h = this.learners.get(to);
    if (h !== undefined) this.send(h.sid, revalidateReplyMessage(sessionId, valid));
  }

  /** Closes every learner link: learners must not keep following a leader that gave up. */
  shutdown(reason: string): void {
    for (const sid of this.learners.keys()) emit(this.host, { kind: 'disconnect', peer: sid, reason: `leader stepped down: ${reason}` });
    this.learners.clear();
  }

  onSnapshotTaken(zxid: Zxid, data: Uint8Array): void {
    if (!this.snapshotRequested) return;
    this.snapshotRequested = false;
    if (zxid < this.host.journal.baseZxid) {
      // The window moved past the snapshot while it was taken; ask again.
      return this.requestSnapshot();
    }
    for (const h of this.learners.values()) {
      if (h.phase !== LearnerPhase.awaitingSnapshot) continue;
      this.sendSnapshot(h, zxid, data);
      this.sendHistory(h, zxid);
      this.finishSync(h);
    }
  }

  /** SNAP announces the size; the bytes follow in chunks, so no frame holds a whole tree. */
  private sendSnapshot(h: LearnerHandle, zxid: Zxid, data: Uint8Array): void {
    this.send(h.sid, snapMessage(zxid, data.length));
    const chunk = this.host.limits.snapChunkBytes;
    for (let at = 0; at < data.length; at += chunk) this.send(h.sid, snapChunkMessage(data.subarray(at, at + chunk)));
  }

  // ---- discovery -----------------------------------------------------------------------------

  private leaderProcessFollowerInfo(from: number, msg: FollowerInfoMessage | ObserverInfoMessage): void {
    const observer = msg.type === 'observerInfo';
    if (observer ? !isObserver(this.host.view, from) : !isVoter(this.host.view, from)) {
      // A learner type that disagrees with our view: refuse the link rather than guess.
      this.learners.delete(from);
      return emit(this.host, { kind: 'disconnect', peer: from, reason: `${msg.type} from a server our configuration calls ${observer ? 'a voter' : 'an observer'}` });
    }
    if (msg.acceptedEpoch >= zxidEpochMax) {
      // No epoch above it exists: this learner could never accept one of ours.
      this.learners.delete(from);
      return emit(this.host, { kind: 'disconnect', peer: from, reason: `${msg.type} with acceptedEpoch ${msg.acceptedEpoch}, the last epoch there is` });
    }
    const handle: LearnerHandle = {
      sid: from,
      observer,
      phase: LearnerPhase.connected,
      acceptedEpoch: msg.acceptedEpoch,
      lastZxid: 0n,
      currentEpoch: 0n,
      epochVote: false,
      ackedZxid: 0n,
      lastHeard: this.now,
    };
    // A new FOLLOWERINFO starts a new connection; whatever the old handle knew is void.
    this.learners.set(from, handle);
    if (this.phase === LeaderPhase.discovery) this.checkDiscoveryQuorum();
    else this.sendLeaderInfo(handle);
  }

  /** Zab's new epoch: above every acceptedEpoch seen, so no two leaders share one. */
  private checkDiscoveryQuorum(): void {
    const connected = [this.host.self];
    for (const h of this.learners.values()) if (!h.observer) connected.push(h.sid);
    if (!isQuorum(this.host.view, connected)) return;
    let highest = this.host.epochs.acceptedEpoch;
    for (const h of this.learners.values()) if (h.acceptedEpoch > highest) highest = h.acceptedEpoch;
    // Only forged epochs get here in practice (2^32 elections); no leader can go on, none must crash.
    if (highest >= zxidEpochMax) return this.host.stepDown('epoch space exhausted');
    this.epoch = highest + 1n;
    persistAcceptedEpoch(this.host, this.epoch);
    this.lastProposed = zxidEpochStart(this.epoch);
    this.phase = LeaderPhase.awaitingEpochAcks;
    for (const h of this.learners.values()) this.sendLeaderInfo(h);
    this.checkEpochQuorum();
  }

  private sendLeaderInfo(h: LearnerHandle): void {
    h.phase = LearnerPhase.epochSent;
    this.send(h.sid, leaderInfoMessage(this.epoch));
  }

  private leaderProcessAckEpoch(h: LearnerHandle, msg: AckEpochMessage): void {
    if (h.phase !== LearnerPhase.epochSent) return this.protocolViolation(h, 'ACKEPOCH out of order');
    h.lastZxid = msg.lastLoggedZxid;
    h.currentEpoch = msg.currentEpoch;
    h.epochVote = msg.acceptedNow && !h.observer;
    h.phase = LearnerPhase.epochAcked;
    if (this.phase === LeaderPhase.awaitingEpochAcks) {
      if (h.epochVote && this.isBehind(msg)) {
        // A quorum member has a newer history than ours: we must not lead this epoch.
        return this.host.stepDown(`learner ${h.sid} is ahead of the leader`);
      }
      return this.checkEpochQuorum();
    }
    if (this.phase === LeaderPhase.awaitingNewLeaderAcks && !h.observer) this.syncLearner(h);
    else if (this.phase === LeaderPhase.broadcast) this.syncLearner(h);
  }

  private isBehind(msg: AckEpochMessage): boolean {
    const ours = this.host.epochs.currentEpoch;
    if (msg.currentEpoch !== ours) return msg.currentEpoch > ours;
    return msg.lastLoggedZxid > this.host.journal.lastLoggedZxid;
  }

  private checkEpochQuorum(): void {
    if (this.phase !== LeaderPhase.awaitingEpochAcks) return;
    const acked = [this.host.self];
    for (const h of this.learners.values()) if (h.epochVote && h.phase === LearnerPhase.epochAcked) acked.push(h.sid);
    if (!isQuorum(this.host.view, acked)) return;
    persistCurrentEpoch(this.host, this.epoch);
    this.initialHistoryEnd = this.host.journal.lastLoggedZxid;
    this.phase = LeaderPhase.awaitingNewLeaderAcks;
    for (const h of this.learners.values()) {
      if (h.phase === LearnerPhase.epochAcked && !h.observer) this.syncLearner(h);
    }
    this.checkNewLeaderQuorum();
  }

  // ---- synchronization -----------------------------------------------------------------------

  /** Followers get our whole history; observers only what is committed. */
  private historyEnd(h: LearnerHandle): Zxid {
    return h.observer ? this.committed : this.host.journal.lastLoggedZxid;
  }

  /** LearnerHandler.syncFollower: DIFF, TRUNC(+DIFF) or SNAP from the learner's last zxid. */
  private syncLearner(h: LearnerHandle): void {
    const end = this.historyEnd(h);
    const journal = this.host.journal;
    const floor = journal.floor(h.lastZxid < end ? h.lastZxid : end);
    if (floor < 0n) {
      h.phase = LearnerPhase.awaitingSnapshot;
      return this.requestSnapshot();
    }
    if (floor === h.lastZxid) {
      this.send(h.sid, diffMessage(end));
    } else {
      // The learner has a tail we never committed (or it is ahead): cut it back to our history.
      this.send(h.sid, truncMessage(floor));
    }
    this.sendHistory(h, floor);
    this.finishSync(h);
  }

  private requestSnapshot(): void {
    if (this.snapshotRequested) return;
    this.snapshotRequested = true;
    emit(this.host, { kind: 'takeSnapshot' });
  }

  /** Our txns after `after`: proposals for a follower (finishSync's COMMIT says how many are committed), informs for an observer. */
  private sendHistory(h: LearnerHandle, after: Zxid): void {
    for (const entry of this.host.journal.entriesBetween(after, this.historyEnd(h))) {
      this.send(h.sid, h.observer ? informMessage(entry.zxid, entry.payload, entry.origin) : proposalMessage(entry.zxid, entry.payload, entry.origin));
    }
  }

  private finishSync(h: LearnerHandle): void {
    // Txns the learner already held are not resent; this tells it which of them are committed.
    if (!h.observer && this.committed > 0n) this.send(h.sid, commitMessage(this.committed));
    h.phase = LearnerPhase.synced;
    this.send(h.sid, newLeaderMessage(zxidEpochStart(this.epoch)));
  }

  private leaderProcessAckNewLeader(h: LearnerHandle, msg: AckNewLeaderMessage): void {
    if (h.phase !== LearnerPhase.synced || msg.zxid !== zxidEpochStart(this.epoch)) {
      return this.protocolViolation(h, 'NEWLEADER ack out of order');
    }
    h.phase = LearnerPhase.newLeaderAcked;
    if (this.phase === LeaderPhase.broadcast) this.sendUpToDate(h);
    else this.checkNewLeaderQuorum();
  }

  /** Established once a quorum, ourselves included, holds our history durably under our epoch. */
  private checkNewLeaderQuorum(): void {
    if (this.phase !== LeaderPhase.awaitingNewLeaderAcks) return;
    if (this.host.journal.durableZxid < this.initialHistoryEnd) return;
    const acked = [this.host.self];
    for (const h of this.learners.values()) if (countsForCommit(h)) acked.push(h.sid);
    if (!isQuorum(this.host.view, acked)) return;
    this.establish();
  }

  private establish(): void {
    this.phase = LeaderPhase.broadcast;
    this.commitUpTo(this.initialHistoryEnd);
    emit(this.host, { kind: 'roleChanged', role: 'leading', leader: this.host.self, epoch: this.epoch, serving: true });
    for (const h of this.learners.values()) {
      if (h.phase === LearnerPhase.newLeaderAcked) this.sendUpToDate(h);
      else if (h.phase === LearnerPhase.epochAcked && h.observer) this.syncLearner(h);
    }
    this.drainBacklog();
  }

  private sendUpToDate(h: LearnerHandle): void {
    h.phase = LearnerPhase.upToDate;
    this.send(h.sid, upToDateMessage());
  }

  // ---- broadcast -----------------------------------------------------------------------------

  private acceptWrite(origin: Origin, payload: Uint8Array): void {
    if (this.phase !== LeaderPhase.broadcast) return this.reject(origin, 'notReady');
    if (this.backlog.length > 0 || this.outstanding() >= this.host.limits.proposalsOutstandingMax) {
      if (this.backlog.length >= this.host.limits.writeBacklogMax) return this.reject(origin, 'busy');
      this.backlog.push({ origin, payload });
      return;
    }
    this.propose([{ origin, payload }]);
  }

  /** Proposals of this epoch not yet committed; counters are contiguous within an epoch. */
  get outstandingProposals(): number {
    return this.phase === LeaderPhase.broadcast ? this.outstanding() : 0;
  }

  private outstanding(): number {
    const epochStart = zxidEpochStart(this.epoch);
    const committedInEpoch = this.committed > epochStart ? this.committed : epochStart;
    return Number(this.lastProposed - committedInEpoch);
  }

  /** Assigns zxids, logs, and sends PROPOSALs: one persist effect for the batch (group commit). */
  private propose(writes: readonly BacklogWrite[]): void {
    const entries: LogEntry[] = [];
    for (const write of writes) {
      if (this.nextCounter >= zxidCounterMax) {
        // The counter would wrap: a new epoch is the only way on (ZooKeeper does the same).
        this.host.stepDown('zxid counter exhausted');
        break;
      }
      const entry: LogEntry = { zxid: makeZxid(this.epoch, this.nextCounter++), payload: write.payload, origin: write.origin };
      this.host.journal.append(entry);
      this.lastProposed = entry.zxid;
      entries.push(entry);
    }
    if (entries.length === 0) return;
    emit(this.host, { kind: 'persistTxns', entries });
    const followers = this.forwardingLearners(false);
    if (followers.length === 0) return;
    // One message object per txn for every follower: the transport encodes it once.
    for (const entry of entries) {
      const proposal = proposalMessage(entry.zxid, entry.payload, entry.origin);
      for (const sid of followers) this.send(sid, proposal);
    }
  }

  /** Followers (or observers) whose link carries proposals, commits and informs now. */
  private forwardingLearners(observers: boolean): number[] {
    const sids: number[] = [];
    for (const h of this.learners.values()) if (h.observer === observers && isForwarding(h)) sids.push(h.sid);
    return sids;
  }

  private drainBacklog(): void {
    const room = this.host.limits.proposalsOutstandingMax - this.outstanding();
    if (room <= 0 || this.backlog.length === 0) return;
    this.propose(this.backlog.splice(0, room));
  }

  private leaderProcessAck(h: LearnerHandle, msg: AckMessage): void {
    if (!countsForCommit(h)) return this.protocolViolation(h, 'ACK before NEWLEADER was acked');
    if (msg.zxid > this.lastProposed) return this.protocolViolation(h, `ACK of unproposed ${zxidToHex(msg.zxid)}`);
    if (msg.zxid > h.ackedZxid) h.ackedZxid = msg.zxid;
    this.tryCommit();
  }

  /**
   * The commit point is the highest zxid durable at a quorum that includes the leader.
   * ACKs are cumulative, so sorting the followers' acks gives it directly; one COMMIT of that
   * point then covers every txn up to it.
   */
  private tryCommit(): void {
    const selfDurable = this.host.journal.durableZxid;
    const acks: Zxid[] = [];
    for (const h of this.learners.values()) if (countsForCommit(h)) acks.push(h.ackedZxid);
    acks.sort((a, b) => (a > b ? -1 : a < b ? 1 : 0));
    const othersNeeded = quorumSize(this.host.view) - 1;
    let point = selfDurable;
    if (othersNeeded > 0) {
      if (acks.length < othersNeeded) return;
      const quorumAck = acks[othersNeeded - 1]!;
      if (quorumAck < point) point = quorumAck;
    }
    if (point > this.lastProposed) point = this.lastProposed;
    if (point <= this.committed) return;
    this.commitUpTo(point);
    this.drainBacklog();
  }

  /**
   * Followers hold every proposal up to the point, so one COMMIT of the point commits them all,
   * in order (COMMIT is cumulative). Observers never saw the proposals: each txn goes to them
   * as an INFORM.
   */
  private commitUpTo(point: Zxid): void {
    if (point <= this.committed) return;
    const entries = this.host.journal.applyUpTo(point);
    const commit = commitMessage(point);
    for (const sid of this.forwardingLearners(false)) this.send(sid, commit);
    const observers = this.forwardingLearners(true);
    for (const entry of entries) {
      if (observers.length > 0) {
        const inform = informMessage(entry.zxid, entry.payload, entry.origin);
        for (const sid of observers) this.send(sid, inform);
      }
      emit(this.host, { kind: 'apply', zxid: entry.zxid, payload: entry.payload, origin: entry.origin });
    }
    this.committed = point;
    this.answerSyncs();
  }

  private leaderProcessRequest(h: LearnerHandle, msg: RequestMessage): void {
    if (msg.origin.sid !== h.sid) return this.protocolViolation(h, 'REQUEST with a foreign origin');
    const problem = this.host.payloads.txnProblem(msg.payload);
    if (problem !== null) return this.protocolViolation(h, `REQUEST payload refused: ${problem}`);
    this.acceptWrite(msg.origin, msg.payload);
  }

  private leaderProcessSyncRequest(h: LearnerHandle, msg: SyncRequestMessage): void {
    if (msg.origin.sid !== h.sid) return this.protocolViolation(h, 'SYNC with a foreign origin');
    if (this.phase !== LeaderPhase.broadcast) return this.reject(msg.origin, 'notReady');
    this.acceptSync(msg.origin);
  }

  /** A sync completes once everything proposed before it has committed (Leader.processSync). */
  private acceptSync(origin: Origin): void {
    // With nothing in flight, everything proposed is committed already (lastProposed may be
    // the bare epoch start, which is never "committed" as a txn).
    const zxid = this.outstanding() === 0 ? this.committed : this.lastProposed;
    this.pendingSyncs.push({ zxid, origin });
    this.answerSyncs();
  }

  private answerSyncs(): void {
    while (this.pendingSyncs.length > 0 && this.pendingSyncs[0]!.zxid <= this.committed) {
      const { origin } = this.pendingSyncs.shift()!;
      if (origin.sid === this.host.self) emit(this.host, { kind: 'syncDone', requestId: origin.requestId });
      else if (this.learners.has(origin.sid)) this.send(origin.sid, syncMessage(origin));
    }
  }

  private leaderProcessPingReply(h: LearnerHandle, msg: PingReplyMessage): void {
    if (msg.touches.length > 0) emit(this.host, { kind: 'sessionTouches', from: h.sid, touches: msg.touches });
  }

  private leaderProcessRevalidate(h: LearnerHandle, msg: RevalidateMessage): void {
    emit(this.host, { kind: 'revalidateRequest', from: h.sid, sessionId: msg.sessionId, timeoutMs: msg.timeoutMs });
  }

  // ---- liveness ------------------------------------------------------------------------------

  private dropSilentLearners(): void {
    for (const h of this.learners.values()) {
      const limit = this.silenceLimit(h);
      if (this.now - h.lastHeard > limit) {
        this.learners.delete(h.sid);
        emit(this.host, { kind: 'disconnect', peer: h.sid, reason: `learner silent for more than ${limit} ticks` });
      }
    }
  }

  /** How long a learner may stay silent before its link is dropped: syncLimit once up to date. */
  private silenceLimit(h: LearnerHandle): number {
    return h.phase === LearnerPhase.upToDate ? this.host.limits.syncLimitTicks : this.host.limits.initLimitTicks;
  }

  /** Voters we heard from within syncLimit, plus ourselves: the quorum we may still serve. */
  private hasSyncedQuorum(): boolean {
    const synced = [this.host.self];
    for (const h of this.learners.values()) {
      if (countsForCommit(h) && this.now - h.lastHeard <= this.host.limits.syncLimitTicks) synced.push(h.sid);
    }
    return isQuorum(this.host.view, synced);
  }

  private sendPings(): void {
    for (const h of this.learners.values()) {
      if (h.phase !== LearnerPhase.connected) this.send(h.sid, pingMessage(this.lastProposed));
    }
  }

  // ---- helpers -------------------------------------------------------------------------------

  private withHandle(from: number, handler: (h: LearnerHandle) => void): void {
    const h = this.learners.get(from);
    // No handle: a message from a link we already dropped; the learner will reconnect.
    if (h !== undefined) handler(h);
  }

  /** Bad input from a learner is answered by closing its link, never by crashing; the reason goes to the log. */
  private protocolViolation(h: LearnerHandle, why: string): void {
    this.learners.delete(h.sid);
    emit(this.host, { kind: 'disconnect', peer: h.sid, reason: `protocol violation: ${why}` });
  }

  private reject(origin: Origin, reason: RejectReason): void {
    if (origin.sid === this.host.self) {
      emit(this.host, { kind: 'requestRejected', requestId: origin.requestId, reason });
    } else if (this.learners.has(origin.sid)) {
      this.send(origin.sid, requestRejectedMessage(origin, reason));
    }
  }

  private send(to: number, msg: PeerMessage): void {
    emit(this.host, { kind: 'send', to, msg });
  }
}
