import type { Zxid } from './zxid.js';

/** The server states a notification reports, with ZooKeeper's numbering. */
export const ServerState = {
  looking: 0,
  following: 1,
  leading: 2,
  observing: 3,
} as const;
export type ServerState = (typeof ServerState)[keyof typeof ServerState];

/** A proposal for leader: the candidate sid, its last logged zxid and its currentEpoch. */
export interface Vote {
  readonly leader: number;
  readonly zxid: Zxid;
  readonly peerEpoch: bigint;
}

/**
 * FastLeaderElection.totalOrderPredicate: A beats B by (peerEpoch, zxid, sid), compared in
 * that order. peerEpoch comes first so that a server that acked a newer NEWLEADER wins over
 * one that merely logged more txns of an older epoch (those may be an uncommitted tail).
 */
export function compareVotes(a: Vote, b: Vote): number {
  if (a.peerEpoch !== b.peerEpoch) return a.peerEpoch > b.peerEpoch ? 1 : -1;
  if (a.zxid !== b.zxid) return a.zxid > b.zxid ? 1 : -1;
  return a.leader - b.leader;
}

export function voteBeats(a: Vote, b: Vote): boolean {
  return compareVotes(a, b) > 0;
}

export function sameVote(a: Vote, b: Vote): boolean {
  return a.leader === b.leader && a.zxid === b.zxid && a.peerEpoch === b.peerEpoch;
}
