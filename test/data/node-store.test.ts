import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { DataTree } from '../../src/data/data-tree.js';
import { DataArena } from '../../src/data/data-arena.js';
import { TreeSnapshotLoader, decodeTreeSnapshot, encodeTreeSnapshot, treeSnapshotRecords } from '../../src/data/tree-snapshot.js';
import { OpCode } from '../../src/protocol/constants.js';
import { openAclUnsafe } from '../../src/data/acl.js';

const options = { extendedTypesEnabled: true };

function treeWith(count: number, dataFor: (i: number) => Buffer | null = (i) => Buffer.from(`value-${i}`)): DataTree {
  const tree = new DataTree(options);
  let zxid = 0n;
  const apply = (op: any) => tree.apply({ zxid: ++zxid, sessionId: 0n, cxid: 0, time: 1_700_000_000_000 + Number(zxid), authIds: [], op });
  apply({ type: OpCode.create, request: { path: '/p', data: null, acl: [...openAclUnsafe], flags: 0 } });
  for (let i = 0; i < count; i++) apply({ type: OpCode.create, request: { path: `/p/n${i}`, data: dataFor(i), acl: [...openAclUnsafe], flags: 0 } });
  return tree;
}

describe('DataArena', () => {
  it('keeps values apart, reuses freed space of the same size class, and gives large values their own buffer', () => {
    const arena = new DataArena();
    const a = arena.alloc(100);
    const b = arena.alloc(100);
    arena.fill(a, Buffer.alloc(100, 1), 0, 100);
    arena.fill(b, Buffer.alloc(100, 2), 0, 100);
    expect(arena.view(a, 100).every((x) => x === 1)).toBe(true);
    expect(arena.view(b, 100).every((x) => x === 2)).toBe(true);
    arena.release(a, 100);
    // 100 and 110 round up to the same 112-byte class: the freed space comes back.
    expect(arena.alloc(110)).toBe(a);
    const big = arena.alloc(100_000);
    expect(big).toBeLessThan(0);
    arena.fill(big, Buffer.alloc(100_000, 9), 0, 100_000);
    expect(arena.view(big, 100_000).length).toBe(100_000);
    expect(arena.view(b, 100).every((x) => x === 2)).toBe(true);
  });

  it('serves values from an adopted buffer in place, and reuses their space only for values that fit', () => {
    const arena = new DataArena();
    const block = Buffer.from('..hello..world..');
    const base = arena.adopt(block);
    expect(arena.view(base + 2, 5).toString()).toBe('hello');
    arena.release(base + 2, 5);
    // A 5-byte hole is smaller than any 16-byte class: it is not handed out again.
    expect(arena.alloc(5)).not.toBe(base + 2);
  });
});

describe('NodeStore growth', () => {
  it('past 64k slots grows its columns in place, keeping every value', () => {
    const tree = treeWith(70_000, (i) => Buffer.from(`d${i}`));
    const store = tree.store;
    const before = store.columns.czxid.values;
    expect((store.columns.ctime.buffer as ArrayBuffer & { resizable: boolean }).resizable).toBe(true);
    // More nodes: the columns grow again without being replaced.
    let zxid = tree.lastZxid;
    for (let i = 0; i < 40_000; i++) {
      tree.apply({ zxid: ++zxid, sessionId: 0n, cxid: 0, time: 5, authIds: [], op: { type: OpCode.create, request: { path: `/p/m${i}`, data: null, acl: [...openAclUnsafe], flags: 0 } } });
    }
    expect(store.columns.czxid.values).toBe(before);
    for (const i of [0, 1, 33_333, 69_999]) {
      const node = tree.getNode(`/p/n${i}`)!;
      expect(node.data!.toString()).toBe(`d${i}`);
      expect(node.czxid).toBe(BigInt(i + 2));
      expect(node.ctime).toBe(1_700_000_000_000 + i + 2);
    }
    expect(tree.getNode('/p/m39999')!.ctime).toBe(5);
    expect(tree.getNode('/p')!.numChildren).toBe(110_000);
  });
});

describe('node columns through snapshots', () => {
  it('round-trips data of every kind: null, empty, small, large, and keeps slots', () => {
    const tree = treeWith(40, (i) => (i % 4 === 0 ? null : i % 4 === 1 ? Buffer.alloc(0) : i % 4 === 2 ? Buffer.from(`v${i}`) : Buffer.alloc(20_000 + i, i)));
    const copy = decodeTreeSnapshot(encodeTreeSnapshot(tree), options);
    for (const path of tree.paths()) {
      const a = tree.getNode(path)!;
      const b = copy.getNode(path)!;
      expect(b.slot, path).toBe(a.slot);
      expect(b.data, path).toEqual(a.data);
      expect(copy.statOf(b), path).toEqual(tree.statOf(a));
    }
    expect(copy.approximateDataSize()).toBe(tree.approximateDataSize());
  });

  it('a loaded tree takes new writes: setData and delete on data that lives in adopted blocks', () => {
    const copy = decodeTreeSnapshot(encodeTreeSnapshot(treeWith(100)), options);
    let zxid = copy.lastZxid;
    const apply = (op: any) => copy.apply({ zxid: ++zxid, sessionId: 0n, cxid: 0, time: 1, authIds: [], op });
    for (let i = 0; i < 100; i += 2) apply({ type: OpCode.setData, request: { path: `/p/n${i}`, data: Buffer.from(`new-${i}-${'x'.repeat(i)}`), version: -1 } });
    for (let i = 1; i < 100; i += 4) apply({ type: OpCode.delete, request: { path: `/p/n${i}`, version: -1 } });
    for (let i = 0; i < 50; i++) apply({ type: OpCode.create, request: { path: `/p/m${i}`, data: Buffer.from(`m${i}`), acl: [...openAclUnsafe], flags: 0 } });
    for (let i = 0; i < 100; i++) {
      const node = copy.getNode(`/p/n${i}`);
      if (i % 4 === 1) expect(node).toBeUndefined();
      else expect(node!.data!.toString()).toBe(i % 2 === 0 ? `new-${i}-${'x'.repeat(i)}` : `value-${i}`);
    }
    for (let i = 0; i < 50; i++) expect(copy.getNode(`/p/m${i}`)!.data!.toString()).toBe(`m${i}`);
  });

  const packr = new Packr({ useRecords: false, int64AsType: 'bigint', mapsAsObjects: true, moreTypes: false });

  function recordsOf(tree: DataTree): unknown[][] {
    return (packr.unpack(Buffer.from(packr.pack([...treeSnapshotRecords(tree, 1)]))) as unknown[][]).map((r) => [...r]);
  }

  function load(records: unknown[][]): DataTree {
    const loader = new TreeSnapshotLoader(options);
    for (const r of records) loader.add(r);
    return loader.finish();
  }

  it('refuses a node block that ends inside a node, naming the record', () => {
    const records = recordsOf(treeWith(5));
    const index = records.findIndex((r) => r[0] === 'n' && (r[1] as Uint8Array).length > 10);
    records[index] = ['n', (records[index]![1] as Uint8Array).subarray(0, 8)];
    expect(() => load(records)).toThrow(new RegExp(`snapshot record ${index + 1}: .*ends inside`));
  });

  it('refuses a slot given twice, a node count that does not match, and a block missing from the middle', () => {
    const records = recordsOf(treeWith(5));
    const blocks = records.filter((r) => r[0] === 'n');
    expect(() => load([...records, blocks.at(-1)!])).toThrow(/given twice|two nodes named/);
    const header = records.findIndex((r) => r[0] === 'h');
    const miscounted = records.map((r, i) => (i === header ? [r[0], r[1], r[2], Number(r[3]) + 1, r[4], r[5]] : r));
    expect(() => load(miscounted)).toThrow(/header counts/);
    // Without the block of /zookeeper, the next node decodes against the wrong deltas or has
    // a parent slot nobody filled: refused either way.
    const parentBlock = records.findIndex((r) => r[0] === 'n' && Buffer.from(r[1] as Uint8Array).includes(Buffer.from('p')) && !Buffer.from(r[1] as Uint8Array).includes(Buffer.from('value')));
    const orphaned = records.filter((_, i) => i !== parentBlock).map((r) => (r[0] === 'h' ? [r[0], r[1], r[2], Number(r[3]) - 1, r[4], r[5]] : r));
    expect(() => load(orphaned)).toThrow(/do not hang off the root|has parent/);
  });
});

describe('names and the child index', () => {
  /** A small deterministic generator, so a failure can be replayed. */
  function random(seed: number): () => number {
    let state = seed >>> 0;
    return () => {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      return state / 2 ** 32;
    };
  }

  // Two-, three-byte UTF-8 too (ZooKeeper refuses surrogate pairs in paths).
  const nameParts = ['a', 'b', 'node', 'é', 'ü-x', '日本', 'zz', '-', '0'];

  it('agrees with a map of maps through random creates and deletes, across index splits and a snapshot', () => {
    const next = random(7);
    const tree = new DataTree(options);
    let zxid = 0n;
    const apply = (op: any) => tree.apply({ zxid: ++zxid, sessionId: 0n, cxid: 0, time: 1, authIds: [], op });
    const parents = ['/p0', '/p1', '/p2', '/p1/deep'];
    for (const p of parents) expect(apply({ type: OpCode.create, request: { path: p, data: null, acl: [...openAclUnsafe], flags: 0 } }).err).toBe(0);
    const model = new Map<string, Set<string>>(parents.map((p) => [p, new Set()]));
    for (let step = 0; step < 6000; step++) {
      const parent = parents[Math.floor(next() * parents.length)]!;
      let name = '';
      for (let k = 1 + Math.floor(next() * 3); k > 0; k--) name += nameParts[Math.floor(next() * nameParts.length)]!;
      name += String(Math.floor(next() * 1500));
      const path = `${parent}/${name}`;
      const children = model.get(parent)!;
      if (next() < 0.3 && children.size > 0) {
        const victim = [...children][Math.floor(next() * children.size)]!;
        expect(apply({ type: OpCode.delete, request: { path: `${parent}/${victim}`, version: -1 } }).err).toBe(0);
        children.delete(victim);
      } else {
        const result = apply({ type: OpCode.create, request: { path, data: Buffer.from(path), acl: [...openAclUnsafe], flags: 0 } });
        expect(result.err, path).toBe(children.has(name) ? -110 : 0);
        children.add(name);
      }
    }
    const check = (t: DataTree): void => {
      for (const [parent, children] of model) {
        const node = t.getNode(parent)!;
        expect(node.numChildren, parent).toBe(children.size + (parent === '/p1' ? 1 : 0));
        const listed = new Set(node.childNames());
        for (const name of children) {
          expect(listed.has(name), `${parent}/${name}`).toBe(true);
          expect(t.getNode(`${parent}/${name}`)!.data!.toString()).toBe(`${parent}/${name}`);
        }
        expect(listed.size).toBe(node.numChildren);
      }
      expect(t.getNode('/p0/nothere')).toBeUndefined();
      expect(t.getNode('/p1/deep/é')).toBeUndefined();
    };
    check(tree);
    const copy = decodeTreeSnapshot(encodeTreeSnapshot(tree), options);
    check(copy);
    expect([...copy.paths()].sort()).toEqual([...tree.paths()].sort());
    expect(copy.approximateDataSize()).toBe(tree.approximateDataSize());
  });

  it('keeps creation order for children and looks up names that differ only after a shared prefix', () => {
    const tree = treeWith(0);
    let zxid = tree.lastZxid;
    const names = ['x', 'xy', 'xyz', 'xz', 'ÿ', 'y'];
    for (const name of names) {
      tree.apply({ zxid: ++zxid, sessionId: 0n, cxid: 0, time: 1, authIds: [], op: { type: OpCode.create, request: { path: `/p/${name}`, data: null, acl: [...openAclUnsafe], flags: 0 } } });
    }
    expect(tree.getNode('/p')!.childNames()).toEqual(names);
    for (const name of names) expect(tree.store.bytes.nameOf(tree.lookup(`/p/${name}`))).toBe(name);
    expect(tree.lookup('/p/xyzz')).toBe(-1);
    expect(tree.lookup('/p/')).toBe(-1);
    expect(tree.lookup('p')).toBe(-1);
  });

  it('names a new child by the name given, even after a path lookup between findChild and addChild', () => {
    const store = treeWith(0).store;
    const parent = store.lookup('/p');
    expect(store.findChild(parent, 'fresh')).toBe(-1);
    expect(store.lookup('/zookeeper')).toBeGreaterThan(0);
    const slot = store.take();
    store.addChild(parent, slot, 'fresh');
    expect(store.bytes.nameOf(slot)).toBe('fresh');
    expect(store.lookup('/p/fresh')).toBe(slot);
  });

  it('a multi that fails puts deleted nodes back under their parent and takes created ones out', () => {
    const tree = treeWith(3);
    let zxid = tree.lastZxid;
    const result = tree.apply({
      zxid: ++zxid, sessionId: 0n, cxid: 0, time: 1, authIds: [],
      op: {
        type: OpCode.multi,
        ops: [
          { type: OpCode.delete, request: { path: '/p/n1', version: -1 } },
          { type: OpCode.create, request: { path: '/p/new', data: null, acl: [...openAclUnsafe], flags: 0 } },
          { type: OpCode.delete, request: { path: '/p/missing', version: -1 } },
        ],
      },
    });
    expect((result.response as { err: number }[])[2]!.err).toBe(-101);
    expect(new Set(tree.getNode('/p')!.childNames())).toEqual(new Set(['n0', 'n1', 'n2']));
    expect(tree.getNode('/p/n1')!.data!.toString()).toBe('value-1');
    expect(tree.getNode('/p/new')).toBeUndefined();
    expect(tree.getNode('/p')!.numChildren).toBe(3);
  });
});
