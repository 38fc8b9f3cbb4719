// The leader's broadcast pipeline: writes become PROPOSALs (backlogged past the outstanding
// limit), cumulative ACKs from a quorum become one COMMIT, and syncs wait for what came before.
import type { LogEntry } from './journal.js';
import {
  commitMessage,
  durableZxid,
  informMessage,
  leaderDurableMessage,
  proposalMessage,
  syncMessage,
  type AckMessage,
  type LeaderDurableMessage,
  type Origin,
  type RequestMessage,
  type SyncRequestMessage,
} from './messages.js';
import { countsForCommit, isForwarding, LeaderPhase, protocolViolation, reject, send, type LeaderState, type LearnerHandle } from './leader-state.js';
import { quorumSize } from './quorum-view.js';
import { emit } from './role-host.js';
import { zxidCounterMax, zxidToHex, type Zxid } from './zxid.js';

const zxidCounterMaxNumber = Number(zxidCounterMax);

export function acceptWrite(s: LeaderState, origin: Origin, payload: Uint8Array): void {
  if (s.phase !== LeaderPhase.broadcast) return reject(s, origin, 'notReady');
  const closes = s.host.payloads.sessionClosedBy(payload);
  // A close may come from anywhere (an expiry here, a takeover); any other write only from
  // the member its session was last resumed through.
  if (closes === null) {
    const sessionId = s.host.payloads.sessionOf(payload);
    if (sessionId !== null && !s.host.sessions.mayWrite(sessionId, origin.sid)) return reject(s, origin, 'sessionMoved');
  }
  if (s.backlog.length > 0 || outstanding(s) >= s.host.limits.proposalsOutstandingMax) {
    if (s.backlog.length >= s.host.limits.writeBacklogMax) return reject(s, origin, 'busy');
    s.backlog.push({ origin, payload });
  } else {
    const entry = propose(s, origin, payload);
    if (entry !== null) persist(s, [entry]);
  }
  if (closes !== null) s.host.sessions.closeAccepted(closes);
}

/** Proposals of this epoch not yet committed; counters are contiguous within an epoch. */
export function outstanding(s: LeaderState): number {
  const committedInEpoch = s.committed > s.epochStart ? s.committed : s.epochStart;
  return Number(s.lastProposed - committedInEpoch);
}

/** Assigns a write the next zxid, logs it and sends its PROPOSAL; null when the counter is used up. */
function propose(s: LeaderState, origin: Origin, payload: Uint8Array): LogEntry | null {
  if (s.nextCounter >= zxidCounterMaxNumber) {
    // The counter would wrap: a new epoch is the only way on (ZooKeeper does the same).
    s.host.stepDown('zxid counter exhausted');
    return null;
  }
  s.nextCounter++;
  // Counters are contiguous from the epoch's start, so this is makeZxid(epoch, counter) for
  // one bigint instead of four; the journal asserts that zxids increase.
  const entry: LogEntry = { zxid: s.lastProposed + 1n, payload, origin };
  s.host.journal.append(entry);
  s.lastProposed = entry.zxid;
  // One message object for every follower: the transport encodes it once. The followers are
  // found per txn, not listed in an array: proposing runs once per write.
  const proposal = proposalMessage(entry.zxid, entry.payload, entry.origin);
  for (const h of s.learners.values()) if (!h.observer && isForwarding(h)) send(s, h.sid, proposal);
  return entry;
}

/**
 * One persist effect for the proposals of a batch (group commit). It goes after their
 * PROPOSALs (ZooKeeper's order): the shell starts effects in order, and a follower's fsync,
 * which the commit needs too, should not wait for ours.
 */
function persist(s: LeaderState, entries: LogEntry[]): void {
  emit(s.host, { kind: 'persistTxns', entries });
}

/** Followers (or observers) whose link carries proposals, commits and informs now. */
function forwardingLearners(s: LeaderState, observers: boolean): number[] {
  const sids: number[] = new Array(s.learners.size);
  let count = 0;
  for (const h of s.learners.values()) if (h.observer === observers && isForwarding(h)) sids[count++] = h.sid;
  sids.length = count;
  return sids;
}

export function drainBacklog(s: LeaderState): void {
  const room = s.host.limits.proposalsOutstandingMax - outstanding(s);
  if (room <= 0 || s.backlog.length === 0) return;
  const writes = s.backlog.splice(0, room);
  const entries: LogEntry[] = [];
  for (const write of writes) {
    const entry = propose(s, write.origin, write.payload);
    if (entry === null) break;
    entries.push(entry);
  }
  if (entries.length > 0) persist(s, entries);
}

export function leaderProcessAck(s: LeaderState, h: LearnerHandle, msg: AckMessage): void {
  if (!countsForCommit(h)) return protocolViolation(s, h, 'ACK before NEWLEADER was acked');
  if (msg.zxid > s.lastProposed) return protocolViolation(s, h, `ACK of unproposed ${zxidToHex(msg.zxid)}`);
  if (msg.zxid > h.ackedZxid) h.ackedZxid = msg.zxid;
  tryCommit(s);
}

/**
 * The commit point is the highest zxid durable at a quorum of voters, the leader counting as
 * one with what its own log made durable (as in ZooKeeper, two followers' acks commit without
 * the leader's fsync). ACKs are cumulative, so the quorum-th highest durable zxid is the point;
 * one COMMIT of it then covers every txn up to it.
 */
export function tryCommit(s: LeaderState): void {
  const durable: Zxid[] = new Array(s.learners.size + 1);
  durable[0] = s.host.journal.durableZxid;
  let count = 1;
  for (const h of s.learners.values()) if (countsForCommit(h)) durable[count++] = h.ackedZxid;
  durable.length = count;
  const needed = quorumSize(s.host.view);
  if (count < needed) return;
  durable.sort((a, b) => (a > b ? -1 : a < b ? 1 : 0));
  let point = durable[needed - 1]!;
  if (point > s.lastProposed) point = s.lastProposed;
  if (point <= s.committed) return;
  commitUpTo(s, point);
  drainBacklog(s);
}

/**
 * Followers hold every proposal up to the point, so one COMMIT of the point commits them all,
 * in order (COMMIT is cumulative). Observers never saw the proposals: each txn goes to them
 * as an INFORM.
 */
export function commitUpTo(s: LeaderState, point: Zxid): void {
  if (point <= s.committed) return;
  const entries = s.host.journal.applyUpTo(point);
  const commit = commitMessage(point);
  // The follower whose client waits for the newest txn hears first: it replies once it applies.
  const waiting = entries.at(-1)?.origin?.sid;
  const followers = forwardingLearners(s, false);
  if (waiting !== undefined && followers.includes(waiting) && !knowsCommitted(s, waiting, point)) send(s, waiting, commit);
  for (const sid of followers) if (sid !== waiting && !knowsCommitted(s, sid, point)) send(s, sid, commit);
  const observers = forwardingLearners(s, true);
  for (const entry of entries) {
    if (observers.length > 0) {
      const inform = informMessage(entry.zxid, entry.payload, entry.origin);
      for (const sid of observers) send(s, sid, inform);
    }
    emit(s.host, { kind: 'apply', zxid: entry.zxid, payload: entry.payload, origin: entry.origin });
  }
  s.committed = point;
  answerSyncs(s);
}

/** Leader and follower are a quorum: each committed point needs one voter besides the leader. */
function pairsAreQuorums(s: LeaderState): boolean {
  return quorumSize(s.host.view) <= 2;
}

/**
 * Where pairs are quorums, the leader tells its followers how far its own log is durable: each
 * then applies what it has durable too without waiting for the COMMIT (learner.ts). Only past
 * the commit point, which a COMMIT of this turn already covers.
 */
export function announceDurable(s: LeaderState): void {
  if (!pairsAreQuorums(s)) return;
  const durable = s.host.journal.durableZxid;
  if (durable <= s.committed) return;
  const announcement = leaderDurableMessage(durableZxid(durable));
  // The follower whose client waits for the newest durable txn hears first, as with COMMIT.
  const waiting = s.host.journal.entry(durable)?.origin?.sid;
  const first = waiting === undefined ? undefined : s.learners.get(waiting);
  if (first !== undefined) announceTo(s, first, announcement);
  for (const h of s.learners.values()) if (h !== first) announceTo(s, h, announcement);
}

function announceTo(s: LeaderState, h: LearnerHandle, announcement: LeaderDurableMessage): void {
  if (h.observer || !isForwarding(h) || announcement.zxid <= h.durableSent) return;
  h.durableSent = announcement.zxid;
  send(s, h.sid, announcement);
}

/** A follower that acknowledged `point` and was told the leader has it durable commits it by itself. */
function knowsCommitted(s: LeaderState, sid: number, point: Zxid): boolean {
  if (!pairsAreQuorums(s)) return false;
  const h = s.learners.get(sid);
  return h !== undefined && point <= h.ackedZxid && point <= h.durableSent;
}

export function leaderProcessRequest(s: LeaderState, h: LearnerHandle, msg: RequestMessage): void {
  if (msg.origin.sid !== h.sid) return protocolViolation(s, h, 'REQUEST with a foreign origin');
  const problem = s.host.payloads.txnProblem(msg.payload);
  if (problem !== null) return protocolViolation(s, h, `REQUEST payload refused: ${problem}`);
  acceptWrite(s, msg.origin, msg.payload);
}

export function leaderProcessSyncRequest(s: LeaderState, h: LearnerHandle, msg: SyncRequestMessage): void {
  if (msg.origin.sid !== h.sid) return protocolViolation(s, h, 'SYNC with a foreign origin');
  if (s.phase !== LeaderPhase.broadcast) return reject(s, msg.origin, 'notReady');
  acceptSync(s, msg.origin);
}

/** A sync completes once everything proposed before it has committed (Leader.processSync). */
export function acceptSync(s: LeaderState, origin: Origin): void {
  // With nothing in flight, everything proposed is committed already (lastProposed may be
  // the bare epoch start, which is never "committed" as a txn).
  const zxid = outstanding(s) === 0 ? s.committed : s.lastProposed;
  s.pendingSyncs.push({ zxid, origin });
  answerSyncs(s);
}

function answerSyncs(s: LeaderState): void {
  while (s.pendingSyncs.length > 0 && s.pendingSyncs[0]!.zxid <= s.committed) {
    const { origin } = s.pendingSyncs.shift()!;
    if (origin.sid === s.host.self) emit(s.host, { kind: 'syncDone', requestId: origin.requestId });
    else if (s.learners.has(origin.sid)) send(s, origin.sid, syncMessage(origin));
  }
}
