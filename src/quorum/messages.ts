import type { ServerState } from './vote.js';
import type { Zxid } from './zxid.js';

/**
 * Peer messages: plain objects with a fixed key order (the order of their fields in
 * message-schema.ts, which is also the order their wire tuple carries them), zxids and epochs
 * as bigint, payloads as opaque bytes. Every message is built by a factory below so the
 * order cannot drift. The transport must be FIFO per pair of peers (TCP); a lost
 * connection is reported to the core as a `disconnected` event, never as a silent gap.
 */

/**
 * Bumped on any incompatible change; sent in the transport's first frame. 2: SNAP travels as a
 * header and chunks; the hello is a challenge-response (hello, welcome, proof). 3: a message is
 * a tuple [type code, fields in order], not a map with key names; PINGREPLY's touches are typed
 * [sessionId, timeoutMs] entries, not opaque byte strings.
 */
export const quorumProtocolVersion = 4;

/** Sessions one PING reply may report; a learner whose batch fills sends it at once. */
export const pingReplyTouchesMax = 10_000;

/** A zxid that the local disk has made durable. Only the durable event yields one, so an ACK
 * cannot be built for a txn that might still be lost in a crash (etcd's "persist before send"). */
export type DurableZxid = Zxid & { readonly durableBrand: unique symbol };

/** Marks `zxid` as covered by an fsync; call only where a `durable` event proved it. */
export function durableZxid(zxid: Zxid): DurableZxid {
  return zxid as DurableZxid;
}

/** Which server's client request a txn answers: the origin replies when it applies the txn. */
export interface Origin {
  readonly sid: number;
  readonly requestId: number;
}

export function makeOrigin(sid: number, requestId: number): Origin {
  return { sid, requestId };
}

// ---- fast leader election --------------------------------------------------------------

export interface NotificationMessage {
  readonly type: 'notification';
  readonly version: number;
  readonly state: ServerState;
  readonly leader: number;
  readonly zxid: Zxid;
  readonly electionEpoch: bigint;
  readonly peerEpoch: bigint;
}

export function notificationMessage(
  state: ServerState,
  leader: number,
  zxid: Zxid,
  electionEpoch: bigint,
  peerEpoch: bigint,
): NotificationMessage {
  return { type: 'notification', version: quorumProtocolVersion, state, leader, zxid, electionEpoch, peerEpoch };
}

// ---- discovery ---------------------------------------------------------------------------

export interface FollowerInfoMessage {
  readonly type: 'followerInfo';
  readonly acceptedEpoch: bigint;
  readonly protocolVersion: number;
}

export function followerInfoMessage(acceptedEpoch: bigint): FollowerInfoMessage {
  return { type: 'followerInfo', acceptedEpoch, protocolVersion: quorumProtocolVersion };
}

export interface ObserverInfoMessage {
  readonly type: 'observerInfo';
  readonly acceptedEpoch: bigint;
  readonly protocolVersion: number;
}

export function observerInfoMessage(acceptedEpoch: bigint): ObserverInfoMessage {
  return { type: 'observerInfo', acceptedEpoch, protocolVersion: quorumProtocolVersion };
}

export interface LeaderInfoMessage {
  readonly type: 'leaderInfo';
  readonly newEpoch: bigint;
  readonly protocolVersion: number;
}

export function leaderInfoMessage(newEpoch: bigint): LeaderInfoMessage {
  return { type: 'leaderInfo', newEpoch, protocolVersion: quorumProtocolVersion };
}

/** `acceptedNow` is false when the learner had already accepted this epoch before (ZooKeeper's
 * currentEpoch = -1): such an ack does not count toward the leader's epoch quorum. */
export interface AckEpochMessage {
  readonly type: 'ackEpoch';
  readonly lastLoggedZxid: Zxid;
  readonly currentEpoch: bigint;
  readonly acceptedNow: boolean;
}

export function ackEpochMessage(lastLoggedZxid: Zxid, currentEpoch: bigint, acceptedNow: boolean): AckEpochMessage {
  return { type: 'ackEpoch', lastLoggedZxid, currentEpoch, acceptedNow };
}

// ---- synchronization ---------------------------------------------------------------------

export interface DiffMessage {
  readonly type: 'diff';
  readonly zxid: Zxid;
}

export function diffMessage(zxid: Zxid): DiffMessage {
  return { type: 'diff', zxid };
}

export interface TruncMessage {
  readonly type: 'trunc';
  readonly zxid: Zxid;
}

export function truncMessage(zxid: Zxid): TruncMessage {
  return { type: 'trunc', zxid };
}

/**
 * The snapshot is opaque bytes produced by the server's state machine. It is announced by
 * SNAP with its size and follows in SNAPCHUNKs, so that no peer frame has to hold a whole tree.
 */
export interface SnapMessage {
  readonly type: 'snap';
  readonly zxid: Zxid;
  readonly snapshotBytes: number;
}

export function snapMessage(zxid: Zxid, snapshotBytes: number): SnapMessage {
  return { type: 'snap', zxid, snapshotBytes };
}

/** The next piece of the snapshot announced by SNAP; the pieces are sent in order. */
export interface SnapChunkMessage {
  readonly type: 'snapChunk';
  readonly data: Uint8Array;
}

export function snapChunkMessage(data: Uint8Array): SnapChunkMessage {
  return { type: 'snapChunk', data };
}

export interface NewLeaderMessage {
  readonly type: 'newLeader';
  readonly zxid: Zxid;
}

export function newLeaderMessage(zxid: Zxid): NewLeaderMessage {
  return { type: 'newLeader', zxid };
}

/** The learner's ACK of NEWLEADER: its synced history is durable and currentEpoch stored. */
export interface AckNewLeaderMessage {
  readonly type: 'ackNewLeader';
  readonly zxid: Zxid;
}

export function ackNewLeaderMessage(zxid: DurableZxid): AckNewLeaderMessage {
  return { type: 'ackNewLeader', zxid };
}

export interface UpToDateMessage {
  readonly type: 'upToDate';
}

export function upToDateMessage(): UpToDateMessage {
  return { type: 'upToDate' };
}

// ---- broadcast ---------------------------------------------------------------------------

export interface ProposalMessage {
  readonly type: 'proposal';
  readonly zxid: Zxid;
  readonly payload: Uint8Array;
  readonly origin: Origin | null;
}

export function proposalMessage(zxid: Zxid, payload: Uint8Array, origin: Origin | null): ProposalMessage {
  return { type: 'proposal', zxid, payload, origin: origin === null ? null : makeOrigin(origin.sid, origin.requestId) };
}

/** Cumulative: "every txn up to zxid is durable in my log". FIFO links make this equal to
 * ZooKeeper's per-zxid ACK while letting one fsync answer a whole group commit. */
export interface AckMessage {
  readonly type: 'ack';
  readonly zxid: Zxid;
}

export function ackMessage(zxid: DurableZxid): AckMessage {
  return { type: 'ack', zxid };
}

/** Cumulative: "every txn up to zxid is committed"; the follower applies its log up to it, in
 * order. The leader sends one per commit step, not one per txn. */
export interface CommitMessage {
  readonly type: 'commit';
  readonly zxid: Zxid;
}

export function commitMessage(zxid: Zxid): CommitMessage {
  return { type: 'commit', zxid };
}

/**
 * "The leader's own log is durable up to zxid." Sent where the leader and any one follower
 * make a quorum (three voters): a follower that has made the same zxid durable knows it is
 * committed, a round trip before the COMMIT would say so.
 */
export interface LeaderDurableMessage {
  readonly type: 'leaderDurable';
  readonly zxid: Zxid;
}

export function leaderDurableMessage(zxid: DurableZxid): LeaderDurableMessage {
  return { type: 'leaderDurable', zxid };
}

/** A committed txn for an observer, which never sees proposals. */
export interface InformMessage {
  readonly type: 'inform';
  readonly zxid: Zxid;
  readonly payload: Uint8Array;
  readonly origin: Origin | null;
}

export function informMessage(zxid: Zxid, payload: Uint8Array, origin: Origin | null): InformMessage {
  return { type: 'inform', zxid, payload, origin: origin === null ? null : makeOrigin(origin.sid, origin.requestId) };
}

export interface PingMessage {
  readonly type: 'ping';
  readonly zxid: Zxid;
}

export function pingMessage(lastProposedZxid: Zxid): PingMessage {
  return { type: 'ping', zxid: lastProposedZxid };
}

/** A session heard from, with the timeout (ms) its client negotiated. */
export interface SessionEntry {
  readonly sessionId: bigint;
  readonly timeoutMs: number;
}

export function sessionEntry(sessionId: bigint, timeoutMs: number): SessionEntry {
  return { sessionId, timeoutMs };
}

/** A learner's answer to PING (or a full batch sent early): the sessions heard from since the last. */
export interface PingReplyMessage {
  readonly type: 'pingReply';
  readonly touches: readonly SessionEntry[];
}

export function pingReplyMessage(touches: readonly SessionEntry[]): PingReplyMessage {
  return { type: 'pingReply', touches };
}

/** A client write forwarded by a learner to the leader (ZooKeeper's REQUEST). */
export interface RequestMessage {
  readonly type: 'request';
  readonly origin: Origin;
  readonly payload: Uint8Array;
}

export function requestMessage(origin: Origin, payload: Uint8Array): RequestMessage {
  return { type: 'request', origin: makeOrigin(origin.sid, origin.requestId), payload };
}

/** A client sync forwarded to the leader. */
export interface SyncRequestMessage {
  readonly type: 'syncRequest';
  readonly origin: Origin;
}

export function syncRequestMessage(origin: Origin): SyncRequestMessage {
  return { type: 'syncRequest', origin: makeOrigin(origin.sid, origin.requestId) };
}

/** The leader's SYNC: every commit before it on this link precedes the sync point. */
export interface SyncMessage {
  readonly type: 'sync';
  readonly origin: Origin;
}

export function syncMessage(origin: Origin): SyncMessage {
  return { type: 'sync', origin: makeOrigin(origin.sid, origin.requestId) };
}

export const RejectReason = {
  /** The pipeline and backlog at the leader are full. */
  busy: 'busy',
  /** The server is not serving (no leader, or still syncing). */
  notReady: 'notReady',
  /** The write's session has since been resumed through another member (ZooKeeper's SESSIONMOVED). */
  sessionMoved: 'sessionMoved',
} as const;
export type RejectReason = (typeof RejectReason)[keyof typeof RejectReason];

export interface RequestRejectedMessage {
  readonly type: 'requestRejected';
  readonly origin: Origin;
  readonly reason: RejectReason;
}

export function requestRejectedMessage(origin: Origin, reason: RejectReason): RequestRejectedMessage {
  return { type: 'requestRejected', origin: makeOrigin(origin.sid, origin.requestId), reason };
}

// ---- sessions: a learner asks its leader whether a reconnecting session may resume -------------

export interface RevalidateMessage {
  readonly type: 'revalidate';
  readonly sessionId: bigint;
  readonly timeoutMs: number;
}

export function revalidateMessage(sessionId: bigint, timeoutMs: number): RevalidateMessage {
  return { type: 'revalidate', sessionId, timeoutMs };
}

export interface RevalidateReplyMessage {
  readonly type: 'revalidateReply';
  readonly sessionId: bigint;
  readonly valid: boolean;
}

export function revalidateReplyMessage(sessionId: bigint, valid: boolean): RevalidateReplyMessage {
  return { type: 'revalidateReply', sessionId, valid };
}

export type ElectionMessage = NotificationMessage;

export type LeaderToLearnerMessage =
  | LeaderInfoMessage
  | DiffMessage
  | TruncMessage
  | SnapMessage
  | SnapChunkMessage
  | NewLeaderMessage
  | UpToDateMessage
  | ProposalMessage
  | CommitMessage
  | LeaderDurableMessage
  | InformMessage
  | PingMessage
  | SyncMessage
  | RequestRejectedMessage
  | RevalidateReplyMessage;

export type LearnerToLeaderMessage =
  | FollowerInfoMessage
  | ObserverInfoMessage
  | AckEpochMessage
  | AckNewLeaderMessage
  | AckMessage
  | PingReplyMessage
  | RequestMessage
  | SyncRequestMessage
  | RevalidateMessage;

export type ZabMessage = LeaderToLearnerMessage | LearnerToLeaderMessage;
export type PeerMessage = ElectionMessage | ZabMessage;
export type PeerMessageType = PeerMessage['type'];

const leaderToLearnerTypes: ReadonlySet<string> = new Set<LeaderToLearnerMessage['type']>([
  'leaderInfo', 'diff', 'trunc', 'snap', 'snapChunk', 'newLeader', 'upToDate', 'proposal', 'commit', 'inform', 'ping',
  'sync', 'requestRejected', 'revalidateReply', 'leaderDurable',
]);
const learnerToLeaderTypes: ReadonlySet<string> = new Set<LearnerToLeaderMessage['type']>([
  'followerInfo', 'observerInfo', 'ackEpoch', 'ackNewLeader', 'ack', 'pingReply', 'request', 'syncRequest',
  'revalidate',
]);

export function isLeaderToLearner(msg: PeerMessage): msg is LeaderToLearnerMessage {
  return leaderToLearnerTypes.has(msg.type);
}

export function isLearnerToLeader(msg: PeerMessage): msg is LearnerToLeaderMessage {
  return learnerToLeaderTypes.has(msg.type);
}

/** Election messages may be lost, duplicated or reordered; ZAB messages ride a FIFO connection. */
export function isElectionMessage(msg: PeerMessage): msg is ElectionMessage {
  return msg.type === 'notification';
}
