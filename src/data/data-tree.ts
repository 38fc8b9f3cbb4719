import { ZkError, invariant } from '../errors.js';
import {
  CreateMode,
  ErrorCode,
  EventType,
  OpCode,
  Perms,
  containerOwnerMarker,
  ttlMsMax,
  ttlOwnerMarkerBase,
} from '../protocol/constants.js';
import type { ACL, CreateRequest, Id, MultiOp, MultiResult, Stat } from '../protocol/records.js';
import { checkAcl, fixupAcl, openAclUnsafe, readAclUnsafe } from './acl.js';
import { baseName, builtInPaths, joinPath, parentOf, pathProblem } from './path.js';
import type { Txn, TxnOp } from './txn.js';

/**
 * Znode data as the tree keeps it: a latin1 string, one char per byte. A million small
 * znodes held as Buffers cost about 100 bytes of heap each for the Buffer object, plus their
 * bytes in 8 KiB pool slabs that short-lived request and reply buffers share and pin
 * (measured: 804 MiB RSS for 1M znodes of 128 bytes); a string costs 16 bytes beyond its bytes.
 */
export function latin1Of(data: Uint8Array | null): string | null {
  if (data === null) return null;
  return (Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength)).toString('latin1');
}

/** One znode. Stored cversion counts child creations only (PROTOCOL.md 10). */
export class ZNode {
  children: Set<string> | null = null;
  /** Position in the tree's insertion order; a snapshot's cursor compares against it. */
  seq = 0;
  constructor(
    /** The data, latin1 (see latin1Of); null is distinct from empty. */
    public bytes: string | null,
    public acl: readonly ACL[],
    public czxid: bigint,
    public mzxid: bigint,
    public pzxid: bigint,
    public ctime: number,
    public mtime: number,
    public version: number,
    public cversion: number,
    public aversion: number,
    /** Stored owner: a session id, or the container / TTL markers of PROTOCOL.md 8.1. */
    public ephemeralOwner: bigint,
  ) {}

  get numChildren(): number {
    return this.children === null ? 0 : this.children.size;
  }

  /** The data as a new Buffer. */
  get data(): Buffer | null {
    return this.bytes === null ? null : Buffer.from(this.bytes, 'latin1');
  }

  get dataLength(): number {
    return this.bytes === null ? 0 : this.bytes.length;
  }
}

/** A change that watches care about. */
export interface TreeChange {
  type: typeof EventType.NodeCreated | typeof EventType.NodeDeleted | typeof EventType.NodeDataChanged | typeof EventType.NodeChildrenChanged;
  path: string;
}

export interface ApplyResult {
  err: number;
  /** Op-specific reply record, when err is 0. */
  response?: unknown;
  changes: TreeChange[];
}

export interface DataTreeOptions {
  /** zookeeper.extendedTypesEnabled: TTL nodes. */
  extendedTypesEnabled: boolean;
}

export interface SessionEntry {
  timeout: number;
}

const sequenceWidth = 10;
const ttlTypeMask = 0x00ffff0000000000n;

/** A snapshot in progress: nodes' states at its start, and how far its iteration got. */
interface SnapshotView {
  pre: Map<string, ZNode | null | typeof emittedMark>;
  cursor: number;
}

/** The preimage slot of a node the snapshot has already taken. */
const emittedMark = Symbol('emitted');

function cloneNode(n: ZNode): ZNode {
  return new ZNode(n.bytes, n.acl, n.czxid, n.mzxid, n.pzxid, n.ctime, n.mtime, n.version, n.cversion, n.aversion, n.ephemeralOwner);
}

function depth(path: string): number {
  let d = 0;
  for (let i = 0; i < path.length; i++) if (path.charCodeAt(i) === 47) d++;
  return d;
}

export function formatSequence(n: number): string {
  if (n >= 0) return String(n).padStart(sequenceWidth, '0');
  return '-' + String(-n).padStart(sequenceWidth - 1, '0');
}

export function isTtlOwner(owner: bigint): boolean {
  return (owner & ttlOwnerMarkerBase) === ttlOwnerMarkerBase && (owner & ttlTypeMask) === 0n && owner !== containerOwnerMarker;
}

export function ttlOf(owner: bigint): bigint {
  return owner & 0xffffffffffn;
}

/** The session id of a normal ephemeral, or 0n. */
export function ephemeralSession(owner: bigint): bigint {
  if (owner === 0n || owner === containerOwnerMarker || isTtlOwner(owner)) return 0n;
  return owner;
}

/**
 * The replicated state: the znode tree, the session table and each session's ephemerals.
 * `apply` is deterministic: the same txns in the same order give the same tree anywhere.
 */
export class DataTree {
  readonly nodes = new Map<string, ZNode>();
  readonly sessions = new Map<bigint, SessionEntry>();
  readonly ephemerals = new Map<bigint, Set<string>>();
  readonly containers = new Set<string>();
  readonly ttlNodes = new Set<string>();
  lastZxid = 0n;
  private readonly aclCache = new Map<string, readonly ACL[]>();
  private undo: (() => void)[] | null = null;
  /**
   * While a snapshot is being written: each node's state as of the snapshot's start, saved
   * just before its first change (null: the node did not exist then). This is what lets a
   * snapshot of a large tree be written a batch at a time while writes go on.
   */
  private readonly preimageViews = new Set<SnapshotView>();
  private insertSeq = 0;

  constructor(private readonly options: DataTreeOptions) {
    const root = this.newNode(null, openAclUnsafe, 0n, 0, 0n);
    this.place('/', root);
    this.addBuiltIn('/zookeeper', openAclUnsafe);
    this.addBuiltIn('/zookeeper/quota', openAclUnsafe);
    this.addBuiltIn('/zookeeper/config', readAclUnsafe);
    // ZooKeeper writes the config node's ACL with an internal setACL of version -1.
    this.nodes.get('/zookeeper/config')!.aversion = -1;
  }

  private addBuiltIn(path: string, acl: readonly ACL[]): void {
    const node = this.newNode(Buffer.alloc(0), acl, 0n, 0, 0n);
    this.place(path, node);
    const parent = this.nodes.get(parentOf(path))!;
    (parent.children ??= new Set()).add(baseName(path));
  }

  private newNode(data: Buffer | null, acl: readonly ACL[], zxid: bigint, time: number, owner: bigint): ZNode {
    return new ZNode(latin1Of(data), this.internAcl(acl), zxid, zxid, zxid, time, time, 0, 0, 0, owner);
  }

  /** One shared frozen array per distinct ACL list: most trees use a handful. */
  internAcl(acl: readonly ACL[]): readonly ACL[] {
    if (acl === openAclUnsafe || acl === readAclUnsafe) return acl;
    const key = acl.map((a) => `${a.perms},${a.id.scheme},${a.id.id}`).join(';');
    let cached = this.aclCache.get(key);
    if (cached === undefined) {
      cached = Object.freeze(acl.map((a) => Object.freeze({ perms: a.perms, id: Object.freeze({ ...a.id }) })));
      this.aclCache.set(key, cached);
    }
    return cached;
  }

  get nodeCount(): number {
    return this.nodes.size;
  }

  getNode(path: string): ZNode | undefined {
    return this.nodes.get(path);
  }

  statOf(node: ZNode): Stat {
    const n = node.numChildren;
    return {
      czxid: node.czxid,
      mzxid: node.mzxid,
      ctime: BigInt(node.ctime),
      mtime: BigInt(node.mtime),
      version: node.version,
      cversion: node.cversion * 2 - n,
      aversion: node.aversion,
      ephemeralOwner: ephemeralSession(node.ephemeralOwner),
      dataLength: node.dataLength,
      numChildren: n,
      pzxid: node.pzxid,
    };
  }

  /** Applies one committed txn. Zxids must strictly increase. */
  apply(txn: Txn): ApplyResult {
    invariant(txn.zxid > this.lastZxid, `txn zxid 0x${txn.zxid.toString(16)} is not above the last applied 0x${this.lastZxid.toString(16)}`);
    this.lastZxid = txn.zxid;
    return this.applyOp(txn, txn.op);
  }

  private applyOp(txn: Txn, op: TxnOp): ApplyResult {
    switch (op.type) {
      case OpCode.createSession:
        if (!this.sessions.has(txn.sessionId)) this.sessions.set(txn.sessionId, { timeout: op.timeout });
        return { err: 0, changes: [] };
      case OpCode.closeSession:
        return this.closeSession(txn.sessionId, txn.zxid);
      case OpCode.error:
        return { err: op.err, changes: [] };
      case OpCode.multi:
        return this.applyMulti(txn, op.ops);
      default:
        return this.applySingle(txn, op);
    }
  }

  private applySingle(txn: Txn, op: TxnOp): ApplyResult {
    const changes: TreeChange[] = [];
    try {
      this.checkSession(txn);
      const response = this.applyWrite(txn, op as MultiOp | TxnOp, changes);
      return { err: 0, response, changes };
    } catch (err) {
      if (err instanceof ZkError) return { err: err.code, changes: [] };
      throw err;
    }
  }

  private checkSession(txn: Txn): void {
    if (txn.sessionId !== 0n && !this.sessions.has(txn.sessionId)) throw new ZkError(ErrorCode.SESSIONEXPIRED);
  }

  private applyMulti(txn: Txn, ops: MultiOp[]): ApplyResult {
    const changes: TreeChange[] = [];
    const results: MultiResult[] = [];
    this.undo = [];
    let failedAt = -1;
    let failure: number = ErrorCode.OK;
    try {
      this.checkSession(txn);
    } catch (err) {
      if (!(err instanceof ZkError)) throw err;
      failedAt = 0;
      failure = err.code;
    }
    for (let i = 0; i < ops.length && failedAt < 0; i++) {
      try {
        results.push(this.multiResult(ops[i]!, this.applyWrite(txn, ops[i]!, changes)));
      } catch (err) {
        if (!(err instanceof ZkError)) throw err;
        failedAt = i;
        failure = err.code;
      }
    }
    const undo = this.undo;
    this.undo = null;
    if (failedAt < 0) return { err: 0, response: results, changes };
    for (let i = undo.length - 1; i >= 0; i--) undo[i]!();
    const errors: MultiResult[] = ops.map((_, i) => ({
      type: OpCode.error,
      err: i < failedAt ? ErrorCode.OK : i === failedAt ? failure : ErrorCode.RUNTIMEINCONSISTENCY,
    }));
    return { err: 0, response: errors, changes: [] };
  }

  private multiResult(op: MultiOp, response: any): MultiResult {
    switch (op.type) {
      case OpCode.create:
        return { type: OpCode.create, path: response.path };
      case OpCode.create2:
      case OpCode.createContainer:
      case OpCode.createTTL:
        return { type: OpCode.create2, path: response.path, stat: response.stat };
      case OpCode.setData:
        return { type: OpCode.setData, stat: response.stat };
      default:
        return { type: op.type } as MultiResult;
    }
  }

  private applyWrite(txn: Txn, op: MultiOp | TxnOp, changes: TreeChange[]): unknown {
    switch (op.type) {
      case OpCode.create:
      case OpCode.create2:
      case OpCode.createContainer:
      case OpCode.createTTL:
        return this.create(txn, op.type, op.request, changes);
      case OpCode.delete:
        this.delete(txn, op.request.path, op.request.version, changes);
        return undefined;
      case OpCode.deleteContainer:
        this.deleteContainer(txn, op.request.path, changes);
        return undefined;
      case OpCode.setData:
        return this.setData(txn, op.request.path, op.request.data, op.request.version, changes);
      case OpCode.setACL:
        return this.setAcl(txn, op.request.path, op.request.acl, op.request.version);
      case OpCode.check:
        this.check(txn, op.request.path, op.request.version);
        return undefined;
      default:
        throw new ZkError(ErrorCode.UNIMPLEMENTED, `op ${op.type} cannot be applied`);
    }
  }

  private requireValidPath(path: string): void {
    if (pathProblem(path) !== null) throw new ZkError(ErrorCode.BADARGUMENTS, `invalid path '${path}'`);
  }

  private requireNode(path: string): ZNode {
    const node = this.nodes.get(path);
    if (node === undefined) throw new ZkError(ErrorCode.NONODE, path);
    return node;
  }

  private ownerFor(type: number, flags: number, ttl: bigint | undefined, sessionId: bigint): bigint {
    const ttlMode = flags === CreateMode.PERSISTENT_WITH_TTL || flags === CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL;
    if (type === OpCode.createTTL) {
      if (!this.options.extendedTypesEnabled) throw new ZkError(ErrorCode.UNIMPLEMENTED, 'TTL nodes need extendedTypesEnabled');
      if (!ttlMode || ttl === undefined || ttl <= 0n || ttl > ttlMsMax) throw new ZkError(ErrorCode.BADARGUMENTS, 'invalid TTL');
      return ttlOwnerMarkerBase | ttl;
    }
    if (ttlMode || flags < 0 || flags > CreateMode.CONTAINER) throw new ZkError(ErrorCode.BADARGUMENTS, `invalid create flags ${flags}`);
    if (type === OpCode.createContainer) {
      if (flags !== CreateMode.CONTAINER) throw new ZkError(ErrorCode.BADARGUMENTS, 'createContainer needs the container flag');
      return containerOwnerMarker;
    }
    if (flags === CreateMode.CONTAINER) return containerOwnerMarker;
    const ephemeral = flags === CreateMode.EPHEMERAL || flags === CreateMode.EPHEMERAL_SEQUENTIAL;
    if (ephemeral && sessionId === 0n) throw new ZkError(ErrorCode.BADARGUMENTS, 'ephemeral without a session');
    return ephemeral ? sessionId : 0n;
  }

  private create(txn: Txn, type: number, req: CreateRequest, changes: TreeChange[]): { path: string; stat: Stat } {
    const owner = this.ownerFor(type, req.flags, req.ttl, txn.sessionId);
    const lastSlash = req.path.lastIndexOf('/');
    if (lastSlash < 0 || req.path.includes('\u0000')) throw new ZkError(ErrorCode.BADARGUMENTS, `invalid path '${req.path}'`);
    const acl = fixupAcl(req.acl, txn.authIds);
    const parentPath = lastSlash === 0 ? '/' : req.path.slice(0, lastSlash);
    const parent = this.requireNode(parentPath);
    checkAcl(parent.acl, Perms.CREATE, txn.authIds);
    const sequential = req.flags === CreateMode.PERSISTENT_SEQUENTIAL || req.flags === CreateMode.EPHEMERAL_SEQUENTIAL || req.flags === CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL;
    const path = sequential ? req.path + formatSequence(parent.cversion) : req.path;
    this.requireValidPath(path);
    if (this.nodes.has(path)) throw new ZkError(ErrorCode.NODEEXISTS, path);
    if (ephemeralSession(parent.ephemeralOwner) !== 0n) throw new ZkError(ErrorCode.NOCHILDRENFOREPHEMERALS, parentPath);
    const node = this.insertNode(path, parentPath, parent, req.data, acl, owner, txn);
    changes.push({ type: EventType.NodeCreated, path }, { type: EventType.NodeChildrenChanged, path: parentPath });
    return { path, stat: this.statOf(node) };
  }

  /** Saves a node's snapshot-time state before its first change during a snapshot. */
  private beforeChange(path: string, node: ZNode | undefined): void {
    if (this.preimageViews.size === 0) return;
    let copy: ZNode | null | undefined;
    for (const view of this.preimageViews) {
      if (view.pre.has(path)) continue;
      if (node !== undefined && node.seq <= view.cursor) {
        // The snapshot already took this node as it was: nothing to keep.
        view.pre.set(path, emittedMark);
        continue;
      }
      if (copy === undefined) copy = node === undefined ? null : cloneNode(node);
      view.pre.set(path, copy);
    }
  }

  /** Puts a node into the map, at the end of the insertion order. */
  private place(path: string, node: ZNode): void {
    node.seq = ++this.insertSeq;
    this.nodes.set(path, node);
  }

  private insertNode(path: string, parentPath: string, parent: ZNode, data: Buffer | null, acl: readonly ACL[], owner: bigint, txn: Txn): ZNode {
    this.beforeChange(path, undefined);
    this.beforeChange(parentPath, parent);
    const node = this.newNode(data, acl, txn.zxid, txn.time, owner);
    const name = path.slice(parentPath === '/' ? 1 : parentPath.length + 1);
    const saved = { cversion: parent.cversion, pzxid: parent.pzxid };
    this.place(path, node);
    (parent.children ??= new Set()).add(name);
    parent.cversion++;
    parent.pzxid = txn.zxid;
    this.track(path, owner);
    this.undo?.push(() => {
      this.nodes.delete(path);
      parent.children!.delete(name);
      parent.cversion = saved.cversion;
      parent.pzxid = saved.pzxid;
      this.untrack(path, owner);
    });
    return node;
  }

  private track(path: string, owner: bigint): void {
    if (owner === containerOwnerMarker) this.containers.add(path);
    else if (isTtlOwner(owner)) this.ttlNodes.add(path);
    else if (owner !== 0n) {
      let set = this.ephemerals.get(owner);
      if (set === undefined) this.ephemerals.set(owner, (set = new Set()));
      set.add(path);
    }
  }

  private untrack(path: string, owner: bigint): void {
    if (owner === containerOwnerMarker) this.containers.delete(path);
    else if (isTtlOwner(owner)) this.ttlNodes.delete(path);
    else if (owner !== 0n) {
      const set = this.ephemerals.get(owner);
      set?.delete(path);
      if (set?.size === 0) this.ephemerals.delete(owner);
    }
  }

  private delete(txn: Txn, path: string, version: number, changes: TreeChange[]): void {
    if (path.lastIndexOf('/') < 0 || path.includes('\u0000') || builtInPaths.has(path)) {
      throw new ZkError(ErrorCode.BADARGUMENTS, `cannot delete '${path}'`);
    }
    const parentPath = parentOf(path);
    const parent = this.requireNode(parentPath);
    checkAcl(parent.acl, Perms.DELETE, txn.authIds);
    const node = this.requireNode(path);
    if (version !== -1 && node.version !== version) throw new ZkError(ErrorCode.BADVERSION, path);
    if (node.numChildren > 0) throw new ZkError(ErrorCode.NOTEMPTY, path);
    this.removeNode(path, parentPath, parent, node, txn.zxid, changes);
  }

  private deleteContainer(txn: Txn, path: string, changes: TreeChange[]): void {
    if (builtInPaths.has(path)) throw new ZkError(ErrorCode.BADARGUMENTS, `cannot delete '${path}'`);
    const node = this.requireNode(path);
    if (node.numChildren > 0) throw new ZkError(ErrorCode.NOTEMPTY, path);
    if (ephemeralSession(node.ephemeralOwner) !== 0n) throw new ZkError(ErrorCode.BADVERSION, path);
    const parentPath = parentOf(path);
    this.removeNode(path, parentPath, this.requireNode(parentPath), node, txn.zxid, changes);
  }

  private removeNode(path: string, parentPath: string, parent: ZNode, node: ZNode, zxid: bigint, changes: TreeChange[]): void {
    const name = baseName(path);
    const savedPzxid = parent.pzxid;
    this.beforeChange(path, node);
    this.beforeChange(parentPath, parent);
    this.nodes.delete(path);
    parent.children!.delete(name);
    if (zxid > parent.pzxid) parent.pzxid = zxid;
    this.untrack(path, node.ephemeralOwner);
    this.undo?.push(() => {
      this.place(path, node);
      parent.children!.add(name);
      parent.pzxid = savedPzxid;
      this.track(path, node.ephemeralOwner);
    });
    changes.push({ type: EventType.NodeDeleted, path }, { type: EventType.NodeChildrenChanged, path: parentPath });
  }

  private setData(txn: Txn, path: string, data: Buffer | null, version: number, changes: TreeChange[]): { stat: Stat } {
    this.requireValidPath(path);
    const node = this.requireNode(path);
    checkAcl(node.acl, Perms.WRITE, txn.authIds);
    if (version !== -1 && node.version !== version) throw new ZkError(ErrorCode.BADVERSION, path);
    const saved = { bytes: node.bytes, version: node.version, mzxid: node.mzxid, mtime: node.mtime };
    this.beforeChange(path, node);
    node.bytes = latin1Of(data);
    node.version++;
    node.mzxid = txn.zxid;
    node.mtime = txn.time;
    this.undo?.push(() => Object.assign(node, saved));
    changes.push({ type: EventType.NodeDataChanged, path });
    return { stat: this.statOf(node) };
  }

  private setAcl(txn: Txn, path: string, acl: readonly ACL[] | null, version: number): { stat: Stat } {
    this.requireValidPath(path);
    const fixed = fixupAcl(acl, txn.authIds);
    const node = this.requireNode(path);
    checkAcl(node.acl, Perms.ADMIN, txn.authIds);
    if (version !== -1 && node.aversion !== version) throw new ZkError(ErrorCode.BADVERSION, path);
    const saved = { acl: node.acl, aversion: node.aversion };
    this.beforeChange(path, node);
    node.acl = this.internAcl(fixed);
    node.aversion++;
    this.undo?.push(() => Object.assign(node, saved));
    return { stat: this.statOf(node) };
  }

  private check(txn: Txn, path: string, version: number): void {
    this.requireValidPath(path);
    const node = this.requireNode(path);
    checkAcl(node.acl, Perms.READ, txn.authIds);
    if (version !== -1 && node.version !== version) throw new ZkError(ErrorCode.BADVERSION, path);
  }

  private closeSession(sessionId: bigint, zxid: bigint): ApplyResult {
    const changes: TreeChange[] = [];
    const paths = [...(this.ephemerals.get(sessionId) ?? [])].sort().reverse();
    for (const path of paths) {
      const node = this.nodes.get(path);
      if (node === undefined) continue;
      const parentPath = parentOf(path);
      this.removeNode(path, parentPath, this.nodes.get(parentPath)!, node, zxid, changes);
    }
    this.ephemerals.delete(sessionId);
    this.sessions.delete(sessionId);
    return { err: 0, changes };
  }

  /**
   * Puts a node recovered from a snapshot in place, replacing a built-in one of the same
   * path. Parents come first in snapshots, so the parent is always there.
   */
  restoreNode(path: string, node: ZNode): void {
    if (path === '/' || path.startsWith('/zookeeper')) {
      const existing = this.nodes.get(path);
      if (existing !== undefined) node.children = existing.children;
    }
    this.place(path, node);
    if (path !== '/') {
      const slash = path.lastIndexOf('/');
      const parentPath = slash === 0 ? '/' : path.slice(0, slash);
      // Siblings come together in snapshots: remember the last parent instead of looking it up.
      let parent = this.restoreParentPath === parentPath ? this.restoreParent : undefined;
      if (parent === undefined) {
        parent = this.nodes.get(parentPath);
        invariant(parent !== undefined, `snapshot node ${path} comes before its parent`);
        this.restoreParentPath = parentPath;
        this.restoreParent = parent;
      }
      (parent.children ??= new Set()).add(path.slice(slash + 1));
    }
    if (node.ephemeralOwner !== 0n) this.track(path, node.ephemeralOwner);
  }

  private restoreParentPath: string | null = null;
  private restoreParent: ZNode | undefined = undefined;

  /**
   * The tree as of now, node by node, while writes may go on between batches: each node is
   * given as it was when this began (see preimages). Parents always come before children.
   * Several may run at once (a periodic snapshot and one for a learner); each ends when its
   * iteration ends.
   */
  *consistentNodes(): Generator<[string, ZNode]> {
    const view: SnapshotView = { pre: new Map(), cursor: 0 };
    this.preimageViews.add(view);
    try {
      for (const [path, live] of this.nodes) {
        view.cursor = live.seq;
        const before = view.pre.get(path);
        if (before === undefined) {
          yield [path, live];
          continue;
        }
        if (before === null || before === emittedMark) continue;
        view.pre.set(path, emittedMark);
        yield [path, before];
      }
      // Nodes deleted after the start and not reached before they went: shallowest first.
      const rest: [string, ZNode][] = [];
      for (const [path, node] of view.pre) if (node !== null && node !== emittedMark) rest.push([path, node]);
      rest.sort((a, b) => depth(a[0]) - depth(b[0]));
      yield* rest;
    } finally {
      this.preimageViews.delete(view);
    }
  }

  // ---- reads (no zxid, no change) ----------------------------------------------------

  /** Number of descendants of path (not counting path itself). */
  countDescendants(path: string): number {
    const node = this.nodes.get(path);
    if (node === undefined || node.children === null) return 0;
    let count = 0;
    for (const name of node.children) count += 1 + this.countDescendants(joinPath(path, name));
    return count;
  }

  /** Paths of the normal ephemerals of a session whose path starts with prefix. */
  ephemeralsOf(sessionId: bigint, prefix: string): string[] {
    const all = [...(this.ephemerals.get(sessionId) ?? [])];
    if (prefix === '' || prefix.trim() === '' || prefix === '/') return all;
    return all.filter((p) => p.startsWith(prefix));
  }

  approximateDataSize(): number {
    let size = 0;
    for (const [path, node] of this.nodes) size += path.length + node.dataLength;
    return size;
  }

  /** Children paths for the reaper: containers and TTL nodes that may be due. */
  reapCandidates(now: number, containerIsDue: (node: ZNode) => boolean): string[] {
    const due: string[] = [];
    for (const path of this.containers) {
      const node = this.nodes.get(path);
      if (node !== undefined && node.numChildren === 0 && containerIsDue(node)) due.push(path);
    }
    for (const path of this.ttlNodes) {
      const node = this.nodes.get(path);
      if (node !== undefined && node.numChildren === 0 && now - node.mtime > Number(ttlOf(node.ephemeralOwner))) due.push(path);
    }
    return due;
  }
}

export type { Id };
