import type { QuorumLimits } from './limits.js';
import { notificationMessage, type NotificationMessage } from './messages.js';
import { isQuorum, isVoter, type QuorumView } from './quorum-view.js';
import { ServerState, voteBeats, type Vote } from './vote.js';
import type { Zxid } from './zxid.js';

/** What election asks of its host: a notification to send, or the outcome. */
export type ElectionEffect =
  | { readonly kind: 'sendNotification'; readonly to: number; readonly msg: NotificationMessage }
  | {
      readonly kind: 'decide';
      readonly role: 'leading' | 'following' | 'observing';
      readonly leader: number;
      readonly electionEpoch: bigint;
      readonly vote: Vote;
    };

export interface ElectionConfig {
  readonly self: number;
  readonly view: QuorumView;
  readonly limits: QuorumLimits;
}

/** What this server brings to the round: its own candidacy. */
export interface ElectionBasis {
  readonly lastLoggedZxid: Zxid;
  readonly currentEpoch: bigint;
}

/** An observer never stands; this vote loses to every real one. */
const noCandidate: Vote = Object.freeze({ leader: 0, zxid: -1n, peerEpoch: -1n });

interface ReceivedVote {
  readonly vote: Vote;
  readonly state: ServerState;
  readonly electionEpoch: bigint;
}

/**
 * Once either side has decided, only the leader and its epoch identify the ensemble;
 * the zxid in a decided vote is history (ZooKeeper's Vote.equals does the same).
 */
function votesMatch(a: ReceivedVote, target: Vote, targetState: ServerState): boolean {
  if (a.state !== ServerState.looking || targetState !== ServerState.looking) {
    return a.vote.leader === target.leader && a.vote.peerEpoch === target.peerEpoch;
  }
  return a.vote.leader === target.leader && a.vote.zxid === target.zxid && a.vote.peerEpoch === target.peerEpoch;
}

/**
 * Fast Leader Election as a pure state machine. One instance per LOOKING period; the
 * logical clock carries over between instances through `electionEpoch`.
 */
export class Election {
  private clock: bigint;
  private proposal: Vote;
  private readonly initialVote: Vote;
  private readonly recvSet = new Map<number, ReceivedVote>();
  private readonly outOfElection = new Map<number, ReceivedVote>();
  private now = 0;
  private finalizeAt: number | null = null;
  private resendInterval: number;
  private resendAt: number;
  private decided = false;

  constructor(
    private readonly config: ElectionConfig,
    basis: ElectionBasis,
    previousElectionEpoch: bigint,
  ) {
    this.clock = previousElectionEpoch;
    this.initialVote = isVoter(config.view, config.self)
      ? { leader: config.self, zxid: basis.lastLoggedZxid, peerEpoch: basis.currentEpoch }
      : noCandidate;
    this.proposal = this.initialVote;
    this.resendInterval = config.limits.notificationIntervalTicksMin;
    this.resendAt = this.resendInterval;
  }

  get electionEpoch(): bigint { return this.clock; }
  get currentProposal(): Vote { return this.proposal; }
  get isDecided(): boolean { return this.decided; }

  /** A new round: bump the logical clock and tell every voter our candidacy. */
  start(): ElectionEffect[] {
    const out: ElectionEffect[] = [];
    this.clock += 1n;
    this.recvSet.clear();
    this.outOfElection.clear();
    this.setProposal(this.initialVote);
    this.broadcast(out);
    // A single-voter ensemble has its quorum already.
    this.updateFinalize();
    return out;
  }

  tick(): ElectionEffect[] {
    const out: ElectionEffect[] = [];
    if (this.decided) return out;
    this.now++;
    if (this.finalizeAt !== null && this.now >= this.finalizeAt) {
      this.finalizeAt = null;
      if (this.hasQuorumFor(this.recvSet, this.proposal, ServerState.looking)) {
        this.decide(out, this.proposal);
        return out;
      }
    }
    if (this.now >= this.resendAt) {
      // Nothing decided yet: notifications may have been lost, so say it again, less often.
      this.broadcast(out);
      this.resendInterval = Math.min(this.resendInterval * 2, this.config.limits.notificationIntervalTicksMax);
      this.resendAt = this.now + this.resendInterval;
    }
    return out;
  }

  /** Ticks until tick() may act: the finalize wait ends or a resend is due. */
  ticksUntilDue(): number {
    if (this.decided) return Number.POSITIVE_INFINITY;
    const at = this.finalizeAt !== null && this.finalizeAt < this.resendAt ? this.finalizeAt : this.resendAt;
    return Math.max(1, at - this.now);
  }

  /** FastLeaderElection.lookForLeader's loop body for one received notification. */
  receive(from: number, n: NotificationMessage): ElectionEffect[] {
    const out: ElectionEffect[] = [];
    if (this.decided || from === this.config.self) return out;
    if (!isVoter(this.config.view, from)) {
      // A non-voter learns from our answer but is never counted, and never moves our timers.
      if (n.state === ServerState.looking) this.sendTo(out, from);
      return out;
    }
    // A voter's notification means the links work again: resend at the fast rate. Never
    // postpone a due resend, though: chatter with one peer must not starve the others.
    this.resendInterval = this.config.limits.notificationIntervalTicksMin;
    this.resendAt = Math.min(this.resendAt, this.now + this.resendInterval);
    if (n.state === ServerState.looking) this.receiveLooking(out, from, n);
    else if (n.state === ServerState.following || n.state === ServerState.leading) this.receiveDecided(out, from, n);
    return out;
  }

  private receiveLooking(out: ElectionEffect[], from: number, n: NotificationMessage): void {
    const vote: Vote = { leader: n.leader, zxid: n.zxid, peerEpoch: n.peerEpoch };
    const eligible = isVoter(this.config.view, vote.leader);
    if (n.electionEpoch > this.clock) {
      // A newer round started elsewhere: join it, restarting from our own candidacy.
      this.clock = n.electionEpoch;
      this.recvSet.clear();
      this.setProposal(eligible && voteBeats(vote, this.initialVote) ? vote : this.initialVote);
      this.broadcast(out);
    } else if (n.electionEpoch < this.clock) {
      // The sender is behind; our notification pulls it into the current round. An observer
      // stays quiet: voters ignore its votes, and answering their answers would loop forever.
      if (isVoter(this.config.view, this.config.self)) this.sendTo(out, from);
      return;
    } else if (eligible && voteBeats(vote, this.proposal)) {
      this.setProposal(vote);
      this.broadcast(out);
    }
    this.recvSet.set(from, { vote, state: n.state, electionEpoch: n.electionEpoch });
    this.updateFinalize();
  }

  /** A peer that already follows or leads: join the running ensemble if a quorum agrees. */
  private receiveDecided(out: ElectionEffect[], from: number, n: NotificationMessage): void {
    // Only a voter can lead: a decided vote for anyone else is not from a real ensemble.
    if (!isVoter(this.config.view, n.leader)) return;
    const received: ReceivedVote = {
      vote: { leader: n.leader, zxid: n.zxid, peerEpoch: n.peerEpoch },
      state: n.state,
      electionEpoch: n.electionEpoch,
    };
    if (n.electionEpoch === this.clock) {
      this.recvSet.set(from, received);
      if (this.hasQuorumFor(this.recvSet, received.vote, n.state) && this.checkLeader(this.recvSet, n.leader, n.electionEpoch)) {
        this.decide(out, received.vote);
        return;
      }
    }
    this.outOfElection.set(from, received);
    if (this.hasQuorumFor(this.outOfElection, received.vote, n.state) && this.checkLeader(this.outOfElection, n.leader, n.electionEpoch)) {
      this.clock = n.electionEpoch;
      this.decide(out, received.vote);
    }
  }

  /**
   * A quorum naming a leader is not enough: the leader itself must claim LEADING, or we
   * might follow a server that has already given up (FastLeaderElection.checkLeader).
   */
  private checkLeader(votes: Map<number, ReceivedVote>, leader: number, electionEpoch: bigint): boolean {
    if (leader === this.config.self) return this.clock === electionEpoch;
    return votes.get(leader)?.state === ServerState.leading;
  }

  private hasQuorumFor(votes: Map<number, ReceivedVote>, target: Vote, targetState: ServerState): boolean {
    const agreeing: number[] = [];
    for (const [sid, received] of votes) if (votesMatch(received, target, targetState)) agreeing.push(sid);
    return isQuorum(this.config.view, agreeing);
  }

  /** Start (or restart) the finalize wait when our proposal has a quorum; cancel it otherwise. */
  private updateFinalize(): void {
    if (!this.hasQuorumFor(this.recvSet, this.proposal, ServerState.looking)) {
      this.finalizeAt = null;
    } else if (this.finalizeAt === null) {
      this.finalizeAt = this.now + this.config.limits.finalizeWaitTicks;
    }
  }

  private setProposal(vote: Vote): void {
    this.proposal = vote;
    this.finalizeAt = null;
    if (isVoter(this.config.view, this.config.self)) {
      this.recvSet.set(this.config.self, { vote, state: ServerState.looking, electionEpoch: this.clock });
    }
  }

  private decide(out: ElectionEffect[], vote: Vote): void {
    this.decided = true;
    this.proposal = vote;
    const role = vote.leader === this.config.self ? 'leading' : isVoter(this.config.view, this.config.self) ? 'following' : 'observing';
    out.push({ kind: 'decide', role, leader: vote.leader, electionEpoch: this.clock, vote });
  }

  /** While undecided every server, observers included, reports LOOKING so that others answer it. */
  private notification(): NotificationMessage {
    return notificationMessage(ServerState.looking, this.proposal.leader, this.proposal.zxid, this.clock, this.proposal.peerEpoch);
  }

  private sendTo(out: ElectionEffect[], to: number): void {
    out.push({ kind: 'sendNotification', to, msg: this.notification() });
  }

  private broadcast(out: ElectionEffect[]): void {
    for (const sid of this.config.view.voters) if (sid !== this.config.self) this.sendTo(out, sid);
  }
}

/** How a server that already follows, leads or observes answers a LOOKING peer. */
export function decidedNotification(
  state: ServerState,
  vote: Vote,
  electionEpoch: bigint,
): NotificationMessage {
  return notificationMessage(state, vote.leader, vote.zxid, electionEpoch, vote.peerEpoch);
}
