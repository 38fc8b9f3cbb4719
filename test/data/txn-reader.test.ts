// The common-txn reader must read every txn it takes exactly as msgpackr's checked path does:
// members apply what decodeTxn returns, so a difference would fork the tree.
import { describe, expect, it } from 'vitest';
import { decodeTxn, decodeTxnChecked, encodeTxn } from '../../src/data/txn-codec.js';
import { readCommonTxn, readTxnSessionId } from '../../src/data/txn-reader.js';
import type { Txn, TxnOp } from '../../src/data/txn.js';
import { Prng } from '../../src/fuzz/rng.js';
import { OpCode } from '../../src/protocol/constants.js';
import type { ACL } from '../../src/protocol/records.js';

const open: ACL[] = [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }];

function txn(op: TxnOp, over: Partial<Txn> = {}): Txn {
  return { zxid: 0x3_0000_0011n, time: 1_796_277_865_514, sessionId: 0x0100_0193_0c2a_0001n, cxid: 7, authIds: [], op, ...over };
}

const data = Buffer.alloc(128, 7);
/** Txns of every form the reader takes, and neighbours it must leave to the checked path. */
const cases: [string, Txn, boolean][] = [
  ['setData', txn({ type: OpCode.setData, request: { path: '/bench/n-1', data, version: -1 } }), true],
  ['setData, version 300, null data', txn({ type: OpCode.setData, request: { path: '/a', data: null, version: 300 } }), true],
  ['setData, big version, auth ids', txn({ type: OpCode.setData, request: { path: '/a', data, version: 2_000_000_000 } }, { authIds: [{ scheme: 'ip', id: '127.0.0.1' }, { scheme: 'digest', id: 'u:x' }] }), true],
  ['setData, negative session, small time', txn({ type: OpCode.setData, request: { path: '/a', data, version: -40_000 } }, { sessionId: -5n, time: 5, cxid: -1 }), true],
  ['setData, long path, 70 KB data', txn({ type: OpCode.setData, request: { path: `/${'p'.repeat(300)}`, data: Buffer.alloc(70_000, 1), version: 1 } }), true],
  ['delete', txn({ type: OpCode.delete, request: { path: '/bench/n-1', version: 3 } }), true],
  ['create', txn({ type: OpCode.create, request: { path: '/bench/n-2', data, acl: open, flags: 0 } }), true],
  ['create2, sequential, two ACL entries', txn({ type: OpCode.create2, request: { path: '/q/n-', data: null, acl: [...open, { perms: 1, id: { scheme: 'ip', id: '10.0.0.1' } }], flags: 2 } }), true],
  ['create with a ttl', txn({ type: OpCode.create, request: { path: '/t', data, acl: open, flags: 0, ttl: 5000n } }), true],
  ['create, empty ACL', txn({ type: OpCode.create, request: { path: '/e', data, acl: [], flags: 0 } }), true],
  ['non-ASCII path', txn({ type: OpCode.setData, request: { path: '/zürich', data, version: 0 } }), false],
  ['non-ASCII auth id', txn({ type: OpCode.delete, request: { path: '/a', version: 0 } }, { authIds: [{ scheme: 'digest', id: 'ü:x' }] }), false],
  ['createTTL', txn({ type: OpCode.createTTL, request: { path: '/t', data, acl: open, flags: 5, ttl: 100n } }), false],
  ['createContainer', txn({ type: OpCode.createContainer, request: { path: '/c', data, acl: open, flags: 4 } }), false],
  ['null ACL', txn({ type: OpCode.create, request: { path: '/n', data, acl: null, flags: 0 } }), false],
  ['setACL', txn({ type: OpCode.setACL, request: { path: '/a', acl: open, version: 1 } }), false],
  ['multi', txn({ type: OpCode.multi, ops: [{ type: OpCode.delete, request: { path: '/a', version: -1 } }] }), false],
  ['createSession', txn({ type: OpCode.createSession, timeout: 30_000 }), false],
  ['closeSession', txn({ type: OpCode.closeSession }), false],
];

function bytesOf(t: Txn): Buffer {
  return Buffer.from(encodeTxn(t));
}

describe('the common txn reader', () => {
  for (const [name, t, common] of cases) {
    it(`${name}: ${common ? 'read by it, as the checked path reads it' : 'left to the checked path'}`, () => {
      const bytes = bytesOf(t);
      expect(readCommonTxn(bytes, 0, bytes.length) !== null).toBe(common);
      expect(decodeTxn(bytes)).toEqual(t);
      expect(decodeTxnChecked(bytes, 0, bytes.length)).toEqual(t);
    });
  }

  it('reads a txn in the middle of a larger buffer, its data a view of that buffer', () => {
    const t = cases[0]![1];
    const one = bytesOf(t);
    const read = Buffer.concat([Buffer.from([1, 2, 3]), one, Buffer.from([4])]);
    const decoded = decodeTxn(read, 3, 3 + one.length);
    expect(decoded).toEqual(t);
    const got = (decoded.op as { request: { data: Buffer } }).request.data;
    expect(got.buffer).toBe(read.buffer);
  });

  it('every prefix and every one-byte change of each txn decodes as the checked path decodes it', () => {
    const rng = new Prng(15);
    for (const [, t] of cases) {
      const bytes = bytesOf(t);
      if (bytes.length > 1000) continue;
      for (let end = 0; end <= bytes.length; end++) {
        expect(decodeTxn(bytes, 0, end)).toEqual(decodeTxnChecked(bytes, 0, end));
      }
      for (let i = 0; i < bytes.length; i++) {
        for (const value of [0x00, 0x80, 0x9c, 0xa1, 0xc0, 0xce, 0xd3, 0xff, rng.int(256)]) {
          const changed = Buffer.from(bytes);
          changed[i] = value;
          expect(decodeTxn(changed)).toEqual(decodeTxnChecked(changed, 0, changed.length));
        }
      }
    }
  });
});

describe('the session id read from a txn header alone', () => {
  it('is the decoded txn\'s for every txn, and null for a header cut short or not in the written forms', () => {
    for (const [, t] of cases) {
      const bytes = bytesOf(t);
      expect(readTxnSessionId(bytes, 0, bytes.length)).toBe(t.sessionId);
      // format, zxid and time come first: the session id ends 1 + 1 + 9 + 9 + 9 bytes in at most.
      expect(readTxnSessionId(bytes, 0, 10)).toBeNull();
      const changed = Buffer.from(bytes);
      changed[1] = 2;
      expect(readTxnSessionId(changed, 0, changed.length)).toBeNull();
    }
    expect(readTxnSessionId(Buffer.alloc(0), 0, 0)).toBeNull();
  });
});
