import { Packr } from 'msgpackr';
import { ProtocolError } from '../errors.js';
import type { ACL } from '../protocol/records.js';
import { DataTree, ZNode, type DataTreeOptions } from './data-tree.js';
import { baseName, parentOf } from './path.js';

/**
 * The DataTree as a stream of small records, for snapshots on disk and SNAP on the wire:
 *   ['h', version, lastZxid, nodeCount, sessionCount]
 *   ['a', aclIndex, acl]                     each distinct ACL list once
 *   ['s', sessionId, timeoutMs]              each session
 *   ['n', path, data, aclIndex, czxid, mzxid - czxid, pzxid - czxid, ctime, mtime - ctime,
 *         version, cversion, aversion, ephemeralOwner]
 * Nodes come parents first (the tree's insertion order guarantees it), and the stat deltas
 * are almost always 0, so a node costs little beyond its path and data.
 */
export type SnapshotRecord = unknown[];

export const treeSnapshotVersion = 1;

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
  for (let step = first; !step.done; step = nodes.next()) {
    const [path, node] = step.value;
    let index = aclIndex.get(node.acl);
    if (index === undefined) {
      index = aclIndex.size;
      aclIndex.set(node.acl, index);
      yield ['a', index, node.acl.map((a) => [a.perms, a.id.scheme, a.id.id])];
    }
    yield [
      'n', path, node.data, index, compactLong(node.czxid), compactLong(node.mzxid - node.czxid), compactLong(node.pzxid - node.czxid),
      node.ctime, node.mtime - node.ctime, node.version, node.cversion, node.aversion, compactLong(node.ephemeralOwner),
    ];
  }
}

/** Rebuilds a tree from records; refuses records that do not fit, naming the record. */
export class TreeSnapshotLoader {
  readonly tree: DataTree;
  private readonly acls = new Map<number, readonly ACL[]>();
  private count = 0;
  private header = false;

  constructor(options: DataTreeOptions) {
    this.tree = new DataTree(options);
  }

  private fail(why: string): never {
    throw new ProtocolError(`snapshot record ${this.count}: ${why}`);
  }

  add(record: unknown): void {
    this.count++;
    if (!Array.isArray(record)) this.fail('not an array');
    switch (record[0]) {
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
      case 'n':
        this.addNode(record);
        return;
      default:
        this.fail(`unknown record kind ${String(record[0])}`);
    }
  }

  private addNode(r: unknown[]): void {
    if (!this.header) this.fail('node before header');
    const path = r[1] as string;
    const acl = this.acls.get(r[3] as number);
    if (acl === undefined) this.fail(`node ${path} names unknown ACL ${String(r[3])}`);
    const czxid = BigInt(r[4] as bigint | number);
    const ctime = r[7] as number;
    const data = r[2] === null ? null : Buffer.from(r[2] as Uint8Array);
    const node = new ZNode(data, acl, czxid, czxid + BigInt(r[5] as bigint | number), czxid + BigInt(r[6] as bigint | number), ctime, ctime + (r[8] as number), r[9] as number, r[10] as number, r[11] as number, BigInt(r[12] as bigint | number));
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

