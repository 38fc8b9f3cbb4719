import type { DataTree, DataTreeOptions } from '../data/data-tree.js';
import { decodeTreeSnapshot } from '../data/tree-snapshot.js';
import { decodeTxn } from '../data/txn-codec.js';
import type { Txn, TxnOp } from '../data/txn.js';
import type { ACL, Id, MultiOp } from '../protocol/records.js';
import type { PayloadValidator } from '../quorum/index.js';

/** A txn record is a msgpack array (TxnWriter); the older map form is only ever read from disk. */
function isArrayRecord(payload: Uint8Array): boolean {
  const first = payload[0];
  return first !== undefined && ((first & 0xf0) === 0x90 || first === 0xdc || first === 0xdd);
}

function idsProblem(ids: readonly Id[] | null | undefined): string | null {
  for (const id of ids ?? []) if (typeof id.scheme !== 'string' || typeof id.id !== 'string') return 'an id is not a pair of strings';
  return null;
}

function aclProblem(acl: readonly ACL[] | null): string | null {
  return idsProblem(acl?.map((entry) => entry.id));
}

/** What decodeTxn leaves unchecked and applying would trip on: ids that are not strings, a time that is not a time. */
function txnShapeProblem(txn: Txn): string | null {
  if (!Number.isSafeInteger(txn.time)) return `time ${txn.time} is not a whole number of milliseconds`;
  return idsProblem(txn.authIds) ?? opProblem(txn.op);
}

function opProblem(op: TxnOp | MultiOp): string | null {
  if ('ops' in op) {
    for (const inner of op.ops) {
      const problem = opProblem(inner);
      if (problem !== null) return problem;
    }
    return null;
  }
  if ('request' in op && 'acl' in op.request) return aclProblem(op.request.acl);
  return null;
}

/**
 * The data tree's say on bytes from peers: a txn payload must decode as a txn this server can
 * apply, a snapshot as a tree it can restore. Bytes are decoded once: what was checked here is
 * what the shell applies or installs (`txn`, `tree`).
 */
export class TreePayloads implements PayloadValidator {
  private readonly decoded = new WeakMap<Uint8Array, DataTree>();
  private readonly decodedTxns = new WeakMap<Uint8Array, Txn>();

  constructor(private readonly options: DataTreeOptions) {}

  txnProblem(payload: Uint8Array): string | null {
    if (!isArrayRecord(payload)) return 'not a txn record';
    let txn: Txn;
    try {
      txn = decodeTxn(payload);
    } catch (err) {
      return (err as Error).message;
    }
    const problem = txnShapeProblem(txn);
    if (problem === null) this.decodedTxns.set(payload, txn);
    return problem;
  }

  /** The txn in a payload that passed txnProblem (decoded then), or decoded now (our own writes). */
  txn(payload: Uint8Array): Txn {
    const txn = this.decodedTxns.get(payload);
    if (txn === undefined) return decodeTxn(payload);
    this.decodedTxns.delete(payload);
    return txn;
  }

  snapshotProblem(data: Uint8Array): string | null {
    try {
      this.decoded.set(data, decodeTreeSnapshot(data, this.options));
      return null;
    } catch (err) {
      return (err as Error).message;
    }
  }

  /** The tree in a snapshot that passed snapshotProblem (decoded then), or decoded now. */
  tree(data: Uint8Array): DataTree {
    const tree = this.decoded.get(data);
    this.decoded.delete(data);
    return tree ?? decodeTreeSnapshot(data, this.options);
  }
}
