import { ZkError, invariant } from '../errors.js';
import { OpCode } from '../protocol/constants.js';
import type { ACL, Stat } from '../protocol/records.js';
import { openAclUnsafe, readAclUnsafe } from './acl.js';
import { NodeEdits } from './node-edits.js';
import { NodeOwners } from './node-owners.js';
import { noParent, rootSlot } from './node-columns.js';
import { writeImage, type NodeImage } from './node-image.js';
import { NodeStore } from './node-store.js';
import { baseName, joinPath, parentOf } from './path.js';
import { PlainCreateReplay, type AclDecoder } from './plain-create-replay.js';
import { SnapshotViews, type ConsistentCursor } from './snapshot-views.js';
import { applyMulti } from './tree-multi.js';
import { TreeOps, type ApplyResult, type TreeChange, type TreeOpsOptions } from './tree-ops.js';
import type { PlainCreate } from './txn-codec.js';
import type { Txn } from './txn.js';
import { ZNode, statOfSlot, ttlOf } from './znode.js';

export type DataTreeOptions = TreeOpsOptions;

/**
 * The replicated state: the znode tree, the session table and each session's ephemerals.
 * `apply` is deterministic: the same txns in the same order give the same tree anywhere
 * (slot numbers are local and may differ between servers; paths, data and stats do not).
 * The jobs are composed here: TreeOps the op semantics, applyMulti the all-or-nothing,
 * NodeEdits the changes themselves, NodeOwners the sessions and owned nodes, SnapshotViews
 * the walks that run while writes go on, PlainCreateReplay recovery's fast path.
 */
export class DataTree {
  readonly store = new NodeStore();
  private readonly owners = new NodeOwners();
  readonly sessions = this.owners.sessions;
  readonly ephemerals = this.owners.ephemerals;
  readonly containers = this.owners.containers;
  lastZxid = 0n;
  private readonly views = new SnapshotViews(this.store);
  private readonly edits = new NodeEdits(this.store, this.views, this.owners);
  private readonly ops: TreeOps;
  private readonly plainCreates = new PlainCreateReplay(this.store, this.edits, this.owners);

  /** `loading`: no built-in nodes (a snapshot loader fills the store itself). */
  constructor(
    private readonly options: DataTreeOptions,
    loading = false,
  ) {
    this.ops = new TreeOps(this.store, this.edits, this.owners, options);
    if (loading) return;
    const root = this.store.take();
    writeImage(this.store, { ...this.imageFor(root, noParent, '', null, openAclUnsafe), slot: root });
    this.edits.dataSize = 1;
    this.addBuiltIn('/zookeeper', openAclUnsafe);
    this.addBuiltIn('/zookeeper/quota', openAclUnsafe);
    this.addBuiltIn('/zookeeper/config', readAclUnsafe);
    // ZooKeeper writes the config node's ACL with an internal setACL of version -1.
    this.store.columns.aversion[this.lookup('/zookeeper/config')] = -1;
  }

  private addBuiltIn(path: string, acl: readonly ACL[]): void {
    const parent = this.lookup(parentOf(path));
    const slot = this.store.take();
    writeImage(this.store, this.imageFor(slot, parent, baseName(path), Buffer.alloc(0), acl));
    this.store.linkChild(slot);
    this.edits.dataSize += path.length;
  }

  /** A built-in node's fields: zxids, times and owner all 0. */
  private imageFor(slot: number, parent: number, name: string, data: Uint8Array | null, acl: readonly ACL[]): NodeImage {
    return {
      slot, parent, name: Buffer.from(name, 'utf8'), data, live: false, acl: this.store.acls.intern(acl), czxidHi: 0, czxidLo: 0, mzxidHi: 0, mzxidLo: 0, pzxidHi: 0, pzxidLo: 0,
      ctime: 0, mtime: 0, version: 0, cversion: 0, aversion: 0, ownerHi: 0, ownerLo: 0,
    };
  }

  /** zookeeper.extendedTypesEnabled: whether TTL nodes may be created. */
  get extendedTypesEnabled(): boolean {
    return this.options.extendedTypesEnabled;
  }

  get nodeCount(): number {
    return this.store.size;
  }

  /** The slot of the node at `path`, or -1. Any string is accepted; invalid paths match nothing. */
  lookup(path: string): number {
    return this.store.lookup(path);
  }

  getNode(path: string): ZNode | undefined {
    const slot = this.lookup(path);
    return slot < 0 ? undefined : new ZNode(this.store, slot);
  }

  /** Every node's path, parents before children. */
  *paths(): Generator<string> {
    const stack: [number, string][] = [[rootSlot, '/']];
    while (stack.length > 0) {
      const [slot, path] = stack.pop()!;
      yield path;
      const { columns, bytes } = this.store;
      const children: [number, string][] = [];
      for (let c = columns.firstChild[slot]!; c >= 0; c = columns.nextSibling[c]!) children.push([c, joinPath(path, bytes.nameOf(c))]);
      for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]!);
    }
  }

  statOf(node: ZNode): Stat {
    return statOfSlot(this.store, node.slot);
  }

  /**
   * Applies one committed txn. Zxids must strictly increase. Without `reply` (no client waits
   * for this txn here) a plain create or setData skips building its reply Stat.
   */
  apply(txn: Txn, reply = true): ApplyResult {
    if (txn.zxid <= this.lastZxid) invariant(false, `txn zxid 0x${txn.zxid.toString(16)} is not above the last applied 0x${this.lastZxid.toString(16)}`);
    this.lastZxid = txn.zxid;
    this.ops.replyWanted = reply;
    const op = txn.op;
    switch (op.type) {
      case OpCode.createSession:
        if (!this.sessions.has(txn.sessionId)) this.sessions.set(txn.sessionId, { timeout: op.timeout });
        return { err: 0, changes: [] };
      case OpCode.closeSession:
        return this.ops.closeSession(txn.sessionId, txn.zxid);
      case OpCode.error:
        return { err: op.err, changes: [] };
      case OpCode.multi:
        return applyMulti(this.ops, this.edits, txn, op.ops);
      default:
        return this.applySingle(txn);
    }
  }

  private applySingle(txn: Txn): ApplyResult {
    const changes: TreeChange[] = [];
    try {
      this.ops.checkSession(txn);
      const response = this.ops.applyWrite(txn, txn.op, changes);
      return { err: 0, response, changes };
    } catch (err) {
      if (err instanceof ZkError) return { err: err.code, changes: [] };
      throw err;
    }
  }

  /**
   * apply for a txn nobody waits on (recovery replaying the log): the same change to the
   * tree, without building reply stats or the list of changes for watches.
   */
  replay(txn: Txn): void {
    this.ops.replaying = true;
    try {
      this.apply(txn);
    } finally {
      this.ops.replaying = false;
    }
  }

  /**
   * replay for a plain create whose fields readPlainCreate found in a log record (see
   * PlainCreateReplay). False, with nothing changed, when it is not the ordinary case: the
   * caller then decodes and replays the txn in full.
   */
  replayPlainCreate(zxid: bigint, b: Buffer, c: PlainCreate, decodeAcl: AclDecoder): boolean {
    if (zxid <= this.lastZxid || this.views.active || this.edits.inMulti) return false;
    if (!this.plainCreates.create(zxid, b, c, decodeAcl)) return false;
    this.lastZxid = zxid;
    return true;
  }

  /**
   * A walk of the tree as of now, slot by slot, that may be driven a run at a time while
   * writes go on in between: each node is given as it was when this was called (see
   * ConsistentCursor). Several may run at once (a periodic snapshot and one for a learner).
   */
  openConsistentCursor(): ConsistentCursor {
    return this.views.open();
  }

  /**
   * After a loader has filled the store slot by slot (children linked): checks that every
   * node hangs off the root, and rebuilds what is derived from the nodes.
   */
  finishLoading(): void {
    const store = this.store;
    invariant(store.inUse(rootSlot) && store.columns.parent[rootSlot] === noParent, 'no root node');
    store.rebuildFreeList();
    let reached = 0;
    let dataSize = 0;
    // Depth first, two stacks: slots, and the lengths of their paths.
    const slots = new Int32Array(store.size + 1);
    const lengths = new Float64Array(store.size + 1);
    const { firstChild, nextSibling } = store.columns;
    let depth = 0;
    slots[depth] = rootSlot;
    lengths[depth++] = 1;
    while (depth > 0) {
      const slot = slots[--depth]!;
      const pathLength = lengths[depth]!;
      reached++;
      dataSize += pathLength + store.bytes.dataBytes(slot);
      const childBase = slot === rootSlot ? 1 : pathLength + 1;
      for (let child = firstChild[slot]!; child >= 0; child = nextSibling[child]!) {
        // More children than nodes: a cycle in the sibling lists (a corrupt snapshot).
        if (depth > store.size) break;
        slots[depth] = child;
        // Path lengths count UTF-16 units, as for nodes created since (path.length).
        lengths[depth++] = childBase + store.bytes.nameUnits(child);
      }
    }
    invariant(reached === store.size, `${store.size - reached} nodes do not hang off the root`);
    for (const [slot, owner] of store.columns.ownerEntries()) this.owners.track(store.pathOf(slot), owner);
    this.edits.dataSize = dataSize;
  }

  // ---- reads (no zxid, no change) ----------------------------------------------------

  /** Number of descendants of path (not counting path itself). */
  countDescendants(path: string): number {
    const slot = this.lookup(path);
    if (slot < 0) return 0;
    let count = 0;
    const stack = [slot];
    const { numChildren, firstChild, nextSibling } = this.store.columns;
    while (stack.length > 0) {
      const parent = stack.pop()!;
      count += numChildren[parent]!;
      for (let child = firstChild[parent]!; child >= 0; child = nextSibling[child]!) stack.push(child);
    }
    return count;
  }

  /** Paths of the normal ephemerals of a session whose path starts with prefix. */
  ephemeralsOf(sessionId: bigint, prefix: string): string[] {
    return this.owners.ephemeralsOf(sessionId, prefix);
  }

  approximateDataSize(): number {
    return this.edits.dataSize;
  }

  /** Children paths for the reaper: containers and TTL nodes that may be due. */
  reapCandidates(now: number, containerIsDue: (node: ZNode) => boolean): string[] {
    const due: string[] = [];
    for (const path of this.owners.containers) {
      const node = this.getNode(path);
      if (node !== undefined && node.numChildren === 0 && containerIsDue(node)) due.push(path);
    }
    for (const path of this.owners.ttlNodes) {
      const node = this.getNode(path);
      if (node !== undefined && node.numChildren === 0 && now - node.mtime > Number(ttlOf(node.ephemeralOwner))) due.push(path);
    }
    return due;
  }
}
