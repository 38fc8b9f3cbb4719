import { containerOwnerMarker, ttlOwnerMarkerBase } from '../protocol/constants.js';
import type { ACL, Stat } from '../protocol/records.js';
import type { NodeStore } from './node-store.js';

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
    return this.store.bytes.dataCopy(this.slot);
  }

  /** The data without a copy: valid until the tree next changes. */
  dataView(): Buffer | null {
    return this.store.bytes.dataView(this.slot);
  }

  get dataLength(): number {
    return this.store.bytes.dataBytes(this.slot);
  }

  get acl(): readonly ACL[] {
    return this.store.acls.get(this.store.columns.acl[this.slot]!);
  }

  get czxid(): bigint {
    return this.store.columns.czxid.values[this.slot]!;
  }

  get mzxid(): bigint {
    return this.store.columns.mzxid.values[this.slot]!;
  }

  get pzxid(): bigint {
    return this.store.columns.pzxid.values[this.slot]!;
  }

  get ctime(): number {
    return this.store.columns.ctime[this.slot]!;
  }

  get mtime(): number {
    return this.store.columns.mtime[this.slot]!;
  }

  get version(): number {
    return this.store.columns.version[this.slot]!;
  }

  get cversion(): number {
    return this.store.columns.cversion[this.slot]!;
  }

  get aversion(): number {
    return this.store.columns.aversion[this.slot]!;
  }

  /** Stored owner: a session id, or the container / TTL markers of docs/protocol.md 8.1. */
  get ephemeralOwner(): bigint {
    return this.store.columns.ownerOf(this.slot);
  }

  get numChildren(): number {
    return this.store.columns.numChildren[this.slot]!;
  }

  /** The children's names, in creation order (a loaded tree's: in slot order). */
  childNames(): string[] {
    return this.store.childNames(this.slot);
  }
}

/** The Stat clients see for a slot: cversion counts deletions too, the owner only a session's. */
export function statOfSlot(store: NodeStore, slot: number): Stat {
  const columns = store.columns;
  const n = columns.numChildren[slot]!;
  return {
    czxid: columns.czxid.values[slot]!,
    mzxid: columns.mzxid.values[slot]!,
    ctime: BigInt(columns.ctime[slot]!),
    mtime: BigInt(columns.mtime[slot]!),
    version: columns.version[slot]!,
    cversion: columns.cversion[slot]! * 2 - n,
    aversion: columns.aversion[slot]!,
    ephemeralOwner: ephemeralSession(columns.ownerOf(slot)),
    dataLength: store.bytes.dataBytes(slot),
    numChildren: n,
    pzxid: columns.pzxid.values[slot]!,
  };
}

const ttlTypeMask = 0x00ffff0000000000n;

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
