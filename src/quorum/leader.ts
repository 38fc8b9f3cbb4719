// The leader role's facade: events in, dispatched to its stages (leader-sync, leader-broadcast,
// leader-liveness), which share one LeaderState.
import { revalidateReplyMessage, type LearnerToLeaderMessage, type PingReplyMessage, type RevalidateMessage } from './messages.js';
import { acceptSync, acceptWrite, announceDurable, leaderProcessAck, leaderProcessRequest, leaderProcessSyncRequest, outstanding, tryCommit } from './leader-broadcast.js';
import { dropSilentLearners, hasSyncedQuorum, leaderTicksUntilDue, sendPings } from './leader-liveness.js';
import { LeaderPhase, newLeaderState, reject, send, type LeaderState, type LearnerHandle, type LearnerPhase } from './leader-state.js';
import {
  checkDiscoveryQuorum,
  checkNewLeaderQuorum,
  leaderProcessAckEpoch,
  leaderProcessAckNewLeader,
  leaderProcessFollowerInfo,
  leaderSnapshotTaken,
} from './leader-sync.js';
import { emit, type RoleHost } from './role-host.js';
import type { Zxid } from './zxid.js';

/**
 * The leader role: a value holding per-learner state, driven one event at a time.
 * Handler names follow Zab.tla / LearnerHandler (leaderProcessFollowerInfo, ...).
 */
export class LeaderRole {
  private readonly s: LeaderState;

  constructor(private readonly host: RoleHost) {
    this.s = newLeaderState(host);
    checkDiscoveryQuorum(this.s);
  }

  get currentPhase(): LeaderPhase { return this.s.phase; }
  get currentEpoch(): bigint { return this.s.epoch; }
  get committedZxid(): Zxid { return this.s.committed; }
  get lastProposedZxid(): Zxid { return this.s.lastProposed; }
  get isServing(): boolean { return this.s.phase === LeaderPhase.broadcast; }
  learnerPhase(sid: number): LearnerPhase | undefined { return this.s.learners.get(sid)?.phase; }

  /** Proposals in flight; none before the leader is established. */
  get outstandingProposals(): number {
    return this.s.phase === LeaderPhase.broadcast ? outstanding(this.s) : 0;
  }

  receive(from: number, msg: LearnerToLeaderMessage): void {
    const s = this.s;
    const h = s.learners.get(from);
    if (msg.type === 'followerInfo' || msg.type === 'observerInfo') {
      if (h !== undefined) h.lastHeard = s.now;
      return leaderProcessFollowerInfo(s, from, msg);
    }
    // No handle: a message from a link we already dropped; the learner will reconnect.
    if (h === undefined) return;
    h.lastHeard = s.now;
    // A plain switch, no handler closures: this runs for every ACK and forwarded write.
    switch (msg.type) {
      case 'ackEpoch': return leaderProcessAckEpoch(s, h, msg);
      case 'ackNewLeader': return leaderProcessAckNewLeader(s, h, msg);
      case 'ack': return leaderProcessAck(s, h, msg);
      case 'pingReply': return this.leaderProcessPingReply(msg);
      case 'request': return leaderProcessRequest(s, h, msg);
      case 'syncRequest': return leaderProcessSyncRequest(s, h, msg);
      case 'revalidate': return this.leaderProcessRevalidate(h, msg);
    }
  }

  tick(): void {
    const s = this.s;
    s.now++;
    if (s.phase !== LeaderPhase.broadcast && s.now > s.establishDeadline) {
      return this.host.stepDown('epoch not established within initLimit');
    }
    dropSilentLearners(s);
    if (s.phase === LeaderPhase.broadcast && !hasSyncedQuorum(s)) {
      // A leader cut off from its quorum must stop at once: another may already lead.
      return this.host.stepDown('no quorum heard within syncLimit');
    }
    if (s.now % this.host.limits.pingIntervalTicks === 0) sendPings(s);
  }

  /**
   * Ticks until tick() may act: the next PING, the establishment deadline, or the first
   * learner whose silence would drop it or cost the leader its quorum.
   */
  ticksUntilDue(): number {
    return leaderTicksUntilDue(this.s);
  }

  disconnected(peer: number): void {
    this.s.learners.delete(peer);
  }

  onDurable(): void {
    if (this.s.phase === LeaderPhase.awaitingNewLeaderAcks) checkNewLeaderQuorum(this.s);
    else if (this.s.phase === LeaderPhase.broadcast) {
      tryCommit(this.s);
      announceDurable(this.s);
    }
  }

  clientWrite(requestId: number, payload: Uint8Array): void {
    acceptWrite(this.s, { sid: this.host.self, requestId }, payload);
  }

  clientSync(requestId: number): void {
    if (this.s.phase !== LeaderPhase.broadcast) return reject(this.s, { sid: this.host.self, requestId }, 'notReady');
    acceptSync(this.s, { sid: this.host.self, requestId });
  }

  /** Closes every learner link: learners must not keep following a leader that gave up. */
  shutdown(reason: string): void {
    for (const sid of this.s.learners.keys()) emit(this.host, { kind: 'disconnect', peer: sid, reason: `leader stepped down: ${reason}` });
    this.s.learners.clear();
  }

  onSnapshotTaken(zxid: Zxid, data: Uint8Array): void {
    leaderSnapshotTaken(this.s, zxid, data);
  }

  private leaderProcessPingReply(msg: PingReplyMessage): void {
    if (msg.touches.length > 0) this.host.sessions.reported(msg.touches);
  }

  /** Answered at once: the session liveness here decides (invalid while not serving). */
  private leaderProcessRevalidate(h: LearnerHandle, msg: RevalidateMessage): void {
    send(this.s, h.sid, revalidateReplyMessage(msg.sessionId, this.host.sessions.renew(msg.sessionId, msg.timeoutMs, h.sid)));
  }
}
