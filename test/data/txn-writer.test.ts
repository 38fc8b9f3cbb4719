import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { decodeTxn, encodeTxn } from '../../src/data/txn-codec.js';
import type { Txn, TxnOp } from '../../src/data/txn.js';
import { TxnWriter } from '../../src/data/txn-writer.js';
import { OpCode } from '../../src/protocol/constants.js';
import type { ACL, MultiOp } from '../../src/protocol/records.js';

/** The txn layout of txn-codec.ts as a field array, packed by msgpackr: the reference encoding. */
const packr = new Packr({ useRecords: false, int64AsType: 'bigint', mapsAsObjects: true, moreTypes: false });

function flatAcl(acl: readonly ACL[] | null): unknown[] | null {
  return acl === null ? null : acl.flatMap((a) => [a.perms, a.id.scheme, a.id.id]);
}

function opFields(op: TxnOp | MultiOp): unknown[] {
  switch (op.type) {
    case OpCode.create:
    case OpCode.create2:
    case OpCode.createContainer:
    case OpCode.createTTL:
      return [op.type, op.request.path, op.request.data, flatAcl(op.request.acl), op.request.flags, op.request.ttl ?? null];
    case OpCode.delete:
    case OpCode.check:
      return [op.type, op.request.path, op.request.version];
    case OpCode.deleteContainer:
      return [op.type, op.request.path];
    case OpCode.setData:
      return [op.type, op.request.path, op.request.data, op.request.version];
    case OpCode.setACL:
      return [op.type, op.request.path, flatAcl(op.request.acl), op.request.version];
    case OpCode.multi:
      return [op.type, op.ops.map(opFields)];
    case OpCode.createSession:
      return [op.type, op.timeout];
    case OpCode.closeSession:
      return [op.type];
    default:
      return [op.type, (op as { err: number }).err];
  }
}

function msgpackrBytes(t: Txn): Buffer {
  return Buffer.from(packr.pack([1, t.zxid, t.time, t.sessionId, t.cxid, t.authIds.flatMap((id) => [id.scheme, id.id]), ...opFields(t.op)]));
}

const acl = [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }];
const digest = [
  { perms: 1, id: { scheme: 'digest', id: 'u:' + 'x'.repeat(40) } },
  { perms: 31, id: { scheme: 'ip', id: '127.0.0.1' } },
];

function txn(op: TxnOp, extra: Partial<Txn> = {}): Txn {
  return { zxid: 0x500000007n, time: 1_795_330_000_123, sessionId: 0x0100_0000_0000_0001n, cxid: 42, authIds: [], op, ...extra };
}

const cases: [string, Txn][] = [
  ['create', txn({ type: OpCode.create, request: { path: '/p1/c12345', data: Buffer.alloc(128, 7), acl, flags: 0 } })],
  ['create2 with null data, digest ACLs, ephemeral', txn({ type: OpCode.create2, request: { path: '/a', data: null, acl: digest, flags: 1 } })],
  ['createTTL', txn({ type: OpCode.createTTL, request: { path: '/t', data: Buffer.alloc(0), acl, flags: 5, ttl: 60_000n } })],
  ['long and non-ASCII path, 70 KB of data', txn({ type: OpCode.create, request: { path: '/é/日本/' + 'q'.repeat(300), data: Buffer.alloc(70_000, 3), acl, flags: 0 } })],
  ['a 40-char path, 300-byte data', txn({ type: OpCode.create, request: { path: '/' + 'n'.repeat(39), data: Buffer.alloc(300, 1), acl, flags: 2 } })],
  ['an ACL id of null, as a client may send', txn({ type: OpCode.create, request: { path: '/n', data: null, acl: [{ perms: 31, id: { scheme: 'auth', id: null as unknown as string } }], flags: 0 } })],
  ['delete', txn({ type: OpCode.delete, request: { path: '/x', version: -1 } })],
  ['setData with negative versions', txn({ type: OpCode.setData, request: { path: '/x', data: Buffer.from('v'), version: -200 } })],
  ['setACL', txn({ type: OpCode.setACL, request: { path: '/x', acl: digest, version: 3 } })],
  ['deleteContainer', txn({ type: OpCode.deleteContainer, request: { path: '/c' } })],
  ['createSession', txn({ type: OpCode.createSession, timeout: 30_000 })],
  ['closeSession with auth ids', txn({ type: OpCode.closeSession }, { authIds: [{ scheme: 'digest', id: 'u:abc' }, { scheme: 'ip', id: '10.0.0.1' }] })],
  ['error', txn({ type: OpCode.error, err: -101 })],
  ['an auth id with a lone surrogate and an astral character', txn({ type: OpCode.closeSession }, { authIds: [{ scheme: 'digest', id: 'a\ud800b\u{1f600}c' }] })],
  [
    'multi',
    txn({
      type: OpCode.multi,
      ops: [
        { type: OpCode.create, request: { path: '/m', data: null, acl, flags: 0 } },
        { type: OpCode.setData, request: { path: '/m', data: Buffer.from('d'), version: 0 } },
        { type: OpCode.check, request: { path: '/m', version: 70_000 } },
        { type: OpCode.delete, request: { path: '/m', version: -1 } },
      ],
    }),
  ],
  ['zxid and session id at the int64 edges, cxid negative', txn({ type: OpCode.closeSession }, { zxid: 0x7fff_ffff_ffff_ffffn, sessionId: 0xffff_ffff_ffff_ffffn, cxid: -2 })],
  ['small zxid, zero time', txn({ type: OpCode.closeSession }, { zxid: 1n, time: 0, sessionId: 0n, cxid: 0 })],
];

describe('TxnWriter', () => {
  it.each(cases)('writes the bytes msgpackr writes: %s', (_name, t) => {
    const expected = msgpackrBytes(t);
    expect(Buffer.from(encodeTxn(t)).equals(expected)).toBe(true);
    const buf = Buffer.alloc(expected.length + 64, 0xee);
    const end = new TxnWriter().encode(t, buf, 10, buf.length);
    expect(end).toBe(10 + expected.length);
    expect(buf.subarray(10, end).equals(expected)).toBe(true);
    expect(decodeTxn(buf, 10, end)).toEqual(decodeTxn(expected));
  });

  it('reports a buffer too small and leaves the caller to grow it', () => {
    const t = cases[0]![1];
    const size = encodeTxn(t).length;
    const writer = new TxnWriter();
    expect(writer.encode(t, Buffer.alloc(size - 1), 0, size - 1)).toBe(-1);
    expect(writer.encode(t, Buffer.alloc(size), 0, size)).toBe(size);
  });

  it('encodeTxn gives each txn bytes of its own: a thousand in a row, some larger than a slab, all still decode as written', () => {
    const written: Txn[] = [];
    const encoded: Uint8Array[] = [];
    for (let i = 0; i < 1000; i++) {
      const size = i % 250 === 7 ? 70_000 + i : i % 300;
      const t: Txn = { zxid: BigInt(i), time: 1_700_000_000_000 + i, sessionId: 0x100n + BigInt(i), cxid: i, authIds: [], op: { type: OpCode.setData, request: { path: `/n/${i}`, data: Buffer.alloc(size, i & 0xff), version: i } } };
      written.push(t);
      encoded.push(encodeTxn(t));
    }
    for (let i = 0; i < written.length; i++) expect(decodeTxn(encoded[i]!)).toEqual(written[i]);
  });
});
