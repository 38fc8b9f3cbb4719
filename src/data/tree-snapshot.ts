import { Packr } from 'msgpackr';
import { ProtocolError } from '../errors.js';
import type { ACL } from '../protocol/records.js';
import { DataTree, ZNode, latin1Of, type DataTreeOptions } from './data-tree.js';

/**
 * The DataTree as a stream of small records, for snapshots on disk and SNAP on the wire:
 *   ['h', version, lastZxid, nodeCount, sessionCount]
 *   ['a', aclIndex, acl]                     each distinct ACL list once
 *   ['s', sessionId, timeoutMs]              each session
 *   ['p', parentPath]                        the parent of the node records that follow
 *   [name, data, aclIndex, czxid - previous czxid, mzxid - czxid, pzxid - czxid,
 *    ctime - previous ctime, mtime - ctime, version, cversion, aversion, ephemeralOwner]
 * Nodes come parents first (the tree's insertion order guarantees it) and siblings mostly
 * together, so a node record carries its name, not its path, and every stat field is a small
 * delta: a node costs little beyond its name and data (the root's name is '/', with no parent).
 */
export type SnapshotRecord = unknown[];

export const treeSnapshotVersion = 2;

/**
 * A long as the smallest msgpack value that keeps it exact: most are small (deltas of 0,
 * zxid counters), and msgpackr writes every bigint in 9 bytes.
 */
function compactLong(v: bigint): bigint | number {
  return v >= -0x1fffffffffffffn && v <= 0x1fffffffffffffn ? Number(v) : v;
}

/**
 * The records of a snapshot as of the call. It may be consumed a batch at a time while the
 * tree keeps applying txns: the header and sessions are taken at once, nodes through the
 * tree's copy-on-write view, so the result is exactly the tree at `lastZxid`.
 */
export function* treeSnapshotRecords(tree: DataTree): Generator<SnapshotRecord> {
  const aclIndex = new Map<readonly ACL[], number>();
  const head: SnapshotRecord[] = [['h', treeSnapshotVersion, tree.lastZxid, tree.nodeCount, tree.sessions.size]];
  for (const [id, entry] of tree.sessions) head.push(['s', id, entry.timeout]);
  const nodes = tree.consistentNodes();
  // Start the copy-on-write view now, in the same synchronous step as the header.
  const first = nodes.next();
  yield* head;
  let parent: string | null = null;
  let prevCzxid = 0n;
  let prevCtime = 0;
  for (let step = first; !step.done; step = nodes.next()) {
    const [path, node] = step.value;
    let index = aclIndex.get(node.acl);
    if (index === undefined) {
      index = aclIndex.size;
      aclIndex.set(node.acl, index);
      yield ['a', index, node.acl.map((a) => [a.perms, a.id.scheme, a.id.id])];
    }
    let name = '/';
    if (path !== '/') {
      const slash = path.lastIndexOf('/');
      const parentPath = slash === 0 ? '/' : path.slice(0, slash);
      if (parentPath !== parent) {
        parent = parentPath;
        yield ['p', parentPath];
      }
      name = path.slice(slash + 1);
    }
    yield [
      name, node.data, index, compactLong(node.czxid - prevCzxid), compactLong(node.mzxid - node.czxid), compactLong(node.pzxid - node.czxid),
      node.ctime - prevCtime, node.mtime - node.ctime, node.version, node.cversion, node.aversion, compactLong(node.ephemeralOwner),
    ];
    prevCzxid = node.czxid;
    prevCtime = node.ctime;
  }
}

/** base + delta, sharing base's bigint when the delta is 0 (the usual case). */
function offsetLong(base: bigint, delta: unknown): bigint {
  return delta === 0 ? base : base + BigInt(delta as bigint | number);
}

/** Rebuilds a tree from records; refuses records that do not fit, naming the record. */
export class TreeSnapshotLoader {
  readonly tree: DataTree;
  private readonly acls = new Map<number, readonly ACL[]>();
  private count = 0;
  private header = false;
  private parent: string | null = null;
  private prevCzxid = 0n;
  private prevCtime = 0;

  constructor(options: DataTreeOptions) {
    this.tree = new DataTree(options);
  }

  private fail(why: string): never {
    throw new ProtocolError(`snapshot record ${this.count}: ${why}`);
  }

  add(record: unknown): void {
    this.count++;
    if (!Array.isArray(record)) this.fail('not an array');
    const kind = record[0];
    if (record.length === 12 && typeof kind === 'string') return this.addNode(record);
    switch (kind) {
      case 'h':
        if (record[1] !== treeSnapshotVersion) this.fail(`unknown snapshot version ${String(record[1])}`);
        this.tree.lastZxid = BigInt(record[2] as bigint);
        this.header = true;
        return;
      case 'a':
        this.acls.set(record[1] as number, this.tree.internAcl((record[2] as [number, string, string][]).map(([perms, scheme, id]) => ({ perms, id: { scheme, id } }))));
        return;
      case 's':
        this.tree.sessions.set(BigInt(record[1] as bigint), { timeout: record[2] as number });
        return;
      case 'p':
        if (typeof record[1] !== 'string') this.fail('parent record without a path');
        this.parent = record[1];
        return;
      default:
        this.fail(`unknown record kind ${String(kind)}`);
    }
  }

  private addNode(r: unknown[]): void {
    if (!this.header) this.fail('node before header');
    const name = r[0] as string;
    const path = this.parent === null ? name : this.parent === '/' ? '/' + name : this.parent + '/' + name;
    const acl = this.acls.get(r[2] as number);
    if (acl === undefined) this.fail(`node ${path} names unknown ACL ${String(r[2])}`);
    // Few allocations per node: a million of them is mostly garbage-collector time otherwise.
    const czxid = offsetLong(this.prevCzxid, r[3]);
    const ctime = this.prevCtime + (r[6] as number);
    const node = new ZNode(
      latin1Of(r[1] as Uint8Array | null), acl, czxid, offsetLong(czxid, r[4]), offsetLong(czxid, r[5]), ctime, ctime + (r[7] as number),
      r[8] as number, r[9] as number, r[10] as number, r[11] === 0 ? 0n : BigInt(r[11] as bigint | number),
    );
    this.prevCzxid = czxid;
    this.prevCtime = ctime;
    this.tree.restoreNode(path, node);
  }

  finish(): DataTree {
    if (!this.header) this.fail('no header record');
    return this.tree;
  }
}

const packr = new Packr({ useRecords: false, int64AsType: 'bigint', mapsAsObjects: true, moreTypes: false });

/** The whole tree in one buffer (SNAP to a learner). */
export function encodeTreeSnapshot(tree: DataTree): Uint8Array {
  return packr.pack([...treeSnapshotRecords(tree)]);
}

export function decodeTreeSnapshot(bytes: Uint8Array, options: DataTreeOptions): DataTree {
  const records = packr.unpack(bytes) as unknown[];
  if (!Array.isArray(records)) throw new ProtocolError('snapshot is not a record list');
  const loader = new TreeSnapshotLoader(options);
  for (const r of records) loader.add(r);
  return loader.finish();
}

