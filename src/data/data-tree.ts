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
import { NodeStore, emptyImage, hashOfName, noParent, rootSlot, type NodeImage } from './node-store.js';
import type { PlainCreate } from './txn-codec.js';
import type { Txn, TxnOp } from './txn.js';

/**
 * A znode as callers see it: a view of one slot of the tree's NodeStore, valid until the
 * tree next changes. Stored cversion counts child creations only (docs/protocol.md 10).
 */
export class ZNode {
  constructor(
    private readonly store: NodeStore,
    readonly slot: number,
  ) {}

  /** The data as a new Buffer; null is distinct from empty. */
  get data(): Buffer | null {
    return this.store.dataCopy(this.slot);
  }

  /** The data without a copy: valid until the tree next changes. */
  dataView(): Buffer | null {
    return this.store.dataView(this.slot);
  }

  get dataLength(): number {
    return this.store.dataBytes(this.slot);
  }

  get acl(): readonly ACL[] {
    return this.store.acls[this.store.acl[this.slot]!]!;
  }

  get czxid(): bigint {
    return this.store.czxid.values[this.slot]!;
  }

  get mzxid(): bigint {
    return this.store.mzxid.values[this.slot]!;
  }

  get pzxid(): bigint {
    return this.store.pzxid.values[this.slot]!;
  }

  get ctime(): number {
    return this.store.ctime[this.slot]!;
  }

  get mtime(): number {
    return this.store.mtime[this.slot]!;
  }

  get version(): number {
    return this.store.version[this.slot]!;
  }

  get cversion(): number {
    return this.store.cversion[this.slot]!;
  }

  get aversion(): number {
    return this.store.aversion[this.slot]!;
  }

  /** Stored owner: a session id, or the container / TTL markers of docs/protocol.md 8.1. */
  get ephemeralOwner(): bigint {
    return this.store.ownerOf(this.slot);
  }

  get numChildren(): number {
    return this.store.childCount(this.slot);
  }

  /** The children's names, in creation order (a loaded tree's: in slot order). */
  childNames(): string[] {
    return this.store.childNames(this.slot);
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
/** What a write returns while replaying, or when no client waits for it: nobody reads it. */
const replayed = { path: '', stat: undefined as unknown as Stat };
const ttlTypeMask = 0x00ffff0000000000n;

/** A snapshot in progress: slots' states at its start, and how far its iteration got. */
interface SnapshotView {
  /** A slot's fields before its first change since the start (null: it was free then). */
  pre: Map<number, NodeImage | null>;
  /** Slots up to this one have been given out. */
  cursor: number;
  /** Every slot in use at the start is below this: the walk ends here, and slots from here on need no pre-image. */
  high: number;
}

/**
 * A consistent walk of a tree (DataTree.openConsistentCursor). The image given for a live
 * node is reused and leaves its name and data in the store (NodeImage.live): copy what you
 * need before returning from `visit`. Close it when abandoning
 * the walk early; a walk that reaches the end closes itself.
 */
export class ConsistentCursor {
  private slot = 0;
  private readonly scratch = emptyImage();
  done = false;

  constructor(
    private readonly store: NodeStore,
    private readonly view: SnapshotView,
    private readonly release: () => void,
  ) {}

  /** Gives nodes to `visit` until it returns false or every slot has been given. */
  run(visit: (node: NodeImage) => boolean): void {
    const { store, view, scratch } = this;
    let slot = this.slot;
    while (slot < view.high) {
      view.cursor = slot;
      let node: NodeImage | null = null;
      const before = view.pre.size > 0 ? view.pre.get(slot) : undefined;
      if (before !== undefined) {
        view.pre.delete(slot);
        node = before;
      } else if (store.inUse(slot)) {
        node = store.readLive(slot, scratch);
      }
      slot++;
      if (node !== null && !visit(node)) {
        this.slot = slot;
        return;
      }
    }
    this.slot = slot;
    this.close();
  }

  close(): void {
    if (this.done) return;
    this.done = true;
    this.release();
  }
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
 * `apply` is deterministic: the same txns in the same order give the same tree anywhere
 * (slot numbers are local and may differ between servers; paths, data and stats do not).
 */
export class DataTree {
  readonly store = new NodeStore();
  readonly sessions = new Map<bigint, SessionEntry>();
  readonly ephemerals = new Map<bigint, Set<string>>();
  readonly containers = new Set<string>();
  readonly ttlNodes = new Set<string>();
  lastZxid = 0n;
  /** Sum of path lengths and data lengths, for mntr's zk_approximate_data_size. */
  private dataSize = 0;
  private undo: (() => void)[] | null = null;
  /**
   * While a snapshot is being written: each slot's state as of the snapshot's start, saved
   * just before its first change. This is what lets a snapshot of a large tree be written a
   * batch at a time while writes go on.
   */
  private readonly views = new Set<SnapshotView>();
  /** The last parent a create looked up (creates come in runs under one parent). */
  private cachedParentPath: string | null = null;
  private cachedParentSlot = -1;
  private cachedGeneration = -1;

  /** `loading`: no built-in nodes (a snapshot loader fills the store itself). */
  constructor(
    private readonly options: DataTreeOptions,
    loading = false,
  ) {
    if (loading) return;
    const root = this.store.take();
    this.store.write({ ...this.imageFor(root, noParent, '', null, openAclUnsafe, 0n, 0, 0n), slot: root });
    this.dataSize = 1;
    this.addBuiltIn('/zookeeper', openAclUnsafe);
    this.addBuiltIn('/zookeeper/quota', openAclUnsafe);
    this.addBuiltIn('/zookeeper/config', readAclUnsafe);
    // ZooKeeper writes the config node's ACL with an internal setACL of version -1.
    this.store.aversion[this.lookup('/zookeeper/config')] = -1;
  }

  private addBuiltIn(path: string, acl: readonly ACL[]): void {
    const parent = this.lookup(parentOf(path));
    const slot = this.store.take();
    this.store.write(this.imageFor(slot, parent, baseName(path), Buffer.alloc(0), acl, 0n, 0, 0n));
    this.store.linkChild(slot);
    this.dataSize += path.length;
  }

  private imageFor(slot: number, parent: number, name: string, data: Uint8Array | null, acl: readonly ACL[], zxid: bigint, time: number, owner: bigint): NodeImage {
    const zxidHi = Number(zxid >> 32n);
    const zxidLo = Number(BigInt.asIntN(32, zxid));
    return {
      slot, parent, name: Buffer.from(name, 'utf8'), data, live: false, acl: this.store.internAcl(acl), czxidHi: zxidHi, czxidLo: zxidLo, mzxidHi: zxidHi, mzxidLo: zxidLo, pzxidHi: zxidHi, pzxidLo: zxidLo,
      ctime: time, mtime: time, version: 0, cversion: 0, aversion: 0, ownerHi: Number(owner >> 32n), ownerLo: Number(BigInt.asIntN(32, owner)),
    };
  }

  /** One shared frozen array per distinct ACL list: most trees use a handful. */
  internAcl(acl: readonly ACL[]): readonly ACL[] {
    return this.store.acls[this.store.internAcl(acl)]!;
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

  /** lookup, remembering the last answer until a node is removed. */
  private lookupParent(path: string): number {
    if (path === this.cachedParentPath && this.cachedGeneration === this.store.generation) return this.cachedParentSlot;
    const slot = this.lookup(path);
    if (slot >= 0) {
      this.cachedParentPath = path;
      this.cachedParentSlot = slot;
      this.cachedGeneration = this.store.generation;
    }
    return slot;
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
      const s = this.store;
      const children: [number, string][] = [];
      for (let c = s.firstChild[slot]!; c >= 0; c = s.nextSibling[c]!) children.push([c, joinPath(path, s.nameOf(c))]);
      for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]!);
    }
  }

  statOf(node: ZNode): Stat {
    return this.statOfSlot(node.slot);
  }

  statOfSlot(slot: number): Stat {
    const s = this.store;
    const n = s.childCount(slot);
    return {
      czxid: s.czxid.values[slot]!,
      mzxid: s.mzxid.values[slot]!,
      ctime: BigInt(s.ctime[slot]!),
      mtime: BigInt(s.mtime[slot]!),
      version: s.version[slot]!,
      cversion: s.cversion[slot]! * 2 - n,
      aversion: s.aversion[slot]!,
      ephemeralOwner: ephemeralSession(s.ownerOf(slot)),
      dataLength: s.dataBytes(slot),
      numChildren: n,
      pzxid: s.pzxid.values[slot]!,
    };
  }

  /**
   * Applies one committed txn. Zxids must strictly increase. Without `reply` (no client waits
   * for this txn here) a plain create or setData skips building its reply Stat.
   */
  apply(txn: Txn, reply = true): ApplyResult {
    if (txn.zxid <= this.lastZxid) invariant(false, `txn zxid 0x${txn.zxid.toString(16)} is not above the last applied 0x${this.lastZxid.toString(16)}`);
    this.lastZxid = txn.zxid;
    this.replyWanted = reply;
    return this.applyOp(txn, txn.op);
  }

  private replyWanted = true;

  /**
   * apply for a txn nobody waits on (recovery replaying the log): the same change to the
   * tree, without building reply stats or the list of changes for watches.
   */
  replay(txn: Txn): void {
    this.replaying = true;
    try {
      this.apply(txn);
    } finally {
      this.replaying = false;
    }
  }

  private replaying = false;

  /**
   * replay for the common txn of a log, a plain create whose fields readPlainCreate found in
   * a record: made straight from the record's bytes (no path string, no txn object, no
   * BigInts but the zxid). False, with nothing changed, whenever anything is not the
   * ordinary case (a non-ASCII or odd path, a parent missing or not open to world:anyone, a
   * node already there, an auth-scheme or bad ACL, a closed session): the caller then decodes
   * and replays the txn in full, which gives the same result or error as when it was first
   * applied. `decodeAcl` reads an ACL's bytes the first time they are seen.
   */
  replayPlainCreate(zxid: bigint, b: Buffer, c: PlainCreate, decodeAcl: (b: Buffer, start: number, end: number) => readonly ACL[] | null | undefined): boolean {
    if (zxid <= this.lastZxid || this.views.size > 0 || this.undo !== null) return false;
    // The writer's session must still be open (as checkSession asks).
    if ((b.readInt32BE(c.sessionAt) !== 0 || b.readInt32BE(c.sessionAt + 4) !== 0) && !this.sessions.has(b.readBigInt64BE(c.sessionAt))) return false;
    const { pathStart, pathEnd } = c;
    if (pathEnd - pathStart < 2 || b[pathStart] !== 47 || b[pathEnd - 1] === 47) return false;
    // Printable ASCII, no empty or relative names: a valid path, and its length in UTF-16
    // units is its length in bytes.
    let lastSlash = pathStart;
    for (let i = pathStart + 1; i <= pathEnd; i++) {
      const ch = i < pathEnd ? b[i]! : 47;
      if (ch === 47) {
        const n = i - lastSlash - 1;
        if (n === 0 || (b[lastSlash + 1] === 46 && (n === 1 || (n === 2 && b[lastSlash + 2] === 46)))) return false;
        if (i < pathEnd) lastSlash = i;
      } else if (ch < 0x20 || ch > 0x7e) return false;
    }
    const store = this.store;
    const parent = this.replayParent(b, pathStart, lastSlash);
    if (parent < 0 || !this.worldMayCreate(store.acl[parent]!)) return false;
    if (ephemeralSession(store.ownerOf(parent)) !== 0n) return false;
    const nameStart = lastSlash + 1;
    const nameHash = hashOfName(b, nameStart, pathEnd);
    if (store.findChildBytes(parent, b, nameStart, pathEnd - nameStart, nameHash) >= 0) return false;
    const acl = this.replayAcl(b, c.aclStart, c.aclEnd, decodeAcl);
    if (acl < 0) return false;

    this.lastZxid = zxid;
    const slot = store.nextSlot();
    store.take();
    const data = c.dataStart < 0 ? null : b.subarray(c.dataStart, c.dataEnd);
    this.initNode(slot, data, acl, zxid, c.time);
    store.addChildBytes(parent, slot, b, nameStart, pathEnd - nameStart, nameHash);
    store.cversion[parent]!++;
    store.pzxid.values[parent] = zxid;
    this.dataSize += pathEnd - pathStart + (data === null ? 0 : data.length);
    return true;
  }

  /** The slot of the parent path bytes[start, end) (the root when empty), cached. */
  private replayParent(b: Buffer, start: number, end: number): number {
    if (end === start) return rootSlot;
    const cached = this.replayParentBytes;
    const n = end - start;
    if (cached.length === n && this.replayParentGeneration === this.store.generation && this.replayParentSlot >= 0) {
      let i = 0;
      while (i < n && cached[i] === b[start + i]) i++;
      if (i === n) return this.replayParentSlot;
    }
    const slot = this.store.lookupBytes(b, start, end);
    this.replayParentBytes = Buffer.from(b.subarray(start, end));
    this.replayParentSlot = slot;
    this.replayParentGeneration = this.store.generation;
    return slot;
  }

  private replayParentBytes: Buffer = Buffer.alloc(0);
  private replayParentSlot = -1;
  private replayParentGeneration = -1;

  /** Whether the ACL list at this index lets anyone create children. */
  private worldMayCreate(aclIndex: number): boolean {
    let known = this.worldCreate.get(aclIndex);
    if (known === undefined) {
      known = this.store.acls[aclIndex]!.some((a) => a.id.scheme === 'world' && a.id.id === 'anyone' && (a.perms & Perms.CREATE) !== 0);
      this.worldCreate.set(aclIndex, known);
    }
    return known;
  }

  private readonly worldCreate = new Map<number, boolean>();

  /** The store's index of the ACL in bytes[start, end), or -1 (auth scheme, invalid). */
  private replayAcl(b: Buffer, start: number, end: number, decodeAcl: (b: Buffer, start: number, end: number) => readonly ACL[] | null | undefined): number {
    const n = end - start;
    for (const [bytes, index] of this.replayAcls) {
      if (bytes.length !== n) continue;
      let i = 0;
      while (i < n && bytes[i] === b[start + i]) i++;
      if (i === n) return index;
    }
    const acl = decodeAcl(b, start, end);
    // An auth-scheme ACL depends on the writer's ids; a bad one fails: both left to the full replay.
    if (acl === null || acl === undefined || acl.some((a) => a.id.scheme === 'auth')) return -1;
    let index: number;
    try {
      index = this.store.internAcl(fixupAcl(acl, []));
    } catch (err) {
      if (err instanceof ZkError) return -1;
      throw err;
    }
    if (this.replayAcls.length < 8) this.replayAcls.push([Buffer.from(b.subarray(start, end)), index]);
    return index;
  }

  private readonly replayAcls: [Buffer, number][] = [];

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

  private requireNode(path: string): number {
    const slot = this.lookup(path);
    if (slot < 0) throw new ZkError(ErrorCode.NONODE, path);
    return slot;
  }

  private aclOf(slot: number): readonly ACL[] {
    return this.store.acls[this.store.acl[slot]!]!;
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
    const parent = this.lookupParent(parentPath);
    if (parent < 0) throw new ZkError(ErrorCode.NONODE, parentPath);
    checkAcl(this.aclOf(parent), Perms.CREATE, txn.authIds);
    const sequential = req.flags === CreateMode.PERSISTENT_SEQUENTIAL || req.flags === CreateMode.EPHEMERAL_SEQUENTIAL || req.flags === CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL;
    const path = sequential ? req.path + formatSequence(this.store.cversion[parent]!) : req.path;
    // The root exists always; without this it would get a child with an empty name.
    if (path === '/') throw new ZkError(ErrorCode.NODEEXISTS, path);
    this.requireValidPath(path);
    const name = path.slice(lastSlash + 1);
    if (this.store.findChild(parent, name) >= 0) throw new ZkError(ErrorCode.NODEEXISTS, path);
    if (ephemeralSession(this.store.ownerOf(parent)) !== 0n) throw new ZkError(ErrorCode.NOCHILDRENFOREPHEMERALS, parentPath);
    const slot = this.insertNode(path, parent, name, req.data, acl, owner, txn);
    if (this.replaying) return replayed;
    changes.push({ type: EventType.NodeCreated, path }, { type: EventType.NodeChildrenChanged, path: parentPath });
    return this.replyWanted ? { path, stat: this.statOfSlot(slot) } : replayed;
  }

  /** Saves a slot's snapshot-time state before its first change during a snapshot. */
  private beforeChange(slot: number): void {
    if (this.views.size === 0) return;
    let copy: NodeImage | null | undefined;
    for (const view of this.views) {
      // At or below the cursor the snapshot already took the slot as it was; from view.high
      // on there was nothing to take (a create during a snapshot costs no pre-image).
      if (slot <= view.cursor || slot >= view.high || view.pre.has(slot)) continue;
      if (copy === undefined) copy = this.store.inUse(slot) ? this.store.read(slot, emptyImage()) : null;
      view.pre.set(slot, copy);
    }
  }

  private insertNode(path: string, parent: number, name: string, data: Uint8Array | null, acl: readonly ACL[], owner: bigint, txn: Txn): number {
    const store = this.store;
    const slot = store.nextSlot();
    this.beforeChange(slot);
    this.beforeChange(parent);
    store.take();
    this.initNode(slot, data, store.internAcl(acl), txn.zxid, txn.time);
    // A fresh slot has no owner entry.
    if (owner !== 0n) store.setOwner(slot, owner);
    store.addChild(parent, slot, name);
    const size = path.length + (data === null ? 0 : data.length);
    if (this.undo !== null) {
      // Inside a multi: what a rollback needs, saved only there.
      const savedCversion = store.cversion[parent]!;
      const savedPzxid = store.pzxid.values[parent]!;
      this.undo.push(() => {
        store.unlinkChild(slot);
        store.cversion[parent] = savedCversion;
        store.pzxid.values[parent] = savedPzxid;
        store.untake(slot);
        this.dataSize -= size;
        this.untrack(path, owner);
      });
    }
    store.cversion[parent]!++;
    store.pzxid.values[parent] = txn.zxid;
    this.dataSize += size;
    this.track(path, owner);
    return slot;
  }

  /** A new node's fields, one by one rather than through store.write: the hot path of every create. */
  private initNode(slot: number, data: Uint8Array | null, aclIndex: number, zxid: bigint, time: number): void {
    const store = this.store;
    store.setData(slot, data);
    store.acl[slot] = aclIndex;
    store.czxid.values[slot] = zxid;
    store.mzxid.values[slot] = zxid;
    store.pzxid.values[slot] = zxid;
    store.ctime[slot] = time;
    store.mtime[slot] = time;
    store.version[slot] = 0;
    store.cversion[slot] = 0;
    store.aversion[slot] = 0;
  }

  private track(path: string, owner: bigint): void {
    if (owner === 0n) return;
    if (owner === containerOwnerMarker) this.containers.add(path);
    else if (isTtlOwner(owner)) this.ttlNodes.add(path);
    else if (owner !== 0n) {
      let set = this.ephemerals.get(owner);
      if (set === undefined) this.ephemerals.set(owner, (set = new Set()));
      set.add(path);
    }
  }

  private untrack(path: string, owner: bigint): void {
    if (owner === 0n) return;
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
    const parent = this.requireNode(parentOf(path));
    checkAcl(this.aclOf(parent), Perms.DELETE, txn.authIds);
    const slot = this.requireNode(path);
    if (version !== -1 && this.store.version[slot]! !== version) throw new ZkError(ErrorCode.BADVERSION, path);
    if (this.store.childCount(slot) > 0) throw new ZkError(ErrorCode.NOTEMPTY, path);
    this.removeNode(path, slot, txn.zxid, changes);
  }

  private deleteContainer(txn: Txn, path: string, changes: TreeChange[]): void {
    if (builtInPaths.has(path)) throw new ZkError(ErrorCode.BADARGUMENTS, `cannot delete '${path}'`);
    const slot = this.requireNode(path);
    if (this.store.childCount(slot) > 0) throw new ZkError(ErrorCode.NOTEMPTY, path);
    if (ephemeralSession(this.store.ownerOf(slot)) !== 0n) throw new ZkError(ErrorCode.BADVERSION, path);
    this.removeNode(path, slot, txn.zxid, changes);
  }

  private removeNode(path: string, slot: number, zxid: bigint, changes: TreeChange[]): void {
    const store = this.store;
    const parent = store.parent[slot]!;
    this.beforeChange(slot);
    this.beforeChange(parent);
    const image = this.undo === null ? null : store.read(slot, emptyImage());
    const owner = store.ownerOf(slot);
    const size = path.length + store.dataBytes(slot);
    const savedPzxid = store.pzxid.values[parent]!;
    store.unlinkChild(slot);
    if (zxid > savedPzxid) store.pzxid.values[parent] = zxid;
    store.release(slot);
    this.dataSize -= size;
    this.untrack(path, owner);
    if (image !== null) {
      this.undo!.push(() => {
        store.revive(slot);
        store.write(image);
        store.linkChild(slot);
        store.pzxid.values[parent] = savedPzxid;
        this.dataSize += size;
        this.track(path, owner);
      });
    }
    if (!this.replaying) changes.push({ type: EventType.NodeDeleted, path }, { type: EventType.NodeChildrenChanged, path: store.pathOf(parent) });
  }

  private setData(txn: Txn, path: string, data: Buffer | null, version: number, changes: TreeChange[]): { stat: Stat } {
    this.requireValidPath(path);
    const slot = this.requireNode(path);
    const store = this.store;
    checkAcl(this.aclOf(slot), Perms.WRITE, txn.authIds);
    if (version !== -1 && store.version[slot]! !== version) throw new ZkError(ErrorCode.BADVERSION, path);
    this.beforeChange(slot);
    const grown = (data === null ? 0 : data.length) - store.dataBytes(slot);
    // The old values are kept only inside a multi (undo): a plain setData allocates nothing for them.
    if (this.undo !== null) {
      const saved = { data: store.dataCopy(slot), version: store.version[slot]!, mzxid: store.mzxid.values[slot]!, mtime: store.mtime[slot]! };
      this.undo.push(() => {
        store.setData(slot, saved.data);
        store.version[slot] = saved.version;
        store.mzxid.values[slot] = saved.mzxid;
        store.mtime[slot] = saved.mtime;
        this.dataSize -= grown;
      });
    }
    store.setData(slot, data);
    store.version[slot]!++;
    store.mzxid.values[slot] = txn.zxid;
    store.mtime[slot] = txn.time;
    this.dataSize += grown;
    if (this.replaying) return replayed;
    changes.push({ type: EventType.NodeDataChanged, path });
    return this.replyWanted ? { stat: this.statOfSlot(slot) } : replayed;
  }

  private setAcl(txn: Txn, path: string, acl: readonly ACL[] | null, version: number): { stat: Stat } {
    this.requireValidPath(path);
    const fixed = fixupAcl(acl, txn.authIds);
    const slot = this.requireNode(path);
    const store = this.store;
    checkAcl(this.aclOf(slot), Perms.ADMIN, txn.authIds);
    if (version !== -1 && store.aversion[slot]! !== version) throw new ZkError(ErrorCode.BADVERSION, path);
    this.beforeChange(slot);
    const saved = { acl: store.acl[slot]!, aversion: store.aversion[slot]! };
    store.acl[slot] = store.internAcl(fixed);
    store.aversion[slot]!++;
    this.undo?.push(() => {
      store.acl[slot] = saved.acl;
      store.aversion[slot] = saved.aversion;
    });
    return this.replaying ? replayed : { stat: this.statOfSlot(slot) };
  }

  private check(txn: Txn, path: string, version: number): void {
    this.requireValidPath(path);
    const slot = this.requireNode(path);
    checkAcl(this.aclOf(slot), Perms.READ, txn.authIds);
    if (version !== -1 && this.store.version[slot]! !== version) throw new ZkError(ErrorCode.BADVERSION, path);
  }

  private closeSession(sessionId: bigint, zxid: bigint): ApplyResult {
    const changes: TreeChange[] = [];
    const paths = [...(this.ephemerals.get(sessionId) ?? [])].sort().reverse();
    for (const path of paths) {
      const slot = this.lookup(path);
      if (slot >= 0) this.removeNode(path, slot, zxid, changes);
    }
    this.ephemerals.delete(sessionId);
    this.sessions.delete(sessionId);
    return { err: 0, changes };
  }

  /**
   * A walk of the tree as of now, slot by slot, that may be driven a run at a time while
   * writes go on in between: each node is given as it was when this was called (see
   * ConsistentCursor). Several may run at once (a periodic snapshot and one for a learner).
   */
  openConsistentCursor(): ConsistentCursor {
    const view: SnapshotView = { pre: new Map(), cursor: -1, high: this.store.high };
    this.views.add(view);
    return new ConsistentCursor(this.store, view, () => this.views.delete(view));
  }

  /**
   * After a loader has filled the store slot by slot (children linked): checks that every
   * node hangs off the root, and rebuilds what is derived from the nodes.
   */
  finishLoading(): void {
    const store = this.store;
    invariant(store.inUse(rootSlot) && store.parent[rootSlot] === noParent, 'no root node');
    store.rebuildFreeList();
    let reached = 0;
    let dataSize = 0;
    // Depth first, two stacks: slots, and the lengths of their paths.
    const slots = new Int32Array(store.size + 1);
    const lengths = new Float64Array(store.size + 1);
    const { firstChild, nextSibling } = store;
    let depth = 0;
    slots[depth] = rootSlot;
    lengths[depth++] = 1;
    while (depth > 0) {
      const slot = slots[--depth]!;
      const pathLength = lengths[depth]!;
      reached++;
      dataSize += pathLength + store.dataBytes(slot);
      const childBase = slot === rootSlot ? 1 : pathLength + 1;
      for (let child = firstChild[slot]!; child >= 0; child = nextSibling[child]!) {
        // More children than nodes: a cycle in the sibling lists (a corrupt snapshot).
        if (depth > store.size) break;
        slots[depth] = child;
        // Path lengths count UTF-16 units, as for nodes created since (path.length).
        lengths[depth++] = childBase + store.nameUnits(child);
      }
    }
    invariant(reached === store.size, `${store.size - reached} nodes do not hang off the root`);
    for (const [slot, owner] of store.ownerEntries()) this.track(store.pathOf(slot), owner);
    this.dataSize = dataSize;
  }

  // ---- reads (no zxid, no change) ----------------------------------------------------

  /** Number of descendants of path (not counting path itself). */
  countDescendants(path: string): number {
    const slot = this.lookup(path);
    if (slot < 0) return 0;
    let count = 0;
    const stack = [slot];
    const s = this.store;
    while (stack.length > 0) {
      const parent = stack.pop()!;
      count += s.numChildren[parent]!;
      for (let child = s.firstChild[parent]!; child >= 0; child = s.nextSibling[child]!) stack.push(child);
    }
    return count;
  }

  /** Paths of the normal ephemerals of a session whose path starts with prefix. */
  ephemeralsOf(sessionId: bigint, prefix: string): string[] {
    const all = [...(this.ephemerals.get(sessionId) ?? [])];
    if (prefix === '' || prefix.trim() === '' || prefix === '/') return all;
    return all.filter((p) => p.startsWith(prefix));
  }

  approximateDataSize(): number {
    return this.dataSize;
  }

  /** Children paths for the reaper: containers and TTL nodes that may be due. */
  reapCandidates(now: number, containerIsDue: (node: ZNode) => boolean): string[] {
    const due: string[] = [];
    for (const path of this.containers) {
      const node = this.getNode(path);
      if (node !== undefined && node.numChildren === 0 && containerIsDue(node)) due.push(path);
    }
    for (const path of this.ttlNodes) {
      const node = this.getNode(path);
      if (node !== undefined && node.numChildren === 0 && now - node.mtime > Number(ttlOf(node.ephemeralOwner))) due.push(path);
    }
    return due;
  }
}

export type { Id };
