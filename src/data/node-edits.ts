import { emptyImage, readImage, writeImage } from './node-image.js';
import type { NodeStore } from './node-store.js';
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
    const columns = store.columns;
    const slot = store.nextSlot();
    this.views.beforeChange(slot);
    this.views.beforeChange(parent);
    store.take();
    this.initNode(slot, data, aclIndex, zxid, time);
    // A fresh slot has no owner entry.
    if (owner !== 0n) columns.setOwner(slot, owner);
    store.addChild(parent, slot, name);
    const size = path.length + (data === null ? 0 : data.length);
    if (this.undo !== null) {
      // Inside a multi: what a rollback needs, saved only there.
      const savedCversion = columns.cversion[parent]!;
      const savedPzxid = columns.pzxid.values[parent]!;
      this.undo.push(() => {
        store.unlinkChild(slot);
        columns.cversion[parent] = savedCversion;
        columns.pzxid.values[parent] = savedPzxid;
        store.untake(slot);
        this.dataSize -= size;
        this.owners.untrack(path, owner);
      });
    }
    columns.cversion[parent]!++;
    columns.pzxid.values[parent] = zxid;
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
    const columns = store.columns;
    const slot = store.nextSlot();
    store.take();
    this.initNode(slot, data, aclIndex, zxid, time);
    store.addChildBytes(parent, slot, b, nameStart, nameEnd - nameStart, nameHash);
    columns.cversion[parent]!++;
    columns.pzxid.values[parent] = zxid;
    this.dataSize += pathLength + (data === null ? 0 : data.length);
  }

  /** A new node's fields, one by one rather than through writeImage: the hot path of every create. */
  private initNode(slot: number, data: Uint8Array | null, aclIndex: number, zxid: bigint, time: number): void {
    const store = this.store;
    const columns = store.columns;
    store.bytes.setData(slot, data);
    columns.acl[slot] = aclIndex;
    columns.czxid.values[slot] = zxid;
    columns.mzxid.values[slot] = zxid;
    columns.pzxid.values[slot] = zxid;
    columns.ctime[slot] = time;
    columns.mtime[slot] = time;
    columns.version[slot] = 0;
    columns.cversion[slot] = 0;
    columns.aversion[slot] = 0;
  }

  /** Removes a childless node; returns its parent's slot. */
  remove(path: string, slot: number, zxid: bigint): number {
    const store = this.store;
    const columns = store.columns;
    const parent = columns.parent[slot]!;
    this.views.beforeChange(slot);
    this.views.beforeChange(parent);
    const image = this.undo === null ? null : readImage(store, slot, emptyImage());
    const owner = columns.ownerOf(slot);
    const size = path.length + store.bytes.dataBytes(slot);
    const savedPzxid = columns.pzxid.values[parent]!;
    store.unlinkChild(slot);
    if (zxid > savedPzxid) columns.pzxid.values[parent] = zxid;
    store.release(slot);
    this.dataSize -= size;
    this.owners.untrack(path, owner);
    if (image !== null) {
      this.undo!.push(() => {
        store.revive(slot);
        writeImage(store, image);
        store.linkChild(slot);
        columns.pzxid.values[parent] = savedPzxid;
        this.dataSize += size;
        this.owners.track(path, owner);
      });
    }
    return parent;
  }

  setData(slot: number, data: Buffer | null, zxid: bigint, time: number): void {
    const store = this.store;
    const columns = store.columns;
    this.views.beforeChange(slot);
    const grown = (data === null ? 0 : data.length) - store.bytes.dataBytes(slot);
    // The old values are kept only inside a multi (undo): a plain setData allocates nothing for them.
    if (this.undo !== null) {
      const saved = { data: store.bytes.dataCopy(slot), version: columns.version[slot]!, mzxid: columns.mzxid.values[slot]!, mtime: columns.mtime[slot]! };
      this.undo.push(() => {
        store.bytes.setData(slot, saved.data);
        columns.version[slot] = saved.version;
        columns.mzxid.values[slot] = saved.mzxid;
        columns.mtime[slot] = saved.mtime;
        this.dataSize -= grown;
      });
    }
    store.bytes.setData(slot, data);
    columns.version[slot]!++;
    columns.mzxid.values[slot] = zxid;
    columns.mtime[slot] = time;
    this.dataSize += grown;
  }

  setAcl(slot: number, aclIndex: number): void {
    const store = this.store;
    const columns = store.columns;
    this.views.beforeChange(slot);
    const saved = { acl: columns.acl[slot]!, aversion: columns.aversion[slot]! };
    columns.acl[slot] = aclIndex;
    columns.aversion[slot]!++;
    this.undo?.push(() => {
      columns.acl[slot] = saved.acl;
      columns.aversion[slot] = saved.aversion;
    });
  }
}
