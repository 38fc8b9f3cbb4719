// Replay's fast path for plain creates (made from the record's bytes) must leave the same
// tree as decoding every txn and replaying it, whatever the log holds: failing creates, odd
// paths and ACLs, sessions that close, and the other write types around them.
import { describe, expect, it } from 'vitest';
import { DataTree } from '../../src/data/data-tree.js';
import { decodeAclAt, decodeTxn, encodeTxn, plainCreate, readPlainCreate } from '../../src/data/txn-codec.js';
import type { Txn, TxnOp } from '../../src/data/txn.js';
import { OpCode } from '../../src/protocol/constants.js';
import type { ACL } from '../../src/protocol/records.js';

const open: ACL[] = [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }];
const readOnly: ACL[] = [{ perms: 1, id: { scheme: 'world', id: 'anyone' } }];
const digest: ACL[] = [{ perms: 31, id: { scheme: 'digest', id: 'bob:0d7iWdGxSO3X3B8lt5RmKfZ0fVg=' } }];
const auth: ACL[] = [{ perms: 31, id: { scheme: 'auth', id: '' } }];
const twoEntries: ACL[] = [...readOnly, { perms: 4, id: { scheme: 'ip', id: '10.0.0.1' } }, { perms: 31, id: { scheme: 'world', id: 'anyone' } }];

const session = 0x1234n;
const bob = [{ scheme: 'ip', id: '127.0.0.1' }, { scheme: 'digest', id: 'bob' }];

/** A log of txns, as a client mix would leave it. */
function log(): Txn[] {
  const txns: Txn[] = [];
  let zxid = 0x100000000n;
  const add = (op: TxnOp, sessionId = session, authIds = bob) => txns.push({ zxid: ++zxid, time: 1_700_000_000_000 + txns.length, sessionId, cxid: txns.length, authIds, op });
  const create = (path: string, data: Buffer | null = Buffer.alloc(16, 7), acl: ACL[] | null = open, flags = 0, type: number = OpCode.create2, sessionId = session) =>
    add({ type, request: { path, data, acl, flags } } as TxnOp, sessionId);
  add({ type: OpCode.createSession, timeout: 30_000 });
  create('/a');
  create('/a/b', null);
  create('/a/c', Buffer.alloc(0));
  create('/a/b/deep', Buffer.alloc(300, 1), open, 0, OpCode.create);
  for (let i = 0; i < 50; i++) create(`/a/n${i}`, Buffer.from(`v${i}`));
  create('/a/b'); // NODEEXISTS
  create('/missing/x'); // NONODE
  create('/ro', null, readOnly);
  create('/ro/child'); // NOAUTH
  create('/two', null, twoEntries);
  create('/two/child'); // world may create: made
  create('/d', null, digest);
  create('/d/child'); // NOAUTH (bob's id is not the digest)
  create('/withauth', null, auth); // auth scheme: the writer's digest id
  create('/withauth/c'); // bob may: his digest id... is not the hash, so NOAUTH
  create('/bad-acl', null, []); // INVALIDACL
  create('/null-acl', null, null); // INVALIDACL
  create('/a/é'); // non-ASCII: the full replay
  create('/a/./x'); // BADARGUMENTS
  create('/a//x'); // BADARGUMENTS
  create('/a/trailing/'); // BADARGUMENTS
  create('/'); // NODEEXISTS
  create('/a/seq-', null, open, 2); // sequential
  create('/a/seq-', null, open, 2);
  create('/eph', null, open, 1); // ephemeral of `session`
  create('/eph/child'); // NOCHILDRENFOREPHEMERALS
  create('/container', null, open, 4, OpCode.createContainer);
  create('/container/c');
  create('/nosession', null, open, 0, OpCode.create2, 0x999n); // SESSIONEXPIRED
  create('/server-made', null, open, 0, OpCode.create2, 0n);
  add({ type: OpCode.setData, request: { path: '/a/n1', data: Buffer.from('changed'), version: -1 } });
  add({ type: OpCode.delete, request: { path: '/a/n2', version: -1 } });
  create('/a/n2'); // again, after its delete: the parent's cached slot must still hold
  add({ type: OpCode.delete, request: { path: '/a/b/deep', version: -1 } });
  add({ type: OpCode.delete, request: { path: '/a/b', version: -1 } });
  create('/a/b/again'); // NONODE: the parent went away
  create('/a/b');
  create('/a/b/again');
  add({ type: OpCode.multi, ops: [{ type: OpCode.create, request: { path: '/m', data: null, acl: open, flags: 0 } }] });
  add({ type: OpCode.setACL, request: { path: '/a', acl: readOnly, version: -1 } });
  create('/a/after-setacl'); // NOAUTH now
  add({ type: OpCode.closeSession });
  create('/after-close'); // SESSIONEXPIRED
  create('/by-server', null, open, 0, OpCode.create2, 0n);
  return txns;
}

/** Replays records as recovery does; returns how many took the fast path. */
function replayRecords(tree: DataTree, records: { zxid: bigint; bytes: Buffer }[], fast: boolean): number {
  const create = plainCreate();
  let taken = 0;
  for (const { zxid, bytes } of records) {
    if (fast && readPlainCreate(bytes, 0, bytes.length, create) && tree.replayPlainCreate(zxid, bytes, create, decodeAclAt)) {
      taken++;
      continue;
    }
    const txn = decodeTxn(bytes, 0, bytes.length);
    txn.zxid = zxid;
    tree.replay(txn);
  }
  return taken;
}

describe('replaying plain creates from record bytes', () => {
  it('leaves the same tree as replaying every decoded txn', () => {
    const txns = log();
    // Records inside a larger buffer, as the log reader hands them over.
    const records = txns.map((txn) => ({ zxid: txn.zxid, bytes: Buffer.from(encodeTxn(txn)) }));
    const full = new DataTree({ extendedTypesEnabled: true });
    const fast = new DataTree({ extendedTypesEnabled: true });
    expect(replayRecords(full, records, false)).toBe(0);
    const taken = replayRecords(fast, records, true);
    // Most creates take the fast path; the odd ones do not.
    expect(taken).toBeGreaterThan(55);
    expect(taken).toBeLessThan(txns.filter((t) => t.op.type === OpCode.create || t.op.type === OpCode.create2).length);

    expect([...fast.paths()]).toEqual([...full.paths()]);
    for (const path of full.paths()) {
      const a = full.getNode(path)!;
      const b = fast.getNode(path)!;
      expect(fast.statOf(b), path).toEqual(full.statOf(a));
      expect(b.data, path).toEqual(a.data);
      expect(b.acl, path).toEqual(a.acl);
    }
    expect(fast.lastZxid).toBe(full.lastZxid);
    expect(fast.nodeCount).toBe(full.nodeCount);
    expect(fast.approximateDataSize()).toBe(full.approximateDataSize());
    // The log made and failed things: a replay that skipped work would differ.
    expect([...full.paths()]).toEqual(expect.arrayContaining(['/a/n49', '/two/child', '/a/b/again', '/by-server']));
    expect([...full.paths()]).not.toContain('/ro/child');
    expect([...full.paths()]).not.toContain('/after-close');
  });

  it('reads the fields of a plain create and nothing else', () => {
    const txn: Txn = { zxid: 5n, time: 1_700_000_000_123, sessionId: 0x77n, cxid: 3, authIds: bob, op: { type: OpCode.create, request: { path: '/x/y', data: Buffer.from('hello'), acl: open, flags: 0 } } };
    const bytes = Buffer.concat([Buffer.alloc(7, 0xee), Buffer.from(encodeTxn(txn)), Buffer.alloc(5, 0xee)]);
    const c = plainCreate();
    expect(readPlainCreate(bytes, 7, bytes.length - 5, c)).toBe(true);
    expect(c.time).toBe(1_700_000_000_123);
    expect(bytes.readBigInt64BE(c.sessionAt)).toBe(0x77n);
    expect(bytes.toString('utf8', c.pathStart, c.pathEnd)).toBe('/x/y');
    expect(bytes.toString('utf8', c.dataStart, c.dataEnd)).toBe('hello');
    expect(decodeAclAt(bytes, c.aclStart, c.aclEnd)).toEqual(open);
    const other = (op: TxnOp) => Buffer.from(encodeTxn({ ...txn, op }));
    for (const op of [
      { type: OpCode.create, request: { path: '/x', data: null, acl: open, flags: 1 } },
      { type: OpCode.create, request: { path: '/x', data: null, acl: open, flags: 2 } },
      { type: OpCode.createContainer, request: { path: '/x', data: null, acl: open, flags: 4 } },
      { type: OpCode.createTTL, request: { path: '/x', data: null, acl: open, flags: 5, ttl: 100n } },
      { type: OpCode.setData, request: { path: '/x', data: null, version: -1 } },
      { type: OpCode.delete, request: { path: '/x', version: -1 } },
    ] as TxnOp[]) {
      const b = other(op);
      expect(readPlainCreate(b, 0, b.length, c), JSON.stringify(op, (_, v) => (typeof v === 'bigint' ? String(v) : v))).toBe(false);
    }
    // A cut record is not read.
    const whole = other(txn.op);
    expect(readPlainCreate(whole, 0, whole.length - 1, c)).toBe(false);
  });
});
