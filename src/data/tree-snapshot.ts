import { Packr } from 'msgpackr';
import { ProtocolError } from '../errors.js';
import type { ACL } from '../protocol/records.js';
import { DataTree, type DataTreeOptions } from './data-tree.js';
import type { FastBuffer } from './data-arena.js';
import { noParent } from './node-columns.js';
import type { NodeImage } from './node-image.js';
import type { NodeStore } from './node-store.js';

/**
 * The DataTree as a stream of small msgpack records, for snapshots on disk and SNAP on the wire:
 *   ['h', version, lastZxid, nodeCount, sessionCount, slotCount]
 *   ['a', aclIndex, [[perms, scheme, id], ...]]   the tree's ACL table, in index order
 *   ['s', sessionId, timeoutMs]                    each session
 *   ['n', block]                                   nodes, in slot order, packed as below
 * A node block is a run of nodes, each (varints are LEB128; signed ones zigzag-coded):
 *   flags                     one byte, the bits of `Flag`
 *   slot                      unless Flag.nextSlot (the previous node's slot + 1)
 *   parent slot + 1           unless Flag.sameParent (the root's parent is -1)
 *   name                      length, UTF-8 bytes
 *   data                      length + 1 (0 for null), bytes
 *   acl index                 unless Flag.sameAcl
 *   czxid                     high word, low word: each a signed delta from the previous node's
 *   mzxid, pzxid              high and low word deltas from czxid, unless Flag.mzxidIsCzxid / pzxidIsCzxid
 *   ctime                     signed delta from the previous node's
 *   mtime                     signed delta from ctime, unless Flag.mtimeIsCtime
 *   ephemeralOwner            high word, low word (signed), unless Flag.noOwner
 *   version, cversion, aversion  signed, unless Flag.noVersions
 * A node costs little beyond its name and data, and loading one is a few array writes: the
 * loaded tree has the same slots, so nothing is looked up until the children are linked.
 */
export type SnapshotRecord = unknown[];

export const treeSnapshotVersion = 3;

const Flag = {
  nextSlot: 1,
  sameParent: 2,
  sameAcl: 4,
  mzxidIsCzxid: 8,
  pzxidIsCzxid: 16,
  mtimeIsCtime: 32,
  noOwner: 64,
  noVersions: 128,
} as const;

/** A node block is cut once it holds this many bytes (a node with large data makes it larger). */
const blockBytesTarget = 64 * 1024;

function zigzag(n: number): number {
  return n >= 0 ? n * 2 : -n * 2 - 1;
}

function unzigzag(z: number): number {
  return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
}

/** The previous node's fields that the next node is coded against (writer and loader alike). */
class DeltaBase {
  slot = -1;
  parent = noParent;
  acl = -1;
  czxidHi = 0;
  czxidLo = 0;
  ctime = 0;
}

/** A node block's buffer: room for a block and the node that crosses its target size. */
const blockBufferBytes = blockBytesTarget + 1024;
const blockPoolMax = 64;

/**
 * Node block buffers given back once their frame is on disk, for the next blocks: a
 * snapshot of a million znodes otherwise allocates 140 MB of buffers, which V8 counts as
 * external memory pressure and answers with full GCs while the server is under load.
 */
export class BlockPool {
  private readonly free: Buffer[] = [];

  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafeSlow(blockBufferBytes);
  }

  /** Takes back the buffer of a written ['n', block] record (other records are ignored). */
  giveRecord(record: unknown): void {
    if (!Array.isArray(record) || record[0] !== 'n' || !(record[1] instanceof Uint8Array)) return;
    const block = record[1];
    if (block.byteOffset !== 0 || block.buffer.byteLength !== blockBufferBytes || this.free.length >= blockPoolMax) return;
    this.free.push(Buffer.from(block.buffer, 0, blockBufferBytes));
  }
}

/** Appends nodes to a growing buffer. */
class BlockWriter {
  buf: Buffer;
  pos = 0;
  private readonly prev = new DeltaBase();

  /** `store`: where live images' names and data are. */
  constructor(
    private readonly store: NodeStore,
    private readonly pool: BlockPool | undefined,
  ) {
    this.buf = this.newBuffer();
  }

  private newBuffer(): Buffer {
    return this.pool?.take() ?? Buffer.allocUnsafeSlow(blockBufferBytes);
  }

  private ensure(extra: number): void {
    if (this.pos + extra <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + extra));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  private uint(n: number): void {
    const buf = this.buf;
    while (n >= 128) {
      buf[this.pos++] = (n % 128) | 128;
      n = Math.floor(n / 128);
    }
    buf[this.pos++] = n;
  }

  private int(n: number): void {
    this.uint(zigzag(n));
  }

  /** Copies bytes at pos (pos is not moved). */
  private bytes(bytes: Uint8Array): void {
    this.buf.set(bytes, this.pos);
  }

  add(n: NodeImage): void {
    if (!Number.isSafeInteger(n.ctime) || !Number.isSafeInteger(n.mtime)) throw new ProtocolError(`node in slot ${n.slot} has a time that is not an integer`);
    const store = this.store;
    const live = n.live;
    const nameLength = live ? store.columns.nameLength[n.slot]! : n.name.length;
    // -1: null.
    const dataLength = live ? store.columns.dataLength[n.slot]! : n.data === null ? -1 : n.data.length;
    this.ensure(80 + nameLength + Math.max(0, dataLength));
    let flags = 0;
    if (n.slot === this.prev.slot + 1) flags |= Flag.nextSlot;
    if (n.parent === this.prev.parent) flags |= Flag.sameParent;
    if (n.acl === this.prev.acl) flags |= Flag.sameAcl;
    if (n.mzxidHi === n.czxidHi && n.mzxidLo === n.czxidLo) flags |= Flag.mzxidIsCzxid;
    if (n.pzxidHi === n.czxidHi && n.pzxidLo === n.czxidLo) flags |= Flag.pzxidIsCzxid;
    if (n.mtime === n.ctime) flags |= Flag.mtimeIsCtime;
    if (n.ownerHi === 0 && n.ownerLo === 0) flags |= Flag.noOwner;
    if (n.version === 0 && n.cversion === 0 && n.aversion === 0) flags |= Flag.noVersions;
    this.buf[this.pos++] = flags;
    if ((flags & Flag.nextSlot) === 0) this.uint(n.slot);
    if ((flags & Flag.sameParent) === 0) this.uint(n.parent + 1);
    this.uint(nameLength);
    if (live) store.bytes.copyName(n.slot, this.buf, this.pos);
    else this.bytes(n.name);
    this.pos += nameLength;
    this.uint(dataLength + 1);
    if (dataLength > 0) {
      if (live) store.bytes.copyData(n.slot, this.buf, this.pos);
      else this.bytes(n.data!);
      this.pos += dataLength;
    }
    if ((flags & Flag.sameAcl) === 0) this.uint(n.acl);
    this.int(n.czxidHi - this.prev.czxidHi);
    this.int(n.czxidLo - this.prev.czxidLo);
    if ((flags & Flag.mzxidIsCzxid) === 0) {
      this.int(n.mzxidHi - n.czxidHi);
      this.int(n.mzxidLo - n.czxidLo);
    }
    if ((flags & Flag.pzxidIsCzxid) === 0) {
      this.int(n.pzxidHi - n.czxidHi);
      this.int(n.pzxidLo - n.czxidLo);
    }
    this.int(n.ctime - this.prev.ctime);
    if ((flags & Flag.mtimeIsCtime) === 0) this.int(n.mtime - n.ctime);
    if ((flags & Flag.noOwner) === 0) {
      this.int(n.ownerHi);
      this.int(n.ownerLo);
    }
    if ((flags & Flag.noVersions) === 0) {
      this.int(n.version);
      this.int(n.cversion);
      this.int(n.aversion);
    }
    this.prev.slot = n.slot;
    this.prev.parent = n.parent;
    this.prev.acl = n.acl;
    this.prev.czxidHi = n.czxidHi;
    this.prev.czxidLo = n.czxidLo;
    this.prev.ctime = n.ctime;
  }

  /** The block so far, handed over (not copied); the next block starts in a new buffer (deltas carry over). */
  take(): Buffer {
    const block = this.buf.subarray(0, this.pos);
    this.buf = this.newBuffer();
    this.pos = 0;
    return block;
  }
}

/**
 * The records of a snapshot as of the call. It may be consumed a batch at a time while the
 * tree keeps applying txns: the header, ACLs and sessions are taken at once, nodes through
 * the tree's copy-on-write view, so the result is exactly the tree at `lastZxid`. A block
 * is cut once it holds `blockBytes` (1: a block per node). With a `pool`, block buffers come
 * from it (give them back once written, and only then).
 */
export function* treeSnapshotRecords(tree: DataTree, blockBytes = blockBytesTarget, pool?: BlockPool): Generator<SnapshotRecord> {
  const store = tree.store;
  const head: SnapshotRecord[] = [['h', treeSnapshotVersion, tree.lastZxid, tree.nodeCount, tree.sessions.size, store.high]];
  for (let index = 0; index < store.acls.count; index++) head.push(['a', index, store.acls.get(index).map((a) => [a.perms, a.id.scheme, a.id.id])]);
  for (const [id, entry] of tree.sessions) head.push(['s', id, entry.timeout]);
  // Start the copy-on-write view now, in the same synchronous step as the header.
  const cursor = tree.openConsistentCursor();
  try {
    yield* head;
    const writer = new BlockWriter(store, pool);
    const visit = (node: NodeImage): boolean => {
      writer.add(node);
      return writer.pos < blockBytes;
    };
    while (!cursor.done) {
      cursor.run(visit);
      if (writer.pos > 0) yield ['n', writer.take()];
    }
  } finally {
    cursor.close();
  }
}

/** Reads a node block; past the end it reads zeros and moves on, and the caller checks `pos`. */
class BlockReader {
  pos = 0;
  readonly end: number;
  constructor(readonly buf: Buffer) {
    this.end = buf.length;
  }

  uint(): number {
    const buf = this.buf;
    let b = buf[this.pos++]!;
    if (b < 128) return b | 0;
    let result = b & 127;
    let scale = 128;
    do {
      b = buf[this.pos++]!;
      result += (b & 127) * scale;
      scale *= 128;
    } while (b >= 128);
    return result;
  }

  int(): number {
    return unzigzag(this.uint());
  }
}

/** Rebuilds a tree from records; refuses records that do not fit, naming the record. */
export class TreeSnapshotLoader {
  private readonly tree: DataTree;
  private count = 0;
  private header = false;
  private nodeCount = 0;
  private readonly prev = new DeltaBase();

  constructor(options: DataTreeOptions) {
    this.tree = new DataTree(options, true);
  }

  private fail(why: string): never {
    throw new ProtocolError(`snapshot record ${this.count}: ${why}`);
  }

  add(record: unknown): void {
    this.count++;
    if (!Array.isArray(record)) this.fail('not an array');
    switch (record[0]) {
      case 'n':
        if (!this.header) this.fail('node block before header');
        if (!(record[1] instanceof Uint8Array)) this.fail('node block without bytes');
        return this.addBlock(record[1]);
      case 'h':
        if (record[1] !== treeSnapshotVersion) this.fail(`unknown snapshot version ${String(record[1])}`);
        this.tree.lastZxid = BigInt(record[2] as bigint);
        this.nodeCount = Number(record[3]);
        if (typeof record[5] === 'number' && record[5] > 0 && record[5] < 0x7fffffff) this.tree.store.reserve(record[5]);
        this.header = true;
        return;
      case 'a': {
        const acl: ACL[] = (record[2] as [number, string, string][]).map(([perms, scheme, id]) => ({ perms, id: { scheme, id } }));
        if (this.tree.store.acls.intern(acl) !== record[1]) this.fail(`ACL ${String(record[1])} out of order or repeated`);
        return;
      }
      case 's':
        this.tree.sessions.set(BigInt(record[1] as bigint), { timeout: record[2] as number });
        return;
      default:
        this.fail(`unknown record kind ${String(record[0])}`);
    }
  }

  private addBlock(bytes: Uint8Array): void {
    const r = new BlockReader(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    const store = this.tree.store;
    const columns = store.columns;
    const end = r.end;
    // The block's bytes become arena space, so node data is not copied out of it. The block
    // is a view into a buffer that the snapshot reader or msgpack decoder allocated for it.
    const adoptedRef = store.arena.adopt(r.buf);
    while (r.pos < end) {
      const flags = r.buf[r.pos++]!;
      const slot = (flags & Flag.nextSlot) !== 0 ? this.prev.slot + 1 : r.uint();
      const parent = (flags & Flag.sameParent) !== 0 ? this.prev.parent : r.uint() - 1;
      const nameLength = r.uint();
      const nameStart = r.pos;
      r.pos += nameLength;
      const dataLength = r.uint() - 1;
      const dataStart = r.pos;
      if (dataLength > 0) r.pos += dataLength;
      const acl = (flags & Flag.sameAcl) !== 0 ? this.prev.acl : r.uint();
      const czxidHi = this.prev.czxidHi + r.int();
      const czxidLo = this.prev.czxidLo + r.int();
      let mzxidHi = czxidHi;
      let mzxidLo = czxidLo;
      if ((flags & Flag.mzxidIsCzxid) === 0) {
        mzxidHi += r.int();
        mzxidLo += r.int();
      }
      let pzxidHi = czxidHi;
      let pzxidLo = czxidLo;
      if ((flags & Flag.pzxidIsCzxid) === 0) {
        pzxidHi += r.int();
        pzxidLo += r.int();
      }
      const ctime = this.prev.ctime + r.int();
      const mtime = (flags & Flag.mtimeIsCtime) !== 0 ? ctime : ctime + r.int();
      let ownerHi = 0;
      let ownerLo = 0;
      if ((flags & Flag.noOwner) === 0) {
        ownerHi = r.int();
        ownerLo = r.int();
      }
      let version = 0;
      let cversion = 0;
      let aversion = 0;
      if ((flags & Flag.noVersions) === 0) {
        version = r.int();
        cversion = r.int();
        aversion = r.int();
      }
      if (r.pos > end || dataLength < -1) this.fail(`node block ends inside the node in slot ${slot}`);
      if (!Number.isSafeInteger(slot) || slot < 0 || slot > 0x7ffffffe) this.fail(`bad slot ${slot}`);
      if (store.inUse(slot)) this.fail(`slot ${slot} given twice`);
      if (acl >= store.acls.count) this.fail(`node in slot ${slot} names unknown ACL ${acl}`);
      if (parent === noParent ? nameLength !== 0 : parent < 0 || parent === slot || nameLength === 0) {
        this.fail(`node in slot ${slot} has parent ${parent} and name '${(r.buf as FastBuffer).utf8Slice(nameStart, nameStart + nameLength)}'`);
      }
      store.takeExact(slot);
      const i = slot * 2;
      columns.parent[slot] = parent;
      store.bytes.loadName(slot, r.buf, adoptedRef, nameStart, nameLength);
      store.bytes.loadData(slot, r.buf, adoptedRef, dataStart, dataLength);
      columns.acl[slot] = acl;
      columns.czxid.words[i] = czxidLo;
      columns.czxid.words[i + 1] = czxidHi;
      columns.mzxid.words[i] = mzxidLo;
      columns.mzxid.words[i + 1] = mzxidHi;
      columns.pzxid.words[i] = pzxidLo;
      columns.pzxid.words[i + 1] = pzxidHi;
      columns.ctime[slot] = ctime;
      columns.mtime[slot] = mtime;
      columns.version[slot] = version;
      columns.cversion[slot] = cversion;
      columns.aversion[slot] = aversion;
      if ((ownerHi | ownerLo) !== 0) columns.setOwnerWords(slot, ownerHi, ownerLo);
      // Indexed by name all at once when the last block is in (see finish).
      if (parent !== noParent) store.linkChild(slot, false);
      this.prev.slot = slot;
      this.prev.parent = parent;
      this.prev.acl = acl;
      this.prev.czxidHi = czxidHi;
      this.prev.czxidLo = czxidLo;
      this.prev.ctime = ctime;
    }
  }

  finish(): DataTree {
    if (!this.header) this.fail('no header record');
    const store = this.tree.store;
    const twin = store.indexAll();
    if (twin >= 0) this.fail(`two nodes named '${store.bytes.nameOf(twin)}' under slot ${store.columns.parent[twin]}`);
    if (store.size !== this.nodeCount) this.fail(`header counts ${this.nodeCount} nodes, the blocks hold ${store.size}`);
    try {
      this.tree.finishLoading();
    } catch (err) {
      this.fail((err as Error).message);
    }
    return this.tree;
  }
}

const packr = new Packr({ useRecords: false, int64AsType: 'bigint', mapsAsObjects: true, moreTypes: false });

/** The whole tree in one buffer (SNAP to a learner). */
export function encodeTreeSnapshot(tree: DataTree): Uint8Array {
  return packr.pack([...treeSnapshotRecords(tree)]);
}

export function decodeTreeSnapshot(bytes: Uint8Array, options: DataTreeOptions): DataTree {
  // A copy: node data stays in the decoded blocks, so nobody else may reuse these bytes.
  const records = packr.unpack(Buffer.from(bytes)) as unknown[];
  if (!Array.isArray(records)) throw new ProtocolError('snapshot is not a record list');
  const loader = new TreeSnapshotLoader(options);
  for (const r of records) loader.add(r);
  return loader.finish();
}
