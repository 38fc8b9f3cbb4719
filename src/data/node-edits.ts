import { emptyImage, type NodeStore } from './node-store.js';
import type { NodeOwners } from './node-owners.js';
import type { SnapshotViews } from './snapshot-views.js';

/**
 * The changes every write is made of: a node added or removed, its data or ACL replaced.
 * Each saves what a running snapshot needs (the slot's pre-image) and, inside a multi only,
 * what a rollback needs; each keeps the owner index and the tree's data size current.
 */
export class NodeEdits {
  /** Sum of path lengths and data lengths, for mntr's zk_approximate_data_size. */
  dataSize = 0;
  private undo: (() => void)[] | null = null;

  constructor(
    private readonly store: NodeStore,
    private readonly views: SnapshotViews,
    private readonly owners: NodeOwners,
  ) {}

  get inMulti(): boolean {
    return this.undo !== null;
  }

  beginMulti(): void {
    this.undo = [];
  }

  /** Ends a multi; unless it succeeded, undoes its changes, newest first. */
  endMulti(succeeded: boolean): void {
    const undo = this.undo!;
    this.undo = null;
    if (!succeeded) for (let i = undo.length - 1; i >= 0; i--) undo[i]!();
  }

  /** Adds a node under `parent`; returns its slot. */
  insert(path: string, parent: number, name: string, data: Uint8Array | null, aclIndex: number, owner: bigint, zxid: bigint, time: number): number {
    const store = this.store;
    const slot = store.nextSlot();
    this.views.beforeChange(slot);
    this.views.beforeChange(parent);
    store.take();
    this.initNode(slot, data, aclIndex, zxid, time);
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
        this.owners.untrack(path, owner);
      });
    }
    store.cversion[parent]!++;
    store.pzxid.values[parent] = zxid;
    this.dataSize += size;
    this.owners.track(path, owner);
    return slot;
  }

  /**
   * insert for a replayed plain create, its name bytes[nameStart, nameEnd) straight from a
   * log record; only while no snapshot and no multi runs, so it saves nothing.
   */
  insertFromBytes(parent: number, b: Buffer, nameStart: number, nameEnd: number, nameHash: number, data: Uint8Array | null, aclIndex: number, zxid: bigint, time: number, pathLength: number): void {
    const store = this.store;
    const slot = store.nextSlot();
    store.take();
    this.initNode(slot, data, aclIndex, zxid, time);
    store.addChildBytes(parent, slot, b, nameStart, nameEnd - nameStart, nameHash);
    store.cversion[parent]!++;
    store.pzxid.values[parent] = zxid;
    this.dataSize += pathLength + (data === null ? 0 : data.length);
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

  /** Removes a childless node; returns its parent's slot. */
  remove(path: string, slot: number, zxid: bigint): number {
    const store = this.store;
    const parent = store.parent[slot]!;
    this.views.beforeChange(slot);
    this.views.beforeChange(parent);
    const image = this.undo === null ? null : store.read(slot, emptyImage());
    const owner = store.ownerOf(slot);
    const size = path.length + store.dataBytes(slot);
    const savedPzxid = store.pzxid.values[parent]!;
    store.unlinkChild(slot);
    if (zxid > savedPzxid) store.pzxid.values[parent] = zxid;
    store.release(slot);
    this.dataSize -= size;
    this.owners.untrack(path, owner);
    if (image !== null) {
      this.undo!.push(() => {
        store.revive(slot);
        store.write(image);
        store.linkChild(slot);
        store.pzxid.values[parent] = savedPzxid;
        this.dataSize += size;
        this.owners.track(path, owner);
      });
    }
    return parent;
  }

  setData(slot: number, data: Buffer | null, zxid: bigint, time: number): void {
    const store = this.store;
    this.views.beforeChange(slot);
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
    store.mzxid.values[slot] = zxid;
    store.mtime[slot] = time;
    this.dataSize += grown;
  }

  setAcl(slot: number, aclIndex: number): void {
    const store = this.store;
    this.views.beforeChange(slot);
    const saved = { acl: store.acl[slot]!, aversion: store.aversion[slot]! };
    store.acl[slot] = aclIndex;
    store.aversion[slot]!++;
    this.undo?.push(() => {
      store.acl[slot] = saved.acl;
      store.aversion[slot] = saved.aversion;
    });
  }
}
