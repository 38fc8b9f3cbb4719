// Applying a committed txn never throws, whatever its bytes: decoding is total (a malformed
// txn becomes a MARSHALLINGERROR error txn) and the tree answers every well-typed txn with a
// result. Every member applies the same bytes the same way, and recovery's fast replay path
// leaves the same tree as applying.
import { describe, expect, it } from 'vitest';
import { DataTree } from '../../src/data/data-tree.js';
import { decodeAclAt, decodeTxn, encodeTxn, plainCreate, readPlainCreate } from '../../src/data/txn-codec.js';
import type { Txn, TxnOp } from '../../src/data/txn.js';
import { ErrorCode, OpCode } from '../../src/protocol/constants.js';
import type { ACL } from '../../src/protocol/records.js';

const session = 0x5000n;
const open: ACL[] = [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }];
const nullScheme = [{ perms: 31, id: { scheme: null, id: 'anyone' } }] as unknown as ACL[];
const nullId = [{ perms: 31, id: { scheme: 'world', id: null } }] as unknown as ACL[];

function freshTree(): DataTree {
  const tree = new DataTree({ extendedTypesEnabled: true });
  tree.apply({ zxid: 1n, time: 1, sessionId: session, cxid: 0, authIds: [], op: { type: OpCode.createSession, timeout: 30_000 } });
  tree.apply({ zxid: 2n, time: 2, sessionId: session, cxid: 1, authIds: [], op: { type: OpCode.create, request: { path: '/a', data: null, acl: open, flags: 0 } } });
  return tree;
}

/** Everything a client can see of a tree. */
function image(tree: DataTree): string[] {
  return [...tree.paths()].map((p) => {
    const node = tree.getNode(p)!;
    return `${p} ${node.data?.toString('hex')} ${JSON.stringify(node.acl)} ${Object.values(tree.statOf(node)).join(',')}`;
  });
}

/** Replays a record as recovery does: the fast path for plain creates, else decode and replay. */
function replayRecord(tree: DataTree, zxid: bigint, bytes: Buffer): void {
  const c = plainCreate();
  if (readPlainCreate(bytes, 0, bytes.length, c) && tree.replayPlainCreate(zxid, bytes, c, decodeAclAt)) return;
  const txn = decodeTxn(bytes);
  txn.zxid = zxid;
  tree.replay(txn);
}

function txn(op: TxnOp, zxid = 10n): Txn {
  return { zxid, time: 1_700_000_000_000, sessionId: session, cxid: 7, authIds: [{ scheme: 'ip', id: '127.0.0.1' }], op };
}

describe('a committed txn that validation would have refused', () => {
  it('the fuzzer crasher: a create whose ACL scheme is null decodes, applies as INVALIDACL, and replays the same', () => {
    const bytes = Buffer.from(encodeTxn(txn({ type: OpCode.create, request: { path: '/a/poison', data: null, acl: nullScheme, flags: 0 } })));
    const decoded = decodeTxn(bytes);
    expect(decoded.op.type).toBe(OpCode.create);
    const applied = freshTree();
    expect(applied.apply({ ...decoded, zxid: 10n }).err).toBe(ErrorCode.INVALIDACL);
    expect(applied.lastZxid).toBe(10n);
    expect(applied.getNode('/a/poison')).toBeUndefined();
    const replayed = freshTree();
    replayRecord(replayed, 10n, bytes);
    expect(image(replayed)).toEqual(image(applied));
    expect(replayed.lastZxid).toBe(10n);
  });

  it('a plain create whose time is not an integer: replay does not take it as made (it crashed a later stat), apply and replay agree', () => {
    const bytes = Buffer.from(encodeTxn(txn({ type: OpCode.create, request: { path: '/a/t', data: null, acl: open, flags: 0 } })));
    // The time is the float64 after the format, the zxid's 9 bytes and the array header.
    expect(bytes[11]).toBe(0xcb);
    bytes.writeDoubleBE(1_700_000_000_002.6875, 12);
    const applied = freshTree();
    expect(applied.apply({ ...decodeTxn(bytes), zxid: 10n }).err).toBe(ErrorCode.MARSHALLINGERROR);
    const replayed = freshTree();
    replayRecord(replayed, 10n, bytes);
    expect(replayed.getNode('/a/t')).toBeUndefined();
    expect(image(replayed)).toEqual(image(applied));
  });

  it.each([
    ['a null world id', { type: OpCode.create, request: { path: '/a/x', data: null, acl: nullId, flags: 0 } }, ErrorCode.INVALIDACL],
    ['setACL with a null scheme', { type: OpCode.setACL, request: { path: '/a', acl: nullScheme, version: -1 } }, ErrorCode.INVALIDACL],
    ['a create with flags 99', { type: OpCode.create, request: { path: '/a/x', data: null, acl: open, flags: 99 } }, ErrorCode.BADARGUMENTS],
    ['a create with an invalid path', { type: OpCode.create, request: { path: '/a/\u0001', data: null, acl: open, flags: 0 } }, ErrorCode.BADARGUMENTS],
    ['a delete of the root', { type: OpCode.delete, request: { path: '/', version: -1 } }, ErrorCode.BADARGUMENTS],
    ['a multi whose op has a null scheme', { type: OpCode.multi, ops: [{ type: OpCode.create, request: { path: '/a/m', data: null, acl: nullScheme, flags: 0 } }] }, 0],
  ] as [string, TxnOp, number][])('%s applies as a deterministic error, and replays the same', (_name, op, err) => {
    const bytes = Buffer.from(encodeTxn(txn(op)));
    const applied = freshTree();
    const result = applied.apply({ ...decodeTxn(bytes), zxid: 10n });
    expect(result.err).toBe(err);
    if (op.type === OpCode.multi) expect(result.response).toEqual([{ type: OpCode.error, err: ErrorCode.INVALIDACL }]);
    const replayed = freshTree();
    replayRecord(replayed, 10n, bytes);
    expect(image(replayed)).toEqual(image(applied));
  });
});

/** A small deterministic PRNG (mulberry32): the same mutations on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('bytes that no writer wrote', () => {
  it('2000 mutated txns: none throws, two trees agree on every result, and replay leaves the same tree', () => {
    const seeds: TxnOp[] = [
      { type: OpCode.create, request: { path: '/a/x', data: Buffer.from('data'), acl: open, flags: 0 } },
      { type: OpCode.create2, request: { path: '/a/s-', data: null, acl: [{ perms: 1, id: { scheme: 'digest', id: 'bob:0d7iWdGxSO3X3B8lt5RmKfZ0fVg=' } }], flags: 2 } },
      { type: OpCode.createTTL, request: { path: '/a/t', data: null, acl: open, flags: 5, ttl: 1000n } },
      { type: OpCode.setData, request: { path: '/a', data: Buffer.from('v'), version: -1 } },
      { type: OpCode.setACL, request: { path: '/a', acl: open, version: -1 } },
      { type: OpCode.delete, request: { path: '/a/x', version: -1 } },
      { type: OpCode.multi, ops: [{ type: OpCode.check, request: { path: '/a', version: -1 } }, { type: OpCode.create, request: { path: '/a/m', data: null, acl: open, flags: 1 } }] },
      { type: OpCode.createSession, timeout: 4000 },
      { type: OpCode.closeSession },
    ];
    const encoded = seeds.map((op) => Buffer.from(encodeTxn(txn(op))));
    const random = prng(Number(process.env.ZKTS_FUZZ_SEED ?? 20_251_202));
    const one = freshTree();
    const two = freshTree();
    const replayed = freshTree();
    let zxid = 10n;
    let malformed = 0;
    for (let i = 0; i < 2000; i++) {
      const bytes = Buffer.from(encoded[Math.floor(random() * encoded.length)]!);
      for (let flips = 1 + Math.floor(random() * 3); flips > 0; flips--) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
      zxid++;
      const decoded = decodeTxn(bytes);
      if (decoded.op.type === OpCode.error) malformed++;
      const a = one.apply({ ...decoded, zxid });
      const b = two.apply({ ...decodeTxn(bytes), zxid });
      expect(b.err).toBe(a.err);
      replayRecord(replayed, zxid, bytes);
    }
    // The mutations reached both the decoder's refusals and the tree.
    expect(malformed).toBeGreaterThan(100);
    expect(malformed).toBeLessThan(1900);
    expect(image(two)).toEqual(image(one));
    expect(image(replayed)).toEqual(image(one));
    expect(replayed.lastZxid).toBe(one.lastZxid);
  });
});
