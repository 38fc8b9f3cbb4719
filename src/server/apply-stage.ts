import type { DataTree } from '../data/data-tree.js';
import type { Txn } from '../data/txn.js';
import { WatchManager } from '../data/watch-manager.js';
import { invariant } from '../errors.js';
import { loopWork, type LoopWork, type SlicedWork } from '../loop-work.js';
import { OpCode } from '../protocol/constants.js';
import type { ReplicatedSessions } from '../session/session-authority.js';
import type { SessionChanges } from '../session/session-service.js';
import type { FatalHandler, WriteWaiter } from './committer.js';

/**
 * The clock is looked at every few txns (a create with its reply is ~10-20 us), so that a
 * slice stops close to its deadline without reading the clock per txn.
 */
const applyClockStride = 4;

/**
 * The last stage of the commit pipeline, the same in both modes: committed, durable txns are
 * applied in zxid order to the tree, a slice at a time in the turns of `loopWork` (a group
 * commit of thousands would otherwise hold every other connection's reads), and each write's
 * waiter builds its reply inside the slice. Watches fire and sync waiters are released here.
 */
export class ApplyStage implements SlicedWork {
  /** Applying completes requests (it releases their replies): it goes before work that admits more. */
  readonly runsFirst = true;
  readonly watches = new WatchManager();
  private current: DataTree;
  /** Committed txns and their waiters (null: not a write of ours), from `head` on; two arrays, no object per txn. */
  private txns: Txn[] = [];
  private waiters: (WriteWaiter | null)[] = [];
  private head = 0;
  private lastQueuedZxid: bigint;
  private readonly syncWaiters: { zxid: bigint; resolve: () => void }[] = [];
  private sessions: SessionChanges | null = null;

  constructor(
    tree: DataTree,
    private readonly onFatal: FatalHandler,
    private readonly work: LoopWork = loopWork,
  ) {
    this.current = tree;
    this.lastQueuedZxid = tree.lastZxid;
  }

  get tree(): DataTree {
    return this.current;
  }

  /** Committed txns waiting to be applied. */
  get queued(): number {
    return this.txns.length - this.head;
  }

  /** The session service, told of session txns as they are applied. */
  reportSessionsTo(sessions: SessionChanges): void {
    this.sessions = sessions;
  }

  /** A committed, durable txn; zxids strictly increase. Applied on a coming turn. */
  enqueue(txn: Txn, waiter: WriteWaiter | null): void {
    invariant(txn.zxid > this.lastQueuedZxid, () => `apply order: 0x${txn.zxid.toString(16)} after 0x${this.lastQueuedZxid.toString(16)}`);
    this.lastQueuedZxid = txn.zxid;
    this.txns.push(txn);
    this.waiters.push(waiter);
    if (this.txns.length - this.head === 1) this.work.schedule(this);
  }

  /** Calls `resolve` once every txn up to `zxid` is applied (at once when it is). */
  whenApplied(zxid: bigint, resolve: () => void): void {
    if (this.current.lastZxid >= zxid) resolve();
    else this.syncWaiters.push({ zxid, resolve });
  }

  /** Once everything committed so far is applied: a sync that the consensus core answered. */
  whenQueuedApplied(resolve: () => void): void {
    this.whenApplied(this.lastQueuedZxid, resolve);
  }

  /** Applies queued txns until `deadline` (LoopWork); true when some are left. */
  runSlice(deadline: number): boolean {
    let applied = 0;
    while (this.head < this.txns.length) {
      if (++applied % applyClockStride === 0 && performance.now() >= deadline) break;
      const txn = this.txns[this.head]!;
      const waiter = this.waiters[this.head]!;
      this.txns[this.head] = undefined as unknown as Txn;
      this.waiters[this.head++] = null;
      if (!this.applyOne(txn, waiter)) return false;
    }
    this.compact();
    this.releaseSyncs();
    return this.head < this.txns.length;
  }

  /** Applies everything queued now: before the tree is snapshotted or replaced. */
  drain(): void {
    this.runSlice(Infinity);
  }

  /** Replaces the tree with one installed from a snapshot; nothing may be queued. */
  replaceTree(tree: DataTree): void {
    invariant(this.queued === 0, 'tree replaced with txns still to apply');
    this.current = tree;
    this.lastQueuedZxid = tree.lastZxid;
    this.sessions?.reset();
    this.releaseSyncs();
  }

  /** False when applying failed: a txn that does not apply is a broken invariant, and the server stops. */
  private applyOne(txn: Txn, waiter: WriteWaiter | null): boolean {
    let result;
    try {
      result = this.current.apply(txn, waiter !== null);
    } catch (err) {
      this.txns = [];
      this.waiters = [];
      this.head = 0;
      this.onFatal(err, `txn 0x${txn.zxid.toString(16)} could not be applied`);
      return false;
    }
    for (const change of result.changes) this.watches.trigger(change);
    const type = txn.op.type;
    if (type === OpCode.createSession) this.sessions?.created(txn.sessionId, txn.op.timeout);
    else if (type === OpCode.closeSession) this.sessions?.closed(txn.sessionId);
    waiter?.committed(txn, result);
    return true;
  }

  private compact(): void {
    if (this.head === this.txns.length) {
      this.txns.length = 0;
      this.waiters.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 >= this.txns.length) {
      this.txns = this.txns.slice(this.head);
      this.waiters = this.waiters.slice(this.head);
      this.head = 0;
    }
  }

  private releaseSyncs(): void {
    const applied = this.current.lastZxid;
    for (let i = 0; i < this.syncWaiters.length; ) {
      if (this.syncWaiters[i]!.zxid <= applied) this.syncWaiters.splice(i, 1)[0]!.resolve();
      else i++;
    }
  }
}

/** The tree's session table as sessions read it; follows the tree when a snapshot replaces it. */
export function replicatedSessions(apply: ApplyStage): ReplicatedSessions {
  return {
    has: (sessionId) => apply.tree.sessions.has(sessionId),
    *timeouts() {
      for (const [id, entry] of apply.tree.sessions) yield [id, entry.timeout];
    },
    get lastZxid() {
      return apply.tree.lastZxid;
    },
  };
}
