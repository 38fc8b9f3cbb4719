import { ZkError } from '../errors.js';
import { CreateMode, ErrorCode, EventType, OpCode, Perms, containerOwnerMarker, ttlMsMax, ttlOwnerMarkerBase } from '../protocol/constants.js';
import type { ACL, CreateRequest, MultiOp, Stat } from '../protocol/records.js';
import { checkAcl, fixupAcl } from './acl.js';
import type { NodeEdits } from './node-edits.js';
import type { NodeOwners } from './node-owners.js';
import type { NodeStore } from './node-store.js';
import { builtInPaths, parentOf, pathProblem } from './path.js';
import type { Txn, TxnOp } from './txn.js';
import { ephemeralSession, statOfSlot } from './znode.js';

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

export interface TreeOpsOptions {
  /** zookeeper.extendedTypesEnabled: TTL nodes. */
  extendedTypesEnabled: boolean;
}

const sequenceWidth = 10;
/** What a write returns while replaying, or when no client waits for it: nobody reads it. */
const replayed = { path: '', stat: undefined as unknown as Stat };

export function formatSequence(n: number): string {
  if (n >= 0) return String(n).padStart(sequenceWidth, '0');
  return '-' + String(-n).padStart(sequenceWidth - 1, '0');
}

/**
 * The write ops and closeSession as ZooKeeper defines them: each checks its path, ACL,
 * version and session, throws a ZkError with the op's error code, or makes its change
 * through NodeEdits and lists what watches see.
 */
export class TreeOps {
  /** Recovery replaying the log: no reply stats, no list of changes for watches. */
  replaying = false;
  /** False when no client waits for the txn here: a plain create or setData builds no Stat. */
  replyWanted = true;
  /** The last parent a create looked up (creates come in runs under one parent). */
  private cachedParentPath: string | null = null;
  private cachedParentSlot = -1;
  private cachedGeneration = -1;

  constructor(
    private readonly store: NodeStore,
    private readonly edits: NodeEdits,
    private readonly owners: NodeOwners,
    private readonly options: TreeOpsOptions,
  ) {}

  checkSession(txn: Txn): void {
    if (txn.sessionId !== 0n && !this.owners.sessions.has(txn.sessionId)) throw new ZkError(ErrorCode.SESSIONEXPIRED);
  }

  /** One write op of a txn or a multi: its reply record, or a thrown ZkError. */
  applyWrite(txn: Txn, op: MultiOp | TxnOp, changes: TreeChange[]): unknown {
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

  /** Removes a session's ephemerals, children first, and the session. */
  closeSession(sessionId: bigint, zxid: bigint): ApplyResult {
    const changes: TreeChange[] = [];
    for (const path of this.owners.closingOrder(sessionId)) {
      const slot = this.store.lookup(path);
      if (slot >= 0) this.removeNode(path, slot, zxid, changes);
    }
    this.owners.endSession(sessionId);
    return { err: 0, changes };
  }

  private requireValidPath(path: string): void {
    if (pathProblem(path) !== null) throw new ZkError(ErrorCode.BADARGUMENTS, `invalid path '${path}'`);
  }

  private requireNode(path: string): number {
    const slot = this.store.lookup(path);
    if (slot < 0) throw new ZkError(ErrorCode.NONODE, path);
    return slot;
  }

  private aclOf(slot: number): readonly ACL[] {
    return this.store.acls.get(this.store.columns.acl[slot]!);
  }

  /** lookup, remembering the last answer until a node is removed. */
  private lookupParent(path: string): number {
    if (path === this.cachedParentPath && this.cachedGeneration === this.store.generation) return this.cachedParentSlot;
    const slot = this.store.lookup(path);
    if (slot >= 0) {
      this.cachedParentPath = path;
      this.cachedParentSlot = slot;
      this.cachedGeneration = this.store.generation;
    }
    return slot;
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
    const path = sequential ? req.path + formatSequence(this.store.columns.cversion[parent]!) : req.path;
    // The root exists always; without this it would get a child with an empty name.
    if (path === '/') throw new ZkError(ErrorCode.NODEEXISTS, path);
    this.requireValidPath(path);
    const name = path.slice(lastSlash + 1);
    if (this.store.findChild(parent, name) >= 0) throw new ZkError(ErrorCode.NODEEXISTS, path);
    if (ephemeralSession(this.store.columns.ownerOf(parent)) !== 0n) throw new ZkError(ErrorCode.NOCHILDRENFOREPHEMERALS, parentPath);
    const slot = this.edits.insert(path, parent, name, req.data, this.store.acls.intern(acl), owner, txn.zxid, txn.time);
    if (this.replaying) return replayed;
    changes.push({ type: EventType.NodeCreated, path }, { type: EventType.NodeChildrenChanged, path: parentPath });
    return this.replyWanted ? { path, stat: statOfSlot(this.store, slot) } : replayed;
  }

  private delete(txn: Txn, path: string, version: number, changes: TreeChange[]): void {
    if (path.lastIndexOf('/') < 0 || path.includes('\u0000') || builtInPaths.has(path)) {
      throw new ZkError(ErrorCode.BADARGUMENTS, `cannot delete '${path}'`);
    }
    const parent = this.requireNode(parentOf(path));
    checkAcl(this.aclOf(parent), Perms.DELETE, txn.authIds);
    const slot = this.requireNode(path);
    if (version !== -1 && this.store.columns.version[slot]! !== version) throw new ZkError(ErrorCode.BADVERSION, path);
    if (this.store.columns.numChildren[slot]! > 0) throw new ZkError(ErrorCode.NOTEMPTY, path);
    this.removeNode(path, slot, txn.zxid, changes);
  }

  private deleteContainer(txn: Txn, path: string, changes: TreeChange[]): void {
    if (builtInPaths.has(path)) throw new ZkError(ErrorCode.BADARGUMENTS, `cannot delete '${path}'`);
    const slot = this.requireNode(path);
    if (this.store.columns.numChildren[slot]! > 0) throw new ZkError(ErrorCode.NOTEMPTY, path);
    if (ephemeralSession(this.store.columns.ownerOf(slot)) !== 0n) throw new ZkError(ErrorCode.BADVERSION, path);
    this.removeNode(path, slot, txn.zxid, changes);
  }

  private removeNode(path: string, slot: number, zxid: bigint, changes: TreeChange[]): void {
    const parent = this.edits.remove(path, slot, zxid);
    if (!this.replaying) changes.push({ type: EventType.NodeDeleted, path }, { type: EventType.NodeChildrenChanged, path: this.store.pathOf(parent) });
  }

  private setData(txn: Txn, path: string, data: Buffer | null, version: number, changes: TreeChange[]): { stat: Stat } {
    this.requireValidPath(path);
    const slot = this.requireNode(path);
    checkAcl(this.aclOf(slot), Perms.WRITE, txn.authIds);
    if (version !== -1 && this.store.columns.version[slot]! !== version) throw new ZkError(ErrorCode.BADVERSION, path);
    this.edits.setData(slot, data, txn.zxid, txn.time);
    if (this.replaying) return replayed;
    changes.push({ type: EventType.NodeDataChanged, path });
    return this.replyWanted ? { stat: statOfSlot(this.store, slot) } : replayed;
  }

  private setAcl(txn: Txn, path: string, acl: readonly ACL[] | null, version: number): { stat: Stat } {
    this.requireValidPath(path);
    const fixed = fixupAcl(acl, txn.authIds);
    const slot = this.requireNode(path);
    checkAcl(this.aclOf(slot), Perms.ADMIN, txn.authIds);
    if (version !== -1 && this.store.columns.aversion[slot]! !== version) throw new ZkError(ErrorCode.BADVERSION, path);
    this.edits.setAcl(slot, this.store.acls.intern(fixed));
    return this.replaying ? replayed : { stat: statOfSlot(this.store, slot) };
  }

  private check(txn: Txn, path: string, version: number): void {
    this.requireValidPath(path);
    const slot = this.requireNode(path);
    checkAcl(this.aclOf(slot), Perms.READ, txn.authIds);
    if (version !== -1 && this.store.columns.version[slot]! !== version) throw new ZkError(ErrorCode.BADVERSION, path);
  }
}
