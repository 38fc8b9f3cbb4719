// The tree digest behind `hash` and TestingCluster.assertConverged: equal for equal trees
// however they were built, different when any node differs.
import { describe, expect, it } from 'vitest';
import { DataTree } from '../../src/data/data-tree.js';
import { treeDigest } from '../../src/data/tree-digest.js';
import { decodeTreeSnapshot, encodeTreeSnapshot } from '../../src/data/tree-snapshot.js';
import type { TxnOp } from '../../src/data/txn.js';
import { CreateMode, OpCode } from '../../src/protocol/constants.js';

const open = [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }];

function built(steps: (apply: (op: TxnOp) => void) => void): DataTree {
  const tree = new DataTree({ extendedTypesEnabled: true });
  let zxid = 0n;
  const apply = (op: TxnOp) => void tree.apply({ zxid: ++zxid, time: 1000 + Number(zxid), sessionId: 0x1n, cxid: 1, authIds: [], op });
  apply({ type: OpCode.createSession, timeout: 4000 });
  steps(apply);
  return tree;
}

const create = (path: string, data: string | null = 'x', flags: number = CreateMode.PERSISTENT): TxnOp => ({
  type: OpCode.create2,
  request: { path, data: data === null ? null : Buffer.from(data), acl: open, flags },
});

const sample = (apply: (op: TxnOp) => void) => {
  apply(create('/a'));
  apply(create('/a/b', 'data'));
  apply(create('/a/c', null));
  apply(create('/e', 'eph', CreateMode.EPHEMERAL));
  apply({ type: OpCode.setData, request: { path: '/a/b', data: Buffer.from('more'), version: -1 } });
  apply({ type: OpCode.delete, request: { path: '/a/c', version: -1 } });
};

describe('treeDigest', () => {
  it('is the same for the same txns, and for a tree loaded from that tree’s snapshot (other slot order)', () => {
    const tree = built(sample);
    expect(treeDigest(built(sample))).toBe(treeDigest(tree));
    const loaded = decodeTreeSnapshot(encodeTreeSnapshot(tree), { extendedTypesEnabled: true });
    expect(treeDigest(loaded)).toBe(treeDigest(tree));
  });

  it('differs when data, a version, an owner, an ACL or a node differs', () => {
    const base = treeDigest(built(sample));
    const variants = [
      built((apply) => { sample(apply); apply({ type: OpCode.setData, request: { path: '/a/b', data: Buffer.from('more'), version: -1 } }); }),
      built((apply) => { sample(apply); apply(create('/z')); }),
      built((apply) => { sample(apply); apply({ type: OpCode.setACL, request: { path: '/a', acl: [{ perms: 1, id: { scheme: 'world', id: 'anyone' } }], version: -1 } }); }),
      built((apply) => { apply(create('/a')); apply(create('/a/b', 'datA')); }),
    ];
    const digests = variants.map(treeDigest);
    for (const d of digests) expect(d).not.toBe(base);
    expect(new Set(digests).size).toBe(digests.length);
  });

  it('distinguishes null data from empty data', () => {
    expect(treeDigest(built((apply) => apply(create('/n', null))))).not.toBe(treeDigest(built((apply) => apply(create('/n', '')))));
  });
});
