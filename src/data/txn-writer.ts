import type { ACL, MultiOp } from '../protocol/records.js';
import { OpCode } from '../protocol/constants.js';
import { MsgpackWriter } from './msgpack-writer.js';
import type { Txn, TxnOp } from './txn.js';

/**
 * Writes a txn's msgpack bytes straight into a caller's buffer: the same bytes as
 * encodeTxn (msgpackr), field for field (txn-codec.ts describes the layout), without the
 * intermediate arrays, views and buffers. The standalone server encodes every write this
 * way into the txn log's record buffer: building the field arrays and packing them was a
 * quarter of the garbage a create left for the collector.
 *
 * `encode` returns the end of the bytes, -1 when they do not fit before `limit` (grow the
 * buffer and call again), or -2 when the txn holds a value this writer does not handle
 * (encode that one with msgpackr).
 */
export class TxnWriter extends MsgpackWriter {
  encode(txn: Txn, buf: Buffer, at: number, limit: number): number {
    this.begin(buf, at, limit);
    this.arrayHeader(6 + opFieldCount(txn.op));
    this.number(1);
    this.bigint(txn.zxid);
    this.number(txn.time);
    this.bigint(txn.sessionId);
    this.number(txn.cxid);
    this.arrayHeader(txn.authIds.length * 2);
    for (const id of txn.authIds) {
      this.value(id.scheme);
      this.value(id.id);
    }
    this.op(txn.op);
    return this.end();
  }

  private op(op: TxnOp | MultiOp): void {
    this.number(op.type);
    switch (op.type) {
      case OpCode.create:
      case OpCode.create2:
      case OpCode.createContainer:
      case OpCode.createTTL: {
        const r = op.request;
        this.string(r.path);
        this.bytes(r.data);
        this.acl(r.acl);
        this.number(r.flags);
        this.value(r.ttl ?? null);
        return;
      }
      case OpCode.delete:
      case OpCode.check:
        this.string(op.request.path);
        this.number(op.request.version);
        return;
      case OpCode.deleteContainer:
        this.string(op.request.path);
        return;
      case OpCode.setData:
        this.string(op.request.path);
        this.bytes(op.request.data);
        this.number(op.request.version);
        return;
      case OpCode.setACL:
        this.string(op.request.path);
        this.acl(op.request.acl);
        this.number(op.request.version);
        return;
      case OpCode.multi:
        this.arrayHeader(op.ops.length);
        for (const o of op.ops) {
          this.arrayHeader(opFieldCount(o));
          this.op(o);
        }
        return;
      case OpCode.createSession:
        this.number(op.timeout);
        return;
      case OpCode.closeSession:
        return;
      case OpCode.error:
        this.number(op.err);
        return;
      default:
        this.unsupported = true;
    }
  }

  private acl(acl: readonly ACL[] | null): void {
    if (acl === null) return this.nil();
    this.arrayHeader(acl.length * 3);
    for (const a of acl) {
      // Ids straight from the wire may hold nulls (the txn then fails in the tree, logged as it came).
      this.value(a.perms);
      this.value(a.id.scheme);
      this.value(a.id.id);
    }
  }
}

/** The values an op packs, its type included (see txn-codec.ts). */
function opFieldCount(op: TxnOp | MultiOp): number {
  switch (op.type) {
    case OpCode.create:
    case OpCode.create2:
    case OpCode.createContainer:
    case OpCode.createTTL:
      return 6;
    case OpCode.setData:
    case OpCode.setACL:
      return 4;
    case OpCode.delete:
    case OpCode.check:
      return 3;
    case OpCode.closeSession:
      return 1;
    default:
      return 2;
  }
}
