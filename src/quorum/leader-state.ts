// The leader's state, shared by its stages (sync, broadcast, liveness), and the small helpers
// each of them uses to answer a learner.
import { requestRejectedMessage, type Origin, type PeerMessage, type RejectReason } from './messages.js';
import { emit, type RoleHost } from './role-host.js';
import type { Zxid } from './zxid.js';

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

export interface LearnerHandle {
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
  /** Highest point of the leader's own log sent to this follower as durable (LEADERDURABLE). */
  durableSent: Zxid;
  lastHeard: number;
}

export interface PendingSync {
  readonly zxid: Zxid;
  readonly origin: Origin;
}

export interface BacklogWrite {
  readonly origin: Origin;
  readonly payload: Uint8Array;
}

/** Everything the leader knows; the LeaderRole owns one and hands it to its stages. */
export interface LeaderState {
  readonly host: RoleHost;
  phase: LeaderPhase;
  epoch: bigint;
  readonly learners: Map<number, LearnerHandle>;
  /** Ticks since the role began. */
  now: number;
  readonly establishDeadline: number;
  /** Zxid counter 0 of this epoch: kept, not made afresh (a bigint or two) for every write. */
  epochStart: Zxid;
  /** A number: counters stop at zxidCounterMax, far inside a double's exact range. */
  nextCounter: number;
  lastProposed: Zxid;
  committed: Zxid;
  /** End of the history this leader brought into its epoch; committed once established. */
  initialHistoryEnd: Zxid;
  snapshotRequested: boolean;
  readonly pendingSyncs: PendingSync[];
  readonly backlog: BacklogWrite[];
}

export function newLeaderState(host: RoleHost): LeaderState {
  return {
    host,
    phase: LeaderPhase.discovery,
    epoch: -1n,
    learners: new Map(),
    now: 0,
    establishDeadline: host.limits.initLimitTicks,
    epochStart: 0n,
    nextCounter: 1,
    lastProposed: 0n,
    committed: host.journal.appliedZxid,
    initialHistoryEnd: 0n,
    snapshotRequested: false,
    pendingSyncs: [],
    backlog: [],
  };
}

/** Phases in which a learner's link carries forwarded proposals, commits and informs. */
export function isForwarding(h: LearnerHandle): boolean {
  return h.phase === LearnerPhase.synced || h.phase === LearnerPhase.newLeaderAcked || h.phase === LearnerPhase.upToDate;
}

/** Phases in which a follower's ACKs may count: it has stored currentEpoch = our epoch. */
export function countsForCommit(h: LearnerHandle): boolean {
  return !h.observer && (h.phase === LearnerPhase.newLeaderAcked || h.phase === LearnerPhase.upToDate);
}

export function send(s: LeaderState, to: number, msg: PeerMessage): void {
  emit(s.host, { kind: 'send', to, msg });
}

/** Bad input from a learner is answered by closing its link, never by crashing; the reason goes to the log. */
export function protocolViolation(s: LeaderState, h: LearnerHandle, why: string): void {
  s.learners.delete(h.sid);
  emit(s.host, { kind: 'disconnect', peer: h.sid, reason: `protocol violation: ${why}` });
}

export function reject(s: LeaderState, origin: Origin, reason: RejectReason): void {
  if (origin.sid === s.host.self) {
    emit(s.host, { kind: 'requestRejected', requestId: origin.requestId, reason });
  } else if (s.learners.has(origin.sid)) {
    send(s, origin.sid, requestRejectedMessage(origin, reason));
  }
}
