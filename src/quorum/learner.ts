import type { LogEntry } from './journal.js';
import {
  ackEpochMessage,
  ackMessage,
  ackNewLeaderMessage,
  durableZxid,
  followerInfoMessage,
  makeOrigin,
  observerInfoMessage,
  pingReplyMessage,
  requestMessage,
  syncRequestMessage,
  type CommitMessage,
  type InformMessage,
  type LeaderDurableMessage,
  type LeaderInfoMessage,
  type LeaderToLearnerMessage,
  type NewLeaderMessage,
  type PeerMessage,
  type ProposalMessage,
  type RequestRejectedMessage,
  type RevalidateReplyMessage,
  type SnapChunkMessage,
  type SnapMessage,
  type SyncMessage,
  type TruncMessage,
} from './messages.js';
import { LearnerCommits } from './learner-commits.js';
import { emit, persistAcceptedEpoch, persistCurrentEpoch, type RoleHost } from './role-host.js';
import { zxidEpochStart, zxidToHex, type Zxid } from './zxid.js';

export const LearnerRolePhase = {
  /** FOLLOWERINFO sent, waiting for LEADERINFO. */
  discovery: 'discovery',
  /** ACKEPOCH sent: receiving DIFF/TRUNC/SNAP, history, NEWLEADER. */
  synchronization: 'synchronization',
  /** UPTODATE received: applying commits and serving clients. */
  broadcast: 'broadcast',
} as const;
export type LearnerRolePhase = (typeof LearnerRolePhase)[keyof typeof LearnerRolePhase];

/** A snapshot announced by SNAP whose chunks are still arriving. */
interface IncomingSnapshot {
  readonly zxid: Zxid;
  readonly bytes: number;
  readonly chunks: Uint8Array[];
  received: number;
}

/** The chunks as one array; a single chunk is used as it is. */
function joinChunks(chunks: readonly Uint8Array[], bytes: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(bytes);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

/**
 * A follower (or, with `observer`, an observer) of one leader. It logs what the leader
 * sends, ACKs only what the disk made durable, and applies only what is committed.
 * Everything it applies is committed, so a later TRUNC can never undo an applied txn.
 */
export class LearnerRole {
  private phase: LearnerRolePhase = LearnerRolePhase.discovery;
  private epoch = -1n;
  /** Our epoch's zxids are [epochStart, epochEnd): bounds kept so a zxid's epoch needs no shift (a bigint each). */
  private epochStart: Zxid = -1n;
  private epochEnd: Zxid = -1n;
  private now = 0;
  private lastHeard = 0;
  private readonly commits: LearnerCommits;
  private newLeaderPending = false;
  private newLeaderAcked = false;
  private lastAckSent: Zxid = 0n;
  private incomingSnapshot: IncomingSnapshot | null = null;

  constructor(
    private readonly host: RoleHost,
    readonly leader: number,
    readonly observer: boolean,
  ) {
    this.commits = new LearnerCommits(host);
    const accepted = host.epochs.acceptedEpoch;
    this.send(observer ? observerInfoMessage(accepted) : followerInfoMessage(accepted));
  }

  get currentPhase(): LearnerRolePhase { return this.phase; }
  get currentEpoch(): bigint { return this.epoch; }
  get isServing(): boolean { return this.phase === LearnerRolePhase.broadcast; }

  // ---- events ------------------------------------------------------------------------------

  receive(from: number, msg: LeaderToLearnerMessage): void {
    // Only our leader's link matters; anything else is a stale or misdirected packet.
    if (from !== this.leader) return;
    this.lastHeard = this.now;
    if (this.phase === LearnerRolePhase.discovery && msg.type !== 'leaderInfo') {
      // Left over from an earlier link to this leader: the new one starts with LEADERINFO.
      return;
    }
    if (this.incomingSnapshot !== null && msg.type !== 'snapChunk') {
      return this.abandon(`${msg.type} before the snapshot was complete`);
    }
    this.dispatch(msg);
  }

  private dispatch(msg: LeaderToLearnerMessage): void {
    switch (msg.type) {
      case 'leaderInfo': return this.followerProcessLeaderInfo(msg);
      case 'diff': return this.followerProcessDiff();
      case 'trunc': return this.followerProcessTrunc(msg);
      case 'snap': return this.followerProcessSnap(msg);
      case 'snapChunk': return this.followerProcessSnapChunk(msg);
      case 'proposal': return this.followerProcessProposal(msg);
      case 'commit': return this.followerProcessCommit(msg);
      case 'leaderDurable': return this.followerProcessLeaderDurable(msg);
      case 'inform': return this.observerProcessInform(msg);
      case 'newLeader': return this.followerProcessNewLeader(msg);
      case 'upToDate': return this.followerProcessUpToDate();
      case 'ping': return this.followerProcessPing();
      case 'sync': return this.followerProcessSync(msg);
      case 'requestRejected': return this.followerProcessRequestRejected(msg);
      case 'revalidateReply': return this.followerProcessRevalidateReply(msg);
    }
  }

  tick(): void {
    this.now++;
    const limit = this.silenceLimit();
    if (this.now - this.lastHeard > limit) this.abandon(`leader ${this.leader} silent for ${limit} ticks`);
  }

  /** Ticks until tick() may act: the only thing it does is give up on a silent leader. */
  ticksUntilDue(): number {
    return Math.max(1, this.lastHeard + this.silenceLimit() + 1 - this.now);
  }

  private silenceLimit(): number {
    return this.phase === LearnerRolePhase.broadcast ? this.host.limits.syncLimitTicks : this.host.limits.initLimitTicks;
  }

  disconnected(peer: number): void {
    if (peer === this.leader) this.host.stepDown(`lost the link to leader ${this.leader}`);
  }

  onDurable(): void {
    this.tryAckNewLeader();
    this.sendAcks();
    this.commitWithLeader();
  }

  clientWrite(requestId: number, payload: Uint8Array): void {
    if (!this.isServing) return emit(this.host, { kind: 'requestRejected', requestId, reason: 'notReady' });
    this.send(requestMessage(makeOrigin(this.host.self, requestId), payload));
  }

  clientSync(requestId: number): void {
    if (!this.isServing) return emit(this.host, { kind: 'requestRejected', requestId, reason: 'notReady' });
    this.send(syncRequestMessage(makeOrigin(this.host.self, requestId)));
  }

  /** The sessions heard from since the last reply go to the leader now. */
  sendTouches(): void {
    this.send(pingReplyMessage(this.host.sessions.takeBatch()));
  }

  /** Closes our side of the link; the peer then goes LOOKING. */
  shutdown(reason: string): void {
    emit(this.host, { kind: 'disconnect', peer: this.leader, reason: `learner stepped down: ${reason}` });
  }

  // ---- discovery -----------------------------------------------------------------------------

  /** Accept the leader's epoch only if it is not below one we already promised to. */
  private followerProcessLeaderInfo(msg: LeaderInfoMessage): void {
    if (this.phase !== LearnerRolePhase.discovery) return this.abandon('LEADERINFO out of order');
    const accepted = this.host.epochs.acceptedEpoch;
    if (msg.newEpoch < accepted) return this.abandon(`leader epoch ${msg.newEpoch} below accepted ${accepted}`);
    const acceptedNow = msg.newEpoch > accepted;
    if (acceptedNow) persistAcceptedEpoch(this.host, msg.newEpoch);
    this.epoch = msg.newEpoch;
    this.epochStart = zxidEpochStart(msg.newEpoch);
    this.epochEnd = (msg.newEpoch + 1n) << 32n;
    this.phase = LearnerRolePhase.synchronization;
    this.send(ackEpochMessage(this.host.journal.lastLoggedZxid, this.host.epochs.currentEpoch, acceptedNow));
  }

  // ---- synchronization -----------------------------------------------------------------------

  private followerProcessDiff(): void {
    if (this.phase !== LearnerRolePhase.synchronization) this.abandon('DIFF outside synchronization');
  }

  /** Our uncommitted tail diverges from the leader's history: drop it. */
  private followerProcessTrunc(msg: TruncMessage): void {
    if (this.phase !== LearnerRolePhase.synchronization) return this.abandon('TRUNC outside synchronization');
    if (!this.host.journal.contains(msg.zxid)) return this.abandon(`TRUNC to unknown ${zxidToHex(msg.zxid)}`);
    if (msg.zxid < this.host.journal.appliedZxid) return this.abandon(`TRUNC to ${zxidToHex(msg.zxid)}, below what we applied`);
    this.host.journal.truncate(msg.zxid);
    emit(this.host, { kind: 'truncateLog', barrier: true, zxid: msg.zxid });
  }

  /** Too far behind for a DIFF: the leader's snapshot follows in chunks and replaces everything. */
  private followerProcessSnap(msg: SnapMessage): void {
    if (this.phase !== LearnerRolePhase.synchronization) return this.abandon('SNAP outside synchronization');
    if (msg.zxid < this.host.journal.appliedZxid) return this.abandon(`SNAP at ${zxidToHex(msg.zxid)}, older than what we applied`);
    this.incomingSnapshot = { zxid: msg.zxid, bytes: msg.snapshotBytes, chunks: [], received: 0 };
    if (msg.snapshotBytes === 0) this.installIncomingSnapshot();
  }

  private followerProcessSnapChunk(msg: SnapChunkMessage): void {
    const incoming = this.incomingSnapshot;
    if (incoming === null) return this.abandon('SNAPCHUNK without a SNAP');
    if (incoming.received + msg.data.length > incoming.bytes) return this.abandon(`SNAPCHUNK beyond the ${incoming.bytes} bytes announced`);
    incoming.chunks.push(msg.data);
    incoming.received += msg.data.length;
    if (incoming.received === incoming.bytes) this.installIncomingSnapshot();
  }

  /** The whole snapshot is here: the state machine must be able to restore it before we drop our own state. */
  private installIncomingSnapshot(): void {
    const { zxid, bytes, chunks } = this.incomingSnapshot!;
    this.incomingSnapshot = null;
    const data = joinChunks(chunks, bytes);
    const problem = this.host.payloads.snapshotProblem(data);
    if (problem !== null) return this.abandon(`snapshot at ${zxidToHex(zxid)} refused: ${problem}`);
    this.host.journal.resetToSnapshot(zxid);
    this.commits.committed(zxid);
    emit(this.host, { kind: 'installSnapshot', barrier: true, zxid, data });
  }

  private followerProcessNewLeader(msg: NewLeaderMessage): void {
    if (this.phase !== LearnerRolePhase.synchronization || msg.zxid !== zxidEpochStart(this.epoch)) {
      return this.abandon('NEWLEADER out of order');
    }
    this.newLeaderPending = true;
    this.tryAckNewLeader();
  }

  /**
   * NEWLEADER is acked only once the synced history is durable, and currentEpoch is stored
   * before the ack: a server claiming the new epoch in a later election must really hold
   * the history it claims (the ZOOKEEPER-3911 class of bugs).
   */
  private tryAckNewLeader(): void {
    const journal = this.host.journal;
    if (!this.newLeaderPending || journal.durableZxid < journal.lastLoggedZxid) return;
    this.newLeaderPending = false;
    persistCurrentEpoch(this.host, this.epoch);
    this.send(ackNewLeaderMessage(durableZxid(zxidEpochStart(this.epoch))));
    this.newLeaderAcked = true;
    this.sendAcks();
  }

  /** The leader is established: every pre-epoch txn we hold is committed; apply and serve. */
  private followerProcessUpToDate(): void {
    if (this.phase !== LearnerRolePhase.synchronization || !this.newLeaderAcked) {
      return this.abandon('UPTODATE before NEWLEADER was acked');
    }
    this.phase = LearnerRolePhase.broadcast;
    const lastPreEpoch = this.host.journal.floor(zxidEpochStart(this.epoch) - 1n);
    this.commits.committed(lastPreEpoch);
    this.commits.apply();
    this.commitWithLeader();
    emit(this.host, {
      kind: 'roleChanged',
      role: this.observer ? 'observing' : 'following',
      leader: this.leader,
      epoch: this.epoch,
      serving: true,
    });
  }

  // ---- broadcast -----------------------------------------------------------------------------

  private followerProcessProposal(msg: ProposalMessage): void {
    if (this.observer) return this.abandon('observers take no proposals');
    if (!this.isNextZxid(msg.zxid)) return this.abandon(`proposal ${zxidToHex(msg.zxid)} breaks the log order`);
    // No payload check here: applying is total (a txn that does not decode applies as the
    // same error on every member), and refusing the leader's proposal would only stall the log.
    // The message is the log entry (it has its fields): no copy per proposal.
    this.logEntry(msg);
  }

  private followerProcessCommit(msg: CommitMessage): void {
    if (msg.zxid > this.host.journal.lastLoggedZxid) return this.abandon(`COMMIT of unlogged ${zxidToHex(msg.zxid)}`);
    this.commits.committed(msg.zxid);
    if (this.isServing) this.commits.apply();
  }

  private followerProcessLeaderDurable(msg: LeaderDurableMessage): void {
    if (this.observer) return this.abandon('observers are not told the leader\'s durable point');
    this.commits.leaderMadeDurable(msg.zxid);
    this.commitWithLeader();
  }

  /** With three voters, what the leader and we both made durable applies without a COMMIT (learner-commits.ts). */
  private commitWithLeader(): void {
    if (this.isServing && !this.observer && this.commits.deduce(this.epochStart, this.epochEnd)) this.commits.apply();
  }

  /** An observer logs and applies committed txns only; it never ACKs. */
  private observerProcessInform(msg: InformMessage): void {
    if (!this.observer) return this.abandon('INFORM sent to a follower');
    if (!this.isNextZxid(msg.zxid)) return this.abandon(`INFORM ${zxidToHex(msg.zxid)} breaks the log order`);
    this.logEntry({ zxid: msg.zxid, payload: msg.payload, origin: msg.origin });
    this.commits.committed(msg.zxid);
    if (this.isServing) this.commits.apply();
  }

  private followerProcessPing(): void {
    this.sendTouches();
  }

  /** Every commit before SYNC on this FIFO link is applied already, so the sync is done. */
  private followerProcessSync(msg: SyncMessage): void {
    if (msg.origin.sid === this.host.self) emit(this.host, { kind: 'syncDone', requestId: msg.origin.requestId });
  }

  private followerProcessRequestRejected(msg: RequestRejectedMessage): void {
    if (msg.origin.sid !== this.host.self) return;
    emit(this.host, { kind: 'requestRejected', requestId: msg.origin.requestId, reason: msg.reason });
  }

  private followerProcessRevalidateReply(msg: RevalidateReplyMessage): void {
    this.host.sessions.answered(msg.sessionId, msg.valid, this.host.out);
  }

  // ---- helpers -------------------------------------------------------------------------------

  /**
   * During synchronization any increasing zxid is fine (history spans epochs); once in our
   * epoch, counters must be contiguous, so a gap means the link lost packets.
   */
  private isNextZxid(zxid: Zxid): boolean {
    const last = this.host.journal.lastLoggedZxid;
    if (zxid <= last) return false;
    if (!this.inEpoch(zxid)) return this.phase === LearnerRolePhase.synchronization && zxid < this.epochStart;
    if (last >= this.epochStart) return zxid === last + 1n;
    return zxid === this.epochStart + 1n;
  }

  private inEpoch(zxid: Zxid): boolean {
    return zxid >= this.epochStart && zxid < this.epochEnd;
  }

  private logEntry(entry: LogEntry): void {
    this.host.journal.append(entry);
    emit(this.host, { kind: 'persistTxns', entries: [entry] });
  }

  /** Cumulative ACK of our epoch's proposals, sent only for what the disk made durable. */
  private sendAcks(): void {
    if (this.observer || !this.newLeaderAcked) return;
    const durable = this.host.journal.durableZxid;
    if (durable <= this.lastAckSent || !this.inEpoch(durable)) return;
    this.lastAckSent = durable;
    this.send(ackMessage(durableZxid(durable)));
  }

  private abandon(reason: string): void {
    this.host.stepDown(reason);
  }

  private send(msg: PeerMessage): void {
    emit(this.host, { kind: 'send', to: this.leader, msg });
  }
}
