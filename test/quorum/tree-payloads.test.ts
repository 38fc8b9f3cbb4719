import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { DataTree } from '../../src/data/data-tree.js';
import { encodeTreeSnapshot } from '../../src/data/tree-snapshot.js';
import { encodeTxn, encodeTxnRequest } from '../../src/data/txn-codec.js';
import { OpCode } from '../../src/protocol/constants.js';
import { TreePayloads } from '../../src/server/peer-payloads.js';

// What a member accepts as txn payloads and snapshots from peers: only bytes its data tree can
// apply or restore, decoded once (the txn or tree it checked is the one it then uses).

const packr = new Packr({ useRecords: false, int64AsType: 'bigint', mapsAsObjects: true, moreTypes: false });
const world = [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }];
const create = (path: string) => ({ type: OpCode.create, request: { path, data: Buffer.from('x'), acl: world, flags: 0 } }) as const;
const payloads = () => new TreePayloads({ extendedTypesEnabled: false });

describe('txn payloads from peers', () => {
  it('accepts a txn as a member writes it, and hands back the very txn it decoded', () => {
    const v = payloads();
    const payload = encodeTxnRequest({ time: 1_700_000_000_000, sessionId: 0n, cxid: 1, authIds: [], op: create('/a') });
    expect(v.txnProblem(payload)).toBeNull();
    const first = v.txn(payload);
    expect(first.op).toMatchObject({ type: OpCode.create, request: { path: '/a' } });
    // Taken once; a second call decodes afresh (the same content).
    expect(v.txn(payload)).not.toBe(first);
    expect(v.txn(payload).op).toEqual(first.op);
  });

  const refused: [string, Uint8Array, RegExp][] = [
    ['empty bytes', new Uint8Array(0), /not a txn record/],
    ['msgpack cut short', new Uint8Array([0x92, 0x01]), /does not decode/],
    ['the older map form (only ever read from disk)', packr.pack({ zxid: 1n, op: { type: 1 } }), /not a txn record/],
    ['an unknown op type', packr.pack([1, 0n, 1, 0n, 1, [], 77]), /unknown op type 77/],
    ['a path that is not a string', packr.pack([1, 0n, 1, 0n, 1, [], OpCode.delete, 5, 0]), /path is not a string/],
    ['an ACL id that is not a string', packr.pack([1, 0n, 1, 0n, 1, [], OpCode.create, '/a', null, [31, 'world', 7], 0, null]), /ACL id is not a string/],
    ['an auth id that is not a string', packr.pack([1, 0n, 1, 0n, 1, ['digest', { x: 1 }], OpCode.closeSession]), /auth id is not a string/],
    ['a time that is not a time', packr.pack([1, 0n, Number.NaN, 0n, 1, [], OpCode.closeSession]), /time is not an integer/],
  ];
  it.each(refused)('refuses %s, saying why', (_name, payload, reason) => {
    expect(payloads().txnProblem(payload)).toMatch(reason);
  });

  it('checks the ops inside a multi too', () => {
    const good = encodeTxn({ zxid: 0n, time: 1, sessionId: 0n, cxid: 1, authIds: [], op: { type: OpCode.multi, ops: [create('/a'), create('/b')] } });
    expect(payloads().txnProblem(good)).toBeNull();
    const bad = packr.pack([1, 0n, 1, 0n, 1, [], OpCode.multi, [[OpCode.create, '/a', null, [31, 'world', 7], 0, null]]]);
    expect(payloads().txnProblem(bad)).toMatch(/ACL id is not a string/);
  });
});

describe('which session a txn closes', () => {
  it('names the session of a closeSession txn, from its bytes or from the txn txnProblem decoded, and no session for any other txn', () => {
    const v = payloads();
    const close = encodeTxnRequest({ time: 1, sessionId: 0x1234n, cxid: 0, authIds: [], op: { type: OpCode.closeSession } });
    expect(v.sessionClosedBy(close)).toBe(0x1234n);
    expect(v.txnProblem(close)).toBeNull();
    expect(v.sessionClosedBy(close)).toBe(0x1234n);
    expect(v.sessionClosedBy(encodeTxnRequest({ time: 1, sessionId: 0x1234n, cxid: 1, authIds: [], op: create('/a') }))).toBeNull();
    expect(v.sessionClosedBy(encodeTxnRequest({ time: 1, sessionId: 0x1234n, cxid: 1, authIds: [], op: { type: OpCode.delete, request: { path: '/a', version: -1 } } }))).toBeNull();
    // Seven fields like a closeSession, another op: not a close.
    expect(v.sessionClosedBy(packr.pack([1, 0n, 1, 7n, 1, [], OpCode.sync]))).toBeNull();
    expect(v.sessionClosedBy(new Uint8Array(0))).toBeNull();
  });

  it('names the session any txn was written for, decoded or not yet, and none for bytes that are not a txn', () => {
    const v = payloads();
    const write = encodeTxnRequest({ time: 1, sessionId: 0x5678n, cxid: 1, authIds: [], op: create('/a') });
    expect(v.sessionOf(write)).toBe(0x5678n);
    expect(v.txnProblem(write)).toBeNull();
    expect(v.sessionOf(write)).toBe(0x5678n);
    expect(v.sessionOf(new Uint8Array(0))).toBeNull();
  });
});

describe('snapshots from peers', () => {
  it('accepts a tree snapshot and installs the tree it decoded while checking', () => {
    const tree = new DataTree({ extendedTypesEnabled: false });
    tree.apply({ zxid: 1n, time: 1, sessionId: 0n, cxid: 1, authIds: [], op: create('/snap') });
    const data = encodeTreeSnapshot(tree);
    const v = payloads();
    expect(v.snapshotProblem(data)).toBeNull();
    const restored = v.tree(data);
    expect(restored.getNode('/snap')).toBeDefined();
    expect(v.tree(data)).not.toBe(restored);
  });

  it('refuses bytes that are not a tree snapshot, saying why', () => {
    expect(payloads().snapshotProblem(new Uint8Array([1, 2, 3]))).toEqual(expect.any(String));
    expect(payloads().snapshotProblem(packr.pack({ not: 'records' }))).toMatch(/not a record list/);
  });
});
