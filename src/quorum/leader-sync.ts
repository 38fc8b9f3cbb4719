// The leader's discovery and synchronization (Zab.tla): a new epoch from a quorum's
// FOLLOWERINFO, each learner brought level by DIFF, TRUNC or SNAP, then NEWLEADER and UPTODATE.
import {
  commitMessage,
  diffMessage,
  informMessage,
  leaderInfoMessage,
  newLeaderMessage,
  proposalMessage,
  snapChunkMessage,
  snapMessage,
  truncMessage,
  upToDateMessage,
  type AckEpochMessage,
  type AckNewLeaderMessage,
  type FollowerInfoMessage,
  type ObserverInfoMessage,
} from './messages.js';
import { commitUpTo, drainBacklog } from './leader-broadcast.js';
import { countsForCommit, LeaderPhase, LearnerPhase, protocolViolation, send, type LeaderState, type LearnerHandle } from './leader-state.js';
import { isObserver, isQuorum, isVoter } from './quorum-view.js';
import { emit, persistAcceptedEpoch, persistCurrentEpoch } from './role-host.js';
import { zxidEpochMax, zxidEpochStart, type Zxid } from './zxid.js';

// ---- discovery -------------------------------------------------------------------------------

export function leaderProcessFollowerInfo(s: LeaderState, from: number, msg: FollowerInfoMessage | ObserverInfoMessage): void {
  const observer = msg.type === 'observerInfo';
  if (observer ? !isObserver(s.host.view, from) : !isVoter(s.host.view, from)) {
    // A learner type that disagrees with our view: refuse the link rather than guess.
    s.learners.delete(from);
    return emit(s.host, { kind: 'disconnect', peer: from, reason: `${msg.type} from a server our configuration calls ${observer ? 'a voter' : 'an observer'}` });
  }
  if (msg.acceptedEpoch >= zxidEpochMax) {
    // No epoch above it exists: this learner could never accept one of ours.
    s.learners.delete(from);
    return emit(s.host, { kind: 'disconnect', peer: from, reason: `${msg.type} with acceptedEpoch ${msg.acceptedEpoch}, the last epoch there is` });
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
    durableSent: 0n,
    lastHeard: s.now,
  };
  // A new FOLLOWERINFO starts a new connection; whatever the old handle knew is void.
  s.learners.set(from, handle);
  if (s.phase === LeaderPhase.discovery) checkDiscoveryQuorum(s);
  else sendLeaderInfo(s, handle);
}

/** Zab's new epoch: above every acceptedEpoch seen, so no two leaders share one. */
export function checkDiscoveryQuorum(s: LeaderState): void {
  const connected = [s.host.self];
  for (const h of s.learners.values()) if (!h.observer) connected.push(h.sid);
  if (!isQuorum(s.host.view, connected)) return;
  let highest = s.host.epochs.acceptedEpoch;
  for (const h of s.learners.values()) if (h.acceptedEpoch > highest) highest = h.acceptedEpoch;
  // Only forged epochs get here in practice (2^32 elections); no leader can go on, none must crash.
  if (highest >= zxidEpochMax) return s.host.stepDown('epoch space exhausted');
  s.epoch = highest + 1n;
  persistAcceptedEpoch(s.host, s.epoch);
  s.epochStart = zxidEpochStart(s.epoch);
  s.lastProposed = s.epochStart;
  s.phase = LeaderPhase.awaitingEpochAcks;
  for (const h of s.learners.values()) sendLeaderInfo(s, h);
  checkEpochQuorum(s);
}

function sendLeaderInfo(s: LeaderState, h: LearnerHandle): void {
  h.phase = LearnerPhase.epochSent;
  send(s, h.sid, leaderInfoMessage(s.epoch));
}

export function leaderProcessAckEpoch(s: LeaderState, h: LearnerHandle, msg: AckEpochMessage): void {
  if (h.phase !== LearnerPhase.epochSent) return protocolViolation(s, h, 'ACKEPOCH out of order');
  h.lastZxid = msg.lastLoggedZxid;
  h.currentEpoch = msg.currentEpoch;
  h.epochVote = msg.acceptedNow && !h.observer;
  h.phase = LearnerPhase.epochAcked;
  if (s.phase === LeaderPhase.awaitingEpochAcks) {
    if (h.epochVote && isBehind(s, msg)) {
      // A quorum member has a newer history than ours: we must not lead this epoch.
      return s.host.stepDown(`learner ${h.sid} is ahead of the leader`);
    }
    return checkEpochQuorum(s);
  }
  if (s.phase === LeaderPhase.awaitingNewLeaderAcks && !h.observer) syncLearner(s, h);
  else if (s.phase === LeaderPhase.broadcast) syncLearner(s, h);
}

function isBehind(s: LeaderState, msg: AckEpochMessage): boolean {
  const ours = s.host.epochs.currentEpoch;
  if (msg.currentEpoch !== ours) return msg.currentEpoch > ours;
  return msg.lastLoggedZxid > s.host.journal.lastLoggedZxid;
}

function checkEpochQuorum(s: LeaderState): void {
  if (s.phase !== LeaderPhase.awaitingEpochAcks) return;
  const acked = [s.host.self];
  for (const h of s.learners.values()) if (h.epochVote && h.phase === LearnerPhase.epochAcked) acked.push(h.sid);
  if (!isQuorum(s.host.view, acked)) return;
  persistCurrentEpoch(s.host, s.epoch);
  s.initialHistoryEnd = s.host.journal.lastLoggedZxid;
  s.phase = LeaderPhase.awaitingNewLeaderAcks;
  for (const h of s.learners.values()) {
    if (h.phase === LearnerPhase.epochAcked && !h.observer) syncLearner(s, h);
  }
  checkNewLeaderQuorum(s);
}

// ---- synchronization -------------------------------------------------------------------------

/** Followers get our whole history; observers only what is committed. */
function historyEnd(s: LeaderState, h: LearnerHandle): Zxid {
  return h.observer ? s.committed : s.host.journal.lastLoggedZxid;
}

/** LearnerHandler.syncFollower: DIFF, TRUNC(+DIFF) or SNAP from the learner's last zxid. */
function syncLearner(s: LeaderState, h: LearnerHandle): void {
  const end = historyEnd(s, h);
  const journal = s.host.journal;
  const floor = journal.floor(h.lastZxid < end ? h.lastZxid : end);
  if (floor < 0n) {
    h.phase = LearnerPhase.awaitingSnapshot;
    return requestSnapshot(s);
  }
  if (floor === h.lastZxid) {
    send(s, h.sid, diffMessage(end));
  } else {
    // The learner has a tail we never committed (or it is ahead): cut it back to our history.
    send(s, h.sid, truncMessage(floor));
  }
  sendHistory(s, h, floor);
  finishSync(s, h);
}

function requestSnapshot(s: LeaderState): void {
  if (s.snapshotRequested) return;
  s.snapshotRequested = true;
  emit(s.host, { kind: 'takeSnapshot' });
}

/** A snapshot we asked for is ready: every learner waiting on one gets it and the history after it. */
export function leaderSnapshotTaken(s: LeaderState, zxid: Zxid, data: Uint8Array): void {
  if (!s.snapshotRequested) return;
  s.snapshotRequested = false;
  if (zxid < s.host.journal.baseZxid) {
    // The window moved past the snapshot while it was taken; ask again.
    return requestSnapshot(s);
  }
  for (const h of s.learners.values()) {
    if (h.phase !== LearnerPhase.awaitingSnapshot) continue;
    sendSnapshot(s, h, zxid, data);
    sendHistory(s, h, zxid);
    finishSync(s, h);
  }
}

/** SNAP announces the size; the bytes follow in chunks, so no frame holds a whole tree. */
function sendSnapshot(s: LeaderState, h: LearnerHandle, zxid: Zxid, data: Uint8Array): void {
  send(s, h.sid, snapMessage(zxid, data.length));
  const chunk = s.host.limits.snapChunkBytes;
  for (let at = 0; at < data.length; at += chunk) send(s, h.sid, snapChunkMessage(data.subarray(at, at + chunk)));
}

/** Our txns after `after`: proposals for a follower (finishSync's COMMIT says how many are committed), informs for an observer. */
function sendHistory(s: LeaderState, h: LearnerHandle, after: Zxid): void {
  for (const entry of s.host.journal.entriesBetween(after, historyEnd(s, h))) {
    send(s, h.sid, h.observer ? informMessage(entry.zxid, entry.payload, entry.origin) : proposalMessage(entry.zxid, entry.payload, entry.origin));
  }
}

function finishSync(s: LeaderState, h: LearnerHandle): void {
  // Txns the learner already held are not resent; this tells it which of them are committed.
  if (!h.observer && s.committed > 0n) send(s, h.sid, commitMessage(s.committed));
  h.phase = LearnerPhase.synced;
  send(s, h.sid, newLeaderMessage(zxidEpochStart(s.epoch)));
}

export function leaderProcessAckNewLeader(s: LeaderState, h: LearnerHandle, msg: AckNewLeaderMessage): void {
  if (h.phase !== LearnerPhase.synced || msg.zxid !== zxidEpochStart(s.epoch)) {
    return protocolViolation(s, h, 'NEWLEADER ack out of order');
  }
  h.phase = LearnerPhase.newLeaderAcked;
  if (s.phase === LeaderPhase.broadcast) sendUpToDate(s, h);
  else checkNewLeaderQuorum(s);
}

/** Established once a quorum, ourselves included, holds our history durably under our epoch. */
export function checkNewLeaderQuorum(s: LeaderState): void {
  if (s.phase !== LeaderPhase.awaitingNewLeaderAcks) return;
  if (s.host.journal.durableZxid < s.initialHistoryEnd) return;
  const acked = [s.host.self];
  for (const h of s.learners.values()) if (countsForCommit(h)) acked.push(h.sid);
  if (!isQuorum(s.host.view, acked)) return;
  establish(s);
}

function establish(s: LeaderState): void {
  s.phase = LeaderPhase.broadcast;
  commitUpTo(s, s.initialHistoryEnd);
  emit(s.host, { kind: 'roleChanged', role: 'leading', leader: s.host.self, epoch: s.epoch, serving: true });
  for (const h of s.learners.values()) {
    if (h.phase === LearnerPhase.newLeaderAcked) sendUpToDate(s, h);
    else if (h.phase === LearnerPhase.epochAcked && h.observer) syncLearner(s, h);
  }
  drainBacklog(s);
}

function sendUpToDate(s: LeaderState, h: LearnerHandle): void {
  h.phase = LearnerPhase.upToDate;
  send(s, h.sid, upToDateMessage());
}
