import type { NodeStore } from './node-store.js';

/** One znode's fields as plain values: a snapshot's view of a node, an undo record. */
export interface NodeImage {
  slot: number;
  parent: number;
  /** UTF-8 bytes: a copy (empty for a live image: see `live`). */
  name: Uint8Array;
  /** Null is distinct from empty. A copy (null for a live image: see `live`). */
  data: Uint8Array | null;
  /**
   * A live image (readLiveImage) leaves name and data in the store: copy them out with
   * NodeBytes.copyName / copyData. A snapshot walks a million nodes this way without making two
   * views of the arena for each.
   */
  live: boolean;
  acl: number;
  czxidHi: number;
  czxidLo: number;
  mzxidHi: number;
  mzxidLo: number;
  pzxidHi: number;
  pzxidLo: number;
  ctime: number;
  mtime: number;
  version: number;
  cversion: number;
  aversion: number;
  ownerHi: number;
  ownerLo: number;
}

export function emptyImage(): NodeImage {
  return {
    slot: 0, parent: 0, name: new Uint8Array(0), data: null, live: false, acl: 0, czxidHi: 0, czxidLo: 0, mzxidHi: 0, mzxidLo: 0, pzxidHi: 0, pzxidLo: 0,
    ctime: 0, mtime: 0, version: 0, cversion: 0, aversion: 0, ownerHi: 0, ownerLo: 0,
  };
}

/** Copies a slot's fields, name and data included, into `into` (the slot must be in use). */
export function readImage(store: NodeStore, slot: number, into: NodeImage): NodeImage {
  readLiveImage(store, slot, into);
  into.name = Buffer.from(store.bytes.nameView(slot));
  into.data = store.bytes.dataCopy(slot);
  into.live = false;
  return into;
}

/** readImage without the name and data (a live image; see NodeImage.live). */
export function readLiveImage(store: NodeStore, slot: number, into: NodeImage): NodeImage {
  const columns = store.columns;
  const i = slot * 2;
  into.slot = slot;
  into.live = true;
  into.parent = columns.parent[slot]!;
  into.acl = columns.acl[slot]!;
  into.czxidLo = columns.czxid.words[i]!;
  into.czxidHi = columns.czxid.words[i + 1]!;
  into.mzxidLo = columns.mzxid.words[i]!;
  into.mzxidHi = columns.mzxid.words[i + 1]!;
  into.pzxidLo = columns.pzxid.words[i]!;
  into.pzxidHi = columns.pzxid.words[i + 1]!;
  into.ctime = columns.ctime[slot]!;
  into.mtime = columns.mtime[slot]!;
  into.version = columns.version[slot]!;
  into.cversion = columns.cversion[slot]!;
  into.aversion = columns.aversion[slot]!;
  const owner = columns.ownerOf(slot);
  into.ownerLo = owner === 0n ? 0 : Number(BigInt.asIntN(32, owner));
  into.ownerHi = owner === 0n ? 0 : Number(owner >> 32n);
  return into;
}

/** Sets every field of `image.slot` from the image; it is not linked to its parent here. */
export function writeImage(store: NodeStore, image: NodeImage): void {
  const columns = store.columns;
  const slot = image.slot;
  const i = slot * 2;
  columns.parent[slot] = image.parent;
  store.bytes.setName(slot, image.name, 0, image.name.length);
  store.bytes.setData(slot, image.data);
  columns.acl[slot] = image.acl;
  columns.czxid.words[i] = image.czxidLo;
  columns.czxid.words[i + 1] = image.czxidHi;
  columns.mzxid.words[i] = image.mzxidLo;
  columns.mzxid.words[i + 1] = image.mzxidHi;
  columns.pzxid.words[i] = image.pzxidLo;
  columns.pzxid.words[i + 1] = image.pzxidHi;
  columns.ctime[slot] = image.ctime;
  columns.mtime[slot] = image.mtime;
  columns.version[slot] = image.version;
  columns.cversion[slot] = image.cversion;
  columns.aversion[slot] = image.aversion;
  columns.setOwnerWords(slot, image.ownerHi, image.ownerLo);
}
