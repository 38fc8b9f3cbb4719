import { quorumSize, type QuorumView } from '../quorum-view.js';
import { zxidToHex, type Zxid } from '../zxid.js';
import type { HashChainMachine } from './hash-chain.js';
import type { SimNode, WriteRecord } from './sim-types.js';

/** A broken safety or liveness property: the seed that found it replays it exactly. */
export class SimViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SimViolation';
  }
}

export function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new SimViolation(message);
}

interface CanonEntry {
  readonly zxid: Zxid;
  readonly writeId: number;
  readonly hash: number;
}

/**
 * The safety properties: the one true applied sequence (every server's applied txns must be a
 * prefix of it), one txn per zxid, one leader per epoch, durability at a quorum before apply,
 * and each server's core agreeing with its own state machine and disk.
 */
export class SimOracle {
  readonly canon: CanonEntry[] = [];
  private readonly canonWriteIds = new Set<number>();
  private readonly zxidWriteId = new Map<Zxid, number>();
  private readonly establishedLeader = new Map<bigint, number>();

  constructor(
    private readonly view: QuorumView,
    private readonly nodes: ReadonlyMap<number, SimNode>,
    private readonly writes: ReadonlyMap<number, WriteRecord>,
  ) {}

  /** One zxid, one txn, everywhere: epochs are unique to one leader. */
  logged(zxid: Zxid, writeId: number): void {
    const known = this.zxidWriteId.get(zxid);
    check(known === undefined || known === writeId, `zxid ${zxidToHex(zxid)} names two txns (${known}, ${writeId})`);
    this.zxidWriteId.set(zxid, writeId);
  }

  /** Server `sid` applied its txn #index: it must be the canon's, or the next; true when it is the next. */
  applied(sid: number, index: number, zxid: Zxid, hash: number, writeId: number): boolean {
    if (index < this.canon.length) {
      const canon = this.canon[index]!;
      check(canon.zxid === zxid && canon.hash === hash,
        `${sid}: applied #${index} = ${zxidToHex(zxid)} (write ${writeId}) but others applied ${zxidToHex(canon.zxid)} (write ${canon.writeId})`);
      return false;
    }
    check(index === this.canon.length, 'applied sequence skipped an index');
    check(!this.canonWriteIds.has(writeId), `write ${writeId} applied twice`);
    check(this.writes.get(writeId)?.status !== 'rejected', `write ${writeId} was rejected yet applied`);
    this.canon.push({ zxid, writeId, hash });
    this.canonWriteIds.add(writeId);
    return true;
  }

  rejected(writeId: number): void {
    check(!this.canonWriteIds.has(writeId), `write ${writeId} rejected after being applied`);
  }

  /** One leader per epoch: `sid` began serving as leader of `epoch`. */
  established(epoch: bigint, sid: number): void {
    const other = this.establishedLeader.get(epoch);
    check(other === undefined || other === sid, `epoch ${epoch} established by both ${other} and ${sid}`);
    this.establishedLeader.set(epoch, sid);
  }

  /** Whatever any server applies must already survive any crash at a quorum of voters. */
  checkQuorumDurable(zxid: Zxid): void {
    let holders = 0;
    for (const sid of this.view.voters) if (this.nodes.get(sid)!.disk.holdsDurably(zxid)) holders++;
    check(holders >= quorumSize(this.view), `applied ${zxidToHex(zxid)} is durable at only ${holders} voters`);
  }

  /** After every event: each up server's core agrees with its state machine and disk. */
  checkNodes(): void {
    let servingLeaders = 0;
    const leaderEpochs = new Set<bigint>();
    for (const node of this.nodes.values()) {
      if (!node.up) continue;
      const peer = node.peer;
      check(node.sm.zxid === peer.appliedZxid, `${node.sid}: state machine at ${zxidToHex(node.sm.zxid)}, core at ${zxidToHex(peer.appliedZxid)}`);
      this.checkAgainstCanon(node.sid, node.sm, 'state');
      check(peer.lastLoggedZxid === node.disk.lastZxid, `${node.sid}: core logged ${zxidToHex(peer.lastLoggedZxid)}, disk ${zxidToHex(node.disk.lastZxid)}`);
      check(peer.durableZxid <= node.disk.durableZxid, `${node.sid}: core believes ${zxidToHex(peer.durableZxid)} durable, disk has ${zxidToHex(node.disk.durableZxid)}`);
      check(peer.acceptedEpoch === node.disk.acceptedEpoch && peer.currentEpoch === node.disk.currentEpoch, `${node.sid}: epochs differ from disk`);
      if (peer.roleName === 'leading' && peer.isServing) {
        servingLeaders++;
        check(!leaderEpochs.has(peer.epoch), `two serving leaders in epoch ${peer.epoch}`);
        leaderEpochs.add(peer.epoch);
      }
    }
    check(servingLeaders <= this.nodes.size, 'impossible leader count');
  }

  checkAgainstCanon(sid: number, sm: HashChainMachine, what: string): void {
    check(sm.count <= this.canon.length, `${sid}: ${what} has ${sm.count} txns, more than were ever applied`);
    if (sm.count === 0) return;
    const canon = this.canon[sm.count - 1]!;
    check(canon.hash === sm.hash && canon.zxid === sm.zxid, `${sid}: ${what} differs from the replay of the committed log at #${sm.count - 1}`);
  }

  /** Canon entries up to the last acked write: a sync begun now must see at least these. */
  ackedPrefixCount(): number {
    for (let i = this.canon.length - 1; i >= 0; i--) {
      if (this.writes.get(this.canon[i]!.writeId)?.status === 'acked') return i + 1;
    }
    return 0;
  }
}
