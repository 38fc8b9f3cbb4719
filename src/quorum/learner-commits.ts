// What a learner knows is committed, and applying it in order: the leader's COMMITs and
// INFORMs, what a snapshot or UPTODATE implies, and, where the leader and one follower are a
// quorum (three voters), what both have made durable (LEADERDURABLE).
import { quorumSize } from './quorum-view.js';
import { emit, type RoleHost } from './role-host.js';
import type { Zxid } from './zxid.js';

export class LearnerCommits {
  /** Highest zxid known committed. */
  private mark: Zxid = 0n;
  /** Highest zxid the leader said its own log made durable. */
  private leaderDurable: Zxid = 0n;

  constructor(private readonly host: RoleHost) {}

  /** Everything up to `zxid` is committed (a COMMIT, an INFORM, a snapshot, UPTODATE). */
  committed(zxid: Zxid): void {
    if (zxid > this.mark) this.mark = zxid;
  }

  /** The leader's own log is durable up to `zxid`. */
  leaderMadeDurable(zxid: Zxid): void {
    if (zxid > this.leaderDurable) this.leaderDurable = zxid;
  }

  /**
   * Where the leader and this follower are a quorum, what both made durable in the epoch
   * [epochStart, epochEnd) is committed, a round trip before the COMMIT would say so (the
   * leader commits the same point once our ACK arrives). Our log is a prefix of the leader's
   * since the sync, so the smaller of the two points is in both. Whether the mark rose.
   */
  deduce(epochStart: Zxid, epochEnd: Zxid): boolean {
    if (quorumSize(this.host.view) > 2) return false;
    const durable = this.host.journal.durableZxid;
    const point = durable < this.leaderDurable ? durable : this.leaderDurable;
    if (point <= this.mark || point < epochStart || point >= epochEnd) return false;
    this.mark = point;
    return true;
  }

  /** Applies, in order, every logged txn up to the mark. */
  apply(): void {
    const journal = this.host.journal;
    const upTo = this.mark < journal.lastLoggedZxid ? this.mark : journal.lastLoggedZxid;
    for (const entry of journal.applyUpTo(upTo)) {
      emit(this.host, { kind: 'apply', zxid: entry.zxid, payload: entry.payload, origin: entry.origin });
    }
  }
}
