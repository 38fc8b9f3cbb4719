import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { DataTree } from '../../src/data/data-tree.js';
import { TreeSnapshotLoader, decodeTreeSnapshot, encodeTreeSnapshot, treeSnapshotRecords } from '../../src/data/tree-snapshot.js';
import { decodeTxn, encodeTxn } from '../../src/data/txn-codec.js';
import type { Txn, TxnOp } from '../../src/data/txn.js';
import { CreateMode, ErrorCode, OpCode } from '../../src/protocol/constants.js';

const open = [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }];
const session = 0x0100000000000001n;

function harness() {
  const tree = new DataTree({ extendedTypesEnabled: true });
  let zxid = 0n;
  const apply = (op: TxnOp, sessionId = session) => tree.apply({ zxid: ++zxid, time: 1000 + Number(zxid), sessionId, cxid: 1, authIds: [], op });
  apply({ type: OpCode.createSession, timeout: 4000 });
  const create = (path: string, flags: number = CreateMode.PERSISTENT, data: string | null = 'x') =>
    apply({ type: OpCode.create2, request: { path, data: data === null ? null : Buffer.from(data), acl: open, flags } });
  return { tree, apply, create };
}

describe('DataTree', () => {
  it('shows ZooKeeper cversions on a fresh tree', () => {
    const { tree } = harness();
    expect(tree.statOf(tree.getNode('/')!).cversion).toBe(-1);
    expect(tree.statOf(tree.getNode('/zookeeper')!).cversion).toBe(-2);
    expect(tree.getNode('/zookeeper/config')!.aversion).toBe(-1);
  });

  it('names sequential children from the create-only counter, across deletes', () => {
    const { create, apply } = harness();
    create('/q');
    expect((create('/q/n-', CreateMode.PERSISTENT_SEQUENTIAL).response as any).path).toBe('/q/n-0000000000');
    expect((create('/q/n-', CreateMode.PERSISTENT_SEQUENTIAL).response as any).path).toBe('/q/n-0000000001');
    apply({ type: OpCode.delete, request: { path: '/q/n-0000000000', version: -1 } });
    expect((create('/q/n-', CreateMode.PERSISTENT_SEQUENTIAL).response as any).path).toBe('/q/n-0000000002');
  });

  it('answers each write error with ZooKeeper codes', () => {
    const { create, apply } = harness();
    create('/a');
    expect(create('/a').err).toBe(ErrorCode.NODEEXISTS);
    expect(create('/missing/b').err).toBe(ErrorCode.NONODE);
    create('/a/b');
    expect(apply({ type: OpCode.delete, request: { path: '/a', version: -1 } }).err).toBe(ErrorCode.NOTEMPTY);
    expect(apply({ type: OpCode.setData, request: { path: '/a', data: null, version: 7 } }).err).toBe(ErrorCode.BADVERSION);
    create('/e', CreateMode.EPHEMERAL);
    expect(create('/e/child').err).toBe(ErrorCode.NOCHILDRENFOREPHEMERALS);
    expect(create('/bad/').err).toBe(ErrorCode.NONODE);
    expect(apply({ type: OpCode.delete, request: { path: '/zookeeper', version: -1 } }).err).toBe(ErrorCode.BADARGUMENTS);
    expect(create('/t', CreateMode.PERSISTENT_WITH_TTL).err).toBe(ErrorCode.BADARGUMENTS);
  });

  it('answers a create of the root with NODEEXISTS, whatever the flags, and a closing session then removes nothing it should not', () => {
    const { tree, apply, create } = harness();
    for (const flags of [CreateMode.PERSISTENT, CreateMode.EPHEMERAL, CreateMode.CONTAINER]) expect(create('/', flags).err).toBe(ErrorCode.NODEEXISTS);
    expect(apply({ type: OpCode.closeSession }).err).toBe(0);
    expect(tree.getNode('/')).toBeDefined();
    expect(tree.getNode('/zookeeper')).toBeDefined();
  });

  it('applies a multi all or nothing, with per-op results', () => {
    const { tree, create, apply } = harness();
    create('/m');
    const before = tree.statOf(tree.getNode('/m')!);
    const r = apply({
      type: OpCode.multi,
      ops: [
        { type: OpCode.create, request: { path: '/m/a', data: null, acl: open, flags: 0 } },
        { type: OpCode.setData, request: { path: '/m', data: Buffer.from('y'), version: -1 } },
        { type: OpCode.check, request: { path: '/m', version: 99 } },
        { type: OpCode.delete, request: { path: '/m/a', version: -1 } },
      ],
    });
    expect(r.err).toBe(0);
    expect((r.response as any[]).map((x) => [x.type, x.err])).toEqual([[-1, 0], [-1, 0], [-1, ErrorCode.BADVERSION], [-1, ErrorCode.RUNTIMEINCONSISTENCY]]);
    expect(tree.getNode('/m/a')).toBeUndefined();
    expect(tree.statOf(tree.getNode('/m')!)).toEqual(before);
    expect(tree.getNode('/m')!.data!.toString()).toBe('x');
  });

  it('removes a closed session\'s ephemerals', () => {
    const { tree, create, apply } = harness();
    create('/p');
    create('/p/e1', CreateMode.EPHEMERAL);
    create('/p/e2', CreateMode.EPHEMERAL_SEQUENTIAL);
    expect(tree.ephemeralsOf(session, '/')).toHaveLength(2);
    const r = apply({ type: OpCode.closeSession });
    expect(r.changes.filter((c) => c.type === 2).map((c) => c.path).sort()).toEqual(['/p/e1', '/p/e20000000001']);
    expect(tree.getNode('/p')!.numChildren).toBe(0);
    expect(tree.sessions.has(session)).toBe(false);
    expect(create('/p/late', CreateMode.EPHEMERAL).err).toBe(ErrorCode.SESSIONEXPIRED);
  });

  it('round-trips through a snapshot: same nodes, stats, ACLs, sessions and ephemerals', () => {
    const { tree, create } = harness();
    create('/s');
    create('/s/n', CreateMode.PERSISTENT, null);
    create('/s/e', CreateMode.EPHEMERAL);
    create('/c', CreateMode.CONTAINER);
    const copy = decodeTreeSnapshot(encodeTreeSnapshot(tree), { extendedTypesEnabled: true });
    expect(copy.lastZxid).toBe(tree.lastZxid);
    expect([...copy.paths()]).toEqual([...tree.paths()]);
    for (const path of tree.paths()) expect(copy.statOf(copy.getNode(path)!), path).toEqual(tree.statOf(tree.getNode(path)!));
    expect(copy.getNode('/s/n')!.data).toBeNull();
    expect(copy.ephemeralsOf(session, '')).toEqual(['/s/e']);
    expect([...copy.containers]).toEqual(['/c']);
    expect(copy.sessions.get(session)).toEqual({ timeout: 4000 });
  });

  it('writes a snapshot a record at a time while writes go on, and it is the tree as of its start', () => {
    const { tree, create, apply } = harness();
    for (let i = 0; i < 50; i++) create(`/n${i}`);
    create('/n3/child');
    create('/e', CreateMode.EPHEMERAL);
    const expected = encodeTreeSnapshot(tree);
    const loader = new TreeSnapshotLoader({ extendedTypesEnabled: true });
    const records = treeSnapshotRecords(tree, 1);
    let i = 0;
    for (const record of records) {
      loader.add(record);
      // Interleave every kind of change with the iteration.
      if (i === 5) create('/late');
      if (i === 10) apply({ type: OpCode.setData, request: { path: '/n40', data: Buffer.from('changed'), version: -1 } });
      if (i === 12) apply({ type: OpCode.delete, request: { path: '/n3/child', version: -1 } });
      if (i === 13) apply({ type: OpCode.delete, request: { path: '/n45', version: -1 } });
      if (i === 14) create('/n45', CreateMode.PERSISTENT, 'reborn');
      if (i === 20) apply({ type: OpCode.closeSession });
      if (i === 30) create('/n1/new');
      i++;
    }
    const restored = loader.finish();
    const want = decodeTreeSnapshot(expected, { extendedTypesEnabled: true });
    expect([...restored.paths()].sort().join(" ")).toEqual([...want.paths()].sort().join(" "));
    for (const path of want.paths()) expect(restored.statOf(restored.getNode(path)!), path).toEqual(want.statOf(want.getNode(path)!));
    expect(restored.getNode('/n40')!.data!.toString()).toBe('x');
    expect(restored.lastZxid).toBe(want.lastZxid);
    expect(tree.getNode('/late')).toBeDefined();
    // Two snapshots may overlap, each seeing the tree as of its own start.
    const first = treeSnapshotRecords(tree, 1);
    const firstLoader = new TreeSnapshotLoader({ extendedTypesEnabled: true });
    firstLoader.add(first.next().value);
    const before = encodeTreeSnapshot(tree);
    create('/between');
    for (const r of first) firstLoader.add(r);
    expect(firstLoader.finish().getNode('/between')).toBeUndefined();
    expect(decodeTreeSnapshot(before, { extendedTypesEnabled: true }).getNode('/between')).toBeUndefined();
  });

  it.each([1, 2, 3, 4, 5, 6, 7, 8])('snapshots stay exact under random interleaved writes (seed %i)', (seed) => {
    let x = seed * 2654435761;
    const rand = (n: number) => {
      x = (x * 1103515245 + 12345) >>> 0;
      return x % n;
    };
    const { tree, create, apply } = harness();
    for (let i = 0; i < 40; i++) create(`/d${rand(8)}`) && create(`/d${rand(8)}/k${rand(6)}`);
    const expected = decodeTreeSnapshot(encodeTreeSnapshot(tree), { extendedTypesEnabled: true });
    const loader = new TreeSnapshotLoader({ extendedTypesEnabled: true });
    for (const record of treeSnapshotRecords(tree, 1)) {
      loader.add(record);
      const op = rand(5);
      const a = `/d${rand(8)}`;
      const b = `${a}/k${rand(6)}`;
      if (op === 0) create(a);
      else if (op === 1) create(b, rand(2) === 0 ? CreateMode.PERSISTENT : CreateMode.EPHEMERAL);
      else if (op === 2) apply({ type: OpCode.delete, request: { path: rand(2) === 0 ? a : b, version: -1 } });
      else if (op === 3) apply({ type: OpCode.setData, request: { path: rand(2) === 0 ? a : '/', data: Buffer.from([rand(256)]), version: -1 } });
      else apply({ type: OpCode.multi, ops: [
        { type: OpCode.create, request: { path: `${a}/m`, data: null, acl: open, flags: 0 } },
        { type: OpCode.delete, request: { path: b, version: -1 } },
        { type: OpCode.check, request: { path: a, version: 999 } },
      ] });
    }
    const restored = loader.finish();
    expect([...restored.paths()].sort()).toEqual([...expected.paths()].sort());
    for (const path of expected.paths()) {
      const node = expected.getNode(path)!;
      expect(restored.statOf(restored.getNode(path)!), path).toEqual(expected.statOf(node));
      expect(restored.getNode(path)!.data, path).toEqual(node.data);
      expect(restored.getNode(path)!.childNames().sort(), path).toEqual(node.childNames().sort());
    }
  });

  it('keeps txn bigints and buffers exact through the txn codec', () => {
    const txn: Txn = {
      zxid: 0x7fffffff_fffffff0n,
      time: 1795313943533,
      sessionId: -0x7f00000000000001n,
      cxid: -8,
      authIds: [{ scheme: 'digest', id: 'u:abc' }],
      op: { type: OpCode.setData, request: { path: '/x', data: Buffer.from([0, 1, 255]), version: -1 } },
    };
    const back = decodeTxn(encodeTxn(txn));
    expect(back).toEqual(txn);
    expect(Buffer.isBuffer((back.op as any).request.data)).toBe(true);
    // Bytes that are not a txn, or a field of the wrong type, become an error txn (never thrown,
    // never handed to the tree as they are): test/data/txn-decode-total.test.ts has the rest.
    const marshalling = { type: OpCode.error, err: ErrorCode.MARSHALLINGERROR };
    expect(decodeTxn(Buffer.from([0xc1])).op).toEqual(marshalling);
    expect(decodeTxn(Buffer.from([0x93, 1, 2, 3])).op).toEqual(marshalling);
    const packed = new Packr({ useRecords: false, int64AsType: 'bigint', moreTypes: false });
    const base = [1, 5n, 1795313943533, 7n, 3, []];
    const reasons: string[] = [];
    expect(decodeTxn(packed.pack([...base, OpCode.create, 42, null, null, 0, null]), undefined, undefined, (r) => reasons.push(r)).op).toEqual(marshalling);
    expect(decodeTxn(packed.pack([...base, OpCode.setData, '/x', 'not bytes', -1]), undefined, undefined, (r) => reasons.push(r)).op).toEqual(marshalling);
    expect(decodeTxn(packed.pack([...base, OpCode.delete, '/x', 'v']), undefined, undefined, (r) => reasons.push(r)).op).toEqual(marshalling);
    expect(reasons).toEqual(['path is not a string', 'data is not bytes', 'version is not an int32']);
    expect(decodeTxn(packed.pack([...base, OpCode.delete, '/x', 3])).op).toEqual({ type: OpCode.delete, request: { path: '/x', version: 3 } });
  });
});

describe('DataTree.replay', () => {
  it('leaves the same tree as apply, through every kind of write and failure', () => {
    const txns: Txn[] = [];
    let zxid = 0n;
    const add = (op: TxnOp, sessionId = session) => txns.push({ zxid: ++zxid, time: 5000 + Number(zxid), sessionId, cxid: 1, authIds: [], op });
    const create = (path: string, flags: number = CreateMode.PERSISTENT) => add({ type: OpCode.create2, request: { path, data: Buffer.from(path), acl: open, flags } });
    add({ type: OpCode.createSession, timeout: 4000 });
    create('/a');
    create('/a/b');
    create('/a/s-', CreateMode.PERSISTENT_SEQUENTIAL);
    create('/a/e', CreateMode.EPHEMERAL);
    create('/a/b');
    add({ type: OpCode.setData, request: { path: '/a/b', data: Buffer.from('new'), version: 0 } });
    add({ type: OpCode.setData, request: { path: '/a/b', data: Buffer.from('stale'), version: 0 } });
    add({ type: OpCode.setACL, request: { path: '/a', acl: open, version: -1 } });
    add({ type: OpCode.delete, request: { path: '/a', version: -1 } });
    add({
      type: OpCode.multi,
      ops: [
        { type: OpCode.create, request: { path: '/m', data: null, acl: open, flags: 0 } },
        { type: OpCode.delete, request: { path: '/a/b', version: 1 } },
      ],
    });
    add({ type: OpCode.delete, request: { path: '/a/s-0000000000', version: -1 } });
    add({ type: OpCode.closeSession });
    const applied = new DataTree({ extendedTypesEnabled: true });
    const replayed = new DataTree({ extendedTypesEnabled: true });
    const results = txns.map((txn) => applied.apply(txn));
    for (const txn of txns) replayed.replay(txn);
    // The writes above did change the tree, and some failed: a replay that skipped work would differ.
    expect(results.filter((r) => r.err !== 0).length).toBeGreaterThan(0);
    expect([...replayed.paths()]).toEqual([...applied.paths()]);
    expect([...applied.paths()]).toContain('/m');
    for (const path of applied.paths()) {
      expect(replayed.statOf(replayed.getNode(path)!), path).toEqual(applied.statOf(applied.getNode(path)!));
      expect(replayed.getNode(path)!.data, path).toEqual(applied.getNode(path)!.data);
    }
    expect(replayed.lastZxid).toBe(applied.lastZxid);
    expect(replayed.approximateDataSize()).toBe(applied.approximateDataSize());
    expect(replayed.sessions.size).toBe(0);
  });
});
